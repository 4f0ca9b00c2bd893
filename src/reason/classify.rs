//! AWS's answers → [`Reason`] (`docs/reasons.md`): an error's code, HTTP status and message
//! ([`classify`]), the statuses of GetFoundationModelAvailability ([`classify_availability`]),
//! what the SDK's credential chain says when no AWS answer is inside its error
//! ([`classify_credential_chain`]), and the bounded `error_code` label ([`error_code_label`]).

use super::wording::{self, normalize};
use super::{Layer, Reason};

/// Error codes of rejected credentials: keys and signatures, and the web identity tokens
/// AssumeRoleWithWebIdentity refuses (`InvalidIdentityToken`: no OIDC provider for the issuer,
/// a key that does not verify it, a wrong audience, not a JWT; `IDPRejectedClaim`).
const INVALID_CREDENTIAL_CODES: &[&str] = &[
    "InvalidIdentityToken",
    "IDPRejectedClaim",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
];
const EXPIRED_CREDENTIAL_CODES: &[&str] =
    &["ExpiredToken", "ExpiredTokenException", "RequestExpired"];
/// Codes that say the request's time is off whatever the message (S3's `RequestTimeTooSkewed`;
/// EC2's `RequestInTheFuture`).
const CLOCK_SKEW_CODES: &[&str] = &["RequestTimeTooSkewed", "RequestInTheFuture"];
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ServiceQuotaExceededException",
];
/// AWS's side, including the model's own failures (`ModelErrorException`, HTTP 424, and
/// `ModelStreamErrorException`).
const UNAVAILABLE_CODES: &[&str] = &[
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelErrorException",
    "ModelStreamErrorException",
    // AssumeRoleWithWebIdentity could not reach the identity provider.
    "IDPCommunicationError",
];

/// Classifies an AWS answer into exactly one [`Reason`] (`docs/reasons.md`).
///
/// `layer` is the layer whose call received the answer, `code` the AWS error code (as the SDK
/// parsed it, namespace stripped), `status` the HTTP status and `message` the AWS message.
///
/// Order: the host's clock (a signature refused for its time says nothing about the keys),
/// credential codes, then what the message says by meaning (policy denies before grants,
/// because a deny is the most specific fact AWS tells), then the code alone, then the HTTP
/// status.
///
/// Fallbacks when the message is new (never a reason the code contradicts):
/// - `AccessDenied` on `assume_role` → `assume_role_denied` (AWS's own ambiguous answer);
/// - `AccessDeniedException` on `model_access`/`invoke` → `bedrock_not_permitted` (an IAM
///   permission is the documented cause of that code on Bedrock);
/// - `ResourceNotFoundException` on `model_access`/`invoke` → `model_not_in_region`;
/// - any other `ValidationException`/`ValidationError` → `validation_error`;
/// - unknown code: 429 → `throttled`, 424 (a model's failure on Bedrock) and 5xx →
///   `service_unavailable`, otherwise `unknown`.
pub fn classify(layer: Layer, code: Option<&str>, status: Option<u16>, message: &str) -> Reason {
    let code = code.map(str::trim).unwrap_or("");
    let m = normalize(message);
    by_credentials(code, &m)
        .or_else(|| by_explicit_deny(layer, &m))
        .or_else(|| by_bedrock_wording(layer, &m))
        .or_else(|| by_assume_role(layer, code, &m))
        .or_else(|| by_code(layer, code))
        .unwrap_or_else(|| by_status(status))
}

/// (whether the check applies on this layer, what the message must say, the reason it means)
type Check = (bool, fn(&str) -> bool, Reason);

/// The layers whose calls go to Bedrock; `invoke_stream` shares every reason of `invoke`.
fn is_bedrock(layer: Layer) -> bool {
    matches!(
        layer,
        Layer::ModelAccess | Layer::Invoke | Layer::InvokeStream
    )
}

