//! The per-tuple store: the last state of every configured tuple and its counters. A scrape
//! takes a [`TupleSnapshot`] (shared references, taken quickly under the lock) and encodes it
//! chunk by chunk afterwards, so the sample text is never held for the whole store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::encode::{is_counter, label_base};
use super::exposition::Exposition;
use super::snapshot::{Entry, TupleSnapshot};
use super::state::{Counters, TupleMeta, TupleState, probe_success};
use crate::config::{Expect, TupleKey};
use crate::probe::{LayerResult, LayerStatus, ProbeReport};
use crate::reason::Layer;

fn gates_failed(layers: &[LayerResult]) -> bool {
    layers.iter().any(|l| {
        matches!(l.layer, Layer::Credentials | Layer::AssumeRole)
            && matches!(l.status, LayerStatus::Failed(_))
    })
}

#[derive(Default)]
struct StoreInner {
    /// Configured tuples; `None` means "accept every tuple" (a `/probe` store).
    configured: Option<HashMap<TupleKey, TupleMeta>>,
    /// Shared with the snapshots of scrapes in progress; a probe recorded meanwhile copies its
    /// entry first (`Arc::make_mut`). A tree node then holds pointers, not eleven ~900-byte
    /// entries with its slack.
    entries: BTreeMap<TupleKey, Arc<Entry>>,
}

/// The per-tuple families: the last state and counters of each tuple.
#[derive(Default)]
pub struct TupleStore {
    inner: RwLock<StoreInner>,
}

