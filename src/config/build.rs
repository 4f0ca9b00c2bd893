//! From the raw tree (file + environment overrides) to a validated [`Config`], collecting every
//! problem on the way instead of stopping at the first.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use config::{Map, Value, ValueKind};

use super::env::Applied;
use super::locate::{Locator, join, parent};
use super::{Config, Expect, InvokeMode, ProbeSettings, Problem, Source, Target, rules};

/// The shortest `interval` accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// AssumeRole's `DurationSeconds` bounds.
pub const MIN_SESSION_DURATION: Duration = Duration::from_secs(900);
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(12 * 3600);
/// Longest string value accepted anywhere (model ARNs are at most 2048).
const MAX_STRING: usize = 4096;
/// Name of the implicit source that uses the SDK's default credential chain.
pub const DEFAULT_SOURCE: &str = "default";

const TOP_KEYS: [&str; 3] = ["probe", "sources", "targets"];
const SETTINGS_KEYS: [&str; 10] = [
    "interval",
    "timeout",
    "concurrency",
    "invoke",
    "invoke_interval",
    "model_access",
    "session_name",
    "session_duration",
    "max_tokens",
    "expect",
];
const TARGET_OWN_KEYS: [&str; 6] = [
    "name",
    "source",
    "role_arn",
    "external_id",
    "regions",
    "models",
];
const SOURCE_KEYS: [&str; 3] = ["name", "profile", "expected_account"];

/// Collects problems, each located in the file (or attributed to the environment variable that
/// set the offending value).
pub struct Ctx<'a> {
    file: &'a Path,
    loc: &'a Locator,
    env: &'a Applied,
    pub problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, loc: &'a Locator, env: &'a Applied) -> Self {
        Ctx {
            file,
            loc,
            env,
            problems: Vec::new(),
        }
    }

    fn env_origin(&self, path: &str) -> Option<&str> {
        let mut p = path;
        loop {
            if let Some(var) = self.env.origin(p) {
                return Some(var);
            }
            p = parent(p)?;
        }
    }

    pub fn report(&mut self, path: &str, target: Option<&str>, message: impl Into<String>) {
        let mut message = message.into();
        let line = match self.env_origin(path) {
            Some(var) => {
                message.push_str(&format!(" (set by environment variable {var})"));
                None
            }
            None => self.loc.line(path),
        };
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            target: target.map(str::to_string),
            field: path.to_string(),
            message,
        });
    }

    /// "line N" of a located path, for cross references in messages.
    fn where_is(&self, path: &str) -> String {
        match self.loc.exact(path) {
            Some(l) if self.env_origin(path).is_none() => format!("{path}, line {l}"),
            _ => path.to_string(),
        }
    }

    fn unknown_keys(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        target: Option<&str>,
        known: &[&str],
    ) {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        keys.sort();
        for key in keys {
            let hint = match rules::suggestion(key, known) {
                Some(s) => format!("; did you mean {s:?}?"),
                None => format!("; known keys here: {}", known.join(", ")),
            };
            self.report(
                &join(path, key),
                target,
                format!("unknown key {key:?}{hint}"),
            );
        }
    }
}

fn kind_name(v: &ValueKind) -> &'static str {
    match v {
        ValueKind::Nil => "nothing",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "a number"
        }
        ValueKind::Float(_) => "a decimal number",
        ValueKind::String(_) => "a string",
        ValueKind::Table(_) => "a table",
        ValueKind::Array(_) => "a list",
    }
}

