//! From the raw tree (file + environment overrides) to a validated [`Config`], collecting every
//! problem on the way instead of stopping at the first: one pass per section (`[probe]`,
//! `[[sources]]`, `[[targets]]`, `[probe_endpoint]`), each in its own file, then the bound on
//! the number of tuples they expand into.

use std::path::Path;

use config::{Map, Value};

use super::ctx::Ctx;
use super::endpoint::probe_endpoint;
use super::limits::MAX_TUPLES;
use super::settings::probe_defaults;
use super::sources::sources;
use super::targets::targets;
use super::{Config, Target};

const TOP_KEYS: [&str; 4] = ["probe", "sources", "targets", "probe_endpoint"];

/// Validates the whole tree. Returns the configuration when no problem was found.
pub fn build(ctx: &mut Ctx<'_>, root: &Map<String, Value>, file: &Path) -> Option<Config> {
    ctx.unknown_keys(root, "", None, &TOP_KEYS);
    let (defaults, probe_invoke_interval) = probe_defaults(ctx, root);
    let mut sources = sources(ctx, root);
    let targets = targets(ctx, root, &sources, &defaults, probe_invoke_interval);
    sources.add_default(targets.uses_default_source);
    let probe_endpoint = probe_endpoint(ctx, root);
    check_tuples(ctx, &targets.list);
    if !ctx.problems.is_empty() {
        return None;
    }
    Some(Config {
        path: file.to_path_buf(),
        defaults,
        sources: sources.list,
        targets: targets.list,
        probe_endpoint,
    })
}

/// The tuples all targets expand into, bounded by [`MAX_TUPLES`].
fn check_tuples(ctx: &mut Ctx<'_>, targets: &[Target]) {
    let n = targets.iter().fold(0usize, |n, t| {
        n.saturating_add(t.regions.len().saturating_mul(t.models.len()))
    });
    if n > MAX_TUPLES {
        ctx.report(
            "targets",
            None,
            format!(
                "the targets expand into {n} (target, region, model) tuples, more than the maximum of {MAX_TUPLES}"
            ),
        );
    }
}
