//! The failure taxonomy of the contract: every failed layer gets exactly one [`Reason`], and each
//! reason has one [`Class`], one fix and at most one [`Cause`]. Classification of AWS errors
//! lives here too.

use std::fmt;

/// The four probe layers, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Credentials,
    AssumeRole,
    ModelAccess,
    Invoke,
}

impl Layer {
    pub const ALL: [Layer; 4] = [
        Layer::Credentials,
        Layer::AssumeRole,
        Layer::ModelAccess,
        Layer::Invoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Credentials => "credentials",
            Layer::AssumeRole => "assume_role",
            Layer::ModelAccess => "model_access",
            Layer::Invoke => "invoke",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure a reason is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A grant, permission or trust is missing or denied.
    Access,
    /// The target as configured cannot work.
    Configuration,
    /// The answer is unknown this round.
    Transient,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Access => "access",
            Class::Configuration => "configuration",
            Class::Transient => "transient",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every reason of the contract (`reasons.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NoCredentials,
    InvalidCredentials,
    ExpiredCredentials,
    SourceAccountMismatch,
    RegionDisabled,
    AssumeRoleNotPermitted,
    TrustPolicyDenied,
    AssumeRoleDenied,
    ExplicitDeny,
    ScpDenied,
    SessionDurationExceeded,
    BedrockNotPermitted,
    ModelAccessNotGranted,
    ModelAccessPending,
    MarketplaceSubscriptionRequired,
    UseCaseFormRequired,
    ModelNotInRegion,
    InferenceProfileRequired,
    ModelLegacyNoAccess,
    ModelEndOfLife,
    AccountNotAuthorized,
    DailyTokenQuotaExhausted,
    Throttled,
    ServiceUnavailable,
    Timeout,
    NetworkError,
    ValidationError,
    Unknown,
}

impl Reason {
    pub const ALL: [Reason; 28] = [
        Reason::NoCredentials,
        Reason::InvalidCredentials,
        Reason::ExpiredCredentials,
        Reason::SourceAccountMismatch,
        Reason::RegionDisabled,
        Reason::AssumeRoleNotPermitted,
        Reason::TrustPolicyDenied,
        Reason::AssumeRoleDenied,
        Reason::ExplicitDeny,
        Reason::ScpDenied,
        Reason::SessionDurationExceeded,
        Reason::BedrockNotPermitted,
        Reason::ModelAccessNotGranted,
        Reason::ModelAccessPending,
        Reason::MarketplaceSubscriptionRequired,
        Reason::UseCaseFormRequired,
        Reason::ModelNotInRegion,
        Reason::InferenceProfileRequired,
        Reason::ModelLegacyNoAccess,
        Reason::ModelEndOfLife,
        Reason::AccountNotAuthorized,
        Reason::DailyTokenQuotaExhausted,
        Reason::Throttled,
        Reason::ServiceUnavailable,
        Reason::Timeout,
        Reason::NetworkError,
        Reason::ValidationError,
        Reason::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoCredentials => "no_credentials",
            Reason::InvalidCredentials => "invalid_credentials",
            Reason::ExpiredCredentials => "expired_credentials",
            Reason::SourceAccountMismatch => "source_account_mismatch",
            Reason::RegionDisabled => "region_disabled",
            Reason::AssumeRoleNotPermitted => "assume_role_not_permitted",
            Reason::TrustPolicyDenied => "trust_policy_denied",
            Reason::AssumeRoleDenied => "assume_role_denied",
            Reason::ExplicitDeny => "explicit_deny",
            Reason::ScpDenied => "scp_denied",
            Reason::SessionDurationExceeded => "session_duration_exceeded",
            Reason::BedrockNotPermitted => "bedrock_not_permitted",
            Reason::ModelAccessNotGranted => "model_access_not_granted",
            Reason::ModelAccessPending => "model_access_pending",
            Reason::MarketplaceSubscriptionRequired => "marketplace_subscription_required",
            Reason::UseCaseFormRequired => "use_case_form_required",
            Reason::ModelNotInRegion => "model_not_in_region",
            Reason::InferenceProfileRequired => "inference_profile_required",
            Reason::ModelLegacyNoAccess => "model_legacy_no_access",
            Reason::ModelEndOfLife => "model_end_of_life",
            Reason::AccountNotAuthorized => "account_not_authorized",
            Reason::DailyTokenQuotaExhausted => "daily_token_quota_exhausted",
            Reason::Throttled => "throttled",
            Reason::ServiceUnavailable => "service_unavailable",
            Reason::Timeout => "timeout",
            Reason::NetworkError => "network_error",
            Reason::ValidationError => "validation_error",
            Reason::Unknown => "unknown",
        }
    }

    pub fn class(self) -> Class {
        use Reason::*;
        match self {
            NoCredentials
            | SourceAccountMismatch
            | RegionDisabled
            | SessionDurationExceeded
            | ModelNotInRegion
            | InferenceProfileRequired
            | ModelEndOfLife
            | ValidationError => Class::Configuration,
            ModelAccessPending | Throttled | ServiceUnavailable | Timeout | NetworkError
            | Unknown => Class::Transient,
            InvalidCredentials
            | ExpiredCredentials
            | AssumeRoleNotPermitted
            | TrustPolicyDenied
            | AssumeRoleDenied
            | ExplicitDeny
            | ScpDenied
            | BedrockNotPermitted
            | ModelAccessNotGranted
            | MarketplaceSubscriptionRequired
            | UseCaseFormRequired
            | ModelLegacyNoAccess
            | AccountNotAuthorized
            | DailyTokenQuotaExhausted => Class::Access,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// The fix to print for this reason (`reasons.md`).
    pub fn fix(self) -> &'static str {
        use Reason::*;
        match self {
            NoCredentials => {
                "configure the source's credentials (env, profile, instance/web identity role)"
            }
            InvalidCredentials => "the source's keys are wrong or deleted; rotate them",
            ExpiredCredentials => "refresh the source session (SSO login, instance role)",
            SourceAccountMismatch => "the credentials belong to another account than configured",
            RegionDisabled => {
                "activate STS in that region for the caller's account, or use another region's endpoint"
            }
            AssumeRoleNotPermitted => {
                "allow sts:AssumeRole on the role ARN in the source principal's policy"
            }
            TrustPolicyDenied => {
                "the target role's trust policy must allow the source principal/account (with the \
                 sts:ExternalId condition matching the configured external id), and must not deny it"
            }
            AssumeRoleDenied => {
                "in order: the target role exists and its trust policy names the source \
                 account/principal (with the sts:ExternalId condition matching the configured \
                 external id); the source principal's policy allows sts:AssumeRole on the role ARN \
                 (AWS gives the same answer for all of these; `diagnose` narrows it down where it can)"
            }
            ExplicitDeny => "remove or narrow that deny (the message may name the policy ARN)",
            ScpDenied => {
                "the organisation's SCP/RCP denies this action for that account; ask the org admins"
            }
            SessionDurationExceeded => "lower session_duration or raise the role's maximum",
            BedrockNotPermitted => {
                "grant the assumed role bedrock:InvokeModel (and bedrock:InvokeModelWithResponseStream) \
                 on the model or inference profile ARN in that region (or the bedrock:Get… action \
                 the control-plane check needs)"
            }
            ModelAccessNotGranted => {
                "enable or request access to this model in the target account and this region \
                 (accounts that predate the 2025-10 change keep per-model grants; newer accounts \
                 are restricted by IAM/SCPs instead)"
            }
            ModelAccessPending => "access is being activated; wait (minutes) and re-check",
            MarketplaceSubscriptionRequired => {
                "allow aws-marketplace:Subscribe, aws-marketplace:Unsubscribe and \
                 aws-marketplace:ViewSubscriptions for the invoking role (the first invocation \
                 subscribes the account), or subscribe once from an allowed principal"
            }
            UseCaseFormRequired => {
                "submit the Anthropic use-case form (console, or PutUseCaseForModelAccess) once for \
                 the account or the organisation's management account"
            }
            ModelNotInRegion => {
                "the model is not offered in this region: change region or use a cross-region \
                 inference profile"
            }
            InferenceProfileRequired => {
                "use the inference profile id (e.g. `us.` + model id) instead of the bare model id"
            }
            ModelLegacyNoAccess => {
                "the account lost access to a legacy model after inactivity; move to an active model"
            }
            ModelEndOfLife => "the model version is retired; change the model id",
            AccountNotAuthorized => {
                "the account itself is blocked from this operation in this region; open a support case"
            }
            DailyTokenQuotaExhausted => {
                "the account's daily token quota is used up or zero; request a quota increase"
            }
            Throttled => "none: retried with backoff; raise the probe interval if it persists",
            ServiceUnavailable => "none: AWS side; retried next round",
            Timeout => "none, unless it persists (network path, VPC endpoint)",
            NetworkError => {
                "check egress to the STS/Bedrock endpoints (proxy, VPC endpoint, firewall)"
            }
            ValidationError => "the message says what the request got wrong",
            Unknown => "read the message in the logs / status page",
        }
    }
}

/// What a failure points at: the part of the setup whose change makes it pass. `diagnose`
/// explains a failed call by its cause (the checklist step that carries the fix); a reason
/// without a cause is explained by the call itself (credentials, AWS's side, the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The target role's trust policy does not let the caller in.
    TrustPolicy,
    /// A permission policy refuses the action: the calling principal's identity policies, an
    /// explicit deny (identity, resource, boundary or session policy) or the organisation's
    /// SCP/RCP.
    Permission,
    /// Model access, the model id or the region: a grant, subscription or form is missing,
    /// or the model cannot be called that way there.
    ModelAccess,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::TrustPolicy => "trust_policy",
            Cause::Permission => "permission",
            Cause::ModelAccess => "model_access",
        }
    }

    /// The cause in words.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::TrustPolicy => "the target role's trust policy",
            Cause::Permission => {
                "a permission policy of the caller (identity policy, explicit deny or SCP/RCP)"
            }
            Cause::ModelAccess => "model access, the model or the region",
        }
    }
}

impl Reason {
    /// What this reason points at ([`Cause`]); `None` when the failed call is its own
    /// explanation. `assume_role_denied` has none: AWS's answer does not say whether the trust
    /// policy or the caller's policy refused (`diagnose` narrows it down with evidence).
    pub fn cause(self) -> Option<Cause> {
        use Reason::*;
        match self {
            TrustPolicyDenied => Some(Cause::TrustPolicy),
            AssumeRoleNotPermitted | BedrockNotPermitted | ExplicitDeny | ScpDenied => {
                Some(Cause::Permission)
            }
            ModelAccessNotGranted
            | ModelAccessPending
            | MarketplaceSubscriptionRequired
            | UseCaseFormRequired
            | ModelNotInRegion
            | InferenceProfileRequired
            | ModelLegacyNoAccess
            | ModelEndOfLife
            | AccountNotAuthorized
            | DailyTokenQuotaExhausted => Some(Cause::ModelAccess),
            // Credentials, AWS's side, the request, and assume_role_denied's ambiguity.
            _ => None,
        }
    }
}

/// Error codes of rejected credentials.
const INVALID_CREDENTIAL_CODES: &[&str] = &[
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
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];
const UNAVAILABLE_CODES: &[&str] = &[
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ModelNotReadyException",
    "ModelTimeoutException",
];

/// Lower-cases a message and folds typographic apostrophes and quotes into ASCII ones, so that
/// fragments match whatever the wording's vintage.
fn normalize(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '\u{02bc}' | '\u{00b4}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

fn any_of(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Classifies an AWS answer into exactly one [`Reason`] (`reasons.md`).
///
/// `layer` is the layer whose call received the answer, `code` the AWS error code (as the SDK
/// parsed it, namespace stripped), `status` the HTTP status and `message` the AWS message.
///
/// Order: credential codes (a signature problem says nothing about permissions), then stable,
/// case-insensitive message fragments (policy denies before grants, because a deny is the
/// most specific fact AWS tells), then the code alone, then the HTTP status.
///
/// Fallbacks when the message is new (never a reason the code contradicts):
/// - `AccessDenied` on `assume_role` → `assume_role_denied` (AWS's own ambiguous answer);
/// - `AccessDeniedException` on `model_access`/`invoke` → `bedrock_not_permitted` (an IAM
///   permission is the documented cause of that code on Bedrock);
/// - `ResourceNotFoundException` on `model_access`/`invoke` → `model_not_in_region`;
/// - any other `ValidationException`/`ValidationError` → `validation_error`;
/// - unknown code: 429 → `throttled`, 5xx → `service_unavailable`, otherwise `unknown`.
pub fn classify(layer: Layer, code: Option<&str>, status: Option<u16>, message: &str) -> Reason {
    let code = code.map(str::trim).unwrap_or("");
    let m = normalize(message);
    let bedrock_layer = matches!(layer, Layer::ModelAccess | Layer::Invoke);

    // 1. Credentials the service did not accept.
    if INVALID_CREDENTIAL_CODES.contains(&code) {
        return Reason::InvalidCredentials;
    }
    if EXPIRED_CREDENTIAL_CODES.contains(&code) {
        return Reason::ExpiredCredentials;
    }
    if code == "RegionDisabledException" {
        return Reason::RegionDisabled;
    }

    // 2. Explicit denies, most specific first.
    if m.contains("explicit deny") {
        if any_of(&m, &["service control policy", "resource control policy"]) {
            return Reason::ScpDenied;
        }
        if m.contains("role trust policy") && layer == Layer::AssumeRole {
            return Reason::TrustPolicyDenied;
        }
        return Reason::ExplicitDeny;
    }

    // 3. Bedrock model-access conditions with stable wordings.
    if any_of(
        &m,
        &[
            "aws-marketplace:",
            "aws marketplace",
            "model access is denied due to",
        ],
    ) {
        return Reason::MarketplaceSubscriptionRequired;
    }
    if any_of(
        &m,
        &[
            "use case details have not been submitted",
            "use-case details have not been submitted",
            "use case form",
            "use-case form",
        ],
    ) {
        return Reason::UseCaseFormRequired;
    }
    if m.contains("marked by provider as legacy") {
        return Reason::ModelLegacyNoAccess;
    }
    if any_of(&m, &["reached the end of its life", "end of its life"]) {
        return Reason::ModelEndOfLife;
    }
    if any_of(
        &m,
        &[
            "on-demand throughput isn't supported",
            "on-demand throughput is not supported",
            "on-demand throughput isnt supported",
        ],
    ) {
        return Reason::InferenceProfileRequired;
    }
    if any_of(
        &m,
        &[
            "could not resolve the foundation model",
            "provided model identifier is invalid",
        ],
    ) {
        return Reason::ModelNotInRegion;
    }
    if any_of(
        &m,
        &[
            "don't have access to the model",
            "do not have access to the model",
            "dont have access to the model",
            "your account is not authorized to invoke this api operation",
        ],
    ) {
        return Reason::ModelAccessNotGranted;
    }
    if m.contains("too many tokens per day") {
        return Reason::DailyTokenQuotaExhausted;
    }
    if bedrock_layer && m.contains("operation not allowed") {
        return Reason::AccountNotAuthorized;
    }

    // 4. AssumeRole.
    if layer == Layer::AssumeRole {
        if any_of(&m, &["durationseconds exceeds", "maxsessionduration"]) {
            return Reason::SessionDurationExceeded;
        }
        if code == "AccessDenied" || code == "AccessDeniedException" {
            if m.contains("no role trust policy allows") {
                return Reason::TrustPolicyDenied;
            }
            if m.contains("no identity-based policy allows") {
                return Reason::AssumeRoleNotPermitted;
            }
            return Reason::AssumeRoleDenied;
        }
    }

    // 5. Missing Bedrock permission (with or without a "because" clause).
    // An AccessDeniedException whose message matched nothing above ("is not authorized to
    // perform: bedrock:…", with "no identity-based policy allows" or no "because" at all, or a
    // wording not seen yet): a policy does not allow the Bedrock action, the documented cause
    // of this code on Bedrock.
    if bedrock_layer && (code == "AccessDeniedException" || code == "AccessDenied") {
        return Reason::BedrockNotPermitted;
    }

    // 6. The code alone.
    if THROTTLING_CODES.contains(&code) {
        return Reason::Throttled;
    }
    if UNAVAILABLE_CODES.contains(&code) {
        return Reason::ServiceUnavailable;
    }
    if code == "ValidationException" || code == "ValidationError" {
        return Reason::ValidationError;
    }
    if bedrock_layer && code == "ResourceNotFoundException" {
        return Reason::ModelNotInRegion;
    }

    // 7. The status alone.
    match status {
        Some(429) => Reason::Throttled,
        Some(s) if (500..600).contains(&s) => Reason::ServiceUnavailable,
        _ => Reason::Unknown,
    }
}

/// Classifies the statuses of GetFoundationModelAvailability (`reasons.md`): `None` when the
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
