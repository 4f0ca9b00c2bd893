//! The failure taxonomy of the contract: every failed layer gets exactly one [`Reason`], and each
//! reason has one [`Class`], one fix and at most one [`Cause`]. How AWS's answers map onto it is
//! in the submodules: [`classify`](fn@classify) (codes, statuses, then what the message says, by
//! `wording`), [`classify_availability`] and [`classify_credential_chain`].

use std::fmt;

mod classify;
mod wording;

pub use classify::{classify, classify_availability, classify_credential_chain, error_code_label};

/// The five probe layers, in order (`invoke_stream` is optional, off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Credentials,
    AssumeRole,
    ModelAccess,
    Invoke,
    InvokeStream,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Credentials,
        Layer::AssumeRole,
        Layer::ModelAccess,
        Layer::Invoke,
        Layer::InvokeStream,
    ];

    /// The paid layers (`invoke`, `invoke_stream`): they run at most once per
    /// `invoke_interval`, and their last result stands in between.
    pub fn is_invocation(self) -> bool {
        matches!(self, Layer::Invoke | Layer::InvokeStream)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Credentials => "credentials",
            Layer::AssumeRole => "assume_role",
            Layer::ModelAccess => "model_access",
            Layer::Invoke => "invoke",
            Layer::InvokeStream => "invoke_stream",
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

/// Every reason of the contract (`docs/reasons.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NoCredentials,
    InvalidCredentials,
    ExpiredCredentials,
    ClockSkew,
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
    pub const ALL: [Reason; 29] = [
        Reason::NoCredentials,
        Reason::InvalidCredentials,
        Reason::ExpiredCredentials,
        Reason::ClockSkew,
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
            Reason::ClockSkew => "clock_skew",
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
            | ClockSkew
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
    /// The fix to print for this reason (`docs/reasons.md`).
    pub fn fix(self) -> &'static str {
        use Reason::*;
        match self {
            NoCredentials => {
                "configure the source's credentials (env, profile, instance/web identity role)"
            }
            InvalidCredentials => "the source's keys are wrong or deleted; rotate them",
            ExpiredCredentials => "refresh the source session (SSO login, instance role)",
            ClockSkew => {
                "synchronise this host's clock (NTP/chrony); SigV4 signs with the local time"
            }
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
                "the account is blocked from this model or operation in this region, whatever IAM \
                 says; open a support case or ask your AWS account team to enable it"
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
            // Credentials, this host's clock, AWS's side, the request, and assume_role_denied's
            // ambiguity.
            _ => None,
        }
    }
}
