//! The exporter's fleet metrics: which shard this replica is, and how the discovery of each
//! `accounts_from` target went (success, the classified failure, the accounts found).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};

use super::state::unix_seconds;
use crate::reason::error_code_label;
use crate::shard::Shard;

/// `shard_info` and the discovery families.
pub struct FleetMetrics {
    shard_info: IntGaugeVec,
    success: IntGaugeVec,
    failure: IntGaugeVec,
    accounts: IntGaugeVec,
    last_success: GaugeVec,
    /// The (reason, error code) of each target's standing failure series.
    failing: Mutex<HashMap<String, (String, String)>>,
    /// Targets with discovery series.
    seen: Mutex<HashSet<String>>,
}

impl FleetMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &Registry) -> Result<FleetMetrics, prometheus::Error> {
        let shard_info = IntGaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_shard_info",
                "This replica's shard (value 1): it probes and exports the tuples whose target, account and region hash to index of count.",
            ),
            &["index", "count"],
        )?;
        let success = IntGaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_discovery_success",
                "1 when the last discovery of the target's accounts from AWS Organizations succeeded, else 0 (the last known list stays).",
            ),
            &["target"],
        )?;
        let failure = IntGaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_discovery_failure_info",
                "One series (value 1) while the target's last discovery failed, with the classified reason and the AWS error code.",
            ),
            &["target", "reason", "error_code"],
        )?;
        let accounts = IntGaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_discovery_accounts",
                "Accounts the target probes, as discovered (the last known list while discovery fails).",
            ),
            &["target"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_discovery_last_success_timestamp_seconds",
                "Unix time of the target's last successful discovery.",
            ),
            &["target"],
        )?;
        registry.register(Box::new(shard_info.clone()))?;
        registry.register(Box::new(success.clone()))?;
        registry.register(Box::new(failure.clone()))?;
        registry.register(Box::new(accounts.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        shard_info.with_label_values(&["0", "1"]).set(1);
        Ok(FleetMetrics {
            shard_info,
            success,
            failure,
            accounts,
            last_success,
            failing: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Sets `shard_info` to this replica's shard.
    pub fn set_shard(&self, shard: Shard) {
        self.shard_info.reset();
        self.shard_info
            .with_label_values(&[&shard.index.to_string(), &shard.count.to_string()])
            .set(1);
    }

    /// A discovery of `target` found `accounts` accounts.
    pub fn discovered(&self, target: &str, accounts: usize) {
        self.saw(target);
        self.success.with_label_values(&[target]).set(1);
        self.clear_failure(target);
        self.accounts
            .with_label_values(&[target])
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
        self.last_success
            .with_label_values(&[target])
            .set(unix_seconds(SystemTime::now()));
    }

    /// A discovery of `target` failed for `reason`; `accounts` are still probed.
    pub fn discovery_failed(
        &self,
        target: &str,
        reason: &'static str,
        code: Option<&str>,
        accounts: usize,
    ) {
        self.saw(target);
        self.success.with_label_values(&[target]).set(0);
        self.set_failure(target, reason, error_code_label(code));
        self.accounts
            .with_label_values(&[target])
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
    }

    fn clear_failure(&self, target: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((reason, code)) = failing.remove(target) {
            let _ = self.failure.remove_label_values(&[target, &reason, &code]);
        }
    }

    fn set_failure(&self, target: &str, reason: &str, code: &str) {
        self.clear_failure(target);
        self.failure
            .with_label_values(&[target, reason, code])
            .set(1);
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        failing.insert(target.to_string(), (reason.to_string(), code.to_string()));
    }

    /// Only the discovery series of `targets` stay (a reload removed the others).
    pub fn retain(&self, targets: &[&str]) {
        let known: Vec<String> = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<String> = seen
                .iter()
                .filter(|t| !targets.contains(&t.as_str()))
                .cloned()
                .collect();
            seen.retain(|t| targets.contains(&t.as_str()));
            gone
        };
        for t in known {
            self.clear_failure(&t);
            let _ = self.success.remove_label_values(&[&t]);
            let _ = self.accounts.remove_label_values(&[&t]);
            let _ = self.last_success.remove_label_values(&[&t]);
        }
    }

    fn saw(&self, target: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(target.to_string());
    }
}
