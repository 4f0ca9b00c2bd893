//! The request pipeline (read body → authenticate → route → faults → dispatch) and the accept
//! loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use http::request::Parts;
use http::{Method, StatusCode};
use tokio::sync::Notify;

use super::auth::Principal;
use super::faults::{self, CallInfo};
use super::scenario::{FaultKind, Scenario};
use super::sigv4::{self, Received};
use super::wire::{ApiError, Protocol, QueryService};
use super::{SimError, Simulator, bedrock, iam, runtime, sts};

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;
/// Longest wait for a request body (a client announcing a body it never sends).
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a `hang` fault holds a request before dropping its connection.
const HANG_LIMIT: Duration = Duration::from_secs(120);
/// Allowed clock skew of a signature.
const MAX_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

const SIG_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Regions the simulator accepts in a credential scope (AWS commercial + GovCloud + China),
/// plus every region the scenario names.
const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// Per-connection switch a `reset` fault pulls to drop the connection without an answer.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub Arc<Notify>);

/// The authenticated call.
pub(crate) struct Ctx {
    pub sim: Simulator,
    pub scenario: Arc<Scenario>,
    pub principal: Principal,
    pub region: String,
    pub request_id: String,
}

/// What the request asks for.
#[derive(Debug)]
enum Route {
    Query {
        svc: QueryService,
        action: String,
        params: Vec<(String, String)>,
    },
    Availability(String),
    GetFoundationModel(String),
    ListFoundationModels(Vec<(String, String)>),
    GetInferenceProfile(String),
    Converse(String),
    InvokeModel(String),
}

impl Route {
    fn service(&self) -> &'static str {
        match self {
            Route::Query { svc, .. } => svc.signing_name(),
            Route::Converse(_) | Route::InvokeModel(_) => "bedrock-runtime",
            _ => "bedrock",
        }
    }
    fn operation(&self) -> &str {
        match self {
            Route::Query { action, .. } => action,
            Route::Availability(_) => "GetFoundationModelAvailability",
            Route::GetFoundationModel(_) => "GetFoundationModel",
            Route::ListFoundationModels(_) => "ListFoundationModels",
            Route::GetInferenceProfile(_) => "GetInferenceProfile",
            Route::Converse(_) => "Converse",
            Route::InvokeModel(_) => "InvokeModel",
        }
    }
    fn model(&self) -> Option<&str> {
        match self {
            Route::Availability(m)
            | Route::GetFoundationModel(m)
            | Route::Converse(m)
            | Route::InvokeModel(m)
            | Route::GetInferenceProfile(m) => Some(m),
            _ => None,
        }
    }
}

/// The axum fallback handler: every request comes here. A bug that panics answers AWS's
/// `InternalFailure` instead of dropping the connection.
pub(crate) async fn handle(State(sim): State<Simulator>, req: Request) -> Response {
    use futures::FutureExt as _;
    let proto = if req.uri().path() == "/" {
        Protocol::Query(QueryService::Sts)
    } else {
        Protocol::RestJson
    };
    match std::panic::AssertUnwindSafe(handle_inner(sim, req))
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
            .render(proto, &super::wire::request_id())
        }
    }
}

