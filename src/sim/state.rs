//! What every request of a simulator shares: the current scenario (swapped whole on reload),
//! the sessions AssumeRole issued and the Marketplace subscriptions made at first invocation.
//! Sessions and subscriptions survive a reload.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use super::auth::SessionStore;
use super::counters::Counters;
use super::counts::Counts;
use super::scenario::Scenario;

pub(crate) struct SimState {
    scenario: RwLock<Arc<Scenario>>,
    pub(crate) sessions: SessionStore,
    /// (account, model id) pairs subscribed through Marketplace at first invocation.
    subscriptions: Mutex<HashSet<(String, String)>>,
    /// What the simulator saw (calls per operation, per account and second, AssumeRoles).
    pub(crate) counts: Counts,
    /// Connections, handshakes and requests, for `GET /_sim/metrics`.
    pub(crate) counters: Counters,
}

impl SimState {
    pub(crate) fn new(scenario: Scenario) -> SimState {
        SimState {
            scenario: RwLock::new(Arc::new(scenario)),
            sessions: SessionStore::default(),
            subscriptions: Mutex::new(HashSet::new()),
            counts: Counts::default(),
            counters: Counters::new(),
        }
    }

    /// The current scenario.
    pub(crate) fn scenario(&self) -> Arc<Scenario> {
        match self.scenario.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Swaps in a new scenario; requests in flight finish with the one they started with.
    pub(crate) fn replace_scenario(&self, scenario: Scenario) {
        if let Ok(mut guard) = self.scenario.write() {
            *guard = Arc::new(scenario);
        }
    }

    /// Whether `account` subscribed to `model` through Marketplace.
    pub(crate) fn is_subscribed(&self, account: &str, model: &str) -> bool {
        self.subscriptions
            .lock()
            .is_ok_and(|s| s.contains(&(account.to_owned(), model.to_owned())))
    }

    /// Records the Marketplace subscription of `account` to `model`.
    pub(crate) fn subscribe(&self, account: &str, model: &str) {
        if let Ok(mut subs) = self.subscriptions.lock() {
            subs.insert((account.to_owned(), model.to_owned()));
        }
    }
}
