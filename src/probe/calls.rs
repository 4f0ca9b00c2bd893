//! The exporter's own AWS requests, counted: an SDK interceptor ([`CountCalls`]) on every
//! service client records each HTTP attempt (retries included) into two process-wide families,
//! registered into the exporter's registry by [`register`]:
//!
//! * `bedrock_access_exporter_aws_requests_total{service, operation, outcome}`
//! * `bedrock_access_exporter_aws_request_duration_seconds{service}` (histogram)
//!
//! Labels are bounded: `service` is one of [`Service`], `operation` the SDK's name of an
//! operation the exporter calls (`other` if it is not a plain name), `outcome` one of
//! [`Outcome`]. Nothing from an AWS message becomes a label: the only thing read from an error
//! answer is its code, to tell throttling from other errors.
//!
//! An attempt that never finishes (the operation timeout or the probe budget cancels it) is
//! recorded as `timeout` when the SDK drops it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aws_runtime::retries::classifiers::THROTTLING_ERRORS;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The AWS service of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sts,
    Bedrock,
    BedrockRuntime,
    Iam,
    Other,
}

impl Service {
    /// From the SDK's service name (`Metadata::service`: "STS", "Bedrock", "Bedrock Runtime").
    pub fn from_sdk(name: &str) -> Service {
        match name {
            "STS" => Service::Sts,
            "Bedrock" => Service::Bedrock,
            "Bedrock Runtime" => Service::BedrockRuntime,
            "IAM" => Service::Iam,
            _ => Service::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Bedrock => "bedrock",
            Service::BedrockRuntime => "bedrock_runtime",
            Service::Iam => "iam",
            Service::Other => "other",
        }
    }
}

/// How one request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// AWS answered 2xx.
    Success,
    /// AWS answered with a client error (4xx) other than throttling: access denied, validation…
    Error,
    /// HTTP 429, or an error code of the SDK's throttling list.
    Throttled,
    /// AWS answered 5xx.
    ServerError,
    /// No answer in time: connect timeout, or the operation timeout / probe budget ran out.
    Timeout,
    /// No answer: connection refused or reset, DNS, TLS, proxy.
    NetworkError,
    /// The request was not sent: signing or credentials failed locally.
    LocalError,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Throttled => "throttled",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::NetworkError => "network_error",
            Outcome::LocalError => "local_error",
        }
    }
}

/// How much of an error body is searched for its code.
const CODE_SEARCH_BYTES: usize = 4096;

struct Collector {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Collector {
    fn new() -> Result<Collector, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "bedrock_access_exporter_aws_requests_total",
                "HTTP requests the exporter sent to AWS (every attempt, retries included), by service, operation and outcome.",
            ),
            &["service", "operation", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "bedrock_access_exporter_aws_request_duration_seconds",
                "Duration of the exporter's HTTP requests to AWS (one attempt, connection set-up included), by service.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["service"],
        )?;
        Ok(Collector { requests, duration })
    }
}

static COLLECTOR: LazyLock<Result<Collector, prometheus::Error>> = LazyLock::new(Collector::new);

/// Registers the two families into `registry` (they count for the whole process).
pub fn register(registry: &Registry) -> Result<(), prometheus::Error> {
    match &*COLLECTOR {
        Ok(c) => {
            registry.register(Box::new(c.requests.clone()))?;
            registry.register(Box::new(c.duration.clone()))
        }
        Err(e) => Err(prometheus::Error::Msg(e.to_string())),
    }
}

fn record(service: Service, operation: &str, outcome: Outcome, seconds: f64) {
    if let Ok(c) = &*COLLECTOR {
        c.requests
            .with_label_values(&[service.label(), operation, outcome.label()])
            .inc();
        c.duration
            .with_label_values(&[service.label()])
            .observe(seconds);
    }
}

/// An operation name fit for a label: the SDK's names are plain identifiers.
fn operation_label(name: &str) -> String {
    let plain = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if plain {
        name.to_string()
    } else {
        "other".to_string()
    }
}

