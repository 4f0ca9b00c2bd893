//! The metrics of `metrics.md`: per-tuple families rendered from the last probe of each tuple,
//! and the exporter's own metrics in a `prometheus` registry (with the process collector).
//!
//! Per-tuple series are kept as pre-encoded text fragments, one per family per tuple, rebuilt
//! only when that tuple's state changes. A scrape concatenates them family by family, so
//! `/metrics` stays fast with tens of thousands of tuples (see `benches/metrics_render.rs`).
//! The output is the standard Prometheus text format 0.0.4.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, IntGauge, Opts, Registry, TextEncoder};

use crate::config::{Config, Expect, InvokeMode, Target, TupleKey};
use crate::probe::{LayerResult, LayerStatus, ProbeReport};
use crate::reason::{Class, Layer};

/// Content type of the text exposition format served on `/metrics` and `/probe`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Version label of `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Revision label of `build_info`: `GIT_REVISION` at build time, else "unknown".
pub fn revision() -> &'static str {
    option_env!("GIT_REVISION").unwrap_or("unknown")
}

/// Errors building the registry.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot register metric: {0}")]
    Register(#[from] prometheus::Error),
}

/// What metrics needs to know about a configured tuple besides its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleMeta {
    pub expect: Expect,
    /// False when the target has `invoke = "none"`: no invoke result is carried over.
    pub invoke_enabled: bool,
}

impl TupleMeta {
    pub fn of(target: &Target) -> TupleMeta {
        TupleMeta {
            expect: target.settings.expect,
            invoke_enabled: target.settings.invoke != InvokeMode::None,
        }
    }
}

/// The exported state of one tuple: its last report (with the last invoke result carried over
/// when this probe did not run the invoke layer) and what was derived from it. Read-only copy.
#[derive(Debug, Clone, PartialEq)]
pub struct TupleState {
    pub key: TupleKey,
    pub expect: Expect,
    /// The last probe's report; its `layers` include the standing invoke result, if any.
    pub report: ProbeReport,
    /// The value of `probe_success`.
    pub success: bool,
    pub last_success: Option<SystemTime>,
    /// When the invoke layer last ran.
    pub last_invoke: Option<SystemTime>,
}

/// `probe_success` of a probe with these (attempted, enabled) layers: with `expect = "allow"`,
/// 1 when every layer passed; with `expect = "deny"`, 1 only when some layer failed with class
/// `access` (the guardrail held).
pub fn probe_success(layers: &[LayerResult], expect: Expect) -> bool {
    match expect {
        Expect::Allow => {
            !layers.is_empty() && layers.iter().all(|l| l.status == LayerStatus::Passed)
        }
        Expect::Deny => layers.iter().any(|l| match &l.status {
            LayerStatus::Failed(f) => f.reason.class() == Class::Access,
            LayerStatus::Passed => false,
        }),
    }
}

pub use crate::reason::error_code_label;

// ---------------------------------------------------------------------------------------------
// Per-tuple families

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: [Family; 11] = [
    Family {
        name: "bedrock_access_probe_success",
        kind: "gauge",
        help: "1 when every attempted, enabled layer passed (expect=deny: when access was refused for an access reason), else 0; from the last background probe.",
    },
    Family {
        name: "bedrock_access_layer_success",
        kind: "gauge",
        help: "1 when the layer passed, 0 when it failed, in the last background probe; absent for a layer not attempted or turned off.",
    },
    Family {
        name: "bedrock_access_layer_duration_seconds",
        kind: "gauge",
        help: "How long the layer took in the last background probe.",
    },
    Family {
        name: "bedrock_access_failure_info",
        kind: "gauge",
        help: "One series (value 1) per layer that failed in the last background probe, with the classified reason and the AWS error code.",
    },
    Family {
        name: "bedrock_access_probe_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the last background probe finished.",
    },
    Family {
        name: "bedrock_access_last_success_timestamp_seconds",
        kind: "gauge",
        help: "Unix time of the last fully successful background probe; 0 if none yet.",
    },
    Family {
        name: "bedrock_access_probes_total",
        kind: "counter",
        help: "Finished background probes, by result.",
    },
    Family {
        name: "bedrock_access_layer_failures_total",
        kind: "counter",
        help: "Layer failures in background probes, by layer and reason.",
    },
    Family {
        name: "bedrock_access_model_availability",
        kind: "gauge",
        help: "Model availability (value 1) per dimension with the status GetFoundationModelAvailability reported in the last background probe.",
    },
    Family {
        name: "bedrock_access_invoke_tokens_total",
        kind: "counter",
        help: "Tokens consumed by the background probes' invocations, by direction.",
    },
    Family {
        name: "bedrock_access_invoke_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the invoke layer last ran in a background probe (it may run less often than the other layers).",
    },
];

