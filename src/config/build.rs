//! From the raw tree (file + environment overrides) to a validated [`Config`], collecting every
//! problem on the way instead of stopping at the first: one pass per section (`[probe]`,
//! `[[sources]]`, `[[targets]]`, `[probe_endpoint]`, `[limits]`), each in its own file, then
//! the bound on the number of tuples they expand into (a many-account target's written
//! `accounts` included; discovered accounts are bounded when they arrive, see
//! `Config::with_discovered`).

use std::path::Path;

use config::{Map, Value};

use super::ctx::Ctx;
use super::endpoint::probe_endpoint;
use super::limits::MAX_TUPLES;
use super::pacing::limits;
use super::settings::probe_defaults;
use super::sources::sources;
use super::targets::targets;
use super::{Config, Target};

const TOP_KEYS: [&str; 5] = ["probe", "limits", "sources", "targets", "probe_endpoint"];

/// Validates the whole tree. Returns the configuration when no problem was found.
pub fn build(ctx: &mut Ctx<'_>, root: &Map<String, Value>, file: &Path) -> Option<Config> {
    ctx.unknown_keys(root, "", None, &TOP_KEYS);
    let (defaults, probe_invoke_interval) = probe_defaults(ctx, root);
    let limits = limits(ctx, root);
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
        limits,
        probe_endpoint,
    })
}

/// The tuples all targets expand into, one per account of a many-account target, bounded by
/// [`MAX_TUPLES`].
fn check_tuples(ctx: &mut Ctx<'_>, targets: &[Target]) {
    let n = targets.iter().fold(0usize, |n, t| {
        n.saturating_add(t.tuples_per_account().saturating_mul(t.members().len()))
    });
    if n > MAX_TUPLES {
        ctx.report(
            "targets",
            None,
            format!(
                "the targets expand into {n} (target, account, region, model) tuples, more than the maximum of {MAX_TUPLES}"
            ),
        );
    }
}
