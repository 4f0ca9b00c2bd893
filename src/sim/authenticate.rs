//! Authentication of a request, in AWS's order: the `Authorization` header and its credential
//! scope (service, region), the request date and clock skew, the access key (a user's long-term
//! key, or an AssumeRole session with its token and expiry), then the SigV4 signature itself.
//! Every refusal carries the code and message of the request's protocol. A Bedrock request
//! with an API key (`Authorization: Bearer`) goes to `bearer` instead.

use std::time::SystemTime;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::request::Parts;

use super::auth::Principal;
use super::bearer::{self, TokenType};
use super::scenario::Scenario;
use super::sigv4::{self, AuthHeader, Received};
use super::state::SimState;
use super::wire::{ApiError, Protocol, QueryService};

/// Allowed clock skew of a signature: 15 minutes for the query-protocol services (STS, IAM),
/// 5 minutes for Bedrock's REST-JSON front end, as their "Signature expired" texts say.
fn max_skew(proto: Protocol) -> chrono::TimeDelta {
    match proto {
        Protocol::Query(_) => chrono::TimeDelta::minutes(15),
        Protocol::RestJson => chrono::TimeDelta::minutes(5),
    }
}

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

#[derive(Debug, Clone, Copy)]
enum AuthFail {
    Missing,
    Incomplete,
    Signature,
    Skew,
    UnknownKey,
    Expired,
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
        (Protocol::RestJson, AuthFail::Skew) => {
            ApiError::new(StatusCode::FORBIDDEN, "InvalidSignatureException", message).coral()
        }
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

/// Who is calling, in which region, and with which kind of API key (none: SigV4).
#[derive(Debug)]
pub(crate) struct Caller {
    pub principal: Principal,
    pub region: String,
    pub bearer: Option<TokenType>,
}

/// Verifies SigV4 and resolves the caller and the region of the credential scope. Sets
/// `proto` to IAM when the scope says `iam`. A Bedrock request with `Authorization: Bearer`
/// is authenticated by its API key instead ([`bearer`](super::bearer)).
pub(crate) fn authenticate(
    state: &SimState,
    scenario: &Scenario,
    parts: &Parts,
    body: &Bytes,
    proto: &mut Protocol,
) -> Result<Caller, ApiError> {
    if *proto == Protocol::RestJson
        && let Some(key) = bearer::bearer_token(parts)
    {
        let c = bearer::authenticate(state, scenario, parts, key)?;
        return Ok(Caller {
            principal: c.principal,
            region: c.region,
            bearer: Some(c.token_type),
        });
    }
    let (principal, region) = authenticate_sigv4(state, scenario, parts, body, proto)?;
    Ok(Caller {
        principal,
        region,
        bearer: None,
    })
}

fn authenticate_sigv4(
    state: &SimState,
    scenario: &Scenario,
    parts: &Parts,
    body: &Bytes,
    proto: &mut Protocol,
) -> Result<(Principal, String), ApiError> {
    let auth = authorization(parts, *proto)?;
    *proto = scoped_protocol(&auth, *proto)?;
    check_region(scenario, &auth, *proto)?;
    let (amz_date, when) = request_date(parts, &auth, *proto)?;
    let now = Utc::now();
    check_skew(amz_date, when, now, *proto)?;
    let owner = key_owner(state, scenario, parts, auth.access_key, now, *proto)?;
    check_signature(parts, body, &auth, &owner, when, *proto)?;
    Ok((owner.principal, auth.region.to_owned()))
}

/// The parsed `Authorization` header.
fn authorization(parts: &Parts, proto: Protocol) -> Result<AuthHeader<'_>, ApiError> {
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        let msg = match proto {
            Protocol::Query(_) => "Request is missing Authentication Token",
            Protocol::RestJson => "Missing Authentication Token",
        };
        return Err(auth_error(proto, AuthFail::Missing, msg));
    };
    let Ok(value) = value.to_str() else {
        return Err(auth_error(
            proto,
            AuthFail::Incomplete,
            "Authorization header is not valid ASCII.",
        ));
    };
    sigv4::parse_authorization(value).map_err(|m| auth_error(proto, AuthFail::Incomplete, m))
}

/// The protocol the scope's service answers in: STS or IAM on `/`, Bedrock elsewhere.
fn scoped_protocol(auth: &AuthHeader<'_>, proto: Protocol) -> Result<Protocol, ApiError> {
    match proto {
        Protocol::Query(_) => match auth.service {
            "sts" => Ok(Protocol::Query(QueryService::Sts)),
            "iam" => Ok(Protocol::Query(QueryService::Iam)),
            _ => Err(auth_error(
                proto,
                AuthFail::Signature,
                "Credential should be scoped to correct service: 'sts'. ",
            )),
        },
        Protocol::RestJson if auth.service != "bedrock" && auth.service != "organizations" => {
            Err(auth_error(
                proto,
                AuthFail::Signature,
                "Credential should be scoped to correct service: 'bedrock'. ",
            ))
        }
        Protocol::RestJson => Ok(proto),
    }
}

fn region_known(scenario: &Scenario, region: &str) -> bool {
    KNOWN_REGIONS.contains(&region)
        || scenario.models.values().any(|m| m.offered_in(region))
        || scenario
            .profiles
            .values()
            .any(|p| p.regions.iter().any(|r| r == region))
}

