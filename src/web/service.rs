//! What every request goes through before the exporter's router, in the exporter toolkit's
//! order: the rate limit (429), basic authentication (401 with `WWW-Authenticate`), then the
//! router; the configured response headers go on every answer. The connection's slot follows
//! the request: handling, then writing until the response body is dropped (written or
//! abandoned), then idle.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;

use super::slots::{Phase, Slot};
use super::state::{Active, WebState};

/// The path `--web.healthy-without-auth` exempts.
pub const HEALTHY: &str = "/-/healthy";

/// The router and the web configuration, shared by every connection.
pub struct Pipeline {
    pub router: Router,
    pub state: Arc<WebState>,
}

impl Pipeline {
    /// Answers one request. `trusted` (the in-process self-check only) skips the rate limit
    /// and authentication.
    pub async fn handle(&self, req: Request<Incoming>, trusted: bool) -> Response<Body> {
        let active = self.state.current();
        if !trusted {
            if let Some(limit) = &active.rate
                && !limit.allow()
            {
                return finish(
                    plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n"),
                    &active,
                );
            }
            let exempt = self.state.healthy_without_auth
                && (req.method() == Method::GET || req.method() == Method::HEAD)
                && req.uri().path() == HEALTHY;
            if !active.users.is_empty() && !exempt {
                let authorization = req.headers().get(header::AUTHORIZATION);
                let ok = self
                    .state
                    .auth
                    .check(&active.users, authorization.map(HeaderValue::as_bytes))
                    .await;
                if !ok {
                    let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"bedrock-access-exporter\""),
                    );
                    return finish(r, &active);
                }
            }
        }
        let response = match TowerToHyperService::new(self.router.clone())
            .call(req)
            .await
        {
            Ok(r) => r,
            Err(never) => match never {},
        };
        finish(response, &active)
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn finish(mut response: Response<Body>, active: &Active) -> Response<Body> {
    for (name, value) in &active.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// The hyper service of one connection.
#[derive(Clone)]
pub struct ConnService {
    pub pipeline: Arc<Pipeline>,
    pub slot: Arc<Slot>,
    pub trusted: bool,
}

impl Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Tracked>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.slot.enter(Phase::Handling);
        let pipeline = Arc::clone(&self.pipeline);
        let slot = Arc::clone(&self.slot);
        let trusted = self.trusted;
        Box::pin(async move {
            let response = pipeline.handle(req, trusted).await;
            slot.enter(Phase::Writing);
            Ok(response.map(|body| Tracked { body, slot }))
        })
    }
}

/// A response body that sets its connection idle when dropped.
pub struct Tracked {
    body: Body,
    slot: Arc<Slot>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.slot.phase() == Phase::Writing {
            self.slot.enter(Phase::Idle);
        }
    }
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
