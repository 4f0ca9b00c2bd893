//! The status page `/` and its JSON twin `/api/v1/status`.
//!
//! Both are rendered from one [`StatusView`], built from the running configuration (so every
//! configured tuple has a row, probed or not) and the last background probe of each tuple
//! ([`crate::metrics::TupleState`]). Everything printed comes from the configuration, bounded
//! enums, or the already-redacted AWS evidence of a failure; the external id is never read.
//!
//! The page is server-side HTML with inline CSS only (no JavaScript), semantic `data-*`
//! attributes for tests and tooling, and a layout that turns rows into cards below 760 px.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::config::{Config, Expect, InvokeMode, Target, TupleKey};
use crate::metrics::TupleState;
use crate::probe::model_access::geo_profile_prefix;
use crate::probe::{Failure, LayerResult, LayerStatus};
use crate::reason::{Class, Layer, Reason};

/// The state of one layer in one tuple's last probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    /// The layer ran and passed.
    Pass,
    /// The layer ran and failed.
    Fail,
    /// The layer is enabled but was not attempted (an earlier gate failed, or no probe yet).
    NotReached,
    /// The layer is turned off by configuration (`invoke = "none"`, `model_access = false`).
    Off,
}

impl CellState {
    /// The JSON and `data-state` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Pass => "pass",
            CellState::Fail => "fail",
            CellState::NotReached => "not_reached",
            CellState::Off => "off",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            CellState::Pass => "\u{2713} pass",
            CellState::Fail => "\u{2717} fail",
            CellState::NotReached => "\u{2013} not reached",
            CellState::Off => "\u{25cb} off",
        }
    }
}

/// The overall state of one tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// `probe_success` is 1 with `expect = "allow"`.
    Ok,
    /// `probe_success` is 1 with `expect = "deny"`: access was refused, as it must be.
    DeniedAsExpected,
    /// `probe_success` is 0.
    Failing,
    /// Configured, but no background probe has finished yet.
    Pending,
}

impl RowState {
    /// The JSON and `data-state` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Ok => "ok",
            RowState::DeniedAsExpected => "denied_as_expected",
            RowState::Failing => "failing",
            RowState::Pending => "pending",
        }
    }

    fn label(self) -> &'static str {
        match self {
            RowState::Ok => "\u{2713} ok",
            RowState::DeniedAsExpected => "\u{2713} denied as expected",
            RowState::Failing => "\u{2717} failing",
            RowState::Pending => "\u{2026} pending first probe",
        }
    }
}

/// One layer of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub layer: Layer,
    pub state: CellState,
    /// The call made (no secrets), when the layer ran.
    pub call: Option<String>,
    pub duration: Option<Duration>,
    /// The evidence, when the layer failed (message already redacted by the prober).
    pub failure: Option<Failure>,
}

/// One configured tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub target: String,
    pub account_id: String,
    pub role_name: String,
    pub aws_region: String,
    pub model_id: String,
    pub expect: Expect,
    pub state: RowState,
    /// When the last background probe finished.
    pub probed_at: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    /// The four layers, in order.
    pub cells: [Cell; 4],
    /// The first failed layer and its reason.
    pub reason: Option<(Layer, Reason)>,
    /// What to do, in one line (with the tuple's region, model and account filled in).
    pub fix: Option<String>,
    /// `/probe?target=…&region=…&model=…&debug=true`, percent-encoded.
    pub debug_url: String,
}

/// Counts over all rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub tuples: usize,
    pub ok: usize,
    pub denied_as_expected: usize,
    pub failing: usize,
    pub pending: usize,
    /// Failing rows by the class of their first failure.
    pub failing_access: usize,
    pub failing_configuration: usize,
    pub failing_transient: usize,
    /// Failing rows without a failed layer: an `expect = "deny"` tuple whose access went through.
    pub failing_unexpected_access: usize,
    /// The most recent probe of any tuple.
    pub last_probe_at: Option<SystemTime>,
}

/// Everything the status page and `/api/v1/status` show.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    pub generated_at: SystemTime,
    /// False before the first configuration is loaded.
    pub configured: bool,
    pub summary: Summary,
    /// Failing rows first; configuration order otherwise.
    pub rows: Vec<Row>,
}

