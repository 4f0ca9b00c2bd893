//! The `[[accounts]]` section: AWS accounts with their service control policies (and the
//! organization that names them in denials) and the regions where STS is not activated.

use std::collections::HashMap;

use serde::Deserialize;

use super::check::{is_account_id, is_region, policies};
use crate::sim::policy::{Context, Policy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    /// Service control policies (IAM JSON). Only their Deny statements count; everything else
    /// is allowed (the implicit `FullAWSAccess`).
    #[serde(default)]
    scps: Vec<String>,
    /// Policy ids of `scps` (`p-…`), in order; default derived from the policy text.
    #[serde(default)]
    scp_ids: Option<Vec<String>>,
    /// Organization id (`o-…`). When set (with `management_account`), SCP denials end with the
    /// denying policy's ARN, as AWS's messages do since 2026.
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    management_account: Option<String>,
    /// Regions where STS is not activated for this account.
    #[serde(default)]
    sts_disabled_regions: Vec<String>,
}

#[derive(Debug)]
pub struct Account {
    pub id: String,
    pub name: Option<String>,
    pub scps: Vec<Policy>,
    pub scp_ids: Vec<String>,
    /// (organization id, management account) for SCP ARNs in messages.
    pub organization: Option<(String, String)>,
    pub sts_disabled_regions: Vec<String>,
}

impl Account {
    /// When an SCP of this account denies the request: AWS's message tail,
    /// " with an explicit deny in a service control policy[: <policy arn>]".
    pub fn scp_denial(&self, action: &str, resource: &str, ctx: &Context<'_>) -> Option<String> {
        let i = self
            .scps
            .iter()
            .position(|p| p.denies(action, resource, ctx))?;
        let mut tail = " with an explicit deny in a service control policy".to_owned();
        if let (Some((org, mgmt)), Some(id)) = (&self.organization, self.scp_ids.get(i)) {
            tail.push_str(&format!(
                ": arn:aws:organizations::{mgmt}:policy/{org}/service_control_policy/{id}"
            ));
        }
        Some(tail)
    }
}

/// Checks and compiles `[[accounts]]`, keyed by account id.
pub(super) fn compile(defs: &[AccountDef], problems: &mut Vec<String>) -> HashMap<String, Account> {
    let mut accounts = HashMap::new();
    for (i, a) in defs.iter().enumerate() {
        if !is_account_id(&a.id) {
            problems.push(format!(
                "accounts[{i}].id: `{}` is not a 12-digit account id",
                a.id
            ));
        }
        let scps = policies(&a.scps, &format!("accounts[{i}].scps"), problems);
        let scp_ids = scp_ids(i, a, problems);
        let organization = organization(i, a, problems);
        for (j, r) in a.sts_disabled_regions.iter().enumerate() {
            if !is_region(r) {
                problems.push(format!(
                    "accounts[{i}].sts_disabled_regions[{j}]: `{r}` is not a region name"
                ));
            }
        }
        let acct = Account {
            id: a.id.clone(),
            name: a.name.clone(),
            scps,
            scp_ids,
            organization,
            sts_disabled_regions: a.sts_disabled_regions.clone(),
        };
        if accounts.insert(a.id.clone(), acct).is_some() {
            problems.push(format!(
                "accounts[{i}].id: account `{}` is defined twice",
                a.id
            ));
        }
    }
    accounts
}

/// The SCPs' policy ids: as written (one per SCP), or derived from each policy's text.
fn scp_ids(i: usize, a: &AccountDef, problems: &mut Vec<String>) -> Vec<String> {
    match &a.scp_ids {
        Some(ids) => {
            if ids.len() != a.scps.len() {
                problems.push(format!(
                    "accounts[{i}].scp_ids: {} ids for {} scps",
                    ids.len(),
                    a.scps.len()
                ));
            }
            ids.clone()
        }
        None => a
            .scps
            .iter()
            .map(|t| {
                use sha2::Digest as _;
                let d = sha2::Sha256::digest(t.as_bytes());
                format!("p-{}", &hex::encode(d)[..8])
            })
            .collect(),
    }
}

/// (organization id, management account), when both are given.
fn organization(i: usize, a: &AccountDef, problems: &mut Vec<String>) -> Option<(String, String)> {
    match (&a.organization, &a.management_account) {
        (Some(o), Some(m)) => {
            if !is_account_id(m) {
                problems.push(format!(
                    "accounts[{i}].management_account: `{m}` is not a 12-digit account id"
                ));
            }
            Some((o.clone(), m.clone()))
        }
        (None, None) => None,
        _ => {
            problems.push(format!(
                "accounts[{i}]: `organization` and `management_account` go together"
            ));
            None
        }
    }
}
