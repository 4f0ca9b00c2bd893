//! The `[[users]]` and `[[roles]]` sections: IAM identities. Users carry long-term access keys,
//! long-term Bedrock API keys (`api_keys`) and identity policies; roles a trust policy, identity
//! policies and a session length limit.

use std::collections::HashMap;

use serde::Deserialize;

use super::accounts::Account;
use super::check;
use crate::sim::policy::Policy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyDef {
    id: String,
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserDef {
    account: String,
    name: String,
    #[serde(default)]
    access_keys: Vec<AccessKeyDef>,
    /// Long-term Amazon Bedrock API keys (IAM service-specific credentials for Bedrock).
    #[serde(default)]
    bedrock_api_keys: Vec<super::api_keys::BedrockApiKeyDef>,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleDef {
    account: String,
    name: String,
    trust_policy: String,
    #[serde(default)]
    policies: Vec<String>,
    /// Seconds, 3600..=43200 (default 3600).
    #[serde(default)]
    max_session_duration: Option<u64>,
}

#[derive(Debug)]
pub struct User {
    pub account: String,
    pub name: String,
    pub policies: Vec<Policy>,
    /// The user's long-term Bedrock API keys.
    pub api_keys: Vec<super::api_keys::BedrockApiKey>,
}

#[derive(Debug)]
pub struct Role {
    pub account: String,
    pub name: String,
    pub trust: Policy,
    /// The trust policy as written (GetRole returns it).
    pub trust_text: String,
    pub policies: Vec<Policy>,
    pub max_session_duration: u64,
}

/// access key id → (secret, index into the users)
pub(super) type Keys = HashMap<String, (String, usize)>;

/// Checks and compiles `[[users]]`, with the index of their access keys.
pub(super) fn users(
    defs: &[UserDef],
    accounts: &HashMap<String, Account>,
    problems: &mut Vec<String>,
) -> (Vec<User>, Keys) {
    let mut users = Vec::new();
    let mut keys = Keys::new();
    for (i, u) in defs.iter().enumerate() {
        if !accounts.contains_key(&u.account) {
            problems.push(format!(
                "users[{i}].account: account `{}` is not in [[accounts]]",
                u.account
            ));
        }
        if u.name.is_empty() || u.name.contains('/') {
            problems.push(format!("users[{i}].name: `{}` is not a user name", u.name));
        }
        let policies = check::policies(&u.policies, &format!("users[{i}].policies"), problems);
        for (j, k) in u.access_keys.iter().enumerate() {
            access_key(i, j, k, problems);
            if keys
                .insert(k.id.clone(), (k.secret.clone(), users.len()))
                .is_some()
            {
                problems.push(format!(
                    "users[{i}].access_keys[{j}].id: `{}` is used twice",
                    k.id
                ));
            }
        }
        let api_keys = super::api_keys::compile(i, &u.bedrock_api_keys, problems);
        users.push(User {
            account: u.account.clone(),
            name: u.name.clone(),
            policies,
            api_keys,
        });
    }
    (users, keys)
}

/// The shape of one long-term access key.
fn access_key(i: usize, j: usize, k: &AccessKeyDef, problems: &mut Vec<String>) {
    if k.id.len() < 16 || !k.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problems.push(format!(
            "users[{i}].access_keys[{j}].id: `{}` is not an access key id (16+ letters/digits)",
            k.id
        ));
    }
    if k.id.starts_with("ASIA") {
        problems.push(format!(
            "users[{i}].access_keys[{j}].id: ASIA… ids are reserved for temporary credentials"
        ));
    }
    if k.secret.is_empty() {
        problems.push(format!("users[{i}].access_keys[{j}].secret: empty"));
    }
}

/// Checks and compiles `[[roles]]`, keyed by (account, role name).
pub(super) fn roles(
    defs: &[RoleDef],
    accounts: &HashMap<String, Account>,
    problems: &mut Vec<String>,
) -> HashMap<(String, String), Role> {
    let mut roles = HashMap::new();
    for (i, r) in defs.iter().enumerate() {
        if !accounts.contains_key(&r.account) {
            problems.push(format!(
                "roles[{i}].account: account `{}` is not in [[accounts]]",
                r.account
            ));
        }
        let trust = match Policy::parse(&r.trust_policy) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("roles[{i}].trust_policy: {e}"));
                Policy::default()
            }
        };
        let policies = check::policies(&r.policies, &format!("roles[{i}].policies"), problems);
        let max = r.max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            problems.push(format!(
                "roles[{i}].max_session_duration: {max} is outside 3600..=43200 seconds"
            ));
        }
        let role = Role {
            account: r.account.clone(),
            name: r.name.clone(),
            trust,
            trust_text: r.trust_policy.clone(),
            policies,
            max_session_duration: max,
        };
        if roles
            .insert((r.account.clone(), r.name.clone()), role)
            .is_some()
        {
            problems.push(format!(
                "roles[{i}].name: role `{}` is defined twice in account {}",
                r.name, r.account
            ));
        }
    }
    roles
}