async fn handle_inner(sim: Simulator, req: Request) -> Response {
    let request_id = super::wire::request_id();
    let (parts, body) = req.into_parts();
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let mut proto = if parts.uri.path() == "/" {
        Protocol::Query(QueryService::Sts)
    } else {
        Protocol::RestJson
    };
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await;
    let body = match read {
        Ok(Ok(b)) => b,
        _ => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                format!("Request body is larger than {MAX_BODY} bytes or could not be read."),
            );
            return e.render(proto, &request_id);
        }
    };
    let scenario = sim.scenario();
    let (principal, region) = match authenticate(&sim, &scenario, &parts, &body, &mut proto) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(code = %e.code, path = %parts.uri.path(), "request refused at authentication");
            return e.render(proto, &request_id);
        }
    };
    let route = match route(&parts, &body, proto) {
        Ok(r) => r,
        Err(e) => return e.render(proto, &request_id),
    };

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
    if !firing.delay.is_zero() {
        tokio::time::sleep(firing.delay).await;
    }
    if let Some(kind) = firing.action {
        tracing::debug!(fault = ?kind, operation = route.operation(), "injecting fault");
        match kind {
            FaultKind::Latency => {}
            FaultKind::Throttle => {
                return throttle(proto, route.service()).render(proto, &request_id);
            }
            FaultKind::Unavailable => return unavailable(proto).render(proto, &request_id),
            FaultKind::Malformed => return malformed(proto, &request_id),
            FaultKind::Hang => {
                // Never answer; after HANG_LIMIT drop the connection so that abandoned hung
                // requests do not pile up sockets during long rehearsals.
                tokio::time::sleep(HANG_LIMIT).await;
                if let Some(k) = kill {
                    k.0.notify_one();
                }
                return std::future::pending().await;
            }
            FaultKind::Reset => {
                if let Some(k) = kill {
                    k.0.notify_one();
                    return std::future::pending().await;
                }
                // In-process router without a connection: a body that fails mid-stream.
                let stream = futures::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "connection reset by fault injection",
                    ))
                });
                return Response::new(Body::from_stream(stream));
            }
        }
    }

    let ctx = Ctx {
        sim,
        scenario,
        principal,
        region,
        request_id,
    };
    let result = match route {
        Route::Query {
            svc: QueryService::Sts,
            action,
            params,
        } => sts::dispatch(&ctx, &action, &params),
        Route::Query {
            svc: QueryService::Iam,
            action,
            params,
        } => iam::dispatch(&ctx, &action, &params),
        Route::Availability(m) => bedrock::availability(&ctx, &m),
        Route::GetFoundationModel(m) => bedrock::get_foundation_model(&ctx, &m),
        Route::ListFoundationModels(q) => bedrock::list_foundation_models(&ctx, &q),
        Route::GetInferenceProfile(p) => bedrock::get_inference_profile(&ctx, &p),
        Route::Converse(m) => runtime::converse(&ctx, &m, &body),
        Route::InvokeModel(m) => runtime::invoke_model(&ctx, &m, &parts.headers, &body),
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = %e.code, status = e.status.as_u16(), "answering with an AWS error");
            e.render(proto, &ctx.request_id)
        }
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
            let mut r = super::wire::query_ok(svc, "GetCallerIdentity", "", request_id);
            *r.body_mut() = Body::from(format!(
                "<GetCallerIdentityResponse xmlns=\"{}\">\n  <GetCallerId",
                svc.xmlns()
            ));
            r
        }
        Protocol::RestJson => {
            super::wire::json_ok("{\"output\":{\"message\":{\"ro".to_owned(), request_id)
        }
    }
}

/// Maps an auth failure to the protocol's code.
fn auth_error(proto: Protocol, kind: AuthFail, message: impl Into<String>) -> ApiError {
    let message = message.into();
    match (proto, kind) {
        (Protocol::Query(_), AuthFail::Missing) => {
            ApiError::new(StatusCode::FORBIDDEN, "MissingAuthenticationToken", message)
        }
        (Protocol::RestJson, AuthFail::Missing) => ApiError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            message,
        )
        .coral(),
        (Protocol::Query(_), AuthFail::Incomplete) => {
            ApiError::new(StatusCode::BAD_REQUEST, "IncompleteSignature", message)
        }
        (Protocol::RestJson, AuthFail::Incomplete) => ApiError::new(
            StatusCode::FORBIDDEN,
            "IncompleteSignatureException",
            message,
        )
        .coral(),
        (Protocol::Query(_), AuthFail::Signature) => {
            ApiError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
        }
        (Protocol::RestJson, AuthFail::Signature) => {
            ApiError::new(StatusCode::FORBIDDEN, "InvalidSignatureException", message).coral()
        }
        (Protocol::Query(_), AuthFail::Skew) => {
            ApiError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
        }
        (Protocol::RestJson, AuthFail::Skew) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            message,
        )
        .coral(),
        (Protocol::Query(_), AuthFail::UnknownKey) => ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid",
        ),
        (Protocol::RestJson, AuthFail::UnknownKey) => ApiError::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        .coral(),
        (Protocol::Query(_), AuthFail::Expired) => ApiError::new(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        (Protocol::RestJson, AuthFail::Expired) => ApiError::new(
            StatusCode::FORBIDDEN,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )
        .coral(),
    }
}

