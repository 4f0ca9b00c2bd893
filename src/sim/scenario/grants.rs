//! The `[[grants]]` section and `default_grant`: model access of an account in a region, and
//! the lookup of the most specific entry for a call.

use std::collections::HashMap;

use serde::Deserialize;

use super::accounts::Account;
use super::catalogue::Model;
use super::check::is_region;

/// Model access of an account in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Access works.
    Granted,
    /// Access requested, being activated (agreement PENDING; invoke: AccessDeniedException
    /// "Your account is not authorized to access this model. Your AWS Marketplace
    /// subscription for this model is still being processed").
    Pending,
    /// No access (authorization NOT_AUTHORIZED; invoke: "You don't have access ...").
    NotGranted,
    /// No access here, granted in another region only (invoke: ValidationException
    /// "Your account is not authorized to invoke this API operation.").
    NotGrantedInRegion,
    /// 2023-era denial (invoke: AccessDeniedException "Your account is not authorized ...").
    NotAuthorizedLegacy,
    /// Third-party model not yet subscribed: first invocation subscribes when the caller may
    /// use `aws-marketplace:ViewSubscriptions` and `aws-marketplace:Subscribe`.
    MarketplaceSubscriptionMissing,
    /// Anthropic use-case form not submitted for the account.
    UseCaseFormMissing,
    /// Legacy model unused for too long.
    LegacyInactive,
    /// Daily token quota used up.
    DailyQuotaExhausted,
    /// Account blocked from the operation ("Operation not allowed").
    AccountBlocked,
    /// The model is not offered to this account (invoke: AccessDeniedException "<model> is not
    /// available for this account. … contact AWS Sales …"), while the control plane still
    /// says AUTHORIZED and AVAILABLE.
    NotOffered,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantDef {
    account: String,
    #[serde(default = "star")]
    region: String,
    #[serde(default = "star")]
    model: String,
    status: GrantStatus,
}

fn star() -> String {
    "*".to_owned()
}

#[derive(Debug)]
struct Grant {
    account: String,
    region: String,
    model: String,
    status: GrantStatus,
}

/// The grants in file order, and the access of whatever none of them covers.
#[derive(Debug)]
pub(super) struct Grants {
    grants: Vec<Grant>,
    default: GrantStatus,
}

impl Grants {
    /// The model access of `account` to `model` in `region`: the most specific matching
    /// entry (exact model beats `*`, then exact region beats `*`; ties: first).
    pub(super) fn lookup(&self, account: &str, region: &str, model: &str) -> GrantStatus {
        let mut best: Option<(u8, GrantStatus)> = None;
        for g in &self.grants {
            if g.account != account {
                continue;
            }
            let region_ok = g.region == "*" || g.region == region;
            let model_ok = g.model == "*" || g.model == model;
            if !(region_ok && model_ok) {
                continue;
            }
            let score = u8::from(g.model != "*") * 2 + u8::from(g.region != "*");
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, g.status));
            }
        }
        best.map_or(self.default, |(_, s)| s)
    }
}

/// Checks and compiles `[[grants]]` against the accounts and models; `default_grant` defaults
/// to granted.
pub(super) fn compile(
    defs: &[GrantDef],
    default: Option<GrantStatus>,
    accounts: &HashMap<String, Account>,
    models: &HashMap<String, Model>,
    problems: &mut Vec<String>,
) -> Grants {
    let mut grants = Vec::new();
    for (i, g) in defs.iter().enumerate() {
        if !accounts.contains_key(&g.account) {
            problems.push(format!(
                "grants[{i}].account: account `{}` is not in [[accounts]]",
                g.account
            ));
        }
        if g.region != "*" && !is_region(&g.region) {
            problems.push(format!(
                "grants[{i}].region: `{}` is not a region name or \"*\"",
                g.region
            ));
        }
        if g.model != "*" && !models.contains_key(&g.model) {
            problems.push(format!(
                "grants[{i}].model: model `{}` is not in [[models]]",
                g.model
            ));
        }
        grants.push(Grant {
            account: g.account.clone(),
            region: g.region.clone(),
            model: g.model.clone(),
            status: g.status,
        });
    }
    Grants {
        grants,
        default: default.unwrap_or(GrantStatus::Granted),
    }
}
