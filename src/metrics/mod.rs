//! The metrics of `docs/metrics.md`: per-tuple families rendered from the last probe of each tuple,
//! and the exporter's own metrics in a `prometheus` registry (with the process collector).
//!
//! Per-tuple series are kept as pre-encoded text fragments, one per family per tuple, rebuilt
//! only when that tuple's state changes. A scrape concatenates them family by family, so
//! `/metrics` stays fast with tens of thousands of tuples (see `benches/metrics_render.rs`).
//! The output is the standard Prometheus text format 0.0.4.
//!
//! Files: `state` (a tuple's exported state and `probe_success`), `encode` (the per-tuple
//! families and their sample lines), `store` ([`TupleStore`]), `exposition` (the snapshot a
//! scrape writes out in chunks), `registry` ([`Metrics`]: the exporter's own metrics plus the
//! store), `ondemand` (what `/probe` spends, counted in the exporter's own registry).

mod encode;
mod exposition;
mod fleet;
mod ondemand;
mod registry;
mod state;
mod store;

pub use crate::reason::error_code_label;
pub use exposition::{Exposition, TEXT_CONTENT_TYPE};
pub use fleet::FleetMetrics;
pub use ondemand::OnDemandMetrics;
pub use registry::{Metrics, MetricsError, VERSION, revision};
pub use state::{TupleMeta, TupleState, probe_success};
pub use store::TupleStore;
