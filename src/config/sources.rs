//! `[[sources]]`: the source identities targets probe from, and the implicit `default` source
//! (the SDK's default credential chain).

use std::collections::HashMap;

use config::{Map, Value, ValueKind};

use super::ctx::Ctx;
use super::limits::MAX_SOURCES;
use super::locate::join;
use super::values::{as_array, as_table, get_string, kind_name};
use super::{Source, rules};

/// Name of the implicit source that uses the SDK's default credential chain.
pub const DEFAULT_SOURCE: &str = "default";

const SOURCE_KEYS: [&str; 3] = ["name", "profile", "expected_account"];

/// The sources read from the file.
#[derive(Debug, Default)]
pub struct Sources {
    /// The valid sources, in file order.
    pub list: Vec<Source>,
    /// Source name → the path of its `name` key (for "first defined at" and known names).
    pub paths: HashMap<String, String>,
    /// Whether the file has any `[[sources]]` entry.
    pub written: bool,
}

impl Sources {
    /// Adds the implicit `default` source, unless an entry replaces it, when a target uses it or
    /// when no source was written.
    pub fn add_default(&mut self, used: bool) {
        if !self.paths.contains_key(DEFAULT_SOURCE) && (used || !self.written) {
            self.list.push(Source {
                name: DEFAULT_SOURCE.to_string(),
                profile: None,
                expected_account: None,
            });
        }
    }
}

/// Reads `[[sources]]`, reporting every problem.
pub fn sources(ctx: &mut Ctx<'_>, root: &Map<String, Value>) -> Sources {
    let mut out = Sources::default();
    let Some(v) = root.get("sources") else {
        return out;
    };
    let Some(items) = as_array(ctx, v, "sources", "a list of tables ([[sources]])") else {
        return out;
    };
    out.written = !items.is_empty();
    if items.len() > MAX_SOURCES {
        ctx.report(
            "sources",
            None,
            format!(
                "{} sources are configured, more than the maximum of {MAX_SOURCES}",
                items.len()
            ),
        );
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("sources[{i}]");
        if let Some(t) = as_table(ctx, item, &path, "a table ([[sources]])") {
            source(ctx, t, &path, &mut out);
        }
    }
    out
}

/// One `[[sources]]` entry at `path`, added to `out` when its name is valid and new.
fn source(ctx: &mut Ctx<'_>, t: &Map<String, Value>, path: &str, out: &mut Sources) {
    ctx.unknown_keys(t, path, None, &SOURCE_KEYS);
    let name_path = join(path, "name");
    let name = source_name(ctx, t, &name_path);
    let profile = profile(ctx, t, path);
    let expected_account = match t.get("expected_account") {
        Some(v) => expected_account(ctx, v, &join(path, "expected_account")),
        None => None,
    };
    let Some(name) = name else { return };
    if let Some(first) = out.paths.get(&name) {
        let first = ctx.where_is(first);
        ctx.report(
            &name_path,
            None,
            format!("duplicate source name {name:?}; first defined at {first}"),
        );
        return;
    }
    out.paths.insert(name.clone(), name_path);
    out.list.push(Source {
        name,
        profile,
        expected_account,
    });
}

fn source_name(ctx: &mut Ctx<'_>, t: &Map<String, Value>, name_path: &str) -> Option<String> {
    let Some(v) = t.get("name") else {
        ctx.report(name_path, None, "missing: every source needs a name");
        return None;
    };
    let name = get_string(ctx, v, name_path, None)?;
    if name.trim().is_empty() {
        ctx.report(name_path, None, "is empty");
        return None;
    }
    if let Err(m) = rules::name(&name) {
        ctx.report(name_path, None, m);
        return None;
    }
    Some(name)
}

fn profile(ctx: &mut Ctx<'_>, t: &Map<String, Value>, path: &str) -> Option<String> {
    let v = t.get("profile")?;
    let profile_path = join(path, "profile");
    match get_string(ctx, v, &profile_path, None) {
        Some(p) if p.trim().is_empty() => {
            ctx.report(
                &profile_path,
                None,
                "is empty; leave it out to use the default chain",
            );
            None
        }
        p => p,
    }
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