const F_SUCCESS: usize = 0;
const F_LAYER_SUCCESS: usize = 1;
const F_LAYER_DURATION: usize = 2;
const F_FAILURE_INFO: usize = 3;
const F_PROBE_TS: usize = 4;
const F_LAST_SUCCESS_TS: usize = 5;
const F_PROBES_TOTAL: usize = 6;
const F_LAYER_FAILURES: usize = 7;
const F_AVAILABILITY: usize = 8;
const F_TOKENS: usize = 9;
const F_INVOKE_TS: usize = 10;
const NFAM: usize = FAMILIES.len();

/// Writes `s` as a label value (escaping `\`, `"` and newlines).
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(_) => 0.0,
    }
}

/// Appends one sample line: `name{base,extra} value`.
fn sample(out: &mut String, fam: usize, base: &str, extra: &[(&str, &str)], value: f64) {
    out.push_str(FAMILIES[fam].name);
    out.push('{');
    out.push_str(base);
    for (k, v) in extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        push_escaped(out, v);
        out.push('"');
    }
    out.push_str("} ");
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
    }
    out.push('\n');
}

struct Entry {
    meta: TupleMeta,
    state: TupleState,
    probes_success: u64,
    probes_failure: u64,
    layer_failures: BTreeMap<(Layer, &'static str), u64>,
    tokens_in: u64,
    tokens_out: u64,
    /// Pre-encoded sample lines per family (shared, so a scrape only clones references).
    fragments: [Bytes; NFAM],
}

impl Entry {
    fn encode(&mut self) {
        let s = &self.state;
        let mut base = String::with_capacity(160);
        for (i, (k, v)) in [
            ("target", s.key.target.as_str()),
            ("account_id", s.report.account_id.as_str()),
            ("role_name", s.report.role_name.as_str()),
            ("aws_region", s.key.aws_region.as_str()),
            ("model_id", s.key.model_id.as_str()),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                base.push(',');
            }
            base.push_str(k);
            base.push_str("=\"");
            push_escaped(&mut base, v);
            base.push('"');
        }
        let mut f: [String; NFAM] = Default::default();
        let b = base.as_str();
        sample(&mut f[F_SUCCESS], F_SUCCESS, b, &[], bool_f(s.success));
        for l in &s.report.layers {
            let layer = l.layer.as_str();
            let passed = l.status == LayerStatus::Passed;
            sample(
                &mut f[F_LAYER_SUCCESS],
                F_LAYER_SUCCESS,
                b,
                &[("layer", layer)],
                bool_f(passed),
            );
            sample(
                &mut f[F_LAYER_DURATION],
                F_LAYER_DURATION,
                b,
                &[("layer", layer)],
                l.duration.as_secs_f64(),
            );
            if let LayerStatus::Failed(fail) = &l.status {
                sample(
                    &mut f[F_FAILURE_INFO],
                    F_FAILURE_INFO,
                    b,
                    &[
                        ("layer", layer),
                        ("reason", fail.reason.as_str()),
                        ("class", fail.reason.class().as_str()),
                        ("error_code", error_code_label(fail.error_code.as_deref())),
                    ],
                    1.0,
                );
            }
        }
        sample(
            &mut f[F_PROBE_TS],
            F_PROBE_TS,
            b,
            &[],
            unix_seconds(s.report.finished_at),
        );
        sample(
            &mut f[F_LAST_SUCCESS_TS],
            F_LAST_SUCCESS_TS,
            b,
            &[],
            s.last_success.map(unix_seconds).unwrap_or(0.0),
        );
        sample(
            &mut f[F_PROBES_TOTAL],
            F_PROBES_TOTAL,
            b,
            &[("result", "success")],
            self.probes_success as f64,
        );
        sample(
            &mut f[F_PROBES_TOTAL],
            F_PROBES_TOTAL,
            b,
            &[("result", "failure")],
            self.probes_failure as f64,
        );
        for ((layer, reason), n) in &self.layer_failures {
            sample(
                &mut f[F_LAYER_FAILURES],
                F_LAYER_FAILURES,
                b,
                &[("layer", layer.as_str()), ("reason", reason)],
                *n as f64,
            );
        }
        if let Some(a) = &s.report.availability {
            for (dim, status) in [
                ("agreement", &a.agreement),
                ("authorization", &a.authorization),
                ("entitlement", &a.entitlement),
                ("region", &a.region),
            ] {
                sample(
                    &mut f[F_AVAILABILITY],
                    F_AVAILABILITY,
                    b,
                    &[("dimension", dim), ("status", status)],
                    1.0,
                );
            }
        }
        sample(
            &mut f[F_TOKENS],
            F_TOKENS,
            b,
            &[("direction", "input")],
            self.tokens_in as f64,
        );
        sample(
            &mut f[F_TOKENS],
            F_TOKENS,
            b,
            &[("direction", "output")],
            self.tokens_out as f64,
        );
        if let Some(t) = s.last_invoke {
            sample(&mut f[F_INVOKE_TS], F_INVOKE_TS, b, &[], unix_seconds(t));
        }
        self.fragments = f.map(|s| Bytes::from(s.into_bytes()));
    }
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
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
    entries: BTreeMap<TupleKey, Entry>,
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
                if !meta.invoke_enabled {
                    e.state.report.layers.retain(|l| l.layer != Layer::Invoke);
                }
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
            },
        };
        self_record(&mut inner, meta, &mut report)
    }

    /// Records a report with explicit tuple settings, whether configured or not (for `/probe`).
    pub fn record_with(&self, meta: TupleMeta, mut report: ProbeReport) -> Option<TupleState> {
        let mut inner = self.write();
        self_record(&mut inner, meta, &mut report)
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
        let inner = self.read();
        if inner.entries.is_empty() {
            return;
        }
        parts.reserve(inner.entries.len() * NFAM + NFAM);
        for (i, header) in family_headers().iter().enumerate() {
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
        Exposition { parts }
    }

    /// The per-tuple families in the text format.
    pub fn render(&self) -> String {
        self.exposition().to_text()
    }
}

