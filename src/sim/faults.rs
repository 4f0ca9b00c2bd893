//! Fault injection: a `[[faults]]` entry (its definition, as the scenario file writes it) matches
//! calls by service, operation, account, model and region, and fires on every matching call, on
//! every Nth, or with a probability. A `stream_error` fault lets the call answer and breaks its
//! response stream with an exception event after the stream opened; a `model_error` fault
//! answers a runtime invocation with the model's own failure (424 `ModelErrorException`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

/// What a fault does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer normally after `latency`.
    Latency,
    /// 429 ThrottlingException (STS: 400 Throttling).
    Throttle,
    /// 503 ServiceUnavailableException (STS: 503 ServiceUnavailable).
    Unavailable,
    /// Drop the connection without an answer.
    Reset,
    /// 200 with a truncated body.
    Malformed,
    /// Never answer.
    Hang,
    /// A Bedrock runtime invocation fails in the model: 424 `ModelErrorException` with
    /// `message` (default [`MODEL_ERROR_MESSAGE`]). Other services answer normally.
    ModelError,
    /// Open the response stream (ConverseStream, InvokeModelWithResponseStream), then send an
    /// exception event (`exception`, default `modelStreamErrorException`) and end it. Other
    /// operations answer normally.
    StreamError,
}

/// The message of a `model_error` fault unless it gives its own: Amazon Nova's tool-use failure
/// as the Bedrock runtime answers it.
pub const MODEL_ERROR_MESSAGE: &str = "The model produced an invalid sequence as part of ToolUse. Please refer to the model tool use troubleshooting guide.";

/// The exception events a Bedrock response stream may carry (`:exception-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamException {
    ModelStreamErrorException,
    ThrottlingException,
    ValidationException,
    ServiceUnavailableException,
    InternalServerException,
}

impl StreamException {
    /// The `:exception-type` header value.
    pub fn event_type(self) -> &'static str {
        match self {
            StreamException::ModelStreamErrorException => "modelStreamErrorException",
            StreamException::ThrottlingException => "throttlingException",
            StreamException::ValidationException => "validationException",
            StreamException::ServiceUnavailableException => "serviceUnavailableException",
            StreamException::InternalServerException => "internalServerException",
        }
    }

    /// The message AWS sends with it, unless the fault gives its own.
    pub fn default_message(self) -> &'static str {
        match self {
            StreamException::ModelStreamErrorException => {
                "An error occurred while streaming the response. Retry your request."
            }
            StreamException::ThrottlingException => {
                "Too many tokens, please wait before trying again."
            }
            StreamException::ValidationException => "Input is too long for requested model.",
            StreamException::ServiceUnavailableException => {
                "Bedrock is unable to process your request."
            }
            StreamException::InternalServerException => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
        }
    }
}

/// The exception event a firing `stream_error` fault puts into the response stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFault {
    pub exception: StreamException,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// `sts`, `iam`, `bedrock`, `bedrock-runtime` or `*`.
    #[serde(default = "star")]
    pub service: String,
    /// Operation name, e.g. `Converse`, `AssumeRole`; default all.
    #[serde(default)]
    pub operation: Option<String>,
    /// Caller's account (for assumed roles: the role's account).
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub kind: FaultKind,
    /// Fraction of matching calls affected (0..=1).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Affect every Nth matching call.
    #[serde(default)]
    pub every: Option<u64>,
    /// Added delay (kind = "latency"), humantime, e.g. "250ms".
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// The exception event of kind = "stream_error" (default `modelStreamErrorException`).
    #[serde(default)]
    pub exception: Option<StreamException>,
    /// Its message (default: AWS's usual text for that exception); for kind = "model_error",
    /// the model error's message (default [`MODEL_ERROR_MESSAGE`]).
    #[serde(default)]
    pub message: Option<String>,
}

fn star() -> String {
    "*".to_owned()
}

#[derive(Debug)]
pub struct Fault {
    def: FaultDef,
    seen: AtomicU64,
}

/// What a call is, for matching.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub model: Option<&'a str>,
}

/// The faults that fire for one call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Firing {
    pub delay: Duration,
    /// The first fault that fired that answers instead of the handler (not latency, not
    /// stream_error).
    pub action: Option<FaultKind>,
    /// The message that fault gives (`model_error`), if any.
    pub action_message: Option<String>,
    /// The first `stream_error` fault that fired: the handler answers, its stream breaks.
    pub stream_error: Option<StreamFault>,
}

impl Fault {
    pub fn new(def: FaultDef) -> Fault {
        Fault {
            def,
            seen: AtomicU64::new(0),
        }
    }

