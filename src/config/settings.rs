//! The probe settings (`interval`, `timeout`, … `expect`): read where they are written (the
//! `[probe]` table, or one target), checked, and merged over the level above.

use std::time::Duration;

use config::{Map, Value};

use super::ctx::Ctx;
use super::limits::{
    MAX_CONCURRENCY, MAX_INTERVAL, MAX_INVOKE_INTERVAL, MAX_MAX_TOKENS, MAX_TIMEOUT,
};
use super::locate::join;
use super::values::{
    as_table, get_bool, get_duration, get_enum, get_positive_duration, get_string, get_uint,
};
use super::{Expect, InvokeMode, ProbeSettings, ServiceTier, rules};

/// The shortest `interval` accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// AssumeRole's `DurationSeconds` bounds.
pub const MIN_SESSION_DURATION: Duration = Duration::from_secs(900);
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(12 * 3600);

/// The keys of the probe settings, in `[probe]` and in every target.
pub const SETTINGS_KEYS: [&str; 12] = [
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
    "stream",
    "service_tier",
];

const INVOKE_MODES: [(&str, InvokeMode); 3] = [
    ("converse", InvokeMode::Converse),
    ("invoke_model", InvokeMode::InvokeModel),
    ("none", InvokeMode::None),
];
const EXPECTS: [(&str, Expect); 2] = [("allow", Expect::Allow), ("deny", Expect::Deny)];
const SERVICE_TIERS: [(&str, ServiceTier); 3] = [
    ("default", ServiceTier::Default),
    ("priority", ServiceTier::Priority),
    ("flex", ServiceTier::Flex),
];

/// The settings as written at one level (the `[probe]` table or one target).
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
    stream: Option<bool>,
    service_tier: Option<ServiceTier>,
}

/// `[probe]`: the defaults every target starts from, and the `invoke_interval` written there
/// (which targets inherit as written, before it is stretched to their own interval).
pub fn probe_defaults(
    ctx: &mut Ctx<'_>,
    root: &Map<String, Value>,
) -> (ProbeSettings, Option<Duration>) {
    let probe = match root.get("probe") {
        Some(v) => match as_table(ctx, v, "probe", "a table ([probe])") {
            Some(t) => {
                ctx.unknown_keys(t, "probe", None, &SETTINGS_KEYS);
                parse(ctx, t, "probe", None)
            }
            None => Partial::default(),
        },
        None => Partial::default(),
    };
    let defaults = merge(&ProbeSettings::default(), &probe, None);
    check_timeout(ctx, &defaults, &probe, "probe", None);
    check_stream(ctx, &defaults, &probe, "probe", None);
    (defaults, probe.invoke_interval)
}

/// The settings of the target at `prefix` (table `map`): its own keys over `defaults`.
pub fn target_settings(
    ctx: &mut Ctx<'_>,
    map: &Map<String, Value>,
    prefix: &str,
    target: Option<&str>,
    defaults: &ProbeSettings,
    inherited_invoke_interval: Option<Duration>,
) -> ProbeSettings {
    let partial = parse(ctx, map, prefix, target);
    let settings = merge(defaults, &partial, inherited_invoke_interval);
    check_timeout(ctx, &settings, &partial, prefix, target);
    check_stream(ctx, &settings, &partial, prefix, target);
    settings
}

/// Reads every settings key of `map`, reporting each bad value.
fn parse(
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
            "interval" => p.interval = interval(ctx, v, path, target),
            "timeout" => {
                p.timeout = get_positive_duration(ctx, v, path, target)
                    .and_then(|d| at_most(ctx, d, MAX_TIMEOUT, path, target));
            }
            "invoke_interval" => {
                p.invoke_interval = get_positive_duration(ctx, v, path, target)
                    .and_then(|d| at_most(ctx, d, MAX_INVOKE_INTERVAL, path, target));
            }
            "session_duration" => p.session_duration = session_duration(ctx, v, path, target),
            "concurrency" => p.concurrency = concurrency(ctx, v, path, target),
            "max_tokens" => p.max_tokens = max_tokens(ctx, v, path, target),
            "model_access" => p.model_access = get_bool(ctx, v, path, target),
            "stream" => p.stream = get_bool(ctx, v, path, target),
            "invoke" => p.invoke = get_enum(ctx, v, path, target, &INVOKE_MODES),
            "expect" => p.expect = get_enum(ctx, v, path, target, &EXPECTS),
            "service_tier" => p.service_tier = get_enum(ctx, v, path, target, &SERVICE_TIERS),
            "session_name" => p.session_name = session_name(ctx, v, path, target),
            _ => {}
        }
    }
    p
}