fn check_region(
    scenario: &Scenario,
    auth: &AuthHeader<'_>,
    proto: Protocol,
) -> Result<(), ApiError> {
    if region_known(scenario, auth.region) {
        return Ok(());
    }
    Err(auth_error(
        proto,
        AuthFail::Signature,
        format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region.chars().take(64).collect::<String>()
        ),
    ))
}

/// `X-Amz-Date` as sent and parsed, on the day the credential scope names.
fn request_date<'p>(
    parts: &'p Parts,
    auth: &AuthHeader<'_>,
    proto: Protocol,
) -> Result<(&'p str, DateTime<Utc>), ApiError> {
    let Some(amz_date) = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(auth_error(
            proto,
            AuthFail::Incomplete,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let Some(when) = sigv4::parse_amz_date(amz_date) else {
        return Err(auth_error(
            proto,
            AuthFail::Incomplete,
            "Date must be in ISO-8601 'basic format'.",
        ));
    };
    if !amz_date.starts_with(auth.date) {
        return Err(auth_error(
            proto,
            AuthFail::Signature,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.date,
                amz_date.get(..8).unwrap_or(amz_date),
                amz_date
            ),
        ));
    }
    Ok((amz_date, when))
}

/// The request was signed within [`max_skew`] of `now`. AWS's texts: "Signature expired:
/// <X-Amz-Date> is now earlier than <now - window> (<now> - 5 min.)" and "Signature not yet
/// current: <X-Amz-Date> is still later than <now + window> (<now> + 5 min.)", times in the
/// basic ISO 8601 form of `X-Amz-Date` (`20261130T101500Z`), the window in minutes.
fn check_skew(
    amz_date: &str,
    when: DateTime<Utc>,
    now: DateTime<Utc>,
    proto: Protocol,
) -> Result<(), ApiError> {
    let window = max_skew(proto);
    let minutes = window.num_minutes();
    if when < now - window {
        return Err(auth_error(
            proto,
            AuthFail::Skew,
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - {minutes} min.)",
                sigv4::format_amz_date(now - window),
                sigv4::format_amz_date(now)
            ),
        ));
    }
    if when > now + window {
        return Err(auth_error(
            proto,
            AuthFail::Skew,
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + {minutes} min.)",
                sigv4::format_amz_date(now + window),
                sigv4::format_amz_date(now)
            ),
        ));
    }
    Ok(())
}

/// Whom an access key belongs to: the secret to verify the signature with, the session token
/// that had to come with it (sessions only), and the caller.
struct KeyOwner {
    secret: String,
    token: Option<String>,
    principal: Principal,
}

/// Looks the access key up: a user's long-term key first, then an issued session.
fn key_owner(
    state: &SimState,
    scenario: &Scenario,
    parts: &Parts,
    access_key: &str,
    now: DateTime<Utc>,
    proto: Protocol,
) -> Result<KeyOwner, ApiError> {
    let token_header = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if let Some((secret, idx)) = scenario.keys.get(access_key) {
        user_key(scenario, secret, *idx, token_header, proto)
    } else if let Some(session) = state.sessions.get(access_key) {
        session_key(session, token_header, now, proto)
    } else {
        Err(auth_error(proto, AuthFail::UnknownKey, ""))
    }
}

/// A user's long-term key: no session token may come with it.
fn user_key(
    scenario: &Scenario,
    secret: &str,
    user: usize,
    token_header: Option<&str>,
    proto: Protocol,
) -> Result<KeyOwner, ApiError> {
    if token_header.is_some() {
        return Err(auth_error(proto, AuthFail::UnknownKey, ""));
    }
    let Some(user) = scenario.users.get(user) else {
        return Err(auth_error(proto, AuthFail::UnknownKey, ""));
    };
    Ok(KeyOwner {
        secret: secret.to_owned(),
        token: None,
        principal: Principal::User {
            account: user.account.clone(),
            name: user.name.clone(),
        },
    })
}

/// A session's key: its token must come with it (compared in constant time), and it must not
/// have expired.
fn session_key(
    session: super::auth::Session,
    token_header: Option<&str>,
    now: DateTime<Utc>,
    proto: Protocol,
) -> Result<KeyOwner, ApiError> {
    let token_ok = token_header.is_some_and(|t| {
        use subtle::ConstantTimeEq;
        bool::from(t.as_bytes().ct_eq(session.token.as_bytes()))
    });
    if !token_ok {
        return Err(auth_error(proto, AuthFail::UnknownKey, ""));
    }
    if session.expires <= now {
        return Err(auth_error(proto, AuthFail::Expired, ""));
    }
    Ok(KeyOwner {
        secret: session.secret,
        token: Some(session.token),
        principal: session.principal,
    })
}

/// Recomputes the signature with the key's secret and compares.
fn check_signature(
    parts: &Parts,
    body: &Bytes,
    auth: &AuthHeader<'_>,
    owner: &KeyOwner,
    when: DateTime<Utc>,
    proto: Protocol,
) -> Result<(), ApiError> {
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let received = Received {
        method: parts.method.as_str(),
        path_and_query,
        headers: &parts.headers,
        body,
    };
    let time: SystemTime = when.into();
    if sigv4::verify(
        &received,
        auth,
        auth.access_key,
        &owner.secret,
        owner.token.as_deref(),
        time,
    ) {
        Ok(())
    } else {
        Err(auth_error(proto, AuthFail::Signature, SIG_MISMATCH))
    }
}
