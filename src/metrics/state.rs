//! The exported state of one tuple: its settings that matter for the metrics ([`TupleMeta`]),
//! its last probe and what follows from it ([`TupleState`], [`probe_success`]), and the counters
//! accumulated over its probes.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Expect, InvokeMode, Target, TupleKey};
use crate::probe::{LayerResult, LayerStatus, ProbeReport};
use crate::reason::{Class, Layer};

/// What metrics needs to know about a configured tuple besides its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleMeta {
    pub expect: Expect,
    /// False when the target has `invoke = "none"`: no invoke result is carried over.
    pub invoke_enabled: bool,
    /// False when the target's `invoke_stream` layer is off: no streaming result is carried
    /// over (an embedding model of a streaming target never has one to carry).
    pub stream_enabled: bool,
}

impl TupleMeta {
    pub fn of(target: &Target) -> TupleMeta {
        TupleMeta {
            expect: target.settings.expect,
            invoke_enabled: target.settings.invoke != InvokeMode::None,
            stream_enabled: target.settings.stream && target.settings.invoke != InvokeMode::None,
        }
    }

    /// Whether the paid layer `layer` (`invoke`, `invoke_stream`) is enabled.
    pub fn invocation_enabled(&self, layer: Layer) -> bool {
        match layer {
            Layer::Invoke => self.invoke_enabled,
            Layer::InvokeStream => self.stream_enabled,
            _ => false,
        }
    }
}

/// The exported state of one tuple: its last report (with the last results of the paid layers
/// carried over when this probe did not run them) and what was derived from it. Read-only copy.
#[derive(Debug, Clone, PartialEq)]
pub struct TupleState {
    pub key: TupleKey,
    pub expect: Expect,
    /// The last probe's report; its `layers` include the standing invoke (and invoke_stream)
    /// results, if any.
    pub report: ProbeReport,
    /// The value of `probe_success`.
    pub success: bool,
    pub last_success: Option<SystemTime>,
    /// When the paid layers last ran.
    pub last_invoke: Option<SystemTime>,
}

/// `t` as Unix time in seconds (0 before the epoch), as the timestamp families export it.
pub(super) fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(_) => 0.0,
    }
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

/// The counters of one tuple, accumulated over its probes since it was configured.
#[derive(Debug, Default, Clone)]
pub(super) struct Counters {
    pub probes_success: u64,
    pub probes_failure: u64,
    /// Failures per (layer, reason) observed by the probes themselves.
    pub layer_failures: BTreeMap<(Layer, &'static str), u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
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
}
