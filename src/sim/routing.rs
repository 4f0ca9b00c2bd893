//! Which handler serves a request: the route, from the `Action` parameter (query protocol:
//! STS, IAM) or from the method and path (REST-JSON: Bedrock, Bedrock runtime), and the
//! dispatch of an authenticated call to its service handler.

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use super::ctx::Ctx;
use super::faults::StreamFault;
use super::wire::{ApiError, Protocol, QueryService};
use super::{bedrock, iam, organizations, runtime, stream, sts};

/// What the request asks for.
#[derive(Debug)]
pub(crate) enum Route {
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
    /// AWS Organizations (JSON 1.1), by its `X-Amz-Target` operation.
    Organizations(String),
    ConverseStream(String),
    InvokeModelWithResponseStream(String),
}

impl Route {
    /// The signing name of the service, as faults match it.
    pub(crate) fn service(&self) -> &'static str {
        match self {
            Route::Query { svc, .. } => svc.signing_name(),
            Route::Converse(_)
            | Route::InvokeModel(_)
            | Route::ConverseStream(_)
            | Route::InvokeModelWithResponseStream(_) => "bedrock-runtime",
            Route::Organizations(_) => "organizations",
            _ => "bedrock",
        }
    }
    pub(crate) fn operation(&self) -> &str {
        match self {
            Route::Query { action, .. } => action,
            Route::Availability(_) => "GetFoundationModelAvailability",
            Route::GetFoundationModel(_) => "GetFoundationModel",
            Route::ListFoundationModels(_) => "ListFoundationModels",
            Route::GetInferenceProfile(_) => "GetInferenceProfile",
            Route::Converse(_) => "Converse",
            Route::InvokeModel(_) => "InvokeModel",
            Route::Organizations(op) => op,
            Route::ConverseStream(_) => "ConverseStream",
            Route::InvokeModelWithResponseStream(_) => "InvokeModelWithResponseStream",
        }
    }
    /// The role an STS AssumeRole asks for.
    pub(crate) fn assumed_role(&self) -> Option<&str> {
        match self {
            Route::Query { action, params, .. } if action == "AssumeRole" => params
                .iter()
                .find(|(k, _)| k == "RoleArn")
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    /// The model (or inference profile) identifier in the path, if any.
    pub(crate) fn model(&self) -> Option<&str> {
        match self {
            Route::Availability(m)
            | Route::GetFoundationModel(m)
            | Route::Converse(m)
            | Route::InvokeModel(m)
            | Route::ConverseStream(m)
            | Route::InvokeModelWithResponseStream(m)
            | Route::GetInferenceProfile(m) => Some(m),
            _ => None,
        }
    }
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

/// The route of a request in protocol `proto` (as authentication settled it).
pub(crate) fn route(parts: &Parts, body: &Bytes, proto: Protocol) -> Result<Route, ApiError> {
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
    if let Some(op) = organizations::operation(&parts.headers) {
        return Ok(Route::Organizations(op));
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
        (&Method::POST, ["model", id, "converse-stream"]) => {
            Route::ConverseStream(decode_segment(id)?)
        }
        (&Method::POST, ["model", id, "invoke-with-response-stream"]) => {
            Route::InvokeModelWithResponseStream(decode_segment(id)?)
        }
        _ => return Err(unknown()),
    };
    Ok(r)
}

/// Hands the call to the handler of its route; `stream_fault` breaks a response stream.
pub(crate) fn dispatch(
    ctx: &Ctx,
    route: Route,
    headers: &HeaderMap,
    body: &Bytes,
    stream_fault: Option<StreamFault>,
) -> Result<Response, ApiError> {
    match route {
        Route::Query {
            svc: QueryService::Sts,
            action,
            params,
        } => sts::dispatch(ctx, &action, &params),
        Route::Query {
            svc: QueryService::Iam,
            action,
            params,
        } => iam::dispatch(ctx, &action, &params),
        Route::Availability(m) => bedrock::availability(ctx, &m),
        Route::GetFoundationModel(m) => bedrock::get_foundation_model(ctx, &m),
        Route::ListFoundationModels(q) => bedrock::list_foundation_models(ctx, &q),
        Route::GetInferenceProfile(p) => bedrock::get_inference_profile(ctx, &p),
        Route::Converse(m) => runtime::converse(ctx, &m, body),
        Route::InvokeModel(m) => runtime::invoke_model(ctx, &m, headers, body),
        Route::Organizations(op) => Ok(organizations::dispatch(ctx, &op, body)),
        Route::ConverseStream(m) => stream::converse_stream(ctx, &m, body, stream_fault),
        Route::InvokeModelWithResponseStream(m) => {
            stream::invoke_model_with_response_stream(ctx, &m, headers, body, stream_fault)
        }
    }
}