/// Step 1: the host's clock, then credentials the service did not accept.
fn by_credentials(code: &str, m: &str) -> Option<Reason> {
    if CLOCK_SKEW_CODES.contains(&code) || wording::says_clock_skew(m) {
        return Some(Reason::ClockSkew);
    }
    if INVALID_CREDENTIAL_CODES.contains(&code) {
        return Some(Reason::InvalidCredentials);
    }
    if EXPIRED_CREDENTIAL_CODES.contains(&code) {
        return Some(Reason::ExpiredCredentials);
    }
    (code == "RegionDisabledException").then_some(Reason::RegionDisabled)
}

/// Step 2: explicit denies, most specific first.
fn by_explicit_deny(layer: Layer, m: &str) -> Option<Reason> {
    if !m.contains("explicit deny") {
        return None;
    }
    if m.contains("service control policy") || m.contains("resource control policy") {
        return Some(Reason::ScpDenied);
    }
    if m.contains("role trust policy") && layer == Layer::AssumeRole {
        return Some(Reason::TrustPolicyDenied);
    }
    Some(Reason::ExplicitDeny)
}

/// Step 3: Bedrock's model-access conditions, by what the message says. A subscription still being
/// processed comes before the Marketplace (its text names AWS Marketplace too); the account
/// refused as a whole before the per-model grant.
fn by_bedrock_wording(layer: Layer, m: &str) -> Option<Reason> {
    let bedrock = is_bedrock(layer);
    let checks: [Check; 10] = [
        (
            bedrock,
            wording::says_access_pending,
            Reason::ModelAccessPending,
        ),
        (
            true,
            wording::says_marketplace,
            Reason::MarketplaceSubscriptionRequired,
        ),
        (
            true,
            wording::says_use_case_form,
            Reason::UseCaseFormRequired,
        ),
        (true, wording::says_legacy, Reason::ModelLegacyNoAccess),
        (true, wording::says_end_of_life, Reason::ModelEndOfLife),
        (
            true,
            wording::says_inference_profile_required,
            Reason::InferenceProfileRequired,
        ),
        (
            true,
            wording::says_model_not_in_region,
            Reason::ModelNotInRegion,
        ),
        (
            bedrock,
            wording::says_account_refused,
            Reason::AccountNotAuthorized,
        ),
        (
            true,
            wording::says_model_access_not_granted,
            Reason::ModelAccessNotGranted,
        ),
        (
            true,
            wording::says_daily_tokens,
            Reason::DailyTokenQuotaExhausted,
        ),
    ];
    checks
        .iter()
        .find(|(applies, says, _)| *applies && says(m))
        .map(|(_, _, reason)| *reason)
}

/// Step 4: AssumeRole, the session duration, then `AccessDenied` by its "because" clause. On
/// `credentials`, the same for a role the source's credential chain assumes (IRSA's
/// AssumeRoleWithWebIdentity, a profile's `role_arn`): its message names `sts:AssumeRole…`.
fn by_assume_role(layer: Layer, code: &str, m: &str) -> Option<Reason> {
    let in_chain = layer == Layer::Credentials && m.contains("sts:assumerole");
    if layer != Layer::AssumeRole && !in_chain {
        return None;
    }
    if m.contains("durationseconds exceeds") || m.contains("maxsessionduration") {
        return Some(Reason::SessionDurationExceeded);
    }
    if code != "AccessDenied" && code != "AccessDeniedException" {
        return None;
    }
    Some(if m.contains("no role trust policy allows") {
        Reason::TrustPolicyDenied
    } else if m.contains("no identity-based policy allows") {
        Reason::AssumeRoleNotPermitted
    } else {
        Reason::AssumeRoleDenied
    })
}

