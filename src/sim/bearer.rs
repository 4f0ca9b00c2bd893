//! Bearer authentication of a Bedrock (REST-JSON) request: `Authorization: Bearer <key>` with
//! an Amazon Bedrock API key instead of a SigV4 signature.
//!
//! * A long-term key (`ABSK…`) names its IAM user by its alias (`<user>-at-<account>`); its
//!   secret must be one of that user's `bedrock_api_keys`, active and not expired. The caller
//!   is the user.
//! * A short-term key (`bedrock-api-key-…`) is a presigned `CallWithBearerToken` URL: verified
//!   like any SigV4 presigned request (the signing key's secret recomputes the signature with
//!   `aws-sigv4`; `X-Amz-Date` + `X-Amz-Expires`, at most 12 hours, must not have passed; a
//!   session's token must match and the session must not have expired). The caller is whoever
//!   signed it: a user or an assumed-role session.
//!
//! Which region the request is for: the host when it names one
//! (`bedrock-runtime.<region>.amazonaws.com`, as AWS reads it), else a short-term key's signing
//! region (the one region it is valid in), else the scenario's `api_key_region`: a single
//! loopback endpoint (`AWS_ENDPOINT_URL`) carries no region, and an unsigned request has no
//! credential scope.
//!
//! Refusals carry AWS's texts (`tests/fixtures/aws/`): a key AWS does not accept (unknown,
//! deleted, inactive, expired, of another region, badly signed) → "Authentication failed:
//! Please make sure your API Key is valid."; neither prefix → "Invalid API Key format: Must
//! start with pre-defined prefix"; no key → "Authorization header is missing". The action
//! `bedrock:CallWithBearerToken` and its `bedrock:bearerTokenType` condition are evaluated with
//! the request's own action (`bedrock_rules::permission`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::request::Parts;
use subtle::ConstantTimeEq;

use super::api_keys::{
    LONG_TERM_PREFIX, PRESIGN_ACTION, PRESIGN_HOST, SHORT_TERM_MAX, SHORT_TERM_PREFIX, Signer,
    TOKEN_VERSION, presign,
};
use super::auth::Principal;
use super::scenario::Scenario;
use super::sigv4::parse_amz_date;
use super::state::SimState;
use super::wire::ApiError;

/// Which kind of key authenticated a request: the value of `bedrock:bearerTokenType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    ShortTerm,
    LongTerm,
}

impl TokenType {
    /// The condition key's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenType::ShortTerm => "SHORT_TERM",
            TokenType::LongTerm => "LONG_TERM",
        }
    }
}

/// A request authenticated with an API key.
#[derive(Debug)]
pub(crate) struct BearerCaller {
    pub principal: Principal,
    pub region: String,
    pub token_type: TokenType,
}

/// The condition key of the token's kind.
pub(crate) const TOKEN_TYPE_KEY: &str = "bedrock:bearerTokenType";
/// The IAM action every bearer request needs besides its own.
pub(crate) const CALL_WITH_BEARER_TOKEN: &str = "bedrock:CallWithBearerToken";

const AUTH_FAILED: &str = "Authentication failed: Please make sure your API Key is valid.";
const BAD_FORMAT: &str = "Invalid API Key format: Must start with pre-defined prefix";
const MISSING: &str = "Authorization header is missing";
/// How far in the future a short-term key may have been signed (clock skew).
const MAX_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message).capital()
}

