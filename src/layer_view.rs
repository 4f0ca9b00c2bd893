//! One tuple's five layers as every output shows them: each layer passed, failed, was not
//! reached (an earlier gate failed, or no probe yet), is off (turned off by the
//! configuration) or does not apply (the STS layers of a source with a Bedrock API key), with
//! the failure's reason and evidence and the one-line fix.
//!
//! The status page (HTML and JSON), the `/probe?debug=true` trace and `diagnose` render this
//! view, each in its own words and marks; the decision is made here only.

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::config::{InvokeMode, Target};
use crate::fix::FixContext;
use crate::probe::{Failure, LayerResult, LayerStatus, ProbeReport};
use crate::reason::{Layer, Reason};

/// The state of one layer in one tuple's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerState {
    /// The layer ran and passed.
    Pass,
    /// The layer ran and failed.
    Fail,
    /// The layer is enabled but was not attempted (an earlier gate failed, or no probe yet).
    NotReached,
    /// The layer is turned off by configuration (`invoke = "none"`, `model_access = false`,
    /// `stream` not set, or an embedding model, which answers no stream).
    Off,
    /// The layer does not apply to the tuple: `credentials` and `assume_role` of a source that
    /// authenticates with a Bedrock API key (no STS call, no series).
    NotApplicable,
}

impl LayerState {
    /// The JSON and `data-state` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerState::Pass => "pass",
            LayerState::Fail => "fail",
            LayerState::NotReached => "not_reached",
            LayerState::Off => "off",
            LayerState::NotApplicable => "not_applicable",
        }
    }
}

/// One layer of one tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerView {
    pub layer: Layer,
    pub state: LayerState,
    /// The call made (no secrets), when the layer ran.
    pub call: Option<String>,
    pub duration: Option<Duration>,
    /// The evidence, when the layer failed (message already redacted by the prober).
    pub failure: Option<Failure>,
    /// What to do, in one line with the tuple's facts, when the layer failed.
    pub fix: Option<String>,
}

impl LayerView {
    /// The reason of the failure, when the layer failed.
    pub fn reason(&self) -> Option<Reason> {
        self.failure.as_ref().map(|f| f.reason)
    }

    pub fn passed(&self) -> bool {
        self.state == LayerState::Pass
    }

    fn of(layer: Layer, result: Option<&LayerResult>, enabled: bool, cx: &FixContext<'_>) -> Self {
        let Some(r) = result else {
            let sts = matches!(layer, Layer::Credentials | Layer::AssumeRole);
            return LayerView {
                layer,
                state: if sts && cx.api_key().is_some() {
                    LayerState::NotApplicable
                } else if enabled {
                    LayerState::NotReached
                } else {
                    LayerState::Off
                },
                call: None,
                duration: None,
                failure: None,
                fix: None,
            };
        };
        let failure = match &r.status {
            LayerStatus::Failed(f) => Some(f.clone()),
            LayerStatus::Passed => None,
        };
        LayerView {
            layer,
            state: if failure.is_some() {
                LayerState::Fail
            } else {
                LayerState::Pass
            },
            call: Some(r.call.clone()),
            duration: Some(r.duration),
            fix: failure.as_ref().map(|f| cx.layer_line(layer, f.reason)),
            failure,
        }
    }
}

/// `diagnose`'s JSON of a layer: `layer`, `state`, and for a failure `reason`, `class`,
/// `cause` and the one-line `fix` (null otherwise).
impl Serialize for LayerView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reason = self.reason();
        let mut st = s.serialize_struct("LayerView", 6)?;
        st.serialize_field("layer", &self.layer)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("reason", &reason)?;
        st.serialize_field("class", &reason.map(Reason::class))?;
        st.serialize_field("cause", &reason.and_then(Reason::cause))?;
        st.serialize_field("fix", &self.fix)?;
        st.end()
    }
}

/// Whether `layer` is enabled for `model` of `target` (without a target: every layer is but
/// the optional `invoke_stream`).
pub fn enabled(target: Option<&Target>, model: &str, layer: Layer) -> bool {
    match (target, layer) {
        (Some(t), Layer::Invoke) => t.settings.invoke != InvokeMode::None,
        (Some(t), Layer::ModelAccess) => t.settings.model_access,
        (Some(t), Layer::InvokeStream) => t.settings.streams(model),
        (None, Layer::InvokeStream) => false,
        _ => true,
    }
}

/// The five layers of one tuple, in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TupleLayers(pub [LayerView; 5]);

impl TupleLayers {
    /// The layers of the tuple of `cx` as its `report` shows them (`None`: not probed yet, so
    /// every enabled layer is not reached), with one-line fixes from `cx`.
    pub fn new(cx: &FixContext<'_>, report: Option<&ProbeReport>) -> TupleLayers {
        let target = cx.target();
        let model = cx.model();
        TupleLayers(Layer::ALL.map(|l| {
            let result = report.and_then(|r| r.layers.iter().find(|x| x.layer == l));
            LayerView::of(l, result, enabled(target, model, l), cx)
        }))
    }