impl TupleStore {
    pub fn new() -> TupleStore {
        TupleStore::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, StoreInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, StoreInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the configured tuples: a tuple no longer configured loses all its series; an
    /// unchanged tuple keeps them. Returns how many tuples are configured.
    pub fn set_tuples(&self, tuples: impl IntoIterator<Item = (TupleKey, TupleMeta)>) -> usize {
        let configured: HashMap<TupleKey, TupleMeta> = tuples.into_iter().collect();
        let n = configured.len();
        let mut inner = self.write();
        inner.entries.retain(|k, _| configured.contains_key(k));
        for (k, e) in inner.entries.iter_mut() {
            if let Some(meta) = configured.get(k)
                && *meta != e.meta
            {
                let e = Arc::make_mut(e);
                e.meta = meta.clone();
                e.state.expect = meta.expect;
                e.state
                    .report
                    .layers
                    .retain(|l| !l.layer.is_invocation() || meta.invocation_enabled(l.layer));
                e.state.success = probe_success(&e.state.report.layers, meta.expect);
            }
        }
        inner.configured = Some(configured);
        n
    }

    /// Records a finished probe. Reports of tuples that are not configured (any more) are
    /// ignored. Returns the tuple's new state, if recorded.
    pub fn record(&self, mut report: ProbeReport) -> Option<TupleState> {
        let mut inner = self.write();
        let meta = match &inner.configured {
            Some(c) => c.get(&report.key)?.clone(),
            None => TupleMeta {
                expect: Expect::Allow,
                invoke_enabled: true,
                stream_enabled: true,
            },
        };
        self_record(&mut inner, meta, &mut report)
    }

    /// Records a report with explicit tuple settings, whether configured or not (for `/probe`).
    pub fn record_with(&self, meta: TupleMeta, mut report: ProbeReport) -> Option<TupleState> {
        let mut inner = self.write();
        self_record(&mut inner, meta, &mut report)
    }

    /// [`TupleStore::record_with`] for a `/probe` report whose invoke layer was reused from a
    /// probe at `invoke_at` (which `invoke_timestamp_seconds` then shows).
    pub fn record_reused(
        &self,
        meta: TupleMeta,
        mut report: ProbeReport,
        invoke_at: std::time::SystemTime,
    ) -> Option<TupleState> {
        let key = report.key.clone();
        let mut inner = self.write();
        self_record(&mut inner, meta, &mut report)?;
        let entry = Arc::make_mut(inner.entries.get_mut(&key)?);
        entry.state.last_invoke = Some(invoke_at);
        Some(entry.state.clone())
    }

    /// The last state of every tuple that finished a probe, in key order.
    pub fn snapshot(&self) -> Vec<TupleState> {
        self.read()
            .entries
            .values()
            .map(|e| e.state.clone())
            .collect()
    }

    /// The state of one tuple.
    pub fn get(&self, key: &TupleKey) -> Option<TupleState> {
        self.read().entries.get(key).map(|e| e.state.clone())
    }

    /// Number of tuples with series.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The per-tuple families at this instant, encoded when written out.
    pub fn tuple_snapshot(&self) -> TupleSnapshot {
        self.snapshot_where(|_| true)
    }

    fn snapshot_where(&self, keep: impl Fn(usize) -> bool) -> TupleSnapshot {
        let entries = self.read().entries.values().cloned().collect();
        TupleSnapshot::new(entries, keep)
    }

    /// The per-tuple families as an exposition (for `/probe`).
    pub fn exposition(&self) -> Exposition {
        Exposition::new(Vec::new(), self.tuple_snapshot())
    }

    /// The per-tuple families in the text format.
    pub fn render(&self) -> String {
        self.exposition().to_text()
    }

    /// The per-tuple gauge families only, in the text format (`/probe`'s answer: counters of a
    /// throw-away store would restart with every request, which `rate()` cannot read).
    pub fn render_gauges(&self) -> String {
        Exposition::new(Vec::new(), self.snapshot_where(|i| !is_counter(i))).to_text()
    }
}

fn self_record(
    inner: &mut StoreInner,
    meta: TupleMeta,
    report: &mut ProbeReport,
) -> Option<TupleState> {
    let prev = inner.entries.remove(&report.key);
    // Carry the standing results of the paid layers (invoke, invoke_stream) when this probe did
    // not run them but would have reached them (no gate failed) and they are enabled.
    let ran_invoke = report.invoke_ran || report.layers.iter().any(|l| l.layer.is_invocation());
    let mut last_invoke = prev.as_ref().and_then(|p| p.state.last_invoke);
    if ran_invoke {
        last_invoke = Some(report.finished_at);
    } else if !gates_failed(&report.layers)
        && let Some(p) = &prev
    {
        let standing = p
            .state
            .report
            .layers
            .iter()
            .filter(|l| l.layer.is_invocation() && meta.invocation_enabled(l.layer));
        report.layers.extend(standing.cloned());
        report.layers.sort_by_key(|l| l.layer);
    }
    let success = probe_success(&report.layers, meta.expect);
    let mut entry = match prev {
        Some(p) => p,
        None => Arc::new(Entry {
            meta: meta.clone(),
            state: TupleState {
                key: report.key.clone(),
                expect: meta.expect,
                report: report.clone(),
                success,
                last_success: None,
                last_invoke: None,
            },
            counters: Counters::default(),
            labels: Box::default(),
        }),
    };
    let entry_mut = Arc::make_mut(&mut entry);
    if success {
        entry_mut.counters.probes_success += 1;
        entry_mut.state.last_success = Some(report.finished_at);
    } else {
        entry_mut.counters.probes_failure += 1;
    }
    // Count only the failures this probe observed (not a carried invoke result).
    for l in &report.layers {
        if let LayerStatus::Failed(f) = &l.status
            && (!l.layer.is_invocation() || ran_invoke)
        {
            *entry_mut
                .counters
                .layer_failures
                .entry((l.layer, f.reason.as_str()))
                .or_insert(0) += 1;
        }
    }
    if let Some((i, o)) = report.tokens {
        entry_mut.counters.tokens_in = entry_mut.counters.tokens_in.saturating_add(i);
        entry_mut.counters.tokens_out = entry_mut.counters.tokens_out.saturating_add(o);
    }
    entry_mut.meta = meta.clone();
    entry_mut.state.expect = meta.expect;
    entry_mut.state.report = report.clone();
    entry_mut.state.success = success;
    entry_mut.state.last_invoke = last_invoke;
    entry_mut.labels = label_base(&entry_mut.state);
    let state = entry_mut.state.clone();
    inner.entries.insert(report.key.clone(), entry);
    Some(state)
}
