//! bedrock-access-exporter: probes cross-account AWS Bedrock access layer by layer and exports
//! the results for Prometheus.
//!
//! A probe reads top to bottom: [`schedule`] → [`probe`] (pipeline and layers) → [`reason`]
//! (classification) → [`metrics`] → [`http`]; [`ondemand`] bounds the probes `/probe` runs. [`sim`] is the bundled AWS simulator; the exporter's
//! modules never import it.

pub mod app;
pub mod config;
pub mod daemon;
pub mod diagnose;
pub mod discovery;
pub mod fix;
pub mod http;
pub mod layer_view;
pub mod logging;
pub mod metrics;
pub mod model_id;
pub mod notify;
pub mod ondemand;
pub mod probe;
pub mod reason;
pub mod schedule;
pub mod shard;
pub mod shutdown;
pub mod sim;
pub mod web;