/// `/probe?target=…&region=…&model=…&debug=true` for a tuple, percent-encoded (not yet
/// HTML-escaped).
pub fn debug_url(key: &TupleKey) -> String {
    format!(
        "/probe?target={}&region={}&model={}&debug=true",
        encode_query(&key.target),
        encode_query(&key.aws_region),
        encode_query(&key.model_id)
    )
}

fn encode_query(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Everything but unreserved characters (RFC 3986) is encoded, `:` included, so the URL is
/// safe in any attribute and any query parser decodes it back.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Collapses all whitespace runs into single spaces (one line).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a one-line fix may name about a tuple (configuration values only; never the
/// external id).
#[derive(Debug, Clone, Copy)]
pub struct FixContext<'a> {
    pub account_id: &'a str,
    pub role_name: &'a str,
    pub aws_region: &'a str,
    pub model_id: &'a str,
    pub role_arn: Option<&'a str>,
    /// The source's `expected_account`, when configured.
    pub source_account: Option<&'a str>,
}

/// The fix for `reason` in one line, with the tuple's facts filled in where that reads better
/// than the generic text of [`Reason::fix`].
pub fn fix_line(reason: Reason, row: &FixContext<'_>) -> String {
    let role_arn = row.role_arn;
    let source_account = row.source_account;
    let acct = if row.account_id.is_empty() {
        "the target account".to_string()
    } else {
        format!("account {}", row.account_id)
    };
    let role = role_arn.unwrap_or("the role");
    let model = row.model_id;
    let region = row.aws_region;
    let source = match source_account {
        Some(a) => format!("the source account {a}"),
        None => "the source account".to_string(),
    };
    let specific = match reason {
        Reason::AssumeRoleDenied => Some(format!(
            "check that {role} exists, that its trust policy allows {source} (with the sts:ExternalId condition matching the configured external id), and that the source may sts:AssumeRole on it; `diagnose` narrows it down"
        )),
        Reason::TrustPolicyDenied => Some(format!(
            "the trust policy of {role} must allow {source} (with the sts:ExternalId condition matching the configured external id) and must not deny it"
        )),
        Reason::AssumeRoleNotPermitted => Some(format!(
            "allow sts:AssumeRole on {role} in the source principal's identity policy"
        )),
        Reason::SessionDurationExceeded => Some(format!(
            "lower session_duration or raise the MaxSessionDuration of {role}"
        )),
        Reason::BedrockNotPermitted => Some(format!(
            "grant {} bedrock:InvokeModel (and bedrock:GetFoundationModelAvailability) on {model} in {region}",
            if row.role_name.is_empty() {
                "the source principal".to_string()
            } else {
                format!("role {}", row.role_name)
            }
        )),
        Reason::ModelAccessNotGranted => Some(format!(
            "enable or request access to {model} in {acct}, region {region}"
        )),
        Reason::ModelAccessPending => Some(format!(
            "access to {model} in {acct}, {region} is being activated; wait (minutes) and re-check"
        )),
        Reason::ModelNotInRegion => Some(format!(
            "{model} is not offered in {region}: change region or use a cross-region inference profile"
        )),
        Reason::InferenceProfileRequired => Some(match geo_profile_prefix(region) {
            Some(p) => {
                format!("use the inference profile id {p}{model} instead of the bare model id")
            }
            None => format!("use an inference profile id for {model} instead of the bare model id"),
        }),
        Reason::ModelEndOfLife => Some(format!("{model} is retired; change the model id")),
        Reason::ScpDenied => Some(format!(
            "the organisation's SCP/RCP denies this for {acct}; ask the org admins"
        )),
        Reason::UseCaseFormRequired => Some(format!(
            "submit the Anthropic use-case form once for {acct} (or the organisation's management account)"
        )),
        _ => None,
    };
    one_line(&specific.unwrap_or_else(|| reason.fix().to_string()))
}

fn layer_enabled(target: Option<&Target>, layer: Layer) -> bool {
    match (target, layer) {
        (Some(t), Layer::Invoke) => t.settings.invoke != InvokeMode::None,
        (Some(t), Layer::ModelAccess) => t.settings.model_access,
        _ => true,
    }
}

fn cell(layer: Layer, result: Option<&LayerResult>, enabled: bool) -> Cell {
    match result {
        Some(r) => Cell {
            layer,
            state: match r.status {
                LayerStatus::Passed => CellState::Pass,
                LayerStatus::Failed(_) => CellState::Fail,
            },
            call: Some(r.call.clone()),
            duration: Some(r.duration),
            failure: match &r.status {
                LayerStatus::Failed(f) => Some(f.clone()),
                LayerStatus::Passed => None,
            },
        },
        None => Cell {
            layer,
            state: if enabled {
                CellState::NotReached
            } else {
                CellState::Off
            },
            call: None,
            duration: None,
            failure: None,
        },
    }
}