fn fmt_d(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// `d`, or `None` (reported) when it is longer than `max`.
fn at_most(
    ctx: &mut Ctx<'_>,
    d: Duration,
    max: Duration,
    path: &str,
    target: Option<&str>,
) -> Option<Duration> {
    if d > max {
        ctx.report(
            path,
            target,
            format!("{} is above the maximum of {}", fmt_d(d), fmt_d(max)),
        );
        return None;
    }
    Some(d)
}

fn interval(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<Duration> {
    let d = get_duration(ctx, v, path, target)?;
    if d < MIN_INTERVAL {
        ctx.report(
            path,
            target,
            format!("{} is below the minimum of 10s", fmt_d(d)),
        );
        return None;
    }
    at_most(ctx, d, MAX_INTERVAL, path, target)
}

fn session_duration(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
) -> Option<Duration> {
    let d = get_duration(ctx, v, path, target)?;
    if d < MIN_SESSION_DURATION || d > MAX_SESSION_DURATION {
        ctx.report(
            path,
            target,
            format!(
                "{} is outside what AssumeRole accepts (15m to 12h)",
                fmt_d(d)
            ),
        );
        return None;
    }
    Some(d)
}

fn concurrency(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<usize> {
    let n = get_uint(ctx, v, path, target)?;
    if n == 0 {
        ctx.report(path, target, "must be at least 1 (0 would never probe)");
        return None;
    }
    if n > MAX_CONCURRENCY {
        ctx.report(
            path,
            target,
            format!("{n} is above the maximum of {MAX_CONCURRENCY} probes in flight"),
        );
        return None;
    }
    usize::try_from(n).ok()
}

fn max_tokens(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<u32> {
    let n = get_uint(ctx, v, path, target)?;
    if n == 0 {
        ctx.report(
            path,
            target,
            "must be at least 1 (the minimal invocation asks for one output token)",
        );
        return None;
    }
    if n > MAX_MAX_TOKENS {
        ctx.report(
            path,
            target,
            format!("{n} is above the maximum of {MAX_MAX_TOKENS} output tokens"),
        );
        return None;
    }
    u32::try_from(n).ok()
}

fn session_name(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<String> {
    let s = get_string(ctx, v, path, target)?;
    match rules::session_name(&s) {
        Ok(()) => Some(s),
        Err(m) => {
            ctx.report(path, target, m);
            None
        }
    }
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
        stream: p.stream.unwrap_or(base.stream),
        service_tier: p.service_tier.or(base.service_tier),
    }
}

/// A timeout longer than the interval, reported at the key written at this level.
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

/// `stream = true` written at this level while the effective `invoke` is `"none"`: the
/// streaming layer is a paid invocation too, and `invoke = "none"` turns every paid layer off.
/// (`stream = true` inherited from `[probe]` by a target with `invoke = "none"` is simply off
/// there.)
fn check_stream(
    ctx: &mut Ctx<'_>,
    s: &ProbeSettings,
    p: &Partial,
    prefix: &str,
    target: Option<&str>,
) {
    if p.stream == Some(true) && s.invoke == InvokeMode::None {
        ctx.report(
            &join(prefix, "stream"),
            target,
            "stream = true needs an invocation (invoke = \"converse\" or \"invoke_model\"); \
             invoke = \"none\" turns every paid layer off",
        );
    }
}
