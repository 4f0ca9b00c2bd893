//! The scenario: the compiled, indexed form the request handlers read, and its loading from a
//! TOML file, with every problem reported at once, each naming its field.
//!
//! One file per section, each with its file format, its compiled form and its checks:
//! `accounts`, `identities` (users with their access keys, roles; `api_keys`: their long-term
//! Bedrock API keys), `catalogue` (models,
//! inference profiles), `grants`, `fault_rules` (`[[faults]]`), `federation` (Kubernetes
//! clusters, IAM OIDC providers, Pod Identity associations); `check` holds the field checks
//! they share. [`Scenario::parse`] runs the sections in file order.

use std::collections::HashMap;

use serde::Deserialize;

mod accounts;
mod api_keys;
mod catalogue;
mod check;
mod fault_rules;
mod federation;
mod grants;
mod identities;
mod organization;

pub use self::accounts::Account;
pub use self::api_keys::BedrockApiKey;
pub use self::catalogue::{InferenceMode, Lifecycle, LifecycleDates, Model, Profile};
pub use self::federation::{Cluster, Federation, OidcProvider, PodIdentityAssociation};
pub use self::grants::GrantStatus;
pub use self::identities::{Role, User};
pub use self::organization::{Member, Organization, Unit};
pub use super::faults::{FaultDef, FaultKind};

use super::faults::Fault;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Model access of every account × region × model no `[[grants]]` entry covers.
    #[serde(default)]
    default_grant: Option<GrantStatus>,
    #[serde(default)]
    accounts: Vec<accounts::AccountDef>,
    #[serde(default)]
    users: Vec<identities::UserDef>,
    #[serde(default)]
    roles: Vec<identities::RoleDef>,
    #[serde(default)]
    models: Vec<catalogue::ModelDef>,
    #[serde(default)]
    inference_profiles: Vec<catalogue::ProfileDef>,
    #[serde(default)]
    grants: Vec<grants::GrantDef>,
    #[serde(default)]
    faults: Vec<FaultDef>,
    /// The AWS Organization AWS Organizations' List operations answer from.
    #[serde(default)]
    organization: Option<organization::OrganizationDef>,
    #[serde(default)]
    clusters: Vec<federation::ClusterDef>,
    #[serde(default)]
    oidc_providers: Vec<federation::OidcProviderDef>,
    #[serde(default)]
    pod_identity_associations: Vec<federation::AssociationDef>,
    /// The region of a bearer (API key) request that names none (see `bearer`).
    #[serde(default)]
    api_key_region: Option<String>,
}

/// A loaded, validated scenario.
#[derive(Debug)]
pub struct Scenario {
    pub origin: String,
    pub accounts: HashMap<String, Account>,
    pub users: Vec<User>,
    /// access key id → (secret, index into `users`)
    pub keys: HashMap<String, (String, usize)>,
    /// (account, role name) → role
    pub roles: HashMap<(String, String), Role>,
    pub models: HashMap<String, Model>,
    pub profiles: HashMap<String, Profile>,
    grants: grants::Grants,
    pub faults: Vec<Fault>,
    pub organization: Option<Organization>,
    /// Kubernetes clusters, IAM OIDC providers and Pod Identity associations.
    pub federation: Federation,
    /// The region of a bearer (API key) request whose host and key name none.
    pub api_key_region: String,
}

/// Every problem of a scenario file, one per line, each naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scenario {origin}:\n  {}", problems.join("\n  "))]
pub struct ScenarioError {
    pub origin: String,
    pub problems: Vec<String>,
}