fn get_string(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<String> {
    match &v.kind {
        // Values are echoed in messages; nothing legitimate is this long.
        ValueKind::String(s) if s.len() > MAX_STRING => {
            ctx.report(
                path,
                target,
                format!(
                    "is {} bytes long; no setting is longer than {MAX_STRING}",
                    s.len()
                ),
            );
            None
        }
        ValueKind::String(s) => Some(s.clone()),
        other => {
            ctx.report(
                path,
                target,
                format!("expected a string, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// A duration that must be longer than zero; reports the problem and yields `None` otherwise.
fn get_positive_duration(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
) -> Option<Duration> {
    let d = get_duration(ctx, v, path, target)?;
    if d.is_zero() {
        ctx.report(path, target, "must be longer than 0s");
        return None;
    }
    Some(d)
}

fn get_duration(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
) -> Option<Duration> {
    match &v.kind {
        ValueKind::String(s) => match humantime::parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                ctx.report(
                    path,
                    target,
                    format!("{s:?} is not a duration; write it like \"5m\", \"30s\" or \"1h30m\""),
                );
                None
            }
        },
        ValueKind::I64(_)
        | ValueKind::U64(_)
        | ValueKind::I128(_)
        | ValueKind::U128(_)
        | ValueKind::Float(_) => {
            ctx.report(
                path,
                target,
                "a number without a unit is ambiguous; write a duration string like \"300s\" or \"5m\"",
            );
            None
        }
        other => {
            ctx.report(
                path,
                target,
                format!(
                    "expected a duration like \"5m\", found {}",
                    kind_name(other)
                ),
            );
            None
        }
    }
}

fn get_uint(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<u64> {
    let parsed: Result<u64, String> = match &v.kind {
        ValueKind::I64(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
        ValueKind::U64(n) => Ok(*n),
        ValueKind::I128(n) => u64::try_from(*n).map_err(|_| format!("{n} is out of range")),
        ValueKind::U128(n) => u64::try_from(*n).map_err(|_| format!("{n} is out of range")),
        ValueKind::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is not a whole number")),
        other => Err(format!(
            "expected a whole number, found {}",
            kind_name(other)
        )),
    };
    parsed.map_err(|m| ctx.report(path, target, m)).ok()
}

fn get_bool(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<bool> {
    match &v.kind {
        ValueKind::Boolean(b) => Some(*b),
        ValueKind::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        ValueKind::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        other => {
            ctx.report(
                path,
                target,
                format!("expected true or false, found {}", kind_name(other)),
            );
            None
        }
    }
}

fn get_enum<T: Copy>(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
    options: &[(&str, T)],
) -> Option<T> {
    let names = options
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(" | ");
    let s = get_string(ctx, v, path, target)?;
    match options.iter().find(|(n, _)| *n == s.trim()) {
        Some((_, t)) => Some(*t),
        None => {
            ctx.report(path, target, format!("{s:?} is not one of: {names}"));
            None
        }
    }
}

/// A list of strings; each item's rendered path comes with it.
fn get_list(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
) -> Option<Vec<(String, String)>> {
    match &v.kind {
        ValueKind::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if let Some(s) = get_string(ctx, item, &p, target) {
                    out.push((p, s));
                }
            }
            Some(out)
        }
        ValueKind::String(s) => {
            ctx.report(
                path,
                target,
                format!("expected a list, like [{s:?}], found a single string"),
            );
            None
        }
        other => {
            ctx.report(
                path,
                target,
                format!("expected a list of strings, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// `[probe]` keys as written at one level (the `[probe]` table or one target).
#[derive(Debug, Default, Clone)]
struct Partial {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    concurrency: Option<usize>,
    invoke: Option<InvokeMode>,
    invoke_interval: Option<Duration>,
    model_access: Option<bool>,
    session_name: Option<String>,
    session_duration: Option<Duration>,
    max_tokens: Option<u32>,
    expect: Option<Expect>,
}

fn fmt_d(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn parse_settings(
    ctx: &mut Ctx<'_>,
    map: &Map<String, Value>,
    prefix: &str,
    target: Option<&str>,
) -> Partial {
    let mut p = Partial::default();
    for key in SETTINGS_KEYS {
        let Some(v) = map.get(key) else { continue };
        let path = join(prefix, key);
        let path = path.as_str();
        match key {
            "interval" => {
                if let Some(d) = get_duration(ctx, v, path, target) {
                    if d < MIN_INTERVAL {
                        ctx.report(
                            path,
                            target,
                            format!("{} is below the minimum of 10s", fmt_d(d)),
                        );
                    } else {
                        p.interval = Some(d);
                    }
                }
            }
            "timeout" => {
                if let Some(d) = get_positive_duration(ctx, v, path, target) {
                    p.timeout = Some(d);
                }
            }
            "invoke_interval" => {
                if let Some(d) = get_positive_duration(ctx, v, path, target) {
                    p.invoke_interval = Some(d);
                }
            }
            "session_duration" => {
                if let Some(d) = get_duration(ctx, v, path, target) {
                    if d < MIN_SESSION_DURATION || d > MAX_SESSION_DURATION {
                        ctx.report(
                            path,
                            target,
                            format!(
                                "{} is outside what AssumeRole accepts (15m to 12h)",
                                fmt_d(d)
                            ),
                        );
                    } else {
                        p.session_duration = Some(d);
                    }
                }
            }
            "concurrency" => {
                if let Some(n) = get_uint(ctx, v, path, target) {
                    match usize::try_from(n) {
                        Ok(0) => {
                            ctx.report(path, target, "must be at least 1 (0 would never probe)")
                        }
                        Ok(n) => p.concurrency = Some(n),
                        Err(_) => ctx.report(path, target, format!("{n} is too large")),
                    }
                }
            }
            "max_tokens" => {
                if let Some(n) = get_uint(ctx, v, path, target) {
                    match u32::try_from(n) {
                        Ok(0) => ctx.report(
                            path,
                            target,
                            "must be at least 1 (the minimal invocation asks for one output token)",
                        ),
                        Ok(n) => p.max_tokens = Some(n),
                        Err(_) => ctx.report(path, target, format!("{n} is too large")),
                    }
                }
            }
            "model_access" => p.model_access = get_bool(ctx, v, path, target),
            "invoke" => {
                p.invoke = get_enum(
                    ctx,
                    v,
                    path,
                    target,
                    &[
                        ("converse", InvokeMode::Converse),
                        ("invoke_model", InvokeMode::InvokeModel),
                        ("none", InvokeMode::None),
                    ],
                )
            }
            "expect" => {
                p.expect = get_enum(
                    ctx,
                    v,
                    path,
                    target,
                    &[("allow", Expect::Allow), ("deny", Expect::Deny)],
                )
            }
            "session_name" => {
                if let Some(s) = get_string(ctx, v, path, target) {
                    match rules::session_name(&s) {
                        Ok(()) => p.session_name = Some(s),
                        Err(m) => ctx.report(path, target, m),
                    }
                }
            }
            _ => {}
        }
    }
    p
}

/// `base` with the keys of `p` applied; `invoke_interval` falls back to `inherited_invoke_interval`
/// (the one written in `[probe]`), then to the effective interval, and is never shorter than it.
fn merge(
    base: &ProbeSettings,
    p: &Partial,
    inherited_invoke_interval: Option<Duration>,
) -> ProbeSettings {
    let interval = p.interval.unwrap_or(base.interval);
    let invoke_interval = p
        .invoke_interval
        .or(inherited_invoke_interval)
        .unwrap_or(interval)
        .max(interval);
    ProbeSettings {
        interval,
        timeout: p.timeout.unwrap_or(base.timeout),
        concurrency: p.concurrency.unwrap_or(base.concurrency),
        invoke: p.invoke.unwrap_or(base.invoke),
        invoke_interval,
        model_access: p.model_access.unwrap_or(base.model_access),
        session_name: p
            .session_name
            .clone()
            .unwrap_or_else(|| base.session_name.clone()),
        session_duration: p.session_duration.unwrap_or(base.session_duration),
        max_tokens: p.max_tokens.unwrap_or(base.max_tokens),
        expect: p.expect.unwrap_or(base.expect),
    }
}

fn check_timeout(
    ctx: &mut Ctx<'_>,
    s: &ProbeSettings,
    p: &Partial,
    prefix: &str,
    target: Option<&str>,
) {
    if (p.timeout.is_some() || p.interval.is_some()) && s.timeout > s.interval {
        let key = if p.timeout.is_some() {
            "timeout"
        } else {
            "interval"
        };
        ctx.report(
            &join(prefix, key),
            target,
            format!(
                "timeout {} is longer than interval {}; a probe must finish before the next one is due",
                fmt_d(s.timeout),
                fmt_d(s.interval)
            ),
        );
    }
}

fn as_table<'v>(
    ctx: &mut Ctx<'_>,
    v: &'v Value,
    path: &str,
    what: &str,
) -> Option<&'v Map<String, Value>> {
    match &v.kind {
        ValueKind::Table(t) => Some(t),
        other => {
            ctx.report(
                path,
                None,
                format!("expected {what}, found {}", kind_name(other)),
            );
            None
        }
    }
}

fn as_array<'v>(ctx: &mut Ctx<'_>, v: &'v Value, path: &str, what: &str) -> Option<&'v [Value]> {
    match &v.kind {
        ValueKind::Array(a) => Some(a),
        ValueKind::Nil => Some(&[]),
        other => {
            ctx.report(
                path,
                None,
                format!("expected {what}, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// Validates the whole tree. Returns the configuration when no problem was found.
pub fn build(ctx: &mut Ctx<'_>, root: &Map<String, Value>, file: &Path) -> Option<Config> {
    ctx.unknown_keys(root, "", None, &TOP_KEYS);

    // [probe]
    let builtin = ProbeSettings::default();
    let probe = match root.get("probe") {
        Some(v) => match as_table(ctx, v, "probe", "a table ([probe])") {
            Some(t) => {
                ctx.unknown_keys(t, "probe", None, &SETTINGS_KEYS);
                parse_settings(ctx, t, "probe", None)
            }
            None => Partial::default(),
        },
        None => Partial::default(),
    };
    let defaults = merge(&builtin, &probe, None);
    check_timeout(ctx, &defaults, &probe, "probe", None);

    // [[sources]]
    let mut sources: Vec<Source> = Vec::new();
    let mut source_paths: HashMap<String, String> = HashMap::new();
    let mut sources_written = false;
    if let Some(v) = root.get("sources")
        && let Some(items) = as_array(ctx, v, "sources", "a list of tables ([[sources]])")
    {
        sources_written = !items.is_empty();
        for (i, item) in items.iter().enumerate() {
            let path = format!("sources[{i}]");
            let Some(t) = as_table(ctx, item, &path, "a table ([[sources]])") else {
                continue;
            };
            ctx.unknown_keys(t, &path, None, &SOURCE_KEYS);
            let name_path = join(&path, "name");
            let name = match t.get("name") {
                Some(v) => get_string(ctx, v, &name_path, None),
                None => {
                    ctx.report(&name_path, None, "missing: every source needs a name");
                    None
                }
            };
            let name = name.and_then(|n| {
                if n.trim().is_empty() {
                    ctx.report(&name_path, None, "is empty");
                    None
                } else {
                    Some(n)
                }
            });
            let profile = match t.get("profile") {
                Some(v) => match get_string(ctx, v, &join(&path, "profile"), None) {
                    Some(p) if p.trim().is_empty() => {
                        ctx.report(
                            &join(&path, "profile"),
                            None,
                            "is empty; leave it out to use the default chain",
                        );
                        None
                    }
                    p => p,
                },
                None => None,
            };
            let expected_account = match t.get("expected_account") {
                Some(v) => expected_account(ctx, v, &join(&path, "expected_account")),
                None => None,
            };
            if let Some(name) = name {
                if let Some(first) = source_paths.get(&name) {
                    let first = ctx.where_is(first);
                    ctx.report(
                        &name_path,
                        None,
                        format!("duplicate source name {name:?}; first defined at {first}"),
                    );
                } else {
                    source_paths.insert(name.clone(), name_path);
                    sources.push(Source {
                        name,
                        profile,
                        expected_account,
                    });
                }
            }
        }
    }

    // [[targets]]
    let mut targets: Vec<Target> = Vec::new();
    let mut target_paths: HashMap<String, String> = HashMap::new();
    let mut uses_default_source = false;
    let mut target_keys: Vec<&str> = TARGET_OWN_KEYS.to_vec();
    target_keys.extend(SETTINGS_KEYS);
    let targets_value = root.get("targets");
    let items: &[Value] = match targets_value {
        Some(v) => as_array(ctx, v, "targets", "a list of tables ([[targets]])").unwrap_or(&[]),
        None => &[],
    };
    let wrong_type =
        targets_value.is_some_and(|v| !matches!(v.kind, ValueKind::Array(_) | ValueKind::Nil));
    if items.is_empty() && !wrong_type {
        ctx.report(
            "targets",
            None,
            "no targets are configured; add at least one [[targets]] with a name, regions and models",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("targets[{i}]");
        let Some(t) = as_table(ctx, item, &path, "a table ([[targets]])") else {
            continue;
        };
        let name_path = join(&path, "name");
        let name = match t.get("name") {
            Some(v) => get_string(ctx, v, &name_path, None),
            None => {
                ctx.report(
                    &name_path,
                    None,
                    "missing: every target needs a unique name (it becomes the `target` label)",
                );
                None
            }
        };
        let name = name.and_then(|n| {
            if n.trim().is_empty() {
                ctx.report(
                    &name_path,
                    None,
                    "is empty; every target needs a unique name",
                );
                None
            } else if n.chars().any(char::is_control) {
                ctx.report(&name_path, None, "contains a control character");
                None
            } else {
                Some(n)
            }
        });
        let tname = name.as_deref();
        ctx.unknown_keys(t, &path, tname, &target_keys);
        let mut target_ok = name.is_some();
        if let Some(n) = &name {
            if let Some(first) = target_paths.get(n) {
                let first = ctx.where_is(first);
                ctx.report(
                    &name_path,
                    tname,
                    format!("duplicate target name; first defined at {first}"),
                );
                target_ok = false;
            } else {
                target_paths.insert(n.clone(), name_path.clone());
            }
        }

        let source_path = join(&path, "source");
        let source = match t.get("source") {
            Some(v) => get_string(ctx, v, &source_path, tname),
            None => Some(DEFAULT_SOURCE.to_string()),
        };
        if let Some(s) = &source {
            if s == DEFAULT_SOURCE {
                uses_default_source = true;
            } else if !source_paths.contains_key(s) {
                let mut defined: Vec<&str> = source_paths.keys().map(String::as_str).collect();
                defined.sort();
                defined.insert(0, DEFAULT_SOURCE);
                ctx.report(
                    &source_path,
                    tname,
                    format!(
                        "source {s:?} is not defined in [[sources]] (defined: {})",
                        defined.join(", ")
                    ),
                );
            }
        }

        let role_path = join(&path, "role_arn");
        let role_arn = t.get("role_arn").and_then(|v| {
            let s = get_string(ctx, v, &role_path, tname)?;
            match rules::role_arn(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    ctx.report(&role_path, tname, m);
                    None
                }
            }
        });
        let ext_path = join(&path, "external_id");
        let external_id = t.get("external_id").and_then(|v| {
            let s = match &v.kind {
                ValueKind::String(s) => s.clone(),
                other => {
                    // Never echo the value, whatever its type.
                    ctx.report(
                        &ext_path,
                        tname,
                        format!("expected a string, found {}", kind_name(other)),
                    );
                    return None;
                }
            };
            match rules::external_id(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    ctx.report(&ext_path, tname, format!("the external id {m}"));
                    None
                }
            }
        });
        if t.contains_key("external_id") && !t.contains_key("role_arn") {
            ctx.report(
                &ext_path,
                tname,
                "is set but role_arn is not; the external id is only sent with AssumeRole",
            );
        }

        let regions = string_list(ctx, t, &path, "regions", tname, "region", rules::region);
        let models = string_list(ctx, t, &path, "models", tname, "model id", rules::model_id);

        let partial = parse_settings(ctx, t, &path, tname);
        let settings = merge(&defaults, &partial, probe.invoke_interval);
        check_timeout(ctx, &settings, &partial, &path, tname);

        if let (true, Some(name), Some(source), Some(regions), Some(models)) =
            (target_ok, name, source, regions, models)
        {
            targets.push(Target {
                name,
                source,
                role_arn,
                external_id,
                regions,
                models,
                settings,
            });
        }
    }

    if !source_paths.contains_key(DEFAULT_SOURCE) && (uses_default_source || !sources_written) {
        sources.push(Source {
            name: DEFAULT_SOURCE.to_string(),
            profile: None,
            expected_account: None,
        });
    }

    if !ctx.problems.is_empty() {
        return None;
    }
    Some(Config {
        path: file.to_path_buf(),
        defaults,
        sources,
        targets,
    })
}

fn expected_account(ctx: &mut Ctx<'_>, v: &Value, path: &str) -> Option<String> {
    match &v.kind {
        ValueKind::String(s) => match rules::account_id(s) {
            Ok(()) => Some(s.clone()),
            Err(m) => {
                ctx.report(path, None, m);
                None
            }
        },
        ValueKind::I64(_) | ValueKind::U64(_) | ValueKind::I128(_) | ValueKind::U128(_) => {
            ctx.report(
                path,
                None,
                "write the account id as a quoted string (\"012345678901\"); as a number it loses leading zeros",
            );
            None
        }
        other => {
            ctx.report(
                path,
                None,
                format!(
                    "expected a 12-digit account id string, found {}",
                    kind_name(other)
                ),
            );
            None
        }
    }
}

/// A required, non-empty list of distinct values that each pass `check`.
fn string_list(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    prefix: &str,
    key: &str,
    target: Option<&str>,
    what: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<Vec<String>> {
    let path = join(prefix, key);
    let Some(v) = t.get(key) else {
        ctx.report(&path, target, format!("missing: list at least one {what}"));
        return None;
    };
    let items = get_list(ctx, v, &path, target)?;
    let mut ok = true;
    if items.is_empty() && matches!(v.kind, ValueKind::Array(ref a) if a.is_empty()) {
        ctx.report(&path, target, format!("is empty: list at least one {what}"));
        return None;
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (item_path, s) in items {
        if let Err(m) = check(&s) {
            ctx.report(&item_path, target, m);
            ok = false;
            continue;
        }
        if let Some(first) = seen.get(&s) {
            let first = ctx.where_is(first);
            ctx.report(
                &item_path,
                target,
                format!("{s:?} is listed twice (first at {first})"),
            );
            ok = false;
            continue;
        }
        seen.insert(s.clone(), item_path);
        out.push(s);
    }
    if ok
        && out.len()
            == match &v.kind {
                ValueKind::Array(a) => a.len(),
                _ => out.len(),
            }
    {
        Some(out)
    } else {
        None
    }
}