/// `# HELP` and `# TYPE` lines of each per-tuple family.
fn family_headers() -> &'static [Bytes; NFAM] {
    static HEADERS: std::sync::OnceLock<[Bytes; NFAM]> = std::sync::OnceLock::new();
    HEADERS.get_or_init(|| {
        FAMILIES.each_ref().map(|fam| {
            Bytes::from(format!(
                "# HELP {} {}\n# TYPE {} {}\n",
                fam.name, fam.help, fam.name, fam.kind
            ))
        })
    })
}

/// A snapshot of the exposition: the text format as a list of shared pieces, taken quickly
/// under the lock and written out afterwards, chunk by chunk, without holding it.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    parts: Vec<Bytes>,
}

impl Exposition {
    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The exposition as chunks of about `size` bytes (small pieces coalesced, so the HTTP body
    /// is written in few large writes while the memory of each chunk is reused).
    pub fn into_chunks(self, size: usize) -> impl Iterator<Item = Bytes> + Send + 'static {
        Chunks {
            parts: self.parts.into_iter(),
            size: size.max(1),
            pending: None,
        }
    }

    /// The whole exposition as one string.
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(self.len());
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

struct Chunks {
    parts: std::vec::IntoIter<Bytes>,
    size: usize,
    pending: Option<Bytes>,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut buf: Option<BytesMut> = None;
        loop {
            let Some(part) = self.pending.take().or_else(|| self.parts.next()) else {
                break;
            };
            match buf.as_mut() {
                None if part.len() >= self.size => return Some(part),
                None => {
                    let mut b = BytesMut::with_capacity(self.size);
                    b.extend_from_slice(&part);
                    buf = Some(b);
                }
                Some(b) if b.len() + part.len() > self.size => {
                    self.pending = Some(part);
                    break;
                }
                Some(b) => b.extend_from_slice(&part),
            }
        }
        buf.map(BytesMut::freeze)
    }
}