impl Scenario {
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError {
            origin: origin.to_owned(),
            problems: vec![e.to_string().trim().replace('\n', "\n  ")],
        })?;
        let mut problems = Vec::new();
        let accounts = accounts::compile(&file.accounts, &mut problems);
        let (users, keys) = identities::users(&file.users, &accounts, &mut problems);
        let roles = identities::roles(&file.roles, &accounts, &mut problems);
        let models = catalogue::models(&file.models, &mut problems);
        let profiles = catalogue::profiles(&file.inference_profiles, &models, &mut problems);
        let grants = grants::compile(
            &file.grants,
            file.default_grant,
            &accounts,
            &models,
            &mut problems,
        );
        let faults = fault_rules::compile(&file.faults, &mut problems);
        let organization = organization::compile(file.organization.as_ref(), &mut problems);
        let federation = federation::compile(
            &file.clusters,
            &file.oidc_providers,
            &file.pod_identity_associations,
            &accounts,
            &mut problems,
        );
        let api_key_region = file
            .api_key_region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_owned());
        if !check::is_region(&api_key_region) {
            problems.push(format!(
                "api_key_region: `{api_key_region}` is not a region name"
            ));
        }
        if !problems.is_empty() {
            return Err(ScenarioError {
                origin: origin.to_owned(),
                problems,
            });
        }
        Ok(Scenario {
            origin: origin.to_owned(),
            accounts,
            users,
            keys,
            roles,
            models,
            profiles,
            grants,
            faults,
            organization,
            federation,
            api_key_region,
        })
    }

    /// The user a long-term Bedrock API key's alias (`<user>-at-<account>`) names.
    pub fn api_key_user(&self, alias: &str) -> Option<&User> {
        let (name, account) = alias.rsplit_once("-at-")?;
        self.users
            .iter()
            .find(|u| u.name == name && u.account == account)
    }

    /// The model access of `account` to `model` in `region`: the most specific matching
    /// `[[grants]]` entry (exact model beats `*`, then exact region beats `*`; ties: first).
    pub fn grant(&self, account: &str, region: &str, model: &str) -> GrantStatus {
        self.grants.lookup(account, region, model)
    }

    pub fn role_by_arn(&self, arn: &str) -> Option<&Role> {
        let rest = arn.strip_prefix("arn:aws:iam::")?;
        let (acct, rest) = rest.split_once(':')?;
        let path_name = rest.strip_prefix("role/")?;
        let name = path_name.rsplit('/').next()?;
        self.roles.get(&(acct.to_owned(), name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_naming_the_field() {
        let text = "[[accounts]]\nid = \"111111111111\"\nscp = []\n";
        let e = Scenario::parse(text, "t.toml").err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("unknown field `scp`"), "{msg}");
        assert!(msg.contains("t.toml"), "{msg}");
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let text = r#"
[[accounts]]
id = "1234"
[[users]]
account = "999999999999"
name = "u"
access_keys = [{ id = "AKIASHORT", secret = "s" }]
policies = ["{"]
[[roles]]
account = "1234"
name = "r"
trust_policy = '{"Statement":[]}'
max_session_duration = 100
[[grants]]
account = "1234"
model = "nope.model"
status = "granted"
[[faults]]
kind = "latency"
probability = 2.0
exception = "throttlingException"
"#;
        let e = match Scenario::parse(text, "t.toml") {
            Ok(_) => panic!("should fail"),
            Err(e) => e,
        };
        let all = e.problems.join("\n");
        for needle in [
            "accounts[0].id",
            "users[0].account",
            "users[0].policies[0]",
            "users[0].access_keys[0].id",
            "roles[0].max_session_duration",
            "grants[0].model",
            "faults[0].probability",
            "faults[0].latency",
            "faults[0].exception: only for kind = \"stream_error\"",
        ] {
            assert!(all.contains(needle), "missing {needle} in\n{all}");
        }
    }

    #[test]
    fn most_specific_grant_wins_over_wildcards() {
        let text = r#"
default_grant = "not_granted"
[[accounts]]
id = "222222222222"
[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1", "us-west-2"]
[[grants]]
account = "222222222222"
status = "granted"
[[grants]]
account = "222222222222"
region = "us-west-2"
model = "anthropic.claude-3-haiku-20240307-v1:0"
status = "pending"
"#;
        let s = match Scenario::parse(text, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let m = "anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(
            s.grant("222222222222", "us-east-1", m),
            GrantStatus::Granted
        );
        assert_eq!(
            s.grant("222222222222", "us-west-2", m),
            GrantStatus::Pending
        );
        assert_eq!(
            s.grant("333333333333", "us-west-2", m),
            GrantStatus::NotGranted
        );
    }
}
