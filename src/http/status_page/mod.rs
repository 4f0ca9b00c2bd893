//! The status page `/` and its JSON twin `/api/v1/status`.
//!
//! Both are rendered from one [`StatusView`], built here from the running configuration (so
//! every configured tuple has a row, probed or not) and the last background probe of each tuple
//! ([`crate::metrics::TupleState`]); a row's layers are the shared [`TupleLayers`] view, its fix
//! that of [`crate::fix`]. [`html`] renders the page (server-side HTML, CSS in `page.css`, no
//! JavaScript), [`json`] the API. Everything printed comes from the configuration, bounded
//! enums, or the already-redacted AWS evidence of a failure; the external id is never read.

mod html;
mod json;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, Expect, Target, TupleKey};
use crate::fix::{FixContext, UNEXPECTED_ACCESS};
use crate::layer_view::TupleLayers;
use crate::metrics::TupleState;
use crate::reason::{Class, Layer, Reason};
use crate::shard::Shard;

pub use html::{escape_html, render_html};
pub use json::render_json;

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
    /// The five layers, in order.
    pub cells: TupleLayers,
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
    /// The shard whose tuples the view shows (`0/1`: all of them).
    pub shard: Shard,
}

/// `/probe?target=…&region=…&model=…&debug=true` for a tuple, percent-encoded (not yet
/// HTML-escaped).
pub fn debug_url(key: &TupleKey) -> String {
    let account = if key.account.is_empty() {
        String::new()
    } else {
        format!("&account={}", encode_query(&key.account))
    };
    format!(
        "/probe?target={}{account}&region={}&model={}&debug=true",
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

fn row(
    key: &TupleKey,
    target: Option<&Target>,
    config: Option<&Config>,
    st: Option<&TupleState>,
) -> Row {
    let report = st.map(|s| &s.report);
    let cx = FixContext::new(config, target, key, report);
    let cells = TupleLayers::new(&cx, report);
    let expect = target
        .map(|t| t.settings.expect)
        .or(st.map(|s| s.expect))
        .unwrap_or(Expect::Allow);
    let state = match st.map(|s| (s.success, expect)) {
        None => RowState::Pending,
        Some((true, Expect::Allow)) => RowState::Ok,
        Some((true, Expect::Deny)) => RowState::DeniedAsExpected,
        Some((false, _)) => RowState::Failing,
    };
    let first = cells.first_failure();
    let reason = first.and_then(|l| l.reason().map(|r| (l.layer, r)));
    let fix = match (state, first) {
        // A guardrail that held needs no fix.
        (RowState::DeniedAsExpected, _) => None,
        (_, Some(l)) => l.fix.clone(),
        (RowState::Failing, None) => Some(UNEXPECTED_ACCESS.to_string()),
        _ => None,
    };
    Row {
        target: key.target.clone(),
        account_id: cx.target_account.clone(),
        role_name: cx.role_name.clone(),
        aws_region: key.aws_region.clone(),
        model_id: key.model_id.clone(),
        expect,
        state,
        probed_at: report.map(|r| r.finished_at),
        last_success: st.and_then(|s| s.last_success),
        reason,
        fix,
        debug_url: debug_url(key),
        cells,
    }
}

/// Builds the view: one row per configured tuple (plus, without a configuration, one per
/// recorded state), failing rows first.
pub fn build(config: Option<&Config>, states: &[TupleState], now: SystemTime) -> StatusView {
    build_for(config, Shard::ALL, states, now)
}

/// [`build`] for one shard: one row per configured tuple the shard owns.
pub fn build_for(
    config: Option<&Config>,
    shard: Shard,
    states: &[TupleState],
    now: SystemTime,
) -> StatusView {
    let by_key: HashMap<&TupleKey, &TupleState> = states.iter().map(|s| (&s.key, s)).collect();
    let mut rows: Vec<Row> = match config {
        Some(c) => c
            .tuples_where(|t, a, r| shard.owns_gate(t, a, r))
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
        shard,
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

/// An RFC 3339 UTC time with milliseconds.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match chrono::DateTime::<chrono::Utc>::from_timestamp(secs, d.subsec_nanos()) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn debug_urls_encode_everything_but_unreserved_characters() {
        let key = TupleKey {
            target: "a b&c=d/é".into(),
            account: String::new(),
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