/// One attempt in flight; recorded once, as `timeout` if it is dropped unfinished.
#[derive(Debug)]
struct Attempt {
    service: Service,
    operation: String,
    started: Instant,
    done: AtomicBool,
}

impl Attempt {
    fn finish(&self, outcome: Outcome) {
        if !self.done.swap(true, Ordering::SeqCst) {
            let seconds = self.started.elapsed().as_secs_f64();
            record(self.service, &self.operation, outcome, seconds);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.finish(Outcome::Timeout);
    }
}

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

/// The SDK interceptor that counts requests (add it to every service client's config).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "bedrock_access_exporter::CountCalls"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (Service::from_sdk(m.service()), operation_label(m.name())),
            None => (Service::Other, "other".to_string()),
        };
        // Replaces (and so drops) the previous attempt's record, which is already finished.
        cfg.interceptor_state().store_put(Attempt {
            service,
            operation,
            started: Instant::now(),
            done: AtomicBool::new(false),
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(attempt) = cfg.load::<Attempt>() {
            attempt.finish(outcome_of(context));
        }
        Ok(())
    }
}

fn outcome_of(context: &FinalizerInterceptorContextRef<'_>) -> Outcome {
    if let Some(response) = context.response() {
        return outcome_of_response(response);
    }
    match context.output_or_error() {
        Some(Err(err)) if err.is_timeout_error() => Outcome::Timeout,
        Some(Err(err)) => match err.as_connector_error() {
            Some(c) if c.is_timeout() => Outcome::Timeout,
            Some(_) => Outcome::NetworkError,
            None => Outcome::LocalError,
        },
        _ => Outcome::LocalError,
    }
}

/// The outcome of an answer AWS gave.
pub fn outcome_of_response(response: &HttpResponse) -> Outcome {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Outcome::Success;
    }
    let code = error_code(response);
    if status == 429 || code.is_some_and(|c| THROTTLING_ERRORS.contains(&c)) {
        Outcome::Throttled
    } else if status >= 500 {
        Outcome::ServerError
    } else {
        Outcome::Error
    }
}

/// The error code of an answer: the `x-amzn-ErrorType` header (REST-JSON), else the first
/// `<Code>` of the body (query/XML protocols).
fn error_code(response: &HttpResponse) -> Option<&str> {
    if let Some(header) = response.headers().get("x-amzn-errortype") {
        return header.split([':', '#']).next().map(str::trim);
    }
    let body = response.body().bytes()?;
    let head = &body[..body.len().min(CODE_SEARCH_BYTES)];
    let text = std::str::from_utf8(head).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn answer(status: u16, header: Option<&str>, body: &str) -> HttpResponse {
        let status = StatusCode::try_from(status).expect("a valid status");
        let mut r = HttpResponse::new(status, SdkBody::from(body.to_string()));
        if let Some(h) = header {
            r.headers_mut().insert("x-amzn-ErrorType", h.to_string());
        }
        r
    }

    #[test]
    fn throttling_is_told_from_other_errors_by_status_or_code() {
        let sts = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(
            outcome_of_response(&answer(400, None, sts)),
            Outcome::Throttled
        );
        assert_eq!(
            outcome_of_response(&answer(
                429,
                Some("ThrottlingException:http://internal.amazon.com/"),
                "{}"
            )),
            Outcome::Throttled
        );
        let denied = "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>";
        assert_eq!(
            outcome_of_response(&answer(403, None, denied)),
            Outcome::Error
        );
        assert_eq!(
            outcome_of_response(&answer(503, Some("ServiceUnavailableException"), "{}")),
            Outcome::ServerError
        );
        assert_eq!(
            outcome_of_response(&answer(200, None, "{}")),
            Outcome::Success
        );
    }

    #[test]
    fn operation_names_that_are_not_plain_identifiers_become_other() {
        assert_eq!(operation_label("GetCallerIdentity"), "GetCallerIdentity");
        assert_eq!(operation_label("Get Caller"), "other");
        assert_eq!(operation_label(""), "other");
        assert_eq!(operation_label(&"A".repeat(65)), "other");
    }
}