/// The key of an `Authorization: Bearer <key>` header, if the request sends one (`Some("")`
/// for a bearer scheme without a key).
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = &value[6..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

/// Authenticates the key of a bearer request (see the module's documentation).
pub(crate) fn authenticate(
    state: &SimState,
    scenario: &Scenario,
    parts: &Parts,
    key: &str,
) -> Result<BearerCaller, ApiError> {
    let host = host_region(parts);
    let now = Utc::now();
    if key.is_empty() {
        return Err(refused(MISSING));
    }
    if let Some(rest) = key.strip_prefix(LONG_TERM_PREFIX) {
        let principal = long_term(scenario, rest, now).ok_or_else(|| refused(AUTH_FAILED))?;
        return Ok(BearerCaller {
            principal,
            region: host.unwrap_or_else(|| scenario.api_key_region.clone()),
            token_type: TokenType::LongTerm,
        });
    }
    if let Some(rest) = key.strip_prefix(SHORT_TERM_PREFIX) {
        let (principal, region) =
            short_term(state, scenario, rest, now).ok_or_else(|| refused(AUTH_FAILED))?;
        if host.as_ref().is_some_and(|h| *h != region) {
            return Err(refused(AUTH_FAILED));
        }
        return Ok(BearerCaller {
            principal,
            region,
            token_type: TokenType::ShortTerm,
        });
    }
    Err(refused(BAD_FORMAT))
}

fn b64_text(s: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The user whose active, unexpired long-term key this is.
fn long_term(scenario: &Scenario, encoded: &str, now: DateTime<Utc>) -> Option<Principal> {
    let decoded = b64_text(encoded)?;
    let (alias, secret) = decoded.split_once(':')?;
    let user = scenario.api_key_user(alias)?;
    let key = user.api_keys.iter().find(|k| same(&k.secret, secret))?;
    if !key.active || key.expires.is_some_and(|e| e <= now) {
        return None;
    }
    Some(Principal::User {
        account: user.account.clone(),
        name: user.name.clone(),
    })
}

/// The parameters of a short-term key's presigned URL.
struct Presigned {
    access_key: String,
    region: String,
    signed_at: DateTime<Utc>,
    expires_in: std::time::Duration,
    session_token: Option<String>,
    signature: String,
}

fn presigned(encoded: &str) -> Option<Presigned> {
    let url = b64_text(encoded)?;
    let url = url.strip_suffix(TOKEN_VERSION)?;
    let (location, query) = url.split_once('?')?;
    if location != format!("{PRESIGN_HOST}/") {
        return None;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("Action") != Some(PRESIGN_ACTION)
        || get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256")
        || get("X-Amz-SignedHeaders") != Some("host")
    {
        return None;
    }
    let date = get("X-Amz-Date")?;
    let scope: Vec<&str> = get("X-Amz-Credential")?.split('/').collect();
    let [access_key, day, region, "bedrock", "aws4_request"] = scope.as_slice() else {
        return None;
    };
    if !date.starts_with(day) {
        return None;
    }
    let seconds: u64 = get("X-Amz-Expires")?.parse().ok()?;
    let expires_in = std::time::Duration::from_secs(seconds);
    if seconds == 0 || expires_in > SHORT_TERM_MAX {
        return None;
    }
    Some(Presigned {
        access_key: (*access_key).to_owned(),
        region: (*region).to_owned(),
        signed_at: parse_amz_date(date)?,
        expires_in,
        session_token: get("X-Amz-Security-Token").map(str::to_owned),
        signature: get("X-Amz-Signature")?.to_owned(),
    })
}

/// The signer of a valid, unexpired short-term key, and the region it was signed for.
fn short_term(
    state: &SimState,
    scenario: &Scenario,
    encoded: &str,
    now: DateTime<Utc>,
) -> Option<(Principal, String)> {
    let p = presigned(encoded)?;
    let lives = chrono::TimeDelta::from_std(p.expires_in).ok()?;
    if p.signed_at + lives <= now || p.signed_at > now + MAX_SKEW {
        return None;
    }
    let (secret, principal) = if let Some((secret, idx)) = scenario.keys.get(&p.access_key) {
        if p.session_token.is_some() {
            return None;
        }
        let user = scenario.users.get(*idx)?;
        let principal = Principal::User {
            account: user.account.clone(),
            name: user.name.clone(),
        };
        (secret.clone(), principal)
    } else {
        let session = state.sessions.get(&p.access_key)?;
        let token_ok = p
            .session_token
            .as_deref()
            .is_some_and(|t| same(t, &session.token));
        if !token_ok || session.expires <= now {
            return None;
        }
        (session.secret, session.principal)
    };
    let signer = Signer {
        access_key: &p.access_key,
        secret: &secret,
        session_token: p.session_token.as_deref(),
    };
    let recomputed = presign(&signer, &p.region, p.signed_at.into(), p.expires_in).ok()?;
    let signature = recomputed
        .iter()
        .find(|(k, _)| k == "X-Amz-Signature")
        .map(|(_, v)| v.as_str())?;
    same(signature, &p.signature).then_some((principal, p.region))
}

/// The region a Bedrock host names (`bedrock-runtime.us-west-2.amazonaws.com`,
/// `bedrock.eu-west-1.amazonaws.com`), if the request's host is one.
fn host_region(parts: &Parts) -> Option<String> {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host())?;
    let host = host.split(':').next()?;
    let mut labels = host.split('.');
    let service = labels.next()?;
    let region = labels.next()?;
    let looks_like_region = region.split('-').count() >= 3
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (service.starts_with("bedrock") && looks_like_region && labels.next().is_some())
        .then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>, host: &str) -> Parts {
        let mut b = http::Request::builder()
            .uri("/model/m/converse")
            .header("host", host);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let (parts, ()) = b.body(()).unwrap_or_default().into_parts();
        parts
    }

    #[test]
    fn only_the_bearer_scheme_is_a_bearer_request() {
        let key = |a: &str| bearer_token(&parts(Some(a), "h")).map(str::to_owned);
        assert_eq!(key("Bearer ABSKx").as_deref(), Some("ABSKx"));
        assert_eq!(key("bearer  ABSKx ").as_deref(), Some("ABSKx"));
        assert_eq!(key("Bearer").as_deref(), Some(""));
        assert_eq!(key("BearerABSK"), None);
        assert_eq!(key("AWS4-HMAC-SHA256 Credential=x"), None);
        assert_eq!(bearer_token(&parts(None, "h")), None);
    }

    #[test]
    fn a_bedrock_host_names_the_region_and_a_loopback_address_does_not() {
        let r = |h: &str| host_region(&parts(None, h));
        assert_eq!(
            r("bedrock-runtime.us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            r("bedrock.eu-central-1.amazonaws.com:443").as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(r("127.0.0.1:4566"), None);
        assert_eq!(r("localhost"), None);
    }
}
