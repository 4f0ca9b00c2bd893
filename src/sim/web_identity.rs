//! STS AssumeRoleWithWebIdentity (query protocol, not signed: the token is the proof), as IRSA
//! calls it: the token is read, its issuer looked up among the IAM OIDC providers of the role's
//! account, its signature checked with that issuer's key, then its expiry and audience, and the
//! role's trust policy decides with the `Federated` principal and the `<issuer>:sub` and
//! `<issuer>:aud` condition keys. Every refusal carries STS's code, status and text.

use axum::response::Response;
use chrono::Utc;
use http::StatusCode;

use super::auth::{Principal, role_id};
use super::oidc::{self, Claims};
use super::policy::{Context, Outsider};
use super::scenario::{OidcProvider, Scenario};
use super::state::SimState;
use super::sts::{iso8601_seconds, param, role_session_params, validation};
use super::wire::{ApiError, QueryService, query_ok, xml_escape};

/// The action the trust policy must allow.
const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

fn invalid_token(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "InvalidIdentityToken", message)
}

fn not_authorized() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        format!("Not authorized to perform {ACTION}"),
    )
}

/// The `WebIdentityToken` parameter, within AWS's length constraints (its value is sensitive:
/// AWS's message leaves it out).
fn token_param(params: &[(String, String)]) -> Result<&str, ApiError> {
    let Some(token) = param(params, "WebIdentityToken") else {
        return Err(validation(
            "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null",
        ));
    };
    if token.len() < 4 {
        return Err(validation(
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4",
        ));
    }
    if token.len() > 20_000 {
        return Err(validation(
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000",
        ));
    }
    Ok(token)
}

/// The account of a role ARN (`""` when it is not one: no provider will match).
fn role_account(role_arn: &str) -> &str {
    role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split(':').next())
        .unwrap_or("")
}

/// The verified claims of `token` for a role of `account`, and the IAM OIDC provider that
/// vouches for them: AWS's checks in order, each with its own answer.
fn verify<'s>(
    scenario: &'s Scenario,
    account: &str,
    token: &str,
) -> Result<(Claims, &'s OidcProvider, String), ApiError> {
    let peeked = oidc::peek(token).map_err(|_| {
        invalid_token(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
        )
    })?;
    let fed = &scenario.federation;
    let Some(provider) = fed.provider(account, &peeked.iss) else {
        return Err(invalid_token(format!(
            "No OpenIDConnect provider found in your account for {}",
            peeked.iss.chars().take(256).collect::<String>()
        )));
    };
    // AWS fetches the issuer's keys (JWKS); here the issuer is a scenario cluster. A token its
    // keys do not verify gets the answer of an issuer whose keys do not fit.
    let claims = fed
        .cluster_by_issuer(&peeked.iss)
        .and_then(|c| c.key.verify(token))
        .ok_or_else(|| {
            invalid_token(
                "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
            )
        })?;
    let now = Utc::now().timestamp();
    if claims.exp <= now {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            format!(
                "Token expired: current date/time {now} must be before the expiration date/time {}",
                claims.exp
            ),
        ));
    }
    let Some(audience) = claims
        .aud
        .iter()
        .find(|a| provider.client_ids.contains(a))
        .cloned()
    else {
        return Err(invalid_token("Incorrect token audience"));
    };
    Ok((claims, provider, audience))
}

/// AssumeRoleWithWebIdentity: validation, the token, the role's trust, then the session.
pub(crate) fn assume_role_with_web_identity(
    state: &SimState,
    scenario: &Scenario,
    params: &[(String, String)],
    request_id: &str,
) -> Result<Response, ApiError> {
    let (role_arn, session_name, duration) = role_session_params(params)?;
    let token = token_param(params)?;
    let (claims, provider, audience) = verify(scenario, role_account(role_arn), token)?;

    let provider_arn = provider.arn();
    let (sub_key, aud_key) = (
        format!("{}:sub", provider.host_path()),
        format!("{}:aud", provider.host_path()),
    );
    let cond = Context::default()
        .with(&sub_key, Some(claims.sub.as_str()))
        .with(&aud_key, Some(audience.as_str()));
    let role = scenario.role_by_arn(role_arn).ok_or_else(not_authorized)?;
    match role
        .trust
        .evaluate_trust_outsider(Outsider::Federated(&provider_arn), ACTION, &cond)
    {
        (false, true) => {}
        _ => return Err(not_authorized()),
    }
    if u64::try_from(duration).unwrap_or(u64::MAX) > role.max_session_duration {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }

    let expires = Utc::now() + chrono::Duration::seconds(duration);
    let principal = Principal::Session {
        account: role.account.clone(),
        role: role.name.clone(),
        session: session_name.to_owned(),
    };
    let arn = principal.arn();
    let (key, session) = state.sessions.issue(principal, expires);
    tracing::debug!(account = %role.account, role = %role.name, session = %session_name, "issued web identity credentials");
    let inner = format!(
        "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{}</Audience>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}:{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <SessionToken>{}</SessionToken>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <Expiration>{}</Expiration>\n      <AccessKeyId>{}</AccessKeyId>\n    </Credentials>\n    <Provider>{}</Provider>\n",
        xml_escape(&claims.sub),
        xml_escape(&audience),
        xml_escape(&arn),
        role_id(&role.account, &role.name),
        xml_escape(session_name),
        xml_escape(&session.token),
        xml_escape(&session.secret),
        iso8601_seconds(expires),
        key,
        xml_escape(&provider_arn),
    );
    Ok(query_ok(
        QueryService::Sts,
        "AssumeRoleWithWebIdentity",
        &inner,
        request_id,
    ))
}
