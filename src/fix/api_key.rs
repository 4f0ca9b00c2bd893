//! What to do when a source that authenticates with an Amazon Bedrock API key fails: by the
//! key's kind (a long-term key is an IAM user's service-specific credential, rotated by
//! generating another; a short-term key is regenerated from credentials, for one region and at
//! most 12 hours), and for a refusal, the policies on `bedrock:CallWithBearerToken` (with its
//! condition key `bedrock:bearerTokenType`) beside those on the Bedrock action itself.
//!
//! The key is never named, only where it is read (`$VAR` or a path).

use super::FixContext;
use crate::probe::api_key::KeyKind;
use crate::reason::Reason;

/// How a new key of `kind` is made, in words.
fn renew(kind: KeyKind, region: &str) -> String {
    match kind {
        KeyKind::LongTerm => "generate a new long-term key for the key's IAM user (Bedrock console → API keys, or aws iam create-service-specific-credential --user-name <USER> --service-name bedrock.amazonaws.com --credential-age-days <DAYS>), delete the old one once nothing uses it, and set api_key_expires to the new key's expiry".to_string(),
        KeyKind::ShortTerm => format!(
            "generate a new short-term key (aws-bedrock-token-generator, or the Bedrock console) from credentials that stay valid for its lifetime, for region {region} (a short-term key works only in the region it was generated for, at most 12 hours)"
        ),
        KeyKind::Unknown => "replace it with a Bedrock API key: a long-term key (ABSK…, generated for an IAM user) or a short-term key (bedrock-api-key-…, from aws-bedrock-token-generator)".to_string(),
    }
}

/// The token type a policy condition names for `kind`.
fn token_type(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::ShortTerm => "SHORT_TERM",
        _ => "LONG_TERM",
    }
}

/// The one-line fix of a layer of a source with an API key failing for `reason`; `None` when
/// the source has no key or the reason's fix does not depend on it.
pub(super) fn line(reason: Reason, cx: &FixContext<'_>) -> Option<String> {
    let (kind, place) = cx.api_key()?;
    let region = cx.region();
    let account = cx.account_words();
    let tt = token_type(kind);
    Some(match reason {
        Reason::NoCredentials => format!(
            "put the Bedrock API key in {place} (api_key_env or api_key_file of source {:?}), readable by the exporter",
            cx.target().map_or("", |t| t.source.as_str())
        ),
        Reason::InvalidCredentials => format!(
            "AWS does not accept the API key in {place} (deleted, deactivated, expired or not a key): {}",
            renew(kind, region)
        ),
        Reason::ExpiredCredentials => format!(
            "the API key in {place} has expired: {}",
            renew(kind, region)
        ),
        Reason::ScpDenied => format!(
            "a service control policy of {account} denies the call: if it denies bedrock:CallWithBearerToken (e.g. for bedrock:bearerTokenType = {tt}), API keys are blocked there by design — exempt this key's principal in the SCP or probe with SigV4 credentials; otherwise the SCP denies the Bedrock action itself"
        ),
        Reason::ExplicitDeny => format!(
            "an identity policy of the key's principal denies the call: remove the Deny on bedrock:CallWithBearerToken (possibly conditioned on bedrock:bearerTokenType = {tt}) or on the Bedrock action, in {account}"
        ),
        Reason::BedrockNotPermitted => format!(
            "allow the key's principal in {account} both bedrock:CallWithBearerToken (needed by every call with an API key) and the Bedrock action AWS names"
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_key_is_renewed_its_own_way() {
        assert!(
            renew(KeyKind::LongTerm, "us-east-1").contains("create-service-specific-credential")
        );
        assert!(renew(KeyKind::ShortTerm, "eu-west-3").contains("for region eu-west-3"));
        assert_eq!(token_type(KeyKind::ShortTerm), "SHORT_TERM");
        assert_eq!(token_type(KeyKind::LongTerm), "LONG_TERM");
    }
}