fn self_record(
    inner: &mut StoreInner,
    meta: TupleMeta,
    report: &mut ProbeReport,
) -> Option<TupleState> {
    let prev = inner.entries.remove(&report.key);
    // Carry the standing invoke result when this probe did not run the invoke layer but would
    // have reached it (no gate failed) and the layer is enabled.
    let ran_invoke = report.invoke_ran || report.layers.iter().any(|l| l.layer == Layer::Invoke);
    let mut last_invoke = prev.as_ref().and_then(|p| p.state.last_invoke);
    if ran_invoke {
        last_invoke = Some(report.finished_at);
    } else if meta.invoke_enabled
        && !gates_failed(&report.layers)
        && let Some(p) = &prev
        && let Some(old) = p
            .state
            .report
            .layers
            .iter()
            .find(|l| l.layer == Layer::Invoke)
    {
        report.layers.push(old.clone());
        report.layers.sort_by_key(|l| l.layer);
    }
    let success = probe_success(&report.layers, meta.expect);
    let mut entry = match prev {
        Some(p) => p,
        None => Entry {
            meta: meta.clone(),
            state: TupleState {
                key: report.key.clone(),
                expect: meta.expect,
                report: report.clone(),
                success,
                last_success: None,
                last_invoke: None,
            },
            probes_success: 0,
            probes_failure: 0,
            layer_failures: BTreeMap::new(),
            tokens_in: 0,
            tokens_out: 0,
            fragments: Default::default(),
        },
    };
    if success {
        entry.probes_success += 1;
        entry.state.last_success = Some(report.finished_at);
    } else {
        entry.probes_failure += 1;
    }
    // Count only the failures this probe observed (not a carried invoke result).
    for l in &report.layers {
        if let LayerStatus::Failed(f) = &l.status
            && (l.layer != Layer::Invoke || ran_invoke)
        {
            *entry
                .layer_failures
                .entry((l.layer, f.reason.as_str()))
                .or_insert(0) += 1;
        }
    }
    if let Some((i, o)) = report.tokens {
        entry.tokens_in = entry.tokens_in.saturating_add(i);
        entry.tokens_out = entry.tokens_out.saturating_add(o);
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

// ---------------------------------------------------------------------------------------------
// The exporter's registry

/// Every metric of the exporter: the per-tuple store plus the exporter's own metrics.
pub struct Metrics {
    registry: Registry,
    pub tuples: TupleStore,
    config_last_reload_successful: IntGauge,
    config_last_reload_success_timestamp: Gauge,
    tuples_configured: IntGauge,
    probes_in_flight: IntGauge,
    schedule_lag: Histogram,
}

impl Metrics {
    /// A registry with the exporter's metrics, `build_info` and (on Linux) the process
    /// collector.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let build_info = prometheus::IntGaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_build_info",
                "The exporter's version and revision (value 1).",
            ),
            &["version", "revision"],
        )?;
        build_info.with_label_values(&[VERSION, revision()]).set(1);
        registry.register(Box::new(build_info))?;
        let config_last_reload_successful = IntGauge::new(
            "bedrock_access_exporter_config_last_reload_successful",
            "1 when the last configuration (re)load succeeded, else 0.",
        )?;
        registry.register(Box::new(config_last_reload_successful.clone()))?;
        let config_last_reload_success_timestamp = Gauge::new(
            "bedrock_access_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration (re)load.",
        )?;
        registry.register(Box::new(config_last_reload_success_timestamp.clone()))?;
        let tuples_configured = IntGauge::new(
            "bedrock_access_exporter_tuples",
            "(target, region, model) tuples configured.",
        )?;
        registry.register(Box::new(tuples_configured.clone()))?;
        let probes_in_flight = IntGauge::new(
            "bedrock_access_exporter_probes_in_flight",
            "Background probes running now.",
        )?;
        registry.register(Box::new(probes_in_flight.clone()))?;
        let schedule_lag = Histogram::with_opts(
            HistogramOpts::new(
                "bedrock_access_exporter_schedule_lag_seconds",
                "How late background probes started against their schedule.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
        )?;
        registry.register(Box::new(schedule_lag.clone()))?;
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            registry.register(Box::new(pc))?;
        }
        crate::probe::calls::register(&registry)?;
        Ok(Metrics {
            registry,
            tuples: TupleStore::new(),
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            tuples_configured,
            probes_in_flight,
            schedule_lag,
        })
    }

    /// Applies a (re)loaded configuration: sets the configured tuples (removed tuples lose
    /// their series) and marks the reload successful.
    pub fn apply_config(&self, config: &Config) {
        let n = self.tuples.set_tuples(
            config
                .tuples()
                .into_iter()
                .map(|(k, t)| (k, TupleMeta::of(t))),
        );
        self.tuples_configured.set(n as i64);
        self.reload_result(true);
    }

    /// Records the outcome of a configuration (re)load.
    pub fn reload_result(&self, ok: bool) {
        self.config_last_reload_successful.set(i64::from(ok));
        if ok {
            self.config_last_reload_success_timestamp
                .set(unix_seconds(SystemTime::now()));
        }
    }

    pub fn probes_in_flight(&self) -> &IntGauge {
        &self.probes_in_flight
    }

    pub fn schedule_lag(&self) -> &Histogram {
        &self.schedule_lag
    }

    /// Records a finished background probe (ignored if its tuple is not configured).
    pub fn record(&self, report: ProbeReport) -> Option<TupleState> {
        self.tuples.record(report)
    }

    /// The last state of every tuple.
    pub fn snapshot(&self) -> Vec<TupleState> {
        self.tuples.snapshot()
    }

    /// A snapshot of the whole exposition (text format 0.0.4): the exporter's own metrics,
    /// then the per-tuple families.
    pub fn exposition(&self) -> Exposition {
        let mut buf = Vec::with_capacity(8 * 1024);
        // Encoding our own, well-formed families cannot fail; if it ever did, the per-tuple
        // families are still served.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding the exporter's own metrics failed");
            buf.clear();
        }
        let mut parts = vec![Bytes::from(buf)];
        self.tuples.parts_into(&mut parts);
        Exposition { parts }
    }

    /// The whole exposition in the text format 0.0.4, as one string.
    pub fn render(&self) -> String {
        self.exposition().to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Failure;
    use crate::reason::Reason;
    use std::time::Duration;

    fn layer(layer: Layer, reason: Option<Reason>) -> LayerResult {
        LayerResult {
            layer,
            status: match reason {
                None => LayerStatus::Passed,
                Some(r) => LayerStatus::Failed(Failure {
                    reason: r,
                    error_code: None,
                    http_status: None,
                    request_id: None,
                    message: String::new(),
                }),
            },
            duration: Duration::from_millis(5),
            call: String::new(),
        }
    }

    #[test]
    fn a_probe_where_every_layer_passed_succeeds_when_access_is_expected() {
        let layers = [
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::Invoke, None),
        ];
        assert!(probe_success(&layers, Expect::Allow));
        assert!(!probe_success(&layers, Expect::Deny));
    }

    #[test]
    fn a_guardrail_target_succeeds_only_when_access_is_refused_for_an_access_reason() {
        let scp = [
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::Invoke, Some(Reason::ScpDenied)),
        ];
        assert!(probe_success(&scp, Expect::Deny));
        assert!(!probe_success(&scp, Expect::Allow));
        // A throttled probe proves nothing about the guardrail.
        let throttled = [
            layer(Layer::Credentials, None),
            layer(Layer::Invoke, Some(Reason::Throttled)),
        ];
        assert!(!probe_success(&throttled, Expect::Deny));
        // A misconfigured target does not prove the guardrail either.
        let misconfigured = [layer(Layer::Credentials, Some(Reason::NoCredentials))];
        assert!(!probe_success(&misconfigured, Expect::Deny));
    }

    #[test]
    fn a_probe_with_no_layers_is_not_a_success() {
        assert!(!probe_success(&[], Expect::Allow));
        assert!(!probe_success(&[], Expect::Deny));
    }

    #[test]
    fn error_codes_that_could_be_anything_become_other() {
        assert_eq!(
            error_code_label(Some("AccessDeniedException")),
            "AccessDeniedException"
        );
        assert_eq!(
            error_code_label(Some("Sender.Throttling")),
            "Sender.Throttling"
        );
        assert_eq!(error_code_label(None), "");
        assert_eq!(error_code_label(Some("")), "");
        assert_eq!(error_code_label(Some("1Bad")), "other");
        assert_eq!(error_code_label(Some("has space")), "other");
        assert_eq!(error_code_label(Some("Quote\"d")), "other");
        let long = "A".repeat(65);
        assert_eq!(error_code_label(Some(&long)), "other");
        let max = "A".repeat(64);
        assert_eq!(error_code_label(Some(&max)), max.as_str());
    }

    #[test]
    fn chunks_carry_the_exact_exposition_in_pieces_of_bounded_size() {
        let parts: Vec<Bytes> = ["ab", "cdefgh", "", "ijklmnopqrstuvwxyz", "0", "12345"]
            .into_iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let e = Exposition { parts };
        let text = e.to_text();
        assert_eq!(e.len(), text.len());
        let chunks: Vec<Bytes> = e.into_chunks(8).collect();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, text.as_bytes());
        for c in &chunks {
            assert!(!c.is_empty());
            // Only a piece larger than the chunk size is passed through whole.
            assert!(c.len() <= 8 || c.as_ref() == b"ijklmnopqrstuvwxyz", "{c:?}");
        }
        assert_eq!(chunks.len(), 3, "{chunks:?}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        push_escaped(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
