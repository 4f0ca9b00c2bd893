//! The probe pipeline: one file per layer behind one signature; `pipeline` runs them in order
//! with gating (`../shared/spec/layers.md` of the contract).

use std::time::{Duration, SystemTime};

use crate::config::{Config, Target, TupleKey};
use crate::reason::{Layer, Reason};

/// Why a layer failed: a classified reason plus the evidence behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: Reason,
    /// The raw AWS error code, if AWS answered with one (sanitised into a label by `metrics`).
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// The AWS message (or local error text), with secrets redacted. Never a label value.
    pub message: String,
}

/// The outcome of one layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerStatus {
    Passed,
    Failed(Failure),
}

/// One attempted layer of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerResult {
    pub layer: Layer,
    pub status: LayerStatus,
    pub duration: Duration,
    /// One line describing the call made (operation and resource), for debug traces. No secrets.
    pub call: String,
}

/// Statuses reported by GetFoundationModelAvailability (as AWS spelled them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub agreement: String,
    pub authorization: String,
    pub entitlement: String,
    pub region: String,
}

/// The result of one probe of one tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    pub key: TupleKey,
    /// Target account id label (from the role ARN, else the source account).
    pub account_id: String,
    /// Role name label ("" for a same-account target).
    pub role_name: String,
    /// The attempted, enabled layers in order. Layers after a failed gate, or turned off, are
    /// absent. When `invoke_ran` is false the invoke layer is absent and its last result stands.
    pub layers: Vec<LayerResult>,
    pub availability: Option<Availability>,
    /// (input, output) tokens consumed by this probe's invocation.
    pub tokens: Option<(u64, u64)>,
    pub invoke_ran: bool,
    pub finished_at: SystemTime,
}

/// Credentials shared by the tuples of one probe round: one AssumeRole per target per region per
/// round. A new round assumes afresh.
#[derive(Debug, Default)]
pub struct Round {}

/// Runs probes with the real AWS SDK. Built from a configuration (rebuilt at reload).
pub struct Prober {}

impl Prober {
    pub async fn new(config: &Config) -> Prober {
        let _ = config;
        todo!("prober")
    }

    /// A fresh round: credentials assumed in the previous round are not reused.
    pub fn new_round(&self) -> Round {
        Round::default()
    }

    /// Probes one tuple through the layers, within `target.settings.timeout`. With
    /// `run_invoke == false` the invoke layer is skipped (its last result stands).
    pub async fn probe(
        &self,
        target: &Target,
        region: &str,
        model: &str,
        round: &Round,
        run_invoke: bool,
    ) -> ProbeReport {
        let _ = (target, region, model, round, run_invoke);
        todo!("probe pipeline")
    }
}