/// Steps 5 and 6: the code alone. An `AccessDeniedException` on a Bedrock layer whose message
/// matched nothing above ("is not authorized to perform: bedrock:…" with "no identity-based
/// policy allows", with no "because" at all, or a wording not seen yet): a policy does not
/// allow the Bedrock action, the documented cause of this code on Bedrock.
fn by_code(layer: Layer, code: &str) -> Option<Reason> {
    let bedrock = is_bedrock(layer);
    if bedrock && (code == "AccessDeniedException" || code == "AccessDenied") {
        return Some(Reason::BedrockNotPermitted);
    }
    if THROTTLING_CODES.contains(&code) {
        return Some(Reason::Throttled);
    }
    if UNAVAILABLE_CODES.contains(&code) {
        return Some(Reason::ServiceUnavailable);
    }
    if code == "ValidationException" || code == "ValidationError" {
        return Some(Reason::ValidationError);
    }
    (bedrock && code == "ResourceNotFoundException").then_some(Reason::ModelNotInRegion)
}

/// Step 7: the status alone. 424 (Failed Dependency) is how Bedrock answers a model's own failure.
fn by_status(status: Option<u16>) -> Reason {
    match status {
        Some(429) => Reason::Throttled,
        Some(424) => Reason::ServiceUnavailable,
        Some(s) if (500..600).contains(&s) => Reason::ServiceUnavailable,
        _ => Reason::Unknown,
    }
}

/// Classifies a failure of the SDK's credential chain that carries no AWS answer (`message` is
/// the error's text): a credential endpoint's HTTP status (the container endpoint of EKS Pod
/// Identity and ECS: the SDK keeps only "Non-success status from HTTP credential provider:
/// N"), else what the text says.
///
/// - 429 → `throttled`; 5xx → `service_unavailable`;
/// - 404 → `no_credentials`: the endpoint has nothing for this caller (EKS Pod Identity: no
///   association for the pod's namespace and service account);
/// - any other 4xx → `invalid_credentials`: the endpoint refused the token presented (missing,
///   unreadable, expired, of another audience, or its role does not trust EKS Pod Identity);
/// - no status: "expired" → `expired_credentials` (an SSO session, a token), else
///   `no_credentials` (nothing configured, a file missing).
pub fn classify_credential_chain(message: &str) -> Reason {
    let m = normalize(message);
    match wording::credential_endpoint_status(&m) {
        Some(429) => Reason::Throttled,
        Some(404) => Reason::NoCredentials,
        Some(s) if (400..500).contains(&s) => Reason::InvalidCredentials,
        Some(s) if (500..600).contains(&s) => Reason::ServiceUnavailable,
        Some(_) => Reason::Unknown,
        None if m.contains("expired") => Reason::ExpiredCredentials,
        None => Reason::NoCredentials,
    }
}

/// Classifies the statuses of GetFoundationModelAvailability (`docs/reasons.md`): `None` when the
/// model is available to the account in the region.
///
/// Order: a model not offered in the region makes every other status moot; an agreement in
/// `ERROR` or `PENDING` explains a missing authorization better than the authorization itself;
/// then `NOT_AUTHORIZED` / entitlement `NOT_AVAILABLE`. Agreement `AVAILABLE` and
/// `NOT_AVAILABLE` pass (third-party models subscribe at first invocation).
pub fn classify_availability(
    agreement: &str,
    authorization: &str,
    entitlement: &str,
    region: &str,
) -> Option<Reason> {
    let is = |value: &str, wanted: &str| value.trim().eq_ignore_ascii_case(wanted);
    if is(region, "NOT_AVAILABLE") {
        return Some(Reason::ModelNotInRegion);
    }
    if is(agreement, "ERROR") {
        return Some(Reason::MarketplaceSubscriptionRequired);
    }
    if is(agreement, "PENDING") {
        return Some(Reason::ModelAccessPending);
    }
    if is(authorization, "NOT_AUTHORIZED") || is(entitlement, "NOT_AVAILABLE") {
        return Some(Reason::ModelAccessNotGranted);
    }
    None
}

