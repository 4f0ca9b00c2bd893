//! What a firing fault does to a request instead of the handler's answer: an added delay, a
//! throttling or unavailability error in the request's protocol, a model's own failure (424,
//! runtime invocations only), a truncated 200, a request that never answers, or a connection
//! dropped without an answer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use tokio::sync::Notify;

use super::faults::{FaultKind, Firing, MODEL_ERROR_MESSAGE};
use super::wire::{self, ApiError, Protocol};

/// How long a `hang` fault holds a request before dropping its connection.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Per-connection switch a `reset` fault pulls to drop the connection without an answer.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub Arc<Notify>);

/// The call being faulted: its protocol, service, operation and answer's request id.
pub(crate) struct Faulted<'a> {
    pub proto: Protocol,
    pub service: &'a str,
    pub operation: &'a str,
    pub request_id: &'a str,
}

/// Waits the faults' delay, then answers for the fault that fired, if any; `None` lets the
/// call go on to its handler. `kill` is the connection's switch (none in-process).
pub(crate) async fn apply(
    firing: Firing,
    call: Faulted<'_>,
    kill: Option<ConnKill>,
) -> Option<Response> {
    if !firing.delay.is_zero() {
        tokio::time::sleep(firing.delay).await;
    }
    let kind = firing.action?;
    tracing::debug!(fault = ?kind, operation = call.operation, "injecting fault");
    let proto = call.proto;
    match kind {
        FaultKind::Latency | FaultKind::StreamError => None,
        // Only an invocation has a model to fail; any other call answers normally.
        FaultKind::ModelError if call.service != "bedrock-runtime" => None,
        FaultKind::ModelError => Some(
            ApiError::new(
                StatusCode::FAILED_DEPENDENCY,
                "ModelErrorException",
                firing
                    .action_message
                    .as_deref()
                    .unwrap_or(MODEL_ERROR_MESSAGE),
            )
            .render(proto, call.request_id),
        ),
        FaultKind::Throttle => Some(throttle(proto, call.service).render(proto, call.request_id)),
        FaultKind::Unavailable => Some(unavailable(proto).render(proto, call.request_id)),
        FaultKind::Malformed => Some(malformed(proto, call.request_id)),
        FaultKind::Hang => hang(kill).await,
        FaultKind::Reset => Some(reset(kill).await),
    }
}

fn throttle(proto: Protocol, service: &str) -> ApiError {
    match proto {
        Protocol::Query(_) => ApiError::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        Protocol::RestJson if service == "bedrock-runtime" => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many tokens, please wait before trying again.",
        ),
        Protocol::RestJson => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        ),
    }
}

fn unavailable(proto: Protocol) -> ApiError {
    match proto {
        Protocol::Query(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        ),
        Protocol::RestJson => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
    }
}

fn malformed(proto: Protocol, request_id: &str) -> Response {
    match proto {
        Protocol::Query(svc) => {
            let mut r = wire::query_ok(svc, "GetCallerIdentity", "", request_id);
            *r.body_mut() = Body::from(format!(
                "<GetCallerIdentityResponse xmlns=\"{}\">\n  <GetCallerId",
                svc.xmlns()
            ));
            r
        }
        Protocol::RestJson => {
            wire::json_ok("{\"output\":{\"message\":{\"ro".to_owned(), request_id)
        }
    }
}

/// Never answers; after [`HANG_LIMIT`] drops the connection so that abandoned hung requests
/// do not pile up sockets during long rehearsals.
async fn hang(kill: Option<ConnKill>) -> Option<Response> {
    tokio::time::sleep(HANG_LIMIT).await;
    if let Some(k) = kill {
        k.0.notify_one();
    }
    std::future::pending().await
}

/// Drops the connection; in-process (no connection), a body that fails mid-stream.
async fn reset(kill: Option<ConnKill>) -> Response {
    if let Some(k) = kill {
        k.0.notify_one();
        return std::future::pending().await;
    }
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by fault injection",
        ))
    });
    Response::new(Body::from_stream(stream))
}
