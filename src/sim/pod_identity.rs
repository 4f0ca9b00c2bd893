//! The EKS Pod Identity Agent's credentials endpoint (`GET /v1/credentials`, what
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` points at), with EKS Auth's AssumeRoleForPodIdentity
//! behind it: the pod's service account token comes in the `Authorization` header; the agent
//! checks that it is there, readable and not expired; EKS Auth checks its signature (the
//! cluster's key, found by the token's issuer), audience (`pods.eks.amazonaws.com`) and subject,
//! finds the association of its namespace and service account, and assumes the associated role
//! if that role trusts `pods.eks.amazonaws.com`.
//!
//! Answers are the agent's: `200` with the JSON the SDK's container provider reads
//! (`AccessKeyId`, `SecretAccessKey`, `Token`, `AccountId`, `Expiration`), or Go's
//! `http.Error` (plain text, one line): 400 for a token the agent refuses, and EKS Auth's status
//! (400, 404 for no association) with `[request id]: (Code): message, fault: client`.

use axum::body::Body;
use axum::response::Response;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::auth::Principal;
use super::oidc::{self, Claims, Malformed};
use super::policy::{Context, Outsider};
use super::scenario::{Cluster, Scenario};
use super::state::SimState;
use super::sts::iso8601_seconds;
use super::tokens::POD_IDENTITY_AUDIENCE;

/// How long the credentials EKS Auth hands out last.
const SESSION: chrono::TimeDelta = chrono::TimeDelta::hours(6);

/// The agent's path.
pub(crate) const PATH: &str = "/v1/credentials";

/// An answer as Go's `http.Error` writes it.
fn go_error(status: StatusCode, message: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{message}\n")));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// An EKS Auth error as the agent passes it on.
fn eks_auth_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    go_error(
        status,
        &format!("[{request_id}]: ({code}): {message}, fault: client"),
    )
}

fn invalid_token(request_id: &str) -> Response {
    eks_auth_error(
        StatusCode::BAD_REQUEST,
        "InvalidTokenException",
        "The specified Kubernetes service account token is invalid.",
        request_id,
    )
}

/// The agent's own checks: a token, readable, within its time claims; a refusal is the text of
/// the agent's 400 (golang-jwt's words).
fn agent_checks(headers: &HeaderMap) -> Result<(&str, Claims), String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token.is_empty() {
        return Err("Service account token cannot be empty".to_string());
    }
    let claims = oidc::peek(token).map_err(|m| {
        let why = match m {
            Malformed::Segments => "token contains an invalid number of segments",
            Malformed::Base64 => "could not base64 decode claim",
            Malformed::Json => "could not JSON decode claim",
        };
        format!("Service account token cannot be parsed: token is malformed: {why}")
    })?;
    let now = Utc::now().timestamp();
    let invalid = if claims.exp <= now {
        Some("token is expired")
    } else if claims.nbf.is_some_and(|nbf| nbf > now) {
        Some("token is not valid yet")
    } else {
        None
    };
    if let Some(why) = invalid {
        return Err(format!(
            "Service account token failed basic claim validations: token has invalid claims: {why}"
        ));
    }
    Ok((token, claims))
}

/// The namespace and service account of a `system:serviceaccount:<ns>:<sa>` subject.
fn service_account(sub: &str) -> Option<(&str, &str)> {
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

/// The session name EKS gives: `eks-<cluster>-<pod>-<random>`, at most 64 characters.
fn session_name(cluster: &Cluster, claims: &Claims) -> String {
    let pod = claims
        .kubernetes
        .as_ref()
        .and_then(|k| k.pointer("/pod/name"))
        .and_then(|v| v.as_str())
        .unwrap_or("pod");
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut name: String = format!("eks-{}-{pod}", cluster.name)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(54)
        .collect();
    name.push('-');
    name.push_str(suffix);
    name
}

/// `GET /v1/credentials`: the agent's answer for the token in `Authorization`.
pub(crate) fn credentials(
    state: &SimState,
    scenario: &Scenario,
    headers: &HeaderMap,
    request_id: &str,
) -> Response {
    let (token, claims) = match agent_checks(headers) {
        Ok(v) => v,
        Err(why) => return go_error(StatusCode::BAD_REQUEST, &why),
    };
    let fed = &scenario.federation;
    let Some(cluster) = fed.cluster_by_issuer(&claims.iss) else {
        return invalid_token(request_id);
    };
    let Some(verified) = cluster.key.verify(token) else {
        return invalid_token(request_id);
    };
    if !verified.aud.iter().any(|a| a == POD_IDENTITY_AUDIENCE) {
        return invalid_token(request_id);
    }
    let Some((namespace, sa)) = service_account(&verified.sub) else {
        return invalid_token(request_id);
    };
    let Some(association) = fed.association(&cluster.name, namespace, sa) else {
        return eks_auth_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "No Pod Identity Association found for service account {sa} in namespace {namespace} of cluster {}",
                cluster.name
            ),
            request_id,
        );
    };
    let eks = Outsider::Service("pods.eks.amazonaws.com");
    let cond = Context::default();
    let role = scenario.role_by_arn(&association.role_arn).filter(|r| {
        ["sts:AssumeRole", "sts:TagSession"]
            .iter()
            .all(|a| r.trust.evaluate_trust_outsider(eks, a, &cond) == (false, true))
    });
    let Some(role) = role else {
        return eks_auth_error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &format!(
                "Unable to assume role {} of association {}: not authorized to perform sts:AssumeRole and sts:TagSession",
                association.role_arn, association.id
            ),
            request_id,
        );
    };

    let expires = Utc::now() + SESSION;
    let principal = Principal::Session {
        account: role.account.clone(),
        role: role.name.clone(),
        session: session_name(cluster, &verified),
    };
    let (key, session) = state.sessions.issue(principal, expires);
    tracing::debug!(association = %association.id, role = %role.name, "issued Pod Identity credentials");
    let body = serde_json::json!({
        "AccessKeyId": key,
        "SecretAccessKey": session.secret,
        "Token": session.token,
        "AccountId": role.account,
        "Expiration": iso8601_seconds(expires),
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_service_account_subject_names_a_namespace_and_service_account() {
        assert_eq!(
            service_account("system:serviceaccount:monitoring:exporter"),
            Some(("monitoring", "exporter"))
        );
        for bad in [
            "system:serviceaccount:monitoring",
            "system:serviceaccount::exporter",
            "system:node:ip-10-0-0-1",
            "system:serviceaccount:a:b:c",
        ] {
            assert_eq!(service_account(bad), None, "{bad}");
        }
    }
}