    fn matches(&self, c: &CallInfo<'_>) -> bool {
        let d = &self.def;
        (d.service == "*" || d.service == c.service)
            && d.operation
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case(c.operation))
            && d.account.as_deref().is_none_or(|a| a == c.account)
            && d.region.as_deref().is_none_or(|r| r == c.region)
            && d.model.as_deref().is_none_or(|m| Some(m) == c.model)
    }

    fn fires(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(every) = self.def.every
            && !n.is_multiple_of(every.max(1))
        {
            return false;
        }
        match self.def.probability {
            Some(p) => rand::random::<f64>() < p,
            None => true,
        }
    }
}

/// Evaluates all faults for one call.
pub fn evaluate(faults: &[Fault], call: &CallInfo<'_>) -> Firing {
    let mut out = Firing::default();
    for f in faults {
        if !f.matches(call) || !f.fires() {
            continue;
        }
        match f.def.kind {
            FaultKind::Latency => out.delay += f.def.latency.unwrap_or_default(),
            FaultKind::StreamError => {
                if out.stream_error.is_none() {
                    let exception = f
                        .def
                        .exception
                        .unwrap_or(StreamException::ModelStreamErrorException);
                    let message = f
                        .def
                        .message
                        .clone()
                        .unwrap_or_else(|| exception.default_message().to_owned());
                    out.stream_error = Some(StreamFault { exception, message });
                }
            }
            k => {
                if out.action.is_none() {
                    out.action = Some(k);
                    out.action_message = f.def.message.clone();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: FaultKind) -> FaultDef {
        FaultDef {
            service: "bedrock-runtime".into(),
            operation: Some("Converse".into()),
            account: None,
            model: Some("m.x".into()),
            region: None,
            kind,
            probability: None,
            every: None,
            latency: None,
            exception: None,
            message: None,
        }
    }

    const CALL: CallInfo<'static> = CallInfo {
        service: "bedrock-runtime",
        operation: "converse",
        account: "111111111111",
        region: "us-east-1",
        model: Some("m.x"),
    };

    #[test]
    fn every_third_converse_is_throttled_and_other_calls_are_untouched() {
        let mut d = def(FaultKind::Throttle);
        d.every = Some(3);
        let faults = vec![Fault::new(d)];
        let fired: Vec<bool> = (0..6)
            .map(|_| evaluate(&faults, &CALL).action.is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        let other = CallInfo {
            operation: "InvokeModel",
            ..CALL
        };
        assert_eq!(evaluate(&faults, &other), Firing::default());
    }

    #[test]
    fn latency_adds_up_and_probability_zero_never_fires() {
        let mut a = def(FaultKind::Latency);
        a.latency = Some(Duration::from_millis(5));
        let mut b = def(FaultKind::Unavailable);
        b.probability = Some(0.0);
        let faults = vec![Fault::new(a), Fault::new(b)];
        for _ in 0..20 {
            let f = evaluate(&faults, &CALL);
            assert_eq!(f.delay, Duration::from_millis(5));
            assert_eq!(f.action, None);
        }
    }

    #[test]
    fn a_model_error_answers_instead_of_the_handler_with_its_own_message_if_it_gives_one() {
        let plain = def(FaultKind::ModelError);
        let f = evaluate(&[Fault::new(plain)], &CALL);
        assert_eq!(f.action, Some(FaultKind::ModelError));
        assert_eq!(f.action_message, None);
        let mut own = def(FaultKind::ModelError);
        own.message = Some("The system encountered an unexpected error during processing.".into());
        let f = evaluate(&[Fault::new(own)], &CALL);
        assert_eq!(
            f.action_message.as_deref(),
            Some("The system encountered an unexpected error during processing.")
        );
    }

    #[test]
    fn a_stream_error_lets_the_call_answer_and_names_the_exception_event() {
        let mut d = def(FaultKind::StreamError);
        d.exception = Some(StreamException::ThrottlingException);
        let mut plain = def(FaultKind::StreamError);
        plain.message = Some("custom".into());
        let f = evaluate(&[Fault::new(d)], &CALL);
        assert_eq!(f.action, None);
        assert_eq!(
            f.stream_error,
            Some(StreamFault {
                exception: StreamException::ThrottlingException,
                message: "Too many tokens, please wait before trying again.".into(),
            })
        );
        let f = evaluate(&[Fault::new(plain)], &CALL);
        assert_eq!(
            f.stream_error
                .map(|s| (s.exception.event_type(), s.message)),
            Some(("modelStreamErrorException", "custom".to_string()))
        );
    }
}
