//! The per-tuple store: the last state of every configured tuple and its counters, with each
//! family's sample lines pre-encoded, so a scrape only collects references.

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use super::encode::{NFAM, encode, family_headers, is_counter};
use super::exposition::Exposition;
use super::state::{Counters, TupleMeta, TupleState, probe_success};
use crate::config::{Expect, TupleKey};
use crate::probe::{LayerResult, LayerStatus, ProbeReport};
use crate::reason::Layer;

struct Entry {
    meta: TupleMeta,
    state: TupleState,
    counters: Counters,
    /// Pre-encoded sample lines per family (shared, so a scrape only clones references).
    fragments: [Bytes; NFAM],
}

impl Entry {
    fn encode(&mut self) {
        self.fragments = encode(&self.state, &self.counters);
    }
}

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
    /// Boxed: a tree node then holds pointers, not eleven ~900-byte entries with its slack.
    entries: BTreeMap<TupleKey, Box<Entry>>,
}

/// The per-tuple families: the last state of each tuple, pre-encoded.
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
                e.meta = meta.clone();
                e.state.expect = meta.expect;
                e.state
                    .report
                    .layers
                    .retain(|l| !l.layer.is_invocation() || meta.invocation_enabled(l.layer));
                e.state.success = probe_success(&e.state.report.layers, meta.expect);
                e.encode();
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
        let entry = inner.entries.get_mut(&key)?;
        entry.state.last_invoke = Some(invoke_at);
        entry.encode();
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

    /// Appends the per-tuple families to `parts` (references to the pre-encoded fragments; no
    /// copy of the sample text).
    pub fn parts_into(&self, parts: &mut Vec<Bytes>) {
        self.families_into(parts, |_| true);
    }

    fn families_into(&self, parts: &mut Vec<Bytes>, keep: impl Fn(usize) -> bool) {
        let inner = self.read();
        if inner.entries.is_empty() {
            return;
        }
        parts.reserve(inner.entries.len() * NFAM + NFAM);
        for (i, header) in family_headers().iter().enumerate() {
            if !keep(i) {
                continue;
            }
            parts.push(header.clone());
            for e in inner.entries.values() {
                if !e.fragments[i].is_empty() {
                    parts.push(e.fragments[i].clone());
                }
            }
        }
    }

    /// The per-tuple families as an exposition (for `/probe`).
    pub fn exposition(&self) -> Exposition {
        let mut parts = Vec::new();
        self.parts_into(&mut parts);
        Exposition::from_parts(parts)
    }

    /// The per-tuple families in the text format.
    pub fn render(&self) -> String {
        self.exposition().to_text()
    }

    /// The per-tuple gauge families only, in the text format (`/probe`'s answer: counters of a
    /// throw-away store would restart with every request, which `rate()` cannot read).
    pub fn render_gauges(&self) -> String {
        let mut parts = Vec::new();
        self.families_into(&mut parts, |i| !is_counter(i));
        Exposition::from_parts(parts).to_text()
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
        None => Box::new(Entry {
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
            fragments: Default::default(),
        }),
    };
    if success {
        entry.counters.probes_success += 1;
        entry.state.last_success = Some(report.finished_at);
    } else {
        entry.counters.probes_failure += 1;
    }
    // Count only the failures this probe observed (not a carried invoke result).
    for l in &report.layers {
        if let LayerStatus::Failed(f) = &l.status
            && (!l.layer.is_invocation() || ran_invoke)
        {
            *entry
                .counters
                .layer_failures
                .entry((l.layer, f.reason.as_str()))
                .or_insert(0) += 1;
        }
    }
    if let Some((i, o)) = report.tokens {
        entry.counters.tokens_in = entry.counters.tokens_in.saturating_add(i);
        entry.counters.tokens_out = entry.counters.tokens_out.saturating_add(o);
    }
    entry.meta = meta.clone();
    entry.state.expect = meta.expect;
    entry.state.report = report.clone();
    entry.state.success = success;
    entry.state.last_invoke = last_invoke;
    entry.encode();
    let state = entry.state.clone();
    inner.entries.insert(report.key.clone(), entry);
    Some(state)
}