/// The account and role labels a configured target will carry (for rows without a probe).
fn configured_labels(config: &Config, target: &Target) -> (String, String) {
    let account = target
        .role_account()
        .map(str::to_string)
        .or_else(|| {
            config
                .source_of(target)
                .and_then(|s| s.expected_account.clone())
        })
        .unwrap_or_default();
    (account, target.role_name().to_string())
}

fn row(
    key: &TupleKey,
    target: Option<&Target>,
    config: Option<&Config>,
    st: Option<&TupleState>,
) -> Row {
    let (mut account_id, mut role_name) = match (config, target) {
        (Some(c), Some(t)) => configured_labels(c, t),
        _ => (String::new(), String::new()),
    };
    let expect = target
        .map(|t| t.settings.expect)
        .or(st.map(|s| s.expect))
        .unwrap_or(Expect::Allow);
    let mut cells = Layer::ALL.map(|l| cell(l, None, layer_enabled(target, l)));
    let mut state = RowState::Pending;
    let mut probed_at = None;
    let mut last_success = None;
    if let Some(st) = st {
        account_id = st.report.account_id.clone();
        role_name = st.report.role_name.clone();
        for (i, l) in Layer::ALL.into_iter().enumerate() {
            let result = st.report.layers.iter().find(|r| r.layer == l);
            cells[i] = cell(l, result, layer_enabled(target, l));
        }
        state = match (st.success, expect) {
            (true, Expect::Allow) => RowState::Ok,
            (true, Expect::Deny) => RowState::DeniedAsExpected,
            (false, _) => RowState::Failing,
        };
        probed_at = Some(st.report.finished_at);
        last_success = st.last_success;
    }
    let reason = cells
        .iter()
        .find_map(|c| c.failure.as_ref().map(|f| (c.layer, f.reason)));
    let mut r = Row {
        target: key.target.clone(),
        account_id,
        role_name,
        aws_region: key.aws_region.clone(),
        model_id: key.model_id.clone(),
        expect,
        state,
        probed_at,
        last_success,
        cells,
        reason,
        fix: None,
        debug_url: debug_url(key),
    };
    let role_arn = target.and_then(|t| t.role_arn.as_deref());
    let source_account = match (config, target) {
        (Some(c), Some(t)) => c.source_of(t).and_then(|s| s.expected_account.as_deref()),
        _ => None,
    };
    r.fix = match (r.state, r.reason) {
        // A guardrail that held needs no fix.
        (RowState::DeniedAsExpected, _) => None,
        (_, Some((_, reason))) => Some(fix_line(
            reason,
            &FixContext {
                account_id: &r.account_id,
                role_name: &r.role_name,
                aws_region: &r.aws_region,
                model_id: &r.model_id,
                role_arn,
                source_account,
            },
        )),
        (RowState::Failing, None) => Some(
            "access went through but this target expects it to be denied: restore the deny (SCP, policy or grant)"
                .to_string(),
        ),
        _ => None,
    };
    r
}

/// Builds the view: one row per configured tuple (plus, without a configuration, one per
/// recorded state), failing rows first.
pub fn build(config: Option<&Config>, states: &[TupleState], now: SystemTime) -> StatusView {
    let by_key: HashMap<&TupleKey, &TupleState> = states.iter().map(|s| (&s.key, s)).collect();
    let mut rows: Vec<Row> = match config {
        Some(c) => c
            .tuples()
            .into_iter()
            .map(|(k, t)| row(&k, Some(t), Some(c), by_key.get(&k).copied()))
            .collect(),
        None => states
            .iter()
            .map(|s| row(&s.key, None, None, Some(s)))
            .collect(),
    };
    rows.sort_by_key(|r| r.state != RowState::Failing);
    let mut summary = Summary {
        tuples: rows.len(),
        ..Summary::default()
    };
    for r in &rows {
        match r.state {
            RowState::Ok => summary.ok += 1,
            RowState::DeniedAsExpected => summary.denied_as_expected += 1,
            RowState::Pending => summary.pending += 1,
            RowState::Failing => {
                summary.failing += 1;
                match r.reason.map(|(_, reason)| reason.class()) {
                    Some(Class::Access) => summary.failing_access += 1,
                    Some(Class::Configuration) => summary.failing_configuration += 1,
                    Some(Class::Transient) => summary.failing_transient += 1,
                    None => summary.failing_unexpected_access += 1,
                }
            }
        }
        if let Some(t) = r.probed_at
            && summary.last_probe_at.is_none_or(|l| t > l)
        {
            summary.last_probe_at = Some(t);
        }
    }
    StatusView {
        generated_at: now,
        configured: config.is_some(),
        summary,
        rows,
    }
}

