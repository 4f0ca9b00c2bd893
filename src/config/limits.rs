//! Upper bounds of everything a configuration can ask for, so that no file, valid-looking or
//! hostile, can make the daemon use unbounded memory, time, file descriptors or money: the
//! file's size and structure (checked before any parser builds a tree, `file` and `bounds`),
//! and every number, duration, list and name (checked by validation and reported like every
//! other problem, with file, line, target and field).
//!
//! The bounds are far above what a real configuration needs; `docs/configuration.md` lists
//! them.

use std::time::Duration;

/// Largest configuration file read, in bytes (a 5,000-target file is about 1.5 MiB).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting of tables and lists (a configuration needs 3: `targets[0].regions[0]`).
pub const MAX_DEPTH: usize = 32;
/// Most YAML nodes, counting every node an alias repeats (a 5,000-target file has about
/// 150,000): a few hundred bytes of anchors and aliases cannot expand into billions of nodes.
pub const MAX_YAML_NODES: u64 = 250_000;

/// Most probes in flight at once (`concurrency`).
pub const MAX_CONCURRENCY: u64 = 1024;
/// Most output tokens of the minimal invocation (`max_tokens`).
pub const MAX_MAX_TOKENS: u64 = 4096;
/// Longest `interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Longest `timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Longest `invoke_interval`.
pub const MAX_INVOKE_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Most `[[targets]]`.
pub const MAX_TARGETS: usize = 5_000;
/// Most `[[sources]]`.
pub const MAX_SOURCES: usize = 256;
/// Most regions of one target.
pub const MAX_REGIONS: usize = 64;
/// Most models of one target.
pub const MAX_MODELS: usize = 1_000;
/// Most (target, account, region, model) tuples in all (written and discovered accounts).
pub const MAX_TUPLES: usize = 50_000;
/// Longest target or source name, in characters (it becomes a label value and a table row).
pub const MAX_NAME_CHARS: usize = 128;

/// Most `/probe` requests answered at once (`[probe_endpoint] max_in_flight`).
pub const MAX_PROBE_IN_FLIGHT: u64 = 256;
