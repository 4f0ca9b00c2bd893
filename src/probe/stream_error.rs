//! An error inside an open response stream (ConverseStream, InvokeModelWithResponseStream) →
//! a classified [`Failure`], exactly like the same error answered before the stream opened
//! (`reasons.md`).
//!
//! AWS sends a mid-stream error as an event-stream message with `:message-type: exception` and
//! `:exception-type: throttlingException` (or `modelStreamErrorException`,
//! `validationException`, `serviceUnavailableException`, `internalServerException`, …), whose
//! JSON payload carries only the message. The SDK parses it into a typed stream error; the
//! error code is therefore taken from the typed variant (`ThrottlingException`, as the same
//! error is named before the stream opens), never from the payload. An exception type the SDK
//! does not model keeps whatever code its metadata has (none: `unknown`, which still exports
//! the layer as failed).

use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::event_stream::RawMessage;

use super::Failure;
use super::aws::{local_failure, redact};
use crate::reason::{Layer, Reason, classify};

/// A typed error event of a response stream: the AWS error code and the message it carries.
pub trait StreamException: ProvideErrorMetadata + std::error::Error + 'static {
    /// (error code as AWS names the same error before a stream opens, message).
    fn code_and_message(&self) -> (Option<&str>, Option<&str>);
}

impl StreamException for ConverseStreamOutputError {
    fn code_and_message(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::InternalServerException(e) => (Some("InternalServerException"), e.message()),
            Self::ModelStreamErrorException(e) => (Some("ModelStreamErrorException"), e.message()),
            Self::ValidationException(e) => (Some("ValidationException"), e.message()),
            Self::ThrottlingException(e) => (Some("ThrottlingException"), e.message()),
            Self::ServiceUnavailableException(e) => {
                (Some("ServiceUnavailableException"), e.message())
            }
            other => (other.code(), other.message()),
        }
    }
}

impl StreamException for ResponseStreamError {
    fn code_and_message(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::InternalServerException(e) => (Some("InternalServerException"), e.message()),
            Self::ModelStreamErrorException(e) => (Some("ModelStreamErrorException"), e.message()),
            Self::ValidationException(e) => (Some("ValidationException"), e.message()),
            Self::ThrottlingException(e) => (Some("ThrottlingException"), e.message()),
            Self::ModelTimeoutException(e) => (Some("ModelTimeoutException"), e.message()),
            Self::ServiceUnavailableException(e) => {
                (Some("ServiceUnavailableException"), e.message())
            }
            other => (other.code(), other.message()),
        }
    }
}