/// "12 s ago", "4 min ago", "3 h ago", "2 d ago"; "just now" for a time in the future.
pub fn age_text(now: SystemTime, t: SystemTime) -> String {
    let Ok(d) = now.duration_since(t) else {
        return "just now".into();
    };
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s ago")
    } else if s < 2 * 3600 {
        format!("{} min ago", s / 60)
    } else if s < 2 * 86400 {
        format!("{} h ago", s / 3600)
    } else {
        format!("{} d ago", s / 86400)
    }
}

fn age_seconds(now: SystemTime, t: SystemTime) -> f64 {
    now.duration_since(t)
        .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match chrono::DateTime::<chrono::Utc>::from_timestamp(secs, d.subsec_nanos()) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => String::new(),
    }
}

fn expect_str(e: Expect) -> &'static str {
    match e {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

/// `/api/v1/status` (shape documented in the README, section "Status API").
pub fn render_json(view: &StatusView) -> Value {
    let now = view.generated_at;
    let s = &view.summary;
    let tuples: Vec<Value> = view
        .rows
        .iter()
        .map(|r| {
            let layers: Vec<Value> = r
                .cells
                .iter()
                .map(|c| {
                    let f = c.failure.as_ref();
                    json!({
                        "layer": c.layer.as_str(),
                        "state": c.state.as_str(),
                        "call": c.call,
                        "duration_seconds": c.duration.map(|d| d.as_secs_f64()),
                        "reason": f.map(|f| f.reason.as_str()),
                        "class": f.map(|f| f.reason.class().as_str()),
                        "error_code": f.and_then(|f| f.error_code.clone()),
                        "http_status": f.and_then(|f| f.http_status),
                        "request_id": f.and_then(|f| f.request_id.clone()),
                        "message": f.map(|f| one_line(&f.message)),
                        "fix": f.map(|f| f.reason.fix()),
                    })
                })
                .collect();
            json!({
                "target": r.target,
                "account_id": r.account_id,
                "role_name": r.role_name,
                "aws_region": r.aws_region,
                "model_id": r.model_id,
                "expect": expect_str(r.expect),
                "state": r.state.as_str(),
                "success": match r.state {
                    RowState::Pending => None,
                    RowState::Failing => Some(false),
                    RowState::Ok | RowState::DeniedAsExpected => Some(true),
                },
                "probed_at": r.probed_at.map(rfc3339),
                "age_seconds": r.probed_at.map(|t| age_seconds(now, t)),
                "last_success_at": r.last_success.map(rfc3339),
                "failed_layer": r.reason.map(|(l, _)| l.as_str()),
                "reason": r.reason.map(|(_, x)| x.as_str()),
                "class": r.reason.map(|(_, x)| x.class().as_str()),
                "fix": r.fix,
                "debug_url": r.debug_url,
                "layers": layers,
            })
        })
        .collect();
    json!({
        "generated_at": rfc3339(now),
        "configured": view.configured,
        "summary": {
            "tuples": s.tuples,
            "ok": s.ok,
            "denied_as_expected": s.denied_as_expected,
            "failing": s.failing,
            "pending": s.pending,
            "failing_by_class": {
                "access": s.failing_access,
                "configuration": s.failing_configuration,
                "transient": s.failing_transient,
                "unexpected_access": s.failing_unexpected_access,
            },
            "last_probe_at": s.last_probe_at.map(rfc3339),
            "last_probe_age_seconds": s.last_probe_at.map(|t| age_seconds(now, t)),
        },
        "tuples": tuples,
    })
}

// ---------------------------------------------------------------------------------------------
// HTML

const CSS: &str = r#"
:root{--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#b42318;--bad-bg:#ffe4e0;--mute:#57606a;--mute-bg:#eef1f4;--line:#d0d7de;--pend:#7a5c00;--pend-bg:#fff4cc}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:12px 20px}
header h1{font-size:18px;margin:0 0 4px}
header nav a{color:#c9d1d9;margin-right:14px;text-decoration:none}
header nav a:hover{text-decoration:underline}
main{padding:14px 20px}
.summary{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 14px;padding:0;list-style:none}
.summary li{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 10px}
.summary b{font-size:16px}
.summary .failing{border-color:var(--bad);color:var(--bad)}
.summary .ok{border-color:var(--ok);color:var(--ok)}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--mute)}
td.id{font-weight:600;min-width:10em;overflow-wrap:anywhere}
td.id small,td small{display:block;font-weight:400;color:var(--mute);overflow-wrap:anywhere}
td.model{min-width:11em}
td.reason{min-width:11em}
details summary{cursor:pointer;color:var(--mute);font-size:12px}
details .msg{font-size:12px}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.st{font-weight:600;min-width:6em}
tr[data-state=failing] td.st{color:var(--bad)}
tr[data-state=ok] td.st,tr[data-state=denied_as_expected] td.st{color:var(--ok)}
tr[data-state=pending] td.st{color:var(--pend)}
tr[data-state=failing]{box-shadow:inset 4px 0 0 var(--bad)}
td.layer{font-size:13px;min-width:6.5em}
td.layer[data-state=pass]{background:var(--ok-bg);color:var(--ok)}
td.layer[data-state=fail]{background:var(--bad-bg);color:var(--bad);font-weight:600}
td.layer[data-state=fail] small{color:var(--bad);font-weight:400;white-space:normal}
td.layer[data-state=not_reached]{background:var(--mute-bg);color:var(--mute)}
td.layer[data-state=off]{color:var(--mute);font-style:italic}
tr[data-state=pending] td.layer{background:var(--pend-bg);color:var(--pend)}
td.fix{min-width:16em;max-width:26em;overflow-wrap:anywhere}
.cls{display:inline-block;border:1px solid currentColor;border-radius:10px;padding:0 6px;font-size:11px;margin-left:4px}
a.debug{white-space:nowrap}
footer{color:var(--mute);font-size:12px;padding:10px 20px 20px}
@media (max-width:760px){
 main{padding:10px}
 table,thead,tbody,tr,th,td{display:block;width:100%}
 table{border:0;background:none}
 thead{position:absolute;left:-9999px}
 tr{background:#fff;border:1px solid var(--line);border-radius:8px;margin:0 0 12px;padding:6px 4px;overflow:hidden}
 tr[data-state=failing]{border-color:var(--bad)}
 td{border:0;padding:4px 8px;display:flex;gap:8px}
 td::before{content:attr(data-label);flex:0 0 8.5em;color:var(--mute);font-size:12px;text-transform:uppercase;font-weight:400;font-style:normal}
 td>div{flex:1;min-width:0}
 td.layer{white-space:normal}
 td.fix{max-width:none}
 td.id,td.model,td.reason,td.fix{min-width:0}
}
"#;

fn th_row(h: &mut String) {
    h.push_str("<thead><tr><th scope=\"col\">state</th><th scope=\"col\">target</th><th scope=\"col\">region</th><th scope=\"col\">model</th>");
    for l in Layer::ALL {
        let _ = write!(h, "<th scope=\"col\">{l}</th>");
    }
    h.push_str("<th scope=\"col\">reason</th><th scope=\"col\">last probe</th><th scope=\"col\">fix</th><th scope=\"col\">trace</th></tr></thead>\n");
}

fn summary_html(h: &mut String, view: &StatusView) {
    let s = &view.summary;
    h.push_str("<ul class=\"summary\" data-summary>");
    let _ = write!(
        h,
        "<li data-count=\"tuples\"><b>{}</b> tuple{}</li>",
        s.tuples,
        if s.tuples == 1 { "" } else { "s" }
    );
    let _ = write!(
        h,
        "<li class=\"{}\" data-count=\"failing\">\u{2717} <b>{}</b> failing",
        if s.failing > 0 { "failing" } else { "" },
        s.failing
    );
    let by_class: Vec<String> = [
        ("access", s.failing_access),
        ("configuration", s.failing_configuration),
        ("transient", s.failing_transient),
        ("unexpected access", s.failing_unexpected_access),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(c, n)| format!("{n} {c}"))
    .collect();
    if !by_class.is_empty() {
        let _ = write!(h, " ({})", by_class.join(", "));
    }
    h.push_str("</li>");
    let _ = write!(
        h,
        "<li class=\"ok\" data-count=\"ok\">\u{2713} <b>{}</b> ok</li>",
        s.ok
    );
    if s.denied_as_expected > 0 {
        let _ = write!(
            h,
            "<li class=\"ok\" data-count=\"denied_as_expected\">\u{2713} <b>{}</b> denied as expected</li>",
            s.denied_as_expected
        );
    }
    if s.pending > 0 {
        let _ = write!(
            h,
            "<li data-count=\"pending\">\u{2026} <b>{}</b> pending first probe</li>",
            s.pending
        );
    }
    let last = match s.last_probe_at {
        Some(t) => age_text(view.generated_at, t),
        None => "none yet".into(),
    };
    let _ = write!(
        h,
        "<li data-count=\"last_probe\">last probe: <b>{last}</b></li>"
    );
    h.push_str("</ul>\n");
}

fn row_html(h: &mut String, view: &StatusView, r: &Row) {
    let e = escape_html;
    let _ = write!(
        h,
        "<tr data-target=\"{}\" data-region=\"{}\" data-model=\"{}\" data-state=\"{}\">",
        e(&r.target),
        e(&r.aws_region),
        e(&r.model_id),
        r.state.as_str()
    );
    let _ = write!(
        h,
        "<td class=\"st\" data-label=\"state\"><div>{}{}</div></td>",
        r.state.label(),
        if r.expect == Expect::Deny {
            "<small>expect = deny</small>"
        } else {
            ""
        }
    );
    let who = match (r.account_id.is_empty(), r.role_name.is_empty()) {
        (false, false) => format!("{} / {}", e(&r.account_id), e(&r.role_name)),
        (false, true) => format!("{} (same account)", e(&r.account_id)),
        (true, false) => e(&r.role_name),
        (true, true) => String::new(),
    };
    let _ = write!(
        h,
        "<td class=\"id\" data-label=\"target\"><div>{}<small>{who}</small></div></td><td data-label=\"region\"><div>{}</div></td><td class=\"model\" data-label=\"model\"><div><code>{}</code></div></td>",
        e(&r.target),
        e(&r.aws_region),
        e(&r.model_id)
    );
    for c in &r.cells {
        let text = if r.state == RowState::Pending && c.state == CellState::NotReached {
            "\u{2026} pending"
        } else {
            c.state.mark()
        };
        let title = match &c.call {
            Some(call) => format!(" title=\"{}\"", e(call)),
            None => String::new(),
        };
        let _ = write!(
            h,
            "<td class=\"layer\" data-layer=\"{}\" data-state=\"{}\" data-label=\"{}\"{title}><div>{text}",
            c.layer.as_str(),
            c.state.as_str(),
            c.layer.as_str()
        );
        if let Some(f) = &c.failure {
            let _ = write!(
                h,
                "<small data-reason=\"{}\">{}</small>",
                f.reason.as_str(),
                f.reason.as_str().replace('_', "_<wbr>")
            );
        }
        h.push_str("</div></td>");
    }
    let first = r.cells.iter().find_map(|c| c.failure.as_ref());
    match (r.reason, first) {
        (Some((layer, reason)), Some(f)) => {
            let code = match &f.error_code {
                Some(c) => format!(": {}", e(c)),
                None => String::new(),
            };
            let msg = one_line(&f.message);
            let _ = write!(
                h,
                "<td class=\"reason\" data-label=\"reason\" data-reason=\"{}\" data-class=\"{}\"><div><code>{}</code><span class=\"cls\">{}</span><small>at {layer}{code}</small>",
                reason.as_str(),
                reason.class().as_str(),
                reason.as_str(),
                reason.class().as_str(),
            );
            if !msg.is_empty() {
                let _ = write!(
                    h,
                    "<details><summary>AWS message</summary><small class=\"msg\">{}</small></details>",
                    e(&truncate(&msg, 600))
                );
            }
            h.push_str("</div></td>");
        }
        _ => h.push_str("<td class=\"reason\" data-label=\"reason\"><div>\u{2014}</div></td>"),
    }
    let age = match r.probed_at {
        Some(t) => age_text(view.generated_at, t),
        None => "not yet".into(),
    };
    let _ = write!(
        h,
        "<td class=\"age\" data-label=\"last probe\"><div>{age}</div></td>"
    );
    let _ = write!(
        h,
        "<td class=\"fix\" data-label=\"fix\"><div>{}</div></td>",
        match &r.fix {
            Some(f) => e(f),
            None => "\u{2014}".into(),
        }
    );
    let _ = writeln!(
        h,
        "<td data-label=\"trace\"><div><a class=\"debug\" href=\"{}\">debug trace</a></div></td></tr>",
        e(&r.debug_url)
    );
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('\u{2026}');
    out
}

/// The status page `/`.
pub fn render_html(view: &StatusView) -> String {
    let mut h = String::with_capacity(4096 + view.rows.len() * 1200);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Bedrock access exporter</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style></head>\n<body>\n<header><h1>Bedrock access exporter</h1><nav><a href=\"/metrics\">Metrics</a><a href=\"/api/v1/status\">Status API (JSON)</a><a href=\"/-/healthy\">Health</a><a href=\"/-/ready\">Readiness</a></nav></header>\n<main>\n");
    if !view.configured {
        h.push_str("<p data-empty>No configuration loaded yet.</p>\n");
    }
    summary_html(&mut h, view);
    h.push_str("<table data-status>\n");
    th_row(&mut h);
    h.push_str("<tbody>\n");
    for r in &view.rows {
        row_html(&mut h, view, r);
    }
    h.push_str("</tbody></table>\n</main>\n");
    let _ = writeln!(
        h,
        "<footer>Generated {} UTC. Layers: credentials \u{2192} assume_role \u{2192} model_access \u{2192} invoke. \u{2713} pass, \u{2717} fail, \u{2013} not reached (an earlier layer failed), \u{25cb} off (turned off in the configuration).</footer>",
        escape_html(
            &rfc3339(view.generated_at)
                .replace('T', " ")
                .replace('Z', "")
        )
    );
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(region: &'a str) -> FixContext<'a> {
        FixContext {
            account_id: "222222222222",
            role_name: "BedrockProbeRole",
            aws_region: region,
            model_id: "anthropic.claude-3-7-sonnet-20250219-v1:0",
            role_arn: Some("arn:aws:iam::222222222222:role/BedrockProbeRole"),
            source_account: Some("111111111111"),
        }
    }

    #[test]
    fn every_fix_is_one_line_and_never_empty() {
        for r in Reason::ALL {
            let f = fix_line(r, &ctx("us-east-1"));
            assert!(!f.is_empty() && !f.contains('\n'), "{r}: {f:?}");
            assert!(!f.contains("  "), "{r}: {f:?}");
        }
    }

    #[test]
    fn an_inference_profile_fix_names_the_profile_of_the_region_s_geography() {
        let f = fix_line(Reason::InferenceProfileRequired, &ctx("eu-central-1"));
        assert!(
            f.contains("eu.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "{f}"
        );
        let f = fix_line(Reason::InferenceProfileRequired, &ctx("ap-northeast-1"));
        assert!(
            f.contains("apac.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "{f}"
        );
    }

    #[test]
    fn ages_read_like_people_say_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |s| age_text(now, now - Duration::from_secs(s));
        assert_eq!(ago(12), "12 s ago");
        assert_eq!(ago(300), "5 min ago");
        assert_eq!(ago(3 * 3600), "3 h ago");
        assert_eq!(ago(3 * 86400), "3 d ago");
        assert_eq!(
            age_text(now, now + Duration::from_secs(2)),
            "just now",
            "a clock step backwards is not an error"
        );
    }

    #[test]
    fn escaping_leaves_nothing_that_opens_a_tag_or_closes_an_attribute() {
        let e = escape_html("<a href=\"x\" onclick='y'>&\u{0}</a>");
        assert_eq!(
            e,
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\u{fffd}&lt;/a&gt;"
        );
    }

    #[test]
    fn debug_urls_encode_everything_but_unreserved_characters() {
        let key = TupleKey {
            target: "a b&c=d/é".into(),
            aws_region: "us-east-1".into(),
            model_id: "m:0".into(),
        };
        assert_eq!(
            debug_url(&key),
            "/probe?target=a%20b%26c%3Dd%2F%C3%A9&region=us-east-1&model=m%3A0&debug=true"
        );
    }

    #[test]
    fn without_a_configuration_the_view_is_empty_and_says_so() {
        let view = build(None, &[], SystemTime::now());
        assert!(!view.configured && view.rows.is_empty());
        assert!(render_html(&view).contains("No configuration loaded yet."));
        assert_eq!(render_json(&view)["summary"]["tuples"], 0);
    }
}
