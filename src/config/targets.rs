//! `[[targets]]`: each target's name, source, role, external id, regions, models and settings,
//! checked one by one; a target with any problem is left out (and the problem reported).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use config::{Map, Value, ValueKind};

use super::ctx::Ctx;
use super::limits::{MAX_MODELS, MAX_REGIONS, MAX_TARGETS};
use super::locate::join;
use super::settings::{SETTINGS_KEYS, target_settings};
use super::sources::{DEFAULT_SOURCE, Sources};
use super::values::{as_array, as_table, get_list, get_string, kind_name};
use super::{ProbeSettings, Target, TargetAccounts, fleet, rules};

const TARGET_OWN_KEYS: [&str; 10] = [
    "name",
    "source",
    "role_arn",
    "role_name",
    "role_path",
    "accounts",
    "accounts_from",
    "external_id",
    "regions",
    "models",
];

/// The targets read from the file.
#[derive(Debug, Default)]
pub struct Targets {
    /// The valid targets, in file order.
    pub list: Vec<Target>,
    /// Whether some target probes from the implicit `default` source.
    pub uses_default_source: bool,
}

/// What every target is read against.
struct Context<'s> {
    sources: &'s Sources,
    defaults: &'s ProbeSettings,
    inherited_invoke_interval: Option<Duration>,
    /// Every key a target may have.
    keys: Vec<&'static str>,
}

/// Reads `[[targets]]` against the sources and the `[probe]` defaults, reporting every problem.
pub fn targets(
    ctx: &mut Ctx<'_>,
    root: &Map<String, Value>,
    sources: &Sources,
    defaults: &ProbeSettings,
    inherited_invoke_interval: Option<Duration>,
) -> Targets {
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
    if items.len() > MAX_TARGETS {
        ctx.report(
            "targets",
            None,
            format!(
                "{} targets are configured, more than the maximum of {MAX_TARGETS}",
                items.len()
            ),
        );
        return Targets::default();
    }
    let mut keys: Vec<&str> = TARGET_OWN_KEYS.to_vec();
    keys.extend(SETTINGS_KEYS);
    let with = Context {
        sources,
        defaults,
        inherited_invoke_interval,
        keys,
    };
    let mut out = Targets::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("targets[{i}]");
        if let Some(t) = as_table(ctx, item, &path, "a table ([[targets]])")
            && let Some(target) = target(ctx, t, &path, &with, &mut seen, &mut out)
        {
            out.list.push(target);
        }
    }
    out
}

/// One target at `path`; `None` when anything about it is wrong. `seen` maps the names read so
/// far to their paths.
fn target(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    with: &Context<'_>,
    seen: &mut HashMap<String, String>,
    out: &mut Targets,
) -> Option<Target> {
    let name_path = join(path, "name");
    let name = target_name(ctx, t, &name_path);
    let tname = name.as_deref();
    ctx.unknown_keys(t, path, tname, &with.keys);
    let mut target_ok = name.is_some();
    if let Some(n) = &name {
        if let Some(first) = seen.get(n) {
            let first = ctx.where_is(first);
            ctx.report(
                &name_path,
                tname,
                format!("duplicate target name; first defined at {first}"),
            );
            target_ok = false;
        } else {
            seen.insert(n.clone(), name_path.clone());
        }
    }
    let source = source(ctx, t, path, tname, with.sources);
    out.uses_default_source |= source.as_deref() == Some(DEFAULT_SOURCE);
    let role = fleet::role_spec(ctx, t, path, tname, &mut target_ok);
    let key_sources = with.sources.api_key_sources();
    super::api_key::check_target(ctx, t, path, tname, source.as_deref(), &key_sources);
    let external_id = external_id(ctx, t, path, tname, role.has_role);
    let regions = string_list(
        ctx,
        t,
        path,
        ("regions", MAX_REGIONS),
        tname,
        "region",
        rules::region,
    );
    let models = string_list(
        ctx,
        t,
        path,
        ("models", MAX_MODELS),
        tname,
        "model id",
        rules::model_id,
    );
    let settings = target_settings(
        ctx,
        t,
        path,
        tname,
        with.defaults,
        with.inherited_invoke_interval,
    );
    if !target_ok {
        return None;
    }
    let target = Target {
        name: name?,
        source: source?,
        role_arn: role.role_arn,
        external_id,
        regions: regions?,
        models: models?,
        settings,
        accounts: match role.fleet {
            Some(f) => TargetAccounts::Many(Box::new(f)),
            None => TargetAccounts::One,
        },
    };
    // A fixed list expands now; a discovered one when discovery answers.
    let accounts = target.fleet().map(|f| f.accounts.clone());
    Some(match accounts {
        Some(list) => fleet::with_accounts(&target, list),
        None => target,
    })
}

fn target_name(ctx: &mut Ctx<'_>, t: &Map<String, Value>, name_path: &str) -> Option<String> {
    let Some(v) = t.get("name") else {
        ctx.report(
            name_path,
            None,
            "missing: every target needs a unique name (it becomes the `target` label)",
        );
        return None;
    };
    let n = get_string(ctx, v, name_path, None)?;
    if n.trim().is_empty() {
        ctx.report(
            name_path,
            None,
            "is empty; every target needs a unique name",
        );
        None
    } else if let Err(m) = rules::name(&n) {
        ctx.report(name_path, None, m);
        None
    } else {
        Some(n)
    }
}

/// The target's source (`default` when not written); one not defined is reported, but kept.
fn source(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    tname: Option<&str>,
    sources: &Sources,
) -> Option<String> {
    let source_path = join(path, "source");
    let source = match t.get("source") {
        Some(v) => get_string(ctx, v, &source_path, tname)?,
        None => DEFAULT_SOURCE.to_string(),
    };
    if source != DEFAULT_SOURCE && !sources.paths.contains_key(&source) {
        let mut defined: Vec<&str> = sources.paths.keys().map(String::as_str).collect();
        defined.sort();
        defined.insert(0, DEFAULT_SOURCE);
        ctx.report(
            &source_path,
            tname,
            format!(
                "source {source:?} is not defined in [[sources]] (defined: {})",
                defined.join(", ")
            ),
        );
    }
    Some(source)
}

/// The external id; its value is never echoed in a message, whatever its type.
fn external_id(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    tname: Option<&str>,
    has_role: bool,
) -> Option<String> {
    let ext_path = join(path, "external_id");
    let external_id = t.get("external_id").and_then(|v| match &v.kind {
        ValueKind::String(s) => match rules::external_id(s) {
            Ok(()) => Some(s.clone()),
            Err(m) => {
                ctx.report(&ext_path, tname, format!("the external id {m}"));
                None
            }
        },
        other => {
            ctx.report(
                &ext_path,
                tname,
                format!("expected a string, found {}", kind_name(other)),
            );
            None
        }
    });
    if t.contains_key("external_id") && !has_role {
        ctx.report(
            &ext_path,
            tname,
            "is set but role_arn is not; the external id is only sent with AssumeRole",
        );
    }
    external_id
}

/// A required, non-empty list of at most `max` distinct values that each pass `check`.
fn string_list(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    prefix: &str,
    (key, max): (&str, usize),
    target: Option<&str>,
    what: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<Vec<String>> {
    let path = join(prefix, key);
    let Some(v) = t.get(key) else {
        ctx.report(&path, target, format!("missing: list at least one {what}"));
        return None;
    };
    if let ValueKind::Array(a) = &v.kind
        && a.len() > max
    {
        ctx.report(
            &path,
            target,
            format!("lists {} values, more than the maximum of {max}", a.len()),
        );
        return None;
    }
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
