//! Amazon Bedrock API keys in AWS's two forms, written the way AWS and its token generators
//! write them: what the tests, the demo and rehearsals hand to a client, and what [`bearer`]
//! checks (it recomputes a short-term key's signature with [`presign`]).
//!
//! * Long-term: `ABSK` + base64(`<alias>:<secret>`), the alias being `<IAM user>-at-<account>`
//!   (IAM's `ServiceCredentialAlias`; the scenario's `bedrock_api_keys` hold the secrets).
//! * Short-term: `bedrock-api-key-` + base64 of a SigV4 presigned URL (query-string auth) of
//!   `POST https://bedrock.amazonaws.com/?Action=CallWithBearerToken`, service `bedrock`, signed
//!   with some principal's credentials, host the only signed header, at most 12 hours, with
//!   `&Version=1` appended and the scheme dropped (AWS's `aws-bedrock-token-generator`).
//!
//! [`bearer`]: super::bearer

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;

/// The prefix of a long-term key.
pub const LONG_TERM_PREFIX: &str = "ABSK";
/// The prefix of a short-term key.
pub const SHORT_TERM_PREFIX: &str = "bedrock-api-key-";
/// What follows the presigned URL inside a short-term key.
pub const TOKEN_VERSION: &str = "&Version=1";
/// The host and path the short-term key's URL is signed for.
pub const PRESIGN_HOST: &str = "bedrock.amazonaws.com";
/// The action the short-term key's URL names (and its IAM action, `bedrock:CallWithBearerToken`).
pub const PRESIGN_ACTION: &str = "CallWithBearerToken";
/// The longest a short-term key may live.
pub const SHORT_TERM_MAX: Duration = Duration::from_secs(12 * 3600);

/// The long-term key of `user` in `account` with `secret`.
pub fn long_term_key(user: &str, account: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "{LONG_TERM_PREFIX}{}",
        b64.encode(format!("{user}-at-{account}:{secret}"))
    )
}

/// The credentials a short-term key is signed with.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    /// The session token, for temporary credentials.
    pub session_token: Option<&'a str>,
}

/// The query parameters of the presigned `CallWithBearerToken` URL (the operation's `Action`
/// first, then the signature's, `X-Amz-Signature` last), or why it cannot be signed.
pub fn presign(
    signer: &Signer<'_>,
    region: &str,
    signed_at: SystemTime,
    expires_in: Duration,
) -> Result<Vec<(String, String)>, String> {
    let url = format!("https://{PRESIGN_HOST}/?Action={PRESIGN_ACTION}");
    let headers = [("host", PRESIGN_HOST)];
    let request = SignableRequest::new("POST", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| e.to_string())?;
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let identity: Identity = Credentials::new(
        signer.access_key,
        signer.secret,
        signer.session_token.map(str::to_owned),
        None,
        "simulator",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (_, added) = instructions.into_parts();
    let mut out = vec![("Action".to_owned(), PRESIGN_ACTION.to_owned())];
    out.extend(
        added
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned())),
    );
    Ok(out)
}

/// A short-term key signed by `signer` for `region` at `signed_at`, valid for `expires_in`
/// (at most 12 hours; a `signed_at` in the past makes a key that has already expired).
pub fn short_term_key(
    signer: &Signer<'_>,
    region: &str,
    signed_at: SystemTime,
    expires_in: Duration,
) -> Result<String, String> {
    let params = presign(signer, region, signed_at, expires_in)?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let url = format!("{PRESIGN_HOST}/?{query}{TOKEN_VERSION}");
    Ok(format!(
        "{SHORT_TERM_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// botocore's `SigV4QueryAuth` (what `aws-bedrock-token-generator` calls), run by hand with
    /// these credentials at 2026-01-01T00:00:00Z for us-west-2 and 43200 s, wrote this
    /// signature; `presign` must write the same.
    #[test]
    fn a_key_presigned_here_carries_the_signature_botocore_computes() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let signer = Signer {
            access_key: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let sig = |s: &Signer<'_>| {
            presign(s, "us-west-2", at, SHORT_TERM_MAX)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == "X-Amz-Signature")
                .map(|(_, v)| v)
        };
        assert_eq!(
            sig(&signer).as_deref(),
            Some("2a4ffd35509ea9b962ce114cee9aa6e9b413a4da64feefcb0b13210d52b96319")
        );
        let session = Signer {
            session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN"),
            ..signer.clone()
        };
        assert_eq!(
            sig(&session).as_deref(),
            Some("786561291baaf2154251c974fba2d0c9ec9853a360d5efa418a603c372418cfb")
        );
    }

    #[test]
    fn the_keys_have_aws_s_forms() {
        let k = long_term_key("BedrockAPIKey-bn4g", "992382708377", "c2VjcmV0");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(k.trim_start_matches(LONG_TERM_PREFIX))
            .map(String::from_utf8);
        assert!(
            matches!(decoded, Ok(Ok(ref s)) if s == "BedrockAPIKey-bn4g-at-992382708377:c2VjcmV0")
        );
        let signer = Signer {
            access_key: "AKIDEXAMPLE",
            secret: "s",
            session_token: None,
        };
        let short = short_term_key(&signer, "us-east-1", SystemTime::now(), SHORT_TERM_MAX)
            .unwrap_or_default();
        let url = base64::engine::general_purpose::STANDARD
            .decode(short.trim_start_matches(SHORT_TERM_PREFIX))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        assert!(
            url.starts_with("bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-"),
            "{url}"
        );
        assert!(
            url.ends_with("&Version=1") && url.contains("X-Amz-Expires=43200"),
            "{url}"
        );
    }
}
