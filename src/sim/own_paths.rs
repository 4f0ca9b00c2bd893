//! The simulator's own paths, under `/_sim/` (no AWS operation's path starts with `/_`; the
//! query protocol posts to `/`), answered before anything AWS-like and never counted as AWS
//! requests: `GET /_sim/metrics` (its counters, Prometheus text format) and `GET /_sim/healthy`
//! (a tiny page for HTTP probes such as the blackbox exporter's).

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};

use super::counters::{Counters, SIM_PREFIX};

/// Whether `path` is one of the simulator's own.
pub(crate) fn is_own(path: &str) -> bool {
    path.starts_with(SIM_PREFIX)
}

/// The answer for a path under [`SIM_PREFIX`].
pub(crate) fn answer(parts: &Parts, counters: &Counters) -> Response {
    let (status, content_type, body) = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_sim/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            counters.render(),
        ),
        (&Method::GET, "/_sim/healthy") => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "AWS simulator: healthy\n".to_string(),
        ),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not a path of the simulator; GET /_sim/metrics or /_sim/healthy\n".to_string(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
