//! The request pipeline (the simulator's own paths → read body → the unsigned calls,
//! `anonymous` → authenticate (SigV4, or an API key: `bearer`) → route → faults → dispatch) and
//! the accept loop (plain or TLS, every connection and request counted).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{StatusCode, Uri};
use tokio::sync::Notify;

use super::anonymous;
use super::authenticate::authenticate;
use super::counters::{Handshake, Refusal};
use super::ctx::Ctx;
use super::faults::{self, CallInfo};
use super::inject::{self, ConnKill, Faulted};
use super::own_paths;
use super::routing;
use super::state::SimState;
use super::wire::{self, ApiError, Protocol, QueryService};

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;
/// Longest wait for a request body (a client announcing a body it never sends).
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest TLS handshake on an HTTPS listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for a request head, idle keep-alive included; then the
/// simulator closes it, as AWS's endpoints close idle connections.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The protocol a request is answered in before authentication has read its scope: the query
/// protocol (STS) on `/`, REST-JSON elsewhere.
fn protocol_of(uri: &Uri) -> Protocol {
    if uri.path() == "/" {
        Protocol::Query(QueryService::Sts)
    } else {
        Protocol::RestJson
    }
}

/// The axum fallback handler: every request comes here. A bug that panics answers AWS's
/// `InternalFailure` instead of dropping the connection.
pub(crate) async fn handle(State(state): State<Arc<SimState>>, req: Request) -> Response {
    use futures::FutureExt as _;
    let proto = protocol_of(req.uri());
    match std::panic::AssertUnwindSafe(handle_inner(state, req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("simulator handler panicked; answering InternalFailure");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
            )
            .render(proto, &wire::request_id())
        }
    }
}

/// The body, whole, within [`MAX_BODY`] bytes and [`BODY_TIMEOUT`].
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => Ok(b),
        _ => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationException",
            format!("Request body is larger than {MAX_BODY} bytes or could not be read."),
        )),
    }
}

async fn handle_inner(state: Arc<SimState>, req: Request) -> Response {
    let request_id = wire::request_id();
    let (parts, body) = req.into_parts();
    if own_paths::is_own(parts.uri.path()) {
        return own_paths::answer(&parts, &state.counters);
    }
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let mut proto = protocol_of(&parts.uri);
    // AWS Organizations (JSON 1.1) also posts to `/`; it answers in JSON.
    if super::organizations::operation(&parts.headers).is_some() {
        proto = Protocol::RestJson;
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => {
            state.counters.refused(Refusal::Body);
            return e.render(proto, &request_id);
        }
    };
    let scenario = state.scenario();
    if let Some(call) = anonymous::route(&parts, &body) {
        let (service, operation, account) = call.counted_as();
        let account = if scenario.accounts.contains_key(account) {
            account
        } else {
            ""
        };
        state.counters.request(service, operation, account);
        return anonymous::answer(&state, &scenario, call, &parts, &request_id, kill).await;
    }
    let caller = match authenticate(&state, &scenario, &parts, &body, &mut proto) {
        Ok(v) => v,
        Err(e) => {
            state.counters.refused(Refusal::Authentication);
            tracing::debug!(code = %e.code, path = %parts.uri.path(), "request refused at authentication");
            return e.render(proto, &request_id);
        }
    };
    let route = match routing::route(&parts, &body, proto) {
        Ok(r) => r,
        Err(e) => {
            state.counters.refused(Refusal::Routing);
            return e.render(proto, &request_id);
        }
    };
    let (principal, region) = (caller.principal, caller.region);
    state
        .counters
        .request(route.service(), route.operation(), principal.account());
    state.counts.record(
        principal.account(),
        route.service(),
        route.operation(),
        &region,
        route.assumed_role(),
    );
    let firing = faults::evaluate(
        &scenario.faults,
        &CallInfo {
            service: route.service(),
            operation: route.operation(),
            account: principal.account(),
            region: &region,
            model: route.model(),
        },
    );
    let call = Faulted {
        proto,
        service: route.service(),
        operation: route.operation(),
        request_id: &request_id,
    };
    let stream_fault = firing.stream_error.clone();
    if let Some(answer) = inject::apply(firing, call, kill).await {
        return answer;
    }

    let ctx = Ctx {
        state,
        scenario,
        principal,
        region,
        request_id,
        bearer: caller.bearer,
    };
    match routing::dispatch(&ctx, route, &parts.headers, &body, stream_fault) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = %e.code, status = e.status.as_u16(), "answering with an AWS error");
            e.render(proto, &ctx.request_id)
        }
    }
}

/// The accept loop: one task per connection (after its TLS handshake on an HTTPS listener);
/// `reset` faults end a connection's task. Connections and handshakes are counted under the
/// listener's address.
pub(crate) async fn serve(
    state: Arc<SimState>,
    router: axum::Router,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let label = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Too many open files and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        state.counters.connection(&label);
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        let state = Arc::clone(&state);
        let label = label.clone();
        let Some(acceptor) = tls.clone() else {
            tasks.spawn(async move {
                if drive(stream, router, stop).await {
                    state.counters.closed_waiting(&label);
                }
            });
            continue;
        };
        tasks.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let resumed = stream.get_ref().1.handshake_kind()
                        == Some(tokio_rustls::rustls::HandshakeKind::Resumed);
                    let how = if resumed {
                        Handshake::Resumed
                    } else {
                        Handshake::Full
                    };
                    state.counters.handshake(&label, how);
                    if drive(stream, router, stop).await {
                        state.counters.closed_waiting(&label);
                    }
                }
                Ok(Err(e)) => {
                    let how = if super::tls::refused_by_client(&e) {
                        Handshake::Refused
                    } else {
                        Handshake::Failed
                    };
                    state.counters.handshake(&label, how);
                    tracing::debug!(error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    state.counters.handshake(&label, Handshake::Failed);
                    tracing::debug!("TLS handshake timed out");
                }
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(3), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until the client closes it, a `reset`
/// fault kills it, the simulator stops (then requests in flight get two seconds), or no
/// request head arrives within [`HEADER_READ_TIMEOUT`] (an idle keep-alive connection
/// included, as hyper times it): then it returns true.
async fn drive<S>(
    stream: S,
    router: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper::service::Service as _;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let kill = ConnKill(Arc::new(Notify::new()));
    let svc_kill = kill.clone();
    let inner = TowerToHyperService::new(router);
    let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(svc_kill.clone());
        inner.call(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Answers are small: one flattened buffer, one `write` per response.
        .writev(false)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        ended = conn.as_mut() => ended.is_err_and(|e| e.is_timeout()),
        _ = kill.0.notified() => false,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
            false
        }
    }
}
