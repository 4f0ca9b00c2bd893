//! Sharding across replicas: which replica probes (and exports) a tuple.
//!
//! Every tuple belongs to exactly one of `count` shards, chosen by rendezvous
//! (highest-random-weight) hashing on the tuple's target, account and region: each shard `i`
//! scores the gate with XXH64 seeded with `i`, the highest score owns it. All tuples of one
//! gate (target × account × region) therefore stay on one replica, and so does their one
//! AssumeRole per round. Growing from `n` to `n + 1` shards moves only the gates the new shard
//! wins (about `1 / (n + 1)` of them); every replica computes the same owners, in every build
//! (the hash and its seeds are fixed, unlike std's `DefaultHasher`).

use std::fmt;

use crate::config::TupleKey;

/// The most shards accepted.
pub const MAX_COUNT: u32 = 1024;

/// This replica's shard: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard.count={0} is out of range: 1 to {MAX_COUNT}")]
    Count(u32),
    #[error("--shard.index={index} is out of range for --shard.count={count} (0 to {})", count - 1)]
    Index { index: u32, count: u32 },
    #[error(
        "--shard.index={0:?} is neither a number nor \"auto\" (the ordinal of a StatefulSet pod's hostname, name-3 → 3)"
    )]
    Syntax(String),
    #[error(
        "--shard.index=auto: the hostname {0:?} does not end in -N (a StatefulSet pod is named <set>-<ordinal>)"
    )]
    Hostname(String),
}

impl Shard {
    /// One replica probes everything.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_COUNT {
            return Err(ShardError::Count(count));
        }
        if index >= count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Parses `--shard.index` (a number, or `auto` with `hostname`) for `count` shards.
    pub fn parse(index: &str, count: u32, hostname: Option<&str>) -> Result<Shard, ShardError> {
        let index = match index.trim() {
            "auto" => {
                let host = hostname.unwrap_or_default();
                ordinal(host).ok_or_else(|| ShardError::Hostname(host.to_string()))?
            }
            n => n
                .parse::<u32>()
                .map_err(|_| ShardError::Syntax(n.to_string()))?,
        };
        Shard::new(index, count)
    }

    /// Whether this shard probes `key`.
    pub fn owns(&self, key: &TupleKey) -> bool {
        self.owns_gate(&key.target, &key.account, &key.aws_region)
    }

    /// Whether this shard probes the gate (target, account, region).
    pub fn owns_gate(&self, target: &str, account: &str, region: &str) -> bool {
        self.count <= 1 || owner(target, account, region, self.count) == self.index
    }

    /// Whether this replica is one of several.
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }
}

/// The shard (of `count`) that owns the gate (target, account, region).
pub fn owner(target: &str, account: &str, region: &str, count: u32) -> u32 {
    let mut data = Vec::with_capacity(target.len() + account.len() + region.len() + 2);
    data.extend_from_slice(target.as_bytes());
    data.push(0);
    data.extend_from_slice(account.as_bytes());
    data.push(0);
    data.extend_from_slice(region.as_bytes());
    (0..count.max(1))
        .max_by_key(|i| twox_hash::XxHash64::oneshot(u64::from(*i), &data))
        .unwrap_or(0)
}

/// The ordinal of a StatefulSet pod's hostname: `exporter-3` → 3 (the last `-` segment; a
/// fully qualified name is cut at its first dot).
pub fn ordinal(hostname: &str) -> Option<u32> {
    let short = hostname.trim().split('.').next()?;
    let (_, n) = short.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statefulset_pod_takes_its_ordinal() {
        assert_eq!(ordinal("bedrock-access-exporter-3"), Some(3));
        assert_eq!(ordinal("exporter-0.exporter.monitoring.svc"), Some(0));
        assert_eq!(ordinal("exporter"), None);
        assert_eq!(ordinal("exporter-x1"), None);
        assert_eq!(
            Shard::parse("auto", 4, Some("exporter-2")),
            Ok(Shard { index: 2, count: 4 })
        );
        assert!(matches!(
            Shard::parse("auto", 2, Some("exporter-2")),
            Err(ShardError::Index { .. })
        ));
        assert!(matches!(
            Shard::parse("auto", 2, Some("laptop")),
            Err(ShardError::Hostname(_))
        ));
        assert!(matches!(
            Shard::parse("one", 2, None),
            Err(ShardError::Syntax(_))
        ));
        assert!(matches!(Shard::new(0, 0), Err(ShardError::Count(0))));
    }

    #[test]
    fn every_gate_has_exactly_one_owner_and_growing_moves_only_what_the_new_shard_wins() {
        let gates: Vec<(String, String)> = (0..2000)
            .map(|i| {
                (
                    format!("{:012}", 100_000_000_000u64 + i),
                    "us-east-1".to_string(),
                )
            })
            .collect();
        let mut moved = 0;
        let mut per_shard = [0usize; 3];
        for (account, region) in &gates {
            let owners: Vec<u32> = (0..3)
                .filter(|i| {
                    Shard {
                        index: *i,
                        count: 3,
                    }
                    .owns_gate("fleet", account, region)
                })
                .collect();
            assert_eq!(owners.len(), 1);
            per_shard[owners[0] as usize] += 1;
            let after = owner("fleet", account, region, 4);
            if after != owners[0] {
                assert_eq!(after, 3, "a gate only ever moves to the new shard");
                moved += 1;
            }
        }
        assert!(per_shard.iter().all(|n| *n > 550), "{per_shard:?}");
        assert!(moved > 350 && moved < 650, "moved {moved} of 2000");
    }
}
