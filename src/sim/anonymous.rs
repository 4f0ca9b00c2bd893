//! The calls that carry no SigV4 signature, recognised and answered before authentication:
//! STS AssumeRoleWithWebIdentity (`POST /` with `Action=AssumeRoleWithWebIdentity`; the web
//! identity token is the proof, so the SDK does not sign it) and the EKS Pod Identity Agent's
//! credentials endpoint (`GET /v1/credentials`, the service account token in `Authorization`).
//!
//! Faults apply to AssumeRoleWithWebIdentity as to any STS call, matched with the role's
//! account and no region (an unsigned call names none); the agent's endpoint has none.

use axum::response::Response;
use bytes::Bytes;
use http::Method;
use http::request::Parts;

use super::faults::{self, CallInfo};
use super::inject::{self, ConnKill, Faulted};
use super::pod_identity;
use super::scenario::Scenario;
use super::state::SimState;
use super::web_identity;
use super::wire::{Protocol, QueryService};

const WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";

/// An unsigned call.
#[derive(Debug)]
pub(crate) enum Anonymous {
    /// STS AssumeRoleWithWebIdentity with its form parameters.
    WebIdentity(Vec<(String, String)>),
    /// The Pod Identity Agent's `GET /v1/credentials`.
    PodIdentity,
}

impl Anonymous {
    /// The (service, operation, account named by the call) it is counted as; the account is
    /// the role's for AssumeRoleWithWebIdentity, none for the agent's endpoint.
    pub(crate) fn counted_as(&self) -> (&'static str, &'static str, &str) {
        match self {
            Anonymous::WebIdentity(params) => ("sts", WEB_IDENTITY, role_account(params)),
            Anonymous::PodIdentity => ("eks-auth", "AssumeRoleForPodIdentity", ""),
        }
    }
}

/// The account of the `RoleArn` parameter, as the caller wrote it ("" without one).
fn role_account(params: &[(String, String)]) -> &str {
    params
        .iter()
        .find(|(k, _)| k == "RoleArn")
        .and_then(|(_, arn)| arn.strip_prefix("arn:aws:iam::"))
        .and_then(|r| r.split(':').next())
        .unwrap_or("")
}

/// Which unsigned call `parts` and `body` make, if any.
pub(crate) fn route(parts: &Parts, body: &Bytes) -> Option<Anonymous> {
    let path = parts.uri.path();
    if parts.method == Method::GET && path == pod_identity::PATH {
        return Some(Anonymous::PodIdentity);
    }
    let query = parts.uri.query().unwrap_or("");
    // Signed STS and IAM calls are most of what comes to `/`: only a request that mentions the
    // action is parsed here.
    let mentions = |b: &[u8]| {
        b.windows(WEB_IDENTITY.len())
            .any(|w| w == WEB_IDENTITY.as_bytes())
    };
    if path != "/" || !(mentions(body) || mentions(query.as_bytes())) {
        return None;
    }
    let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if parts.method == Method::POST {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    let action = params.iter().find(|(k, _)| k == "Action").map(|(_, v)| v);
    (action.map(String::as_str) == Some(WEB_IDENTITY)).then_some(Anonymous::WebIdentity(params))
}

/// Answers an unsigned call (after the faults that match it).
pub(crate) async fn answer(
    state: &SimState,
    scenario: &Scenario,
    call: Anonymous,
    parts: &Parts,
    request_id: &str,
    kill: Option<ConnKill>,
) -> Response {
    let params = match call {
        Anonymous::PodIdentity => {
            return pod_identity::credentials(state, scenario, &parts.headers, request_id);
        }
        Anonymous::WebIdentity(params) => params,
    };
    let proto = Protocol::Query(QueryService::Sts);
    let account = role_account(&params);
    let firing = faults::evaluate(
        &scenario.faults,
        &CallInfo {
            service: "sts",
            operation: WEB_IDENTITY,
            account,
            region: "",
            model: None,
        },
    );
    let faulted = Faulted {
        proto,
        service: "sts",
        operation: WEB_IDENTITY,
        request_id,
    };
    if let Some(answer) = inject::apply(firing, faulted, kill).await {
        return answer;
    }
    match web_identity::assume_role_with_web_identity(state, scenario, &params, request_id) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = %e.code, "AssumeRoleWithWebIdentity refused");
            e.render(proto, request_id)
        }
    }
}
