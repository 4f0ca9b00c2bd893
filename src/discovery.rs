//! The accounts of `accounts_from` targets: the last list AWS Organizations returned per
//! target, refreshed every `refresh`, and exported (`discovery_success`,
//! `discovery_failure_info`, `discovery_accounts`). A failed discovery keeps the last known list;
//! a list that changed is applied like a reload by [`crate::app::App`] (the series of an
//! account that left vanish, a new account's tuples are scheduled).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::config::{Discovery, Target};
use crate::metrics::Metrics;
use crate::probe::organizations::DiscoveryFailure;
use crate::schedule::ProbeFn;

/// What discovery last found for one target.
#[derive(Debug, Clone)]
struct Known {
    /// The settings it was found with (a reload that changes them discovers afresh).
    spec: (String, Discovery),
    accounts: Vec<String>,
}

/// The last known accounts of every discovering target.
#[derive(Default)]
pub struct Discoveries {
    known: Mutex<HashMap<String, Known>>,
}

fn spec(target: &Target, d: &Discovery) -> (String, Discovery) {
    (target.source.clone(), d.clone())
}

impl Discoveries {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last list found for `target` with these settings, if any.
    pub fn accounts(&self, target: &Target, d: &Discovery) -> Option<Vec<String>> {
        let known = self.lock();
        let k = known.get(&target.name)?;
        (k.spec == spec(target, d)).then(|| k.accounts.clone())
    }

    /// The last list found for the target called `name`, whatever its settings.
    pub fn last(&self, name: &str) -> Option<Vec<String>> {
        self.lock().get(name).map(|k| k.accounts.clone())
    }

    /// Forgets the targets not in `names` (removed by a reload).
    pub fn retain(&self, names: &[&str]) {
        self.lock().retain(|n, _| names.contains(&n.as_str()));
    }

    /// Discovers `target`'s accounts now and records the outcome; true when the list changed
    /// (or was found for the first time).
    pub async fn refresh<P: ProbeFn>(
        &self,
        prober: &P,
        target: &Target,
        d: &Discovery,
        metrics: &Metrics,
    ) -> bool {
        match prober.discover(target, d).await {
            Ok(accounts) => {
                metrics.fleet.discovered(&target.name, accounts.len());
                let mut known = self.lock();
                let fresh = Known {
                    spec: spec(target, d),
                    accounts,
                };
                let changed = known
                    .get(&target.name)
                    .is_none_or(|k| k.spec != fresh.spec || k.accounts != fresh.accounts);
                if changed {
                    tracing::info!(target = %target.name, accounts = fresh.accounts.len(), "accounts discovered from AWS Organizations");
                }
                known.insert(target.name.clone(), fresh);
                changed
            }
            Err(f) => {
                self.failed(target, d, &f, metrics);
                false
            }
        }
    }

    fn failed(&self, target: &Target, d: &Discovery, f: &DiscoveryFailure, metrics: &Metrics) {
        let kept = self.accounts(target, d).map_or(0, |a| a.len());
        metrics.fleet.discovery_failed(
            &target.name,
            f.reason.as_str(),
            f.error_code.as_deref(),
            kept,
        );
        tracing::warn!(
            target = %target.name,
            reason = f.reason.as_str(),
            error_code = f.error_code.as_deref().unwrap_or(""),
            aws_message = %f.message,
            fix = f.reason.fix(),
            kept_accounts = kept,
            "discovering accounts from AWS Organizations failed; the last known list stays"
        );
    }
}
