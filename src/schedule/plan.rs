//! The order in which a target's tuples are spread over its interval, and which round each
//! one uses, so that both AWS quotas that matter stay spread:
//!
//! * **Gates** (target × account × region, one AssumeRole per round) are interleaved across
//!   accounts (region-major), so consecutive probes call different accounts.
//! * The interval is cut into one **block per model**; every gate has one tuple in every block,
//!   gate `g`'s model `m` in block `(m + g) mod M`. An account's Bedrock calls are therefore
//!   spread over the whole interval instead of coming in a burst.
//! * Each gate's **own round** starts at its first block `g mod M`: a tuple in an earlier block
//!   belongs to the gate's round that started in the previous period. A gate is still assumed
//!   once per round, and the AssumeRole calls of the target are spread over the interval
//!   instead of all falling in the first block.
//!
//! Only the gates this replica's shard owns are planned.

use std::sync::Arc;

use crate::config::{Target, TupleKey};
use crate::shard::Shard;

/// One planned tuple of a target.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The target that probes it (a many-account target's member).
    pub target: Arc<Target>,
    pub key: TupleKey,
    /// The tuple lies before its gate's first block: it uses the round that started in the
    /// previous period.
    pub previous_round: bool,
}

/// The tuples of `target` this shard owns, in schedule order.
pub fn plan(target: &Target, shard: Shard) -> Vec<Planned> {
    let members: Vec<Arc<Target>> = target
        .members()
        .into_iter()
        .map(|m| Arc::new(m.clone()))
        .collect();
    // Gates, region-major: (member, region).
    let mut gates: Vec<(&Arc<Target>, &str)> = Vec::new();
    for region in &target.regions {
        for m in &members {
            if shard.owns_gate(&m.name, m.tuple_account(), region) {
                gates.push((m, region));
            }
        }
    }
    let models = &target.models;
    let nm = models.len();
    let mut out = Vec::with_capacity(gates.len() * nm);
    for block in 0..nm {
        for (g, (member, region)) in gates.iter().enumerate() {
            let first = g % nm;
            let m = (block + nm - first) % nm;
            out.push(Planned {
                target: Arc::clone(member),
                key: TupleKey {
                    target: member.name.clone(),
                    account: member.tuple_account().to_string(),
                    aws_region: region.to_string(),
                    model_id: models[m].clone(),
                },
                previous_round: block < first,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Fleet, ProbeSettings, TargetAccounts, fleet};

    fn fleet_target(accounts: usize, regions: &[&str], models: usize) -> Target {
        let t = Target {
            name: "fleet".into(),
            source: "default".into(),
            role_arn: None,
            external_id: None,
            regions: regions.iter().map(|s| s.to_string()).collect(),
            models: (0..models).map(|i| format!("vendor.model-{i}")).collect(),
            settings: ProbeSettings::default(),
            accounts: TargetAccounts::Many(Box::new(Fleet {
                role_name: "prober".into(),
                role_path: "/".into(),
                accounts: vec![],
                discovery: None,
                members: vec![],
            })),
        };
        let list = (0..accounts).map(|i| format!("{:012}", 200_000_000_000u64 + i as u64));
        fleet::with_accounts(&t, list.collect())
    }

    #[test]
    fn every_tuple_is_planned_once_and_each_gate_starts_its_round_in_its_own_block() {
        let t = fleet_target(7, &["us-east-1", "eu-west-1"], 5);
        let p = plan(&t, Shard::ALL);
        assert_eq!(p.len(), 7 * 2 * 5);
        let keys: std::collections::HashSet<&TupleKey> = p.iter().map(|x| &x.key).collect();
        assert_eq!(keys.len(), p.len());
        // In each gate's own round (its first block on, then the next period's earlier
        // blocks), every model appears exactly once.
        let gates = 14;
        for g in 0..gates {
            let mine: Vec<&Planned> = p.iter().skip(g).step_by(gates).collect();
            assert_eq!(mine.len(), 5);
            assert_eq!(mine.iter().filter(|x| !x.previous_round).count(), 5 - g % 5);
        }
        // Consecutive probes call different accounts.
        for w in p.windows(2) {
            assert_ne!(w[0].key.account, w[1].key.account);
        }
    }

    #[test]
    fn a_shard_plans_only_the_gates_it_owns() {
        let t = fleet_target(40, &["us-east-1", "us-west-2"], 3);
        let total: usize = (0..3)
            .map(|i| plan(&t, Shard { index: i, count: 3 }).len())
            .sum();
        assert_eq!(total, 40 * 2 * 3);
    }
}