#[derive(Debug, Clone, Copy)]
enum AuthFail {
    Missing,
    Incomplete,
    Signature,
    Skew,
    UnknownKey,
    Expired,
}

fn region_known(scenario: &Scenario, region: &str) -> bool {
    KNOWN_REGIONS.contains(&region)
        || scenario.models.values().any(|m| m.offered_in(region))
        || scenario
            .profiles
            .values()
            .any(|p| p.regions.iter().any(|r| r == region))
}

/// Verifies SigV4 and resolves the caller. Sets `proto` to IAM when the scope says `iam`.
fn authenticate(
    sim: &Simulator,
    scenario: &Scenario,
    parts: &Parts,
    body: &Bytes,
    proto: &mut Protocol,
) -> Result<(Principal, String), ApiError> {
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        let msg = match proto {
            Protocol::Query(_) => "Request is missing Authentication Token",
            Protocol::RestJson => "Missing Authentication Token",
        };
        return Err(auth_error(*proto, AuthFail::Missing, msg));
    };
    let Ok(value) = value.to_str() else {
        return Err(auth_error(
            *proto,
            AuthFail::Incomplete,
            "Authorization header is not valid ASCII.",
        ));
    };
    let auth = sigv4::parse_authorization(value)
        .map_err(|m| auth_error(*proto, AuthFail::Incomplete, m))?;

    // Service in the scope.
    match proto {
        Protocol::Query(_) => match auth.service {
            "sts" => *proto = Protocol::Query(QueryService::Sts),
            "iam" => *proto = Protocol::Query(QueryService::Iam),
            _ => {
                return Err(auth_error(
                    *proto,
                    AuthFail::Signature,
                    "Credential should be scoped to correct service: 'sts'. ",
                ));
            }
        },
        Protocol::RestJson => {
            if auth.service != "bedrock" {
                return Err(auth_error(
                    *proto,
                    AuthFail::Signature,
                    "Credential should be scoped to correct service: 'bedrock'. ",
                ));
            }
        }
    }
    if !region_known(scenario, auth.region) {
        return Err(auth_error(
            *proto,
            AuthFail::Signature,
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region.chars().take(64).collect::<String>()
            ),
        ));
    }

    // Date and skew.
    let Some(amz_date) = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(auth_error(
            *proto,
            AuthFail::Incomplete,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let Some(when) = sigv4::parse_amz_date(amz_date) else {
        return Err(auth_error(
            *proto,
            AuthFail::Incomplete,
            "Date must be in ISO-8601 'basic format'.",
        ));
    };
    if !amz_date.starts_with(auth.date) {
        return Err(auth_error(
            *proto,
            AuthFail::Signature,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.date,
                amz_date.get(..8).unwrap_or(amz_date),
                amz_date
            ),
        ));
    }
    let now = Utc::now();
    if when < now - MAX_SKEW {
        return Err(auth_error(
            *proto,
            AuthFail::Skew,
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                sigv4::format_amz_date(now - MAX_SKEW),
                sigv4::format_amz_date(now)
            ),
        ));
    }
    if when > now + MAX_SKEW {
        return Err(auth_error(
            *proto,
            AuthFail::Skew,
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                sigv4::format_amz_date(now + MAX_SKEW),
                sigv4::format_amz_date(now)
            ),
        ));
    }

    // Key → secret and principal.
    let token_header = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let (secret, token, principal) = if let Some((secret, idx)) = scenario.keys.get(auth.access_key)
    {
        if token_header.is_some() {
            return Err(auth_error(*proto, AuthFail::UnknownKey, ""));
        }
        let Some(user) = scenario.users.get(*idx) else {
            return Err(auth_error(*proto, AuthFail::UnknownKey, ""));
        };
        (
            secret.clone(),
            None,
            Principal::User {
                account: user.account.clone(),
                name: user.name.clone(),
            },
        )
    } else if let Some(session) = sim.inner().sessions.get(auth.access_key) {
        let token_ok = token_header.is_some_and(|t| {
            use subtle::ConstantTimeEq;
            bool::from(t.as_bytes().ct_eq(session.token.as_bytes()))
        });
        if !token_ok {
            return Err(auth_error(*proto, AuthFail::UnknownKey, ""));
        }
        if session.expires <= now {
            return Err(auth_error(*proto, AuthFail::Expired, ""));
        }
        (session.secret, Some(session.token), session.principal)
    } else {
        return Err(auth_error(*proto, AuthFail::UnknownKey, ""));
    };

    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let received = Received {
        method: parts.method.as_str(),
        path_and_query,
        headers: &parts.headers,
        body,
    };
    let time: SystemTime = when.into();
    if !sigv4::verify(
        &received,
        &auth,
        auth.access_key,
        &secret,
        token.as_deref(),
        time,
    ) {
        return Err(auth_error(*proto, AuthFail::Signature, SIG_MISMATCH));
    }
    Ok((principal, auth.region.to_owned()))
}

