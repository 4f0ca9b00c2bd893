//! The metrics of `docs/metrics.md`: per-tuple families rendered from the last probe of each tuple,
//! and the exporter's own metrics in a `prometheus` registry (with the process collector).
//!
//! Per-tuple series are kept as state (each tuple's label set escaped once per probe), not as
//! text: a scrape snapshots the entries (shared references) and encodes them family by family,
//! chunk by chunk, so the exposition's tens of megabytes at tens of thousands of tuples are
//! never resident (see `benches/metrics_render.rs` and `benches/fleet_scale.py`). The output
//! is the standard Prometheus text format 0.0.4.
//!
//! Files: `state` (a tuple's exported state and `probe_success`), `encode` (the per-tuple
//! families and their sample lines), `store` ([`TupleStore`]), `snapshot` (the store's entries
//! at one instant, encoded piece by piece), `rows` (a scrape's compact copy of them), `exposition` (the snapshot a scrape writes out in
//! chunks), `registry` ([`Metrics`]: the exporter's own metrics plus the
//! store), `ondemand` (what `/probe` spends, counted in the exporter's own registry).

mod encode;
mod exposition;
mod fleet;
mod ondemand;
mod registry;
mod rows;
mod snapshot;
mod state;
mod store;

pub use crate::reason::error_code_label;
pub use exposition::{Exposition, TEXT_CONTENT_TYPE};
pub use fleet::FleetMetrics;
pub use ondemand::OnDemandMetrics;
pub use registry::{Metrics, MetricsError, VERSION, revision};
pub use state::{TupleMeta, TupleState, probe_success};
pub use store::TupleStore;