/// Turns an error received while reading an open stream into a classified [`Failure`] of
/// `layer`. `request_id` is the id of the HTTP response that opened the stream (the events
/// carry none).
pub fn failure_from_stream<E: StreamException>(
    layer: Layer,
    err: &SdkError<E, RawMessage>,
    request_id: Option<&str>,
    secrets: &[&str],
) -> Failure {
    let mut failure = match err {
        SdkError::ServiceError(service) => {
            let (code, message) = service.err().code_and_message();
            let message = message.unwrap_or_default();
            Failure {
                // The stream opened with HTTP 200: the status says nothing about the error.
                reason: classify(layer, code, None, message),
                error_code: code.map(str::to_string),
                http_status: None,
                request_id: None,
                message: redact(message, secrets),
            }
        }
        SdkError::TimeoutError(_) => local_failure(Reason::Timeout, "the stream timed out"),
        SdkError::DispatchFailure(dispatch) => {
            let reason = if dispatch.is_timeout() {
                Reason::Timeout
            } else {
                Reason::NetworkError
            };
            let text = format!("the stream broke off: {}", DisplayErrorContext(err));
            local_failure(reason, &redact(&text, secrets))
        }
        SdkError::ResponseError(_) => {
            let text = format!(
                "the event stream could not be read: {}",
                DisplayErrorContext(err)
            );
            local_failure(Reason::Unknown, &redact(&text, secrets))
        }
        _ => local_failure(
            Reason::Unknown,
            &redact(&DisplayErrorContext(err).to_string(), secrets),
        ),
    };
    failure.request_id = request_id.map(str::to_string);
    failure
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::error::{
        InternalServerException, ModelStreamErrorException, ModelTimeoutException,
        ServiceUnavailableException, ThrottlingException, ValidationException,
    };
    use aws_smithy_types::error::ErrorMetadata;

    fn in_stream<E: StreamException>(e: E) -> Failure {
        let err = SdkError::service_error(e, RawMessage::invalid(None));
        failure_from_stream(Layer::InvokeStream, &err, Some("req-1"), &["ext-secret"])
    }

    #[test]
    fn throttling_inside_a_converse_stream_is_throttled_like_before_the_stream() {
        let msg = "Too many tokens, please wait before trying again.";
        let f = in_stream(ConverseStreamOutputError::ThrottlingException(
            ThrottlingException::builder().message(msg).build(),
        ));
        assert_eq!(f.reason, Reason::Throttled);
        assert_eq!(f.error_code.as_deref(), Some("ThrottlingException"));
        assert_eq!(f.message, msg);
        assert_eq!(f.request_id.as_deref(), Some("req-1"));
        assert_eq!(f.http_status, None);
        assert_eq!(
            f.reason,
            classify(Layer::Invoke, Some("ThrottlingException"), Some(429), msg)
        );
    }

    #[test]
    fn the_daily_token_quota_said_mid_stream_is_the_same_access_failure() {
        let msg = "Too many tokens per day, please wait before trying again.";
        let f = in_stream(ResponseStreamError::ThrottlingException(
            ThrottlingException::builder().message(msg).build(),
        ));
        assert_eq!(f.reason, Reason::DailyTokenQuotaExhausted);
    }

    #[test]
    fn the_model_and_aws_failing_mid_stream_are_transient() {
        let converse = [
            ConverseStreamOutputError::ModelStreamErrorException(
                ModelStreamErrorException::builder()
                    .message("The model stream failed")
                    .build(),
            ),
            ConverseStreamOutputError::ServiceUnavailableException(
                ServiceUnavailableException::builder()
                    .message("Bedrock is unable to process your request.")
                    .build(),
            ),
            ConverseStreamOutputError::InternalServerException(
                InternalServerException::builder()
                    .message("An internal server error occurred.")
                    .build(),
            ),
        ];
        for e in converse {
            let code = e.code_and_message().0.map(str::to_string);
            let f = in_stream(e);
            assert_eq!(f.reason, Reason::ServiceUnavailable, "{code:?}");
            assert_eq!(f.error_code, code);
        }
        let f = in_stream(ResponseStreamError::ModelTimeoutException(
            ModelTimeoutException::builder()
                .message("Model has timed out in processing the request.")
                .build(),
        ));
        assert_eq!(f.reason, Reason::ServiceUnavailable);
        assert_eq!(f.error_code.as_deref(), Some("ModelTimeoutException"));
    }

    #[test]
    fn a_validation_event_is_read_by_what_it_says() {
        let f = in_stream(ConverseStreamOutputError::ValidationException(
            ValidationException::builder()
                .message("The maximum tokens you requested exceed the model limit of 4096.")
                .build(),
        ));
        assert_eq!(f.reason, Reason::ValidationError);
        let f = in_stream(ResponseStreamError::ValidationException(
            ValidationException::builder()
                .message("The provided model identifier is invalid.")
                .build(),
        ));
        assert_eq!(f.reason, Reason::ModelNotInRegion);
    }

    #[test]
    fn an_exception_the_sdk_does_not_model_keeps_its_code_and_secrets_are_redacted() {
        let meta = ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("denied for ext-secret by policy")
            .build();
        let f = in_stream(ConverseStreamOutputError::generic(meta));
        assert_eq!(f.reason, Reason::BedrockNotPermitted);
        assert_eq!(f.error_code.as_deref(), Some("AccessDeniedException"));
        assert!(!f.message.contains("ext-secret"), "{}", f.message);

        let f = in_stream(ConverseStreamOutputError::generic(
            ErrorMetadata::builder().message("something new").build(),
        ));
        assert_eq!((f.reason, f.error_code), (Reason::Unknown, None));
    }

    #[test]
    fn a_stream_that_cannot_be_decoded_is_an_unknown_transient_failure() {
        let err: SdkError<ConverseStreamOutputError, RawMessage> = SdkError::response_error(
            std::io::Error::other("prelude checksum mismatch"),
            RawMessage::invalid(None),
        );
        let f = failure_from_stream(Layer::InvokeStream, &err, None, &[]);
        assert_eq!(f.reason, Reason::Unknown);
        assert!(f.message.contains("could not be read"), "{}", f.message);
    }
}
