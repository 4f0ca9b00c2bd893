//! Typed readers of raw configuration values: each yields the value, or reports why it is not
//! one (naming what was found instead) and yields `None`.

use std::time::Duration;

use config::{Map, Value, ValueKind};

use super::ctx::Ctx;

/// Longest string value accepted anywhere (model ARNs are at most 2048).
const MAX_STRING: usize = 4096;

pub fn kind_name(v: &ValueKind) -> &'static str {
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

pub fn get_string(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    target: Option<&str>,
) -> Option<String> {
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
pub fn get_positive_duration(
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

pub fn get_duration(
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

pub fn get_uint(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<u64> {
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

pub fn get_bool(ctx: &mut Ctx<'_>, v: &Value, path: &str, target: Option<&str>) -> Option<bool> {
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

pub fn get_enum<T: Copy>(
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
pub fn get_list(
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

pub fn as_table<'v>(
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

pub fn as_array<'v>(
    ctx: &mut Ctx<'_>,
    v: &'v Value,
    path: &str,
    what: &str,
) -> Option<&'v [Value]> {
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