    pub fn get(&self, layer: Layer) -> &LayerView {
        let i = Layer::ALL.iter().position(|l| *l == layer).unwrap_or(0);
        &self.0[i]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, LayerView> {
        self.0.iter()
    }

    /// The first failed layer.
    pub fn first_failure(&self) -> Option<&LayerView> {
        self.0.iter().find(|l| l.state == LayerState::Fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TupleKey;
    use crate::fix::tests::target;
    use std::time::SystemTime;

    fn result(layer: Layer, failed: Option<Reason>) -> LayerResult {
        LayerResult {
            layer,
            status: match failed {
                None => LayerStatus::Passed,
                Some(reason) => LayerStatus::Failed(Failure {
                    reason,
                    error_code: Some("AccessDenied".into()),
                    http_status: Some(403),
                    request_id: Some("req-1".into()),
                    message: "denied".into(),
                }),
            },
            duration: Duration::from_millis(12),
            call: format!("{layer} call"),
        }
    }

    fn report(key: &TupleKey, layers: Vec<LayerResult>) -> ProbeReport {
        ProbeReport {
            key: key.clone(),
            account_id: "222222222222".into(),
            role_name: "BedrockProbeRole".into(),
            layers,
            availability: None,
            tokens: None,
            invoke_ran: true,
            finished_at: SystemTime::now(),
            lifecycle: None,
        }
    }

    const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    #[test]
    fn layers_after_a_failed_gate_are_not_reached_and_layers_turned_off_are_off() {
        let mut t = target(None, &["us-east-1"], &[MODEL]);
        t.settings.invoke = InvokeMode::None;
        let key = TupleKey {
            target: "t".into(),
            account: String::new(),
            aws_region: "us-east-1".into(),
            model_id: MODEL.into(),
        };
        let r = report(
            &key,
            vec![
                result(Layer::Credentials, None),
                result(Layer::AssumeRole, Some(Reason::TrustPolicyDenied)),
            ],
        );
        let cx = FixContext::new(None, Some(&t), &key, Some(&r));
        let v = TupleLayers::new(&cx, Some(&r));
        let states: Vec<LayerState> = v.iter().map(|l| l.state).collect();
        assert_eq!(
            states,
            [
                LayerState::Pass,
                LayerState::Fail,
                LayerState::NotReached,
                LayerState::Off,
                LayerState::Off
            ]
        );
        let failed = v.first_failure().map(|l| (l.layer, l.reason()));
        assert_eq!(
            failed,
            Some((Layer::AssumeRole, Some(Reason::TrustPolicyDenied)))
        );
        assert_eq!(
            v.get(Layer::AssumeRole).fix.as_deref(),
            Some(cx.line(Reason::TrustPolicyDenied).as_str())
        );
        assert!(v.get(Layer::Credentials).fix.is_none());

        let unprobed = TupleLayers::new(&cx, None);
        assert!(
            unprobed
                .iter()
                .all(|l| l.failure.is_none() && l.call.is_none())
        );
        assert_eq!(unprobed.get(Layer::Invoke).state, LayerState::Off);
        assert_eq!(
            unprobed.get(Layer::ModelAccess).state,
            LayerState::NotReached
        );
    }

    #[test]
    fn the_streaming_layer_is_off_unless_turned_on_and_never_for_an_embedding_model() {
        const EMBED: &str = "amazon.titan-embed-text-v2:0";
        let mut t = target(None, &["us-east-1"], &[MODEL, EMBED]);
        let key = |model: &str| TupleKey {
            target: "t".into(),
            account: String::new(),
            aws_region: "us-east-1".into(),
            model_id: model.into(),
        };
        let chat = key(MODEL);
        let cx = FixContext::new(None, Some(&t), &chat, None);
        let off = TupleLayers::new(&cx, None);
        assert_eq!(off.get(Layer::InvokeStream).state, LayerState::Off);

        t.settings.stream = true;
        let r = report(
            &chat,
            vec![
                result(Layer::Credentials, None),
                result(Layer::Invoke, None),
                result(Layer::InvokeStream, Some(Reason::BedrockNotPermitted)),
            ],
        );
        let cx = FixContext::new(None, Some(&t), &chat, Some(&r));
        let v = TupleLayers::new(&cx, Some(&r));
        assert_eq!(v.get(Layer::InvokeStream).state, LayerState::Fail);
        assert_eq!(
            v.first_failure().map(|l| l.layer),
            Some(Layer::InvokeStream)
        );
        let embed = key(EMBED);
        let cx = FixContext::new(None, Some(&t), &embed, None);
        let v = TupleLayers::new(&cx, None);
        assert_eq!(v.get(Layer::InvokeStream).state, LayerState::Off);
        assert_eq!(v.get(Layer::Invoke).state, LayerState::NotReached);
    }
}
