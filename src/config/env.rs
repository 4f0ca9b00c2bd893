//! `BEDROCK_EXPORTER__…` environment overrides.
//!
//! `BEDROCK_EXPORTER__PROBE__INTERVAL=1m` sets `probe.interval`. Segments are separated by `__`
//! and compared case-insensitively. Inside `targets` and `sources`, a segment selects an entry by
//! its 0-based index (`BEDROCK_EXPORTER__TARGETS__0__TIMEOUT=10s`) or by its name, with `-`
//! written as `_` (`BEDROCK_EXPORTER__TARGETS__PROD_INFERENCE__INTERVAL=10m`). Values are
//! strings; lists (`regions`, `models`) are comma-separated.
//!
//! The `config` crate's own `Environment` source cannot address array entries (it would replace
//! the whole `targets` array with a table), so overrides are applied here, on the tree the
//! `config` crate read from the file.

use std::collections::BTreeMap;

use config::{Map, Value, ValueKind};

use super::locate::join;

/// Prefix of every override variable, separator included.
pub const PREFIX: &str = "BEDROCK_EXPORTER__";

/// An override variable that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOverride {
    pub variable: String,
    pub message: String,
}

/// What the overrides did: rendered path → variable name, for every value they set.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub origins: BTreeMap<String, String>,
    pub errors: Vec<BadOverride>,
}

impl Applied {
    /// The variable that set `path`, if any.
    pub fn origin(&self, path: &str) -> Option<&str> {
        self.origins.get(path).map(String::as_str)
    }
}

/// The value kinds a list field accepts from the environment, comma separated.
const LIST_FIELDS: [&str; 2] = ["regions", "models"];

/// Applies every `BEDROCK_EXPORTER__…` variable of `env` to `root`, in name order.
pub fn apply(
    root: &mut Map<String, Value>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Applied {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| {
            k.len() > PREFIX.len()
                && k.is_char_boundary(PREFIX.len())
                && k[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        })
        .collect();
    vars.sort();
    let mut applied = Applied::default();
    for (name, value) in vars {
        let segments: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        match set(root, &segments, &value) {
            Ok(path) => {
                applied.origins.insert(path, name);
            }
            Err(message) => applied.errors.push(BadOverride {
                variable: name,
                message,
            }),
        }
    }
    applied
}

fn env_value(key: &str, value: &str) -> Value {
    let origin = Some("the environment".to_string());
    if LIST_FIELDS.contains(&key) {
        let items = value
            .split(',')
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| Value::new(origin.as_ref(), ValueKind::String(s.to_string())))
            .collect::<Vec<_>>();
        Value::new(origin.as_ref(), ValueKind::Array(items))
    } else {
        Value::new(origin.as_ref(), ValueKind::String(value.to_string()))
    }
}

/// Sets `segments` in `root`; returns the rendered path that was set.
fn set(root: &mut Map<String, Value>, segments: &[String], value: &str) -> Result<String, String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err("names no field".to_string());
    };
    if first.is_empty() || rest.iter().any(String::is_empty) {
        return Err("has an empty segment (\"____\")".to_string());
    }
    if rest.is_empty() {
        root.insert(first.clone(), env_value(first, value));
        return Ok(first.clone());
    }
    let node = root
        .entry(first.clone())
        .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
    set_in(node, first.clone(), rest, value)
}

fn set_in(
    node: &mut Value,
    path: String,
    segments: &[String],
    value: &str,
) -> Result<String, String> {
    let Some((seg, rest)) = segments.split_first() else {
        return Ok(path);
    };
    match &mut node.kind {
        ValueKind::Array(items) => {
            let index = select(items, seg).ok_or_else(|| {
                format!(
                    "selects entry {seg:?} of {path}, which has no entry with that index or name ({} entries)",
                    items.len()
                )
            })?;
            let item_path = format!("{path}[{index}]");
            if rest.is_empty() {
                return Err(format!(
                    "would replace the whole entry {item_path}; name one of its fields"
                ));
            }
            set_in(&mut items[index], item_path, rest, value)
        }
        ValueKind::Table(map) => {
            let child_path = join(&path, seg);
            if rest.is_empty() {
                map.insert(seg.clone(), env_value(seg, value));
                Ok(child_path)
            } else {
                let child = map
                    .entry(seg.clone())
                    .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
                set_in(child, child_path, rest, value)
            }
        }
        ValueKind::Nil => {
            node.kind = ValueKind::Table(Map::new());
            set_in(node, path, segments, value)
        }
        _ => Err(format!("goes below {path}, which is a single value")),
    }
}

/// Entry of an array by 0-based index or by its `name` (case-insensitive, `-` written as `_`).
fn select(items: &[Value], seg: &str) -> Option<usize> {
    if let Ok(i) = seg.parse::<usize>() {
        return (i < items.len()).then_some(i);
    }
    let wanted = normalize(seg);
    items.iter().position(|item| match &item.kind {
        ValueKind::Table(t) => t
            .get("name")
            .is_some_and(|n| matches!(&n.kind, ValueKind::String(s) if normalize(s) == wanted)),
        _ => false,
    })
}

fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
