//! From the raw tree (file + environment overrides) to a validated [`Config`], collecting every
//! problem on the way instead of stopping at the first: one pass per section (`[probe]`,
//! `[[sources]]`, `[[targets]]`), each in its own file.

use std::path::Path;

use config::{Map, Value};

use super::Config;
use super::ctx::Ctx;
use super::limits::limits;
use super::settings::probe_defaults;
use super::sources::sources;
use super::targets::targets;

const TOP_KEYS: [&str; 4] = ["probe", "limits", "sources", "targets"];

/// Validates the whole tree. Returns the configuration when no problem was found.
pub fn build(ctx: &mut Ctx<'_>, root: &Map<String, Value>, file: &Path) -> Option<Config> {
    ctx.unknown_keys(root, "", None, &TOP_KEYS);
    let (defaults, probe_invoke_interval) = probe_defaults(ctx, root);
    let limits = limits(ctx, root);
    let mut sources = sources(ctx, root);
    let targets = targets(ctx, root, &sources, &defaults, probe_invoke_interval);
    sources.add_default(targets.uses_default_source);
    if !ctx.problems.is_empty() {
        return None;
    }
    Some(Config {
        path: file.to_path_buf(),
        defaults,
        sources: sources.list,
        targets: targets.list,
        limits,
    })
}