fn decode_segment(seg: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "The path is not valid UTF-8 after percent-decoding.",
            )
        })
}

fn query_pairs(s: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(s).into_owned().collect()
}

fn route(parts: &Parts, body: &Bytes, proto: Protocol) -> Result<Route, ApiError> {
    let path = parts.uri.path();
    if let Protocol::Query(svc) = proto {
        let mut params = query_pairs(parts.uri.query().unwrap_or("").as_bytes());
        if parts.method == Method::POST {
            params.extend(query_pairs(body));
        }
        let action = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        return Ok(Route::Query {
            svc,
            action,
            params,
        });
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "UnknownOperationException", "").coral();
    let r = match (&parts.method, segs.as_slice()) {
        (&Method::GET, ["foundation-model-availability", id]) => {
            Route::Availability(decode_segment(id)?)
        }
        (&Method::GET, ["foundation-models", id]) => Route::GetFoundationModel(decode_segment(id)?),
        (&Method::GET, ["foundation-models"]) => {
            Route::ListFoundationModels(query_pairs(parts.uri.query().unwrap_or("").as_bytes()))
        }
        (&Method::GET, ["inference-profiles", id]) => {
            Route::GetInferenceProfile(decode_segment(id)?)
        }
        (&Method::POST, ["model", id, "converse"]) => Route::Converse(decode_segment(id)?),
        (&Method::POST, ["model", id, "invoke"]) => Route::InvokeModel(decode_segment(id)?),
        _ => return Err(unknown()),
    };
    Ok(r)
}

/// The accept loop: one task per connection; `reset` faults end a connection's task.
pub(crate) async fn serve(
    sim: Simulator,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    use hyper::service::Service as _;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let router = sim.router();
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
        let _ = stream.set_nodelay(true);
        let kill = ConnKill(Arc::new(Notify::new()));
        let svc_kill = kill.clone();
        let inner = TowerToHyperService::new(router.clone());
        let svc =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(svc_kill.clone());
                inner.call(req)
            });
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // Answers are small: one flattened buffer, one `write` per response.
                .writev(false)
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = kill.0.notified() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
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
    Ok(())
}