/// The `error_code` label value for an AWS error code: the code when it looks like one
/// (`^[A-Za-z][A-Za-z0-9.]{0,63}$`), `"other"` when it does not, `""` when there is none.
pub fn error_code_label(code: Option<&str>) -> &str {
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return "";
    };
    let mut chars = code.chars();
    let valid = code.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '.');
    if valid { code } else { "other" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reason a code (and status) allows when the message says nothing known.
    fn fallback(layer: Layer, code: &str, status: u16) -> Reason {
        let bedrock = is_bedrock(layer);
        match code {
            "RequestTimeTooSkewed" => Reason::ClockSkew,
            "InvalidSignatureException" | "SignatureDoesNotMatch" | "InvalidClientTokenId" => {
                Reason::InvalidCredentials
            }
            "ExpiredTokenException" | "RequestExpired" => Reason::ExpiredCredentials,
            "AccessDenied" | "AccessDeniedException" if layer == Layer::AssumeRole => {
                Reason::AssumeRoleDenied
            }
            "AccessDenied" | "AccessDeniedException" if bedrock => Reason::BedrockNotPermitted,
            "ThrottlingException" | "ServiceQuotaExceededException" => Reason::Throttled,
            "ModelErrorException" | "ModelStreamErrorException" | "ModelNotReadyException" => {
                Reason::ServiceUnavailable
            }
            "ValidationException" | "ValidationError" => Reason::ValidationError,
            "ResourceNotFoundException" if bedrock => Reason::ModelNotInRegion,
            _ => by_status(Some(status)),
        }
    }

    #[test]
    fn a_role_the_credential_chain_assumes_is_denied_like_an_assume_role_call() {
        let irsa = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
        assert_eq!(
            classify(Layer::Credentials, Some("AccessDenied"), Some(403), irsa),
            Reason::AssumeRoleDenied
        );
        let profile = "User: arn:aws:iam::111111111111:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/r because no identity-based policy allows the sts:AssumeRole action";
        assert_eq!(
            classify(Layer::Credentials, Some("AccessDenied"), Some(403), profile),
            Reason::AssumeRoleNotPermitted
        );
        // Any other denial on the credentials layer says nothing about a role.
        assert_eq!(
            classify(
                Layer::Credentials,
                Some("AccessDenied"),
                Some(403),
                "Access denied"
            ),
            Reason::Unknown
        );
        for code in ["InvalidIdentityToken", "IDPRejectedClaim"] {
            assert_eq!(
                classify(
                    Layer::Credentials,
                    Some(code),
                    Some(400),
                    "Incorrect token audience"
                ),
                Reason::InvalidCredentials,
                "{code}"
            );
        }
        assert_eq!(
            classify(
                Layer::Credentials,
                Some("IDPCommunicationError"),
                Some(400),
                ""
            ),
            Reason::ServiceUnavailable
        );
    }

    #[test]
    fn a_credential_chain_failure_without_an_aws_answer_is_read_from_its_text() {
        let endpoint = |status: &str| {
            format!(
                "an error occurred while loading credentials: Non-success status from HTTP credential provider: StatusCode({status}) (ProviderError(ProviderError {{ source: \"Non-success status from HTTP credential provider: StatusCode({status})\" }}))"
            )
        };
        for (status, want) in [
            ("400", Reason::InvalidCredentials),
            ("401", Reason::InvalidCredentials),
            ("403", Reason::InvalidCredentials),
            ("404", Reason::NoCredentials),
            ("429", Reason::Throttled),
            ("500", Reason::ServiceUnavailable),
            ("503", Reason::ServiceUnavailable),
        ] {
            assert_eq!(
                classify_credential_chain(&endpoint(status)),
                want,
                "{status}"
            );
        }
        assert_eq!(
            classify_credential_chain("the SSO session has expired or is invalid"),
            Reason::ExpiredCredentials
        );
        for nothing in [
            "the credential provider was not enabled",
            "No such file or directory (os error 2)",
            "Non-success status from HTTP credential provider: soon",
        ] {
            assert_eq!(
                classify_credential_chain(nothing),
                Reason::NoCredentials,
                "{nothing}"
            );
        }
    }

    const CODES: &[&str] = &[
        "RequestTimeTooSkewed",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "RequestExpired",
        "AccessDenied",
        "AccessDeniedException",
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "ModelErrorException",
        "ModelStreamErrorException",
        "ModelNotReadyException",
        "ValidationException",
        "ValidationError",
        "ResourceNotFoundException",
        "SomethingNewException",
        "",
    ];
    const STATUSES: &[u16] = &[400, 403, 404, 424, 429, 500, 503, 529];

    /// Fragments of every meaning the classifier knows, to build messages that say several
    /// things at once.
    const FRAGMENTS: &[&str] = &[
        "Signature expired: 20250130T203827Z is now earlier than 20250130T204131Z",
        "explicit deny in a service control policy",
        "Your AWS Marketplace subscription for this model is still being processed",
        "Model access is denied due to",
        "use case details have not been submitted",
        "marked by provider as Legacy",
        "reached the end of its life",
        "with on-demand throughput isn’t supported",
        "The provided model identifier is invalid",
        "Operation not allowed",
        "is not available for this account",
        "You don’t have access to the model",
        "Too many tokens per day",
        "because no identity-based policy allows",
        "DurationSeconds exceeds",
    ];

    fn layer() -> impl Strategy<Value = Layer> {
        prop::sample::select(Layer::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn a_message_that_says_nothing_known_falls_back_to_what_its_code_allows(
            layer in layer(),
            code in prop::sample::select(CODES),
            status in prop::sample::select(STATUSES),
            noise in "[a-z0-9 .,:]{0,120}",
        ) {
            let code_arg = (!code.is_empty()).then_some(code);
            prop_assert_eq!(
                classify(layer, code_arg, Some(status), &noise),
                fallback(layer, code, status)
            );
        }

        #[test]
        fn an_access_denial_never_becomes_an_unknown_a_transient_blip_or_a_bad_request(
            layer in prop::sample::select(vec![Layer::ModelAccess, Layer::Invoke, Layer::InvokeStream]),
            code in prop::sample::select(&["AccessDeniedException", "AccessDenied"][..]),
            parts in prop::collection::vec(
                prop_oneof![prop::sample::select(FRAGMENTS).prop_map(str::to_string), "[a-z ]{0,20}"],
                0..5,
            ),
        ) {
            let message = parts.join(" ");
            let reason = classify(layer, Some(code), Some(403), &message);
            prop_assert!(
                !matches!(
                    reason,
                    Reason::Unknown
                        | Reason::ValidationError
                        | Reason::Throttled
                        | Reason::ServiceUnavailable
                ),
                "{} {:?} → {}", code, message, reason
            );
        }

        #[test]
        fn the_streaming_layer_reads_every_answer_like_invoke(
            code in prop::sample::select(CODES),
            status in prop::sample::select(STATUSES),
            parts in prop::collection::vec(
                prop_oneof![prop::sample::select(FRAGMENTS).prop_map(str::to_string), "[a-z ]{0,20}"],
                0..4,
            ),
        ) {
            let message = parts.join(" ");
            let code = (!code.is_empty()).then_some(code);
            prop_assert_eq!(
                classify(Layer::InvokeStream, code, Some(status), &message),
                classify(Layer::Invoke, code, Some(status), &message)
            );
        }

        #[test]
        fn any_text_at_all_is_classified_without_panicking(
            layer in layer(),
            code in ".{0,40}",
            status in any::<u16>(),
            message in ".{0,400}",
        ) {
            let _ = classify(layer, Some(&code), Some(status), &message);
        }
    }
}
