//! The failure taxonomy of the contract: every failed layer gets exactly one [`Reason`], and each
//! reason has one [`Class`] and one fix. Classification of AWS errors lives here too.

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
