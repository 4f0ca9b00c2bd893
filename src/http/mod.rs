//! The HTTP interface (`docs/interface.md`): `/metrics`, `/probe` ([`probe`]), `/-/healthy`,
//! `/-/ready`, `/-/reload`, the status page `/` and `/api/v1/status` (rendered in
//! [`status_page`]), and the `/probe?debug=true` trace ([`debug`]).

pub mod debug;
pub mod gzip;
pub mod probe;
pub mod status_page;

pub use probe::{ProbeParams, parse_probe_query};

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::metrics::TEXT_CONTENT_TYPE;
use crate::schedule::ProbeFn;

/// The router of the exporter.
pub fn router<P: ProbeFn>(app: Arc<App<P>>) -> Router {
    Router::new()
        .route("/", get(index::<P>))
        .route("/metrics", get(metrics::<P>))
        .route("/probe", get(probe::get::<P>).head(probe::head::<P>))
        .route("/api/v1/status", get(status::<P>))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready::<P>))
        .route("/-/reload", post(reload::<P>))
        .fallback(not_found)
        .with_state(app)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.into(),
    )
        .into_response()
}

fn exposition(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TEXT_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

async fn healthy() -> Response {
    text(StatusCode::OK, "Healthy.\n")
}

async fn ready<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    if app.is_ready() {
        text(StatusCode::OK, "Ready.\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "Not ready.\n")
    }
}

async fn reload<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    match app.reload().await {
        Ok(()) => text(StatusCode::OK, "Configuration reloaded.\n"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("configuration reload failed; the running configuration stays:\n{e}\n"),
        ),
    }
}

/// Size of the chunks `/metrics` is written in.
const CHUNK: usize = 64 * 1024;

/// `/metrics`: always the text format 0.0.4 (also when OpenMetrics is asked for, which the
/// Accept negotiation of Prometheus allows as a fallback). The exposition is snapshotted under
/// the lock (shared references to every tuple's state) and encoded as it is streamed in chunks,
/// gzip-compressed chunk by chunk when the scraper accepts it ([`gzip`]).
async fn metrics<P: ProbeFn>(
    State(app): State<Arc<App<P>>>,
    request: axum::http::HeaderMap,
) -> Response {
    let chunks = app.metrics.exposition().into_chunks(CHUNK);
    let ok = Ok::<bytes::Bytes, std::convert::Infallible>;
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static(TEXT_CONTENT_TYPE),
    );
    let vary = (header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip::accepts_gzip(&request) {
        let stream = futures::stream::iter(gzip::GzipChunks::new(chunks).map(ok));
        return (
            StatusCode::OK,
            [
                content_type,
                vary,
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            ],
            axum::body::Body::from_stream(stream),
        )
            .into_response();
    }
    let stream = futures::stream::iter(chunks.map(ok));
    (
        StatusCode::OK,
        [content_type, vary],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// The status view of the running configuration and the last background probes.
pub fn current_view<P: ProbeFn>(app: &App<P>) -> status_page::StatusView {
    let current = app.current();
    status_page::build_for(
        current.as_ref().map(|g| g.config.as_ref()),
        app.metrics.shard(),
        &app.metrics.snapshot(),
        SystemTime::now(),
    )
}

/// `/api/v1/status`: the status page as JSON.
async fn status<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    let body = status_page::render_json(&current_view(&app)).to_string();
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// `/`: the status page.
async fn index<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    let body = status_page::render_html(&current_view(&app));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}
