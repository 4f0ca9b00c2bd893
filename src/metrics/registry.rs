//! The exporter's own metrics in a `prometheus` registry (build info, reloads, tuples, probes in
//! flight, schedule lag, what `/probe` spends, and the process collector), served ahead of the
//! per-tuple families.

use std::time::SystemTime;

use bytes::Bytes;
use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, IntGauge, Opts, Registry, TextEncoder};

use super::exposition::Exposition;
use super::fleet::FleetMetrics;
use super::ondemand::OnDemandMetrics;
use super::state::{TupleMeta, TupleState, unix_seconds};
use super::store::TupleStore;
use crate::config::Config;
use crate::probe::ProbeReport;
use crate::shard::Shard;

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

/// Every metric of the exporter: the per-tuple store plus the exporter's own metrics.
pub struct Metrics {
    registry: Registry,
    pub tuples: TupleStore,
    config_last_reload_successful: IntGauge,
    config_last_reload_success_timestamp: Gauge,
    tuples_configured: IntGauge,
    probes_in_flight: IntGauge,
    schedule_lag: Histogram,
    /// Shard and discovery metrics.
    pub fleet: FleetMetrics,
    shard: std::sync::RwLock<Shard>,
    ondemand: OnDemandMetrics,
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
            "(target, account, region, model) tuples this replica's shard probes.",
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
        let fleet = FleetMetrics::register(&registry)?;
        let ondemand = OnDemandMetrics::register(&registry)?;
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            registry.register(Box::new(pc))?;
        }
        crate::probe::calls::register(&registry)?;
        crate::probe::api_key::register(&registry)?;
        Ok(Metrics {
            registry,
            tuples: TupleStore::new(),
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            tuples_configured,
            probes_in_flight,
            schedule_lag,
            fleet,
            shard: std::sync::RwLock::new(Shard::ALL),
            ondemand,
        })
    }

    /// Applies a (re)loaded configuration: sets the configured tuples (removed tuples lose
    /// their series) and marks the reload successful.
    pub fn apply_config(&self, config: &Config) {
        self.apply_tuples(config);
        self.reload_result(true);
    }

    /// Sets the tuples this replica's shard owns (removed tuples lose their series), without
    /// touching the reload status (discovery changes the tuples too).
    pub fn apply_tuples(&self, config: &Config) {
        let shard = self.shard();
        let n = self.tuples.set_tuples(
            config
                .tuples_where(|t, a, r| shard.owns_gate(t, a, r))
                .into_iter()
                .map(|(k, t)| (k, TupleMeta::of(t))),
        );
        self.tuples_configured.set(n as i64);
        let discovering: Vec<&str> = config.discovering().map(|(t, _)| t.name.as_str()).collect();
        self.fleet.retain(&discovering);
    }

    /// The tuples this replica probes (the `bedrock_access_exporter_tuples` gauge).
    pub fn tuples_configured(&self) -> i64 {
        self.tuples_configured.get()
    }

    /// This replica's shard (set once by the daemon, before the first configuration).
    pub fn set_shard(&self, shard: Shard) {
        if let Ok(mut s) = self.shard.write() {
            *s = shard;
        }
        self.fleet.set_shard(shard);
    }

    /// This replica's shard.
    pub fn shard(&self) -> Shard {
        self.shard.read().map_or(Shard::ALL, |s| *s)
    }

    /// Registers a further collector (the daemon's pacing).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> Result<(), MetricsError> {
        self.registry.register(c)?;
        Ok(())
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

    /// What `/probe` spends.
    pub fn ondemand(&self) -> &OnDemandMetrics {
        &self.ondemand
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
        Exposition::new(vec![Bytes::from(buf)], self.tuples.tuple_snapshot())
    }

    /// The whole exposition in the text format 0.0.4, as one string.
    pub fn render(&self) -> String {
        self.exposition().to_text()
    }
}
