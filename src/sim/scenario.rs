//! The scenario file: TOML model, validation (every problem reported, each naming its field),
//! and the compiled, indexed form the request handlers read.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::faults::Fault;
use super::policy::Policy;

// ---------------------------------------------------------------------------------------------
// File format
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Model access of every account × region × model no `[[grants]]` entry covers.
    #[serde(default)]
    default_grant: Option<GrantStatus>,
    #[serde(default)]
    accounts: Vec<AccountDef>,
    #[serde(default)]
    users: Vec<UserDef>,
    #[serde(default)]
    roles: Vec<RoleDef>,
    #[serde(default)]
    models: Vec<ModelDef>,
    #[serde(default)]
    inference_profiles: Vec<ProfileDef>,
    #[serde(default)]
    grants: Vec<GrantDef>,
    #[serde(default)]
    faults: Vec<FaultDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountDef {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyDef {
    id: String,
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDef {
    account: String,
    name: String,
    #[serde(default)]
    access_keys: Vec<AccessKeyDef>,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDef {
    account: String,
    name: String,
    trust_policy: String,
    #[serde(default)]
    policies: Vec<String>,
    /// Seconds, 3600..=43200 (default 3600).
    #[serde(default)]
    max_session_duration: Option<u64>,
}

/// Model lifecycle as the catalogue shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Lifecycle {
    #[serde(rename = "ACTIVE")]
    Active,
    #[serde(rename = "LEGACY")]
    Legacy,
    /// End of life: still resolvable, every invocation fails.
    #[serde(rename = "EOL")]
    Eol,
}

/// How a model may be invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceMode {
    OnDemand,
    /// Only through an inference profile (bare id → "on-demand throughput isn’t supported").
    ProfileOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    provider: String,
    regions: Vec<String>,
    #[serde(default)]
    lifecycle: Option<Lifecycle>,
    #[serde(default)]
    inference: Option<InferenceMode>,
    #[serde(default)]
    input_modalities: Option<Vec<String>>,
    #[serde(default)]
    output_modalities: Option<Vec<String>>,
    /// Largest `maxTokens` the model accepts (default 4096).
    #[serde(default)]
    max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    model: String,
    /// Regions the profile can be called from and routes to.
    regions: Vec<String>,
}

/// Model access of an account in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Access works.
    Granted,
    /// Access requested, being activated (agreement PENDING).
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantDef {
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

/// What a fault does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer normally after `latency`.
    Latency,
    /// 429 ThrottlingException (STS: 400 Throttling).
    Throttle,
    /// 503 ServiceUnavailableException (STS: 503 ServiceUnavailable).
    Unavailable,
    /// Drop the connection without an answer.
    Reset,
    /// 200 with a truncated body.
    Malformed,
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// `sts`, `iam`, `bedrock`, `bedrock-runtime` or `*`.
    #[serde(default = "star")]
    pub service: String,
    /// Operation name, e.g. `Converse`, `AssumeRole`; default all.
    #[serde(default)]
    pub operation: Option<String>,
    /// Caller's account (for assumed roles: the role's account).
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub kind: FaultKind,
    /// Fraction of matching calls affected (0..=1).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Affect every Nth matching call.
    #[serde(default)]
    pub every: Option<u64>,
    /// Added delay (kind = "latency"), humantime, e.g. "250ms".
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
}

// ---------------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------------

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
    pub fn scp_denial(
        &self,
        action: &str,
        resource: &str,
        ctx: &super::policy::Context<'_>,
    ) -> Option<String> {
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

#[derive(Debug)]
pub struct User {
    pub account: String,
    pub name: String,
    pub policies: Vec<Policy>,
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

#[derive(Debug)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub regions: Vec<String>,
    pub lifecycle: Lifecycle,
    pub inference: InferenceMode,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub max_tokens: u32,
}

impl Model {
    pub fn offered_in(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }
    pub fn is_embedding(&self) -> bool {
        self.output_modalities
            .iter()
            .any(|m| m.eq_ignore_ascii_case("EMBEDDING"))
    }
}

#[derive(Debug)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub model: String,
    pub regions: Vec<String>,
}

#[derive(Debug)]
struct Grant {
    account: String,
    region: String,
    model: String,
    status: GrantStatus,
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
    grants: Vec<Grant>,
    default_grant: GrantStatus,
    pub faults: Vec<Fault>,
}

/// Every problem of a scenario file, one per line, each naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scenario {origin}:\n  {}", problems.join("\n  "))]
pub struct ScenarioError {
    pub origin: String,
    pub problems: Vec<String>,
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    // e.g. us-east-1, ap-southeast-2, us-gov-west-1, eu-central-2
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

impl Scenario {
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError {
            origin: origin.to_owned(),
            problems: vec![e.to_string().trim().replace('\n', "\n  ")],
        })?;
        let mut problems = Vec::new();
        let mut p = |s: String| problems.push(s);

        let mut accounts = HashMap::new();
        for (i, a) in file.accounts.iter().enumerate() {
            if !is_account_id(&a.id) {
                p(format!(
                    "accounts[{i}].id: `{}` is not a 12-digit account id",
                    a.id
                ));
            }
            let mut scps = Vec::new();
            for (j, s) in a.scps.iter().enumerate() {
                match Policy::parse(s) {
                    Ok(pol) => scps.push(pol),
                    Err(e) => p(format!("accounts[{i}].scps[{j}]: {e}")),
                }
            }
            let scp_ids = match &a.scp_ids {
                Some(ids) => {
                    if ids.len() != a.scps.len() {
                        p(format!(
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
            };
            let organization = match (&a.organization, &a.management_account) {
                (Some(o), Some(m)) => {
                    if !is_account_id(m) {
                        p(format!(
                            "accounts[{i}].management_account: `{m}` is not a 12-digit account id"
                        ));
                    }
                    Some((o.clone(), m.clone()))
                }
                (None, None) => None,
                _ => {
                    p(format!(
                        "accounts[{i}]: `organization` and `management_account` go together"
                    ));
                    None
                }
            };
            for (j, r) in a.sts_disabled_regions.iter().enumerate() {
                if !is_region(r) {
                    p(format!(
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
                p(format!(
                    "accounts[{i}].id: account `{}` is defined twice",
                    a.id
                ));
            }
        }

        let mut users = Vec::new();
        let mut keys: HashMap<String, (String, usize)> = HashMap::new();
        for (i, u) in file.users.iter().enumerate() {
            if !accounts.contains_key(&u.account) {
                p(format!(
                    "users[{i}].account: account `{}` is not in [[accounts]]",
                    u.account
                ));
            }
            if u.name.is_empty() || u.name.contains('/') {
                p(format!("users[{i}].name: `{}` is not a user name", u.name));
            }
            let mut policies = Vec::new();
            for (j, s) in u.policies.iter().enumerate() {
                match Policy::parse(s) {
                    Ok(pol) => policies.push(pol),
                    Err(e) => p(format!("users[{i}].policies[{j}]: {e}")),
                }
            }
            for (j, k) in u.access_keys.iter().enumerate() {
                if k.id.len() < 16 || !k.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    p(format!(
                        "users[{i}].access_keys[{j}].id: `{}` is not an access key id (16+ letters/digits)",
                        k.id
                    ));
                }
                if k.id.starts_with("ASIA") {
                    p(format!(
                        "users[{i}].access_keys[{j}].id: ASIA… ids are reserved for temporary credentials"
                    ));
                }
                if k.secret.is_empty() {
                    p(format!("users[{i}].access_keys[{j}].secret: empty"));
                }
                if keys
                    .insert(k.id.clone(), (k.secret.clone(), users.len()))
                    .is_some()
                {
                    p(format!(
                        "users[{i}].access_keys[{j}].id: `{}` is used twice",
                        k.id
                    ));
                }
            }
            users.push(User {
                account: u.account.clone(),
                name: u.name.clone(),
                policies,
            });
        }

        let mut roles = HashMap::new();
        for (i, r) in file.roles.iter().enumerate() {
            if !accounts.contains_key(&r.account) {
                p(format!(
                    "roles[{i}].account: account `{}` is not in [[accounts]]",
                    r.account
                ));
            }
            let trust = match Policy::parse(&r.trust_policy) {
                Ok(t) => t,
                Err(e) => {
                    p(format!("roles[{i}].trust_policy: {e}"));
                    Policy::default()
                }
            };
            let mut policies = Vec::new();
            for (j, s) in r.policies.iter().enumerate() {
                match Policy::parse(s) {
                    Ok(pol) => policies.push(pol),
                    Err(e) => p(format!("roles[{i}].policies[{j}]: {e}")),
                }
            }
            let max = r.max_session_duration.unwrap_or(3600);
            if !(3600..=43200).contains(&max) {
                p(format!(
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
                p(format!(
                    "roles[{i}].name: role `{}` is defined twice in account {}",
                    r.name, r.account
                ));
            }
        }

        let mut models = HashMap::new();
        for (i, m) in file.models.iter().enumerate() {
            if m.id.is_empty() || !m.id.contains('.') {
                p(format!(
                    "models[{i}].id: `{}` is not a model id (provider.name...)",
                    m.id
                ));
            }
            if m.regions.is_empty() {
                p(format!("models[{i}].regions: empty"));
            }
            for (j, r) in m.regions.iter().enumerate() {
                if !is_region(r) {
                    p(format!(
                        "models[{i}].regions[{j}]: `{r}` is not a region name"
                    ));
                }
            }
            let model = Model {
                id: m.id.clone(),
                name: m.name.clone().unwrap_or_else(|| m.id.clone()),
                provider: m.provider.clone(),
                regions: m.regions.clone(),
                lifecycle: m.lifecycle.unwrap_or(Lifecycle::Active),
                inference: m.inference.unwrap_or(InferenceMode::OnDemand),
                input_modalities: m
                    .input_modalities
                    .clone()
                    .unwrap_or_else(|| vec!["TEXT".into()]),
                output_modalities: m
                    .output_modalities
                    .clone()
                    .unwrap_or_else(|| vec!["TEXT".into()]),
                max_tokens: m.max_tokens.unwrap_or(4096),
            };
            if models.insert(m.id.clone(), model).is_some() {
                p(format!("models[{i}].id: model `{}` is defined twice", m.id));
            }
        }

        let mut profiles = HashMap::new();
        for (i, pr) in file.inference_profiles.iter().enumerate() {
            if !models.contains_key(&pr.model) {
                p(format!(
                    "inference_profiles[{i}].model: model `{}` is not in [[models]]",
                    pr.model
                ));
            }
            if models.contains_key(&pr.id) {
                p(format!(
                    "inference_profiles[{i}].id: `{}` is also a model id",
                    pr.id
                ));
            }
            if pr.regions.is_empty() {
                p(format!("inference_profiles[{i}].regions: empty"));
            }
            for (j, r) in pr.regions.iter().enumerate() {
                if !is_region(r) {
                    p(format!(
                        "inference_profiles[{i}].regions[{j}]: `{r}` is not a region name"
                    ));
                }
            }
            let prof = Profile {
                id: pr.id.clone(),
                name: pr.name.clone().unwrap_or_else(|| pr.id.clone()),
                model: pr.model.clone(),
                regions: pr.regions.clone(),
            };
            if profiles.insert(pr.id.clone(), prof).is_some() {
                p(format!(
                    "inference_profiles[{i}].id: profile `{}` is defined twice",
                    pr.id
                ));
            }
        }

        let mut grants = Vec::new();
        for (i, g) in file.grants.iter().enumerate() {
            if !accounts.contains_key(&g.account) {
                p(format!(
                    "grants[{i}].account: account `{}` is not in [[accounts]]",
                    g.account
                ));
            }
            if g.region != "*" && !is_region(&g.region) {
                p(format!(
                    "grants[{i}].region: `{}` is not a region name or \"*\"",
                    g.region
                ));
            }
            if g.model != "*" && !models.contains_key(&g.model) {
                p(format!(
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

        let mut faults = Vec::new();
        for (i, f) in file.faults.iter().enumerate() {
            if !matches!(
                f.service.as_str(),
                "*" | "sts" | "iam" | "bedrock" | "bedrock-runtime"
            ) {
                p(format!(
                    "faults[{i}].service: `{}` is not one of sts, iam, bedrock, bedrock-runtime, *",
                    f.service
                ));
            }
            if let Some(pr) = f.probability
                && !(0.0..=1.0).contains(&pr)
            {
                p(format!("faults[{i}].probability: {pr} is outside 0..=1"));
            }
            if f.every == Some(0) {
                p(format!("faults[{i}].every: must be at least 1"));
            }
            if f.kind == FaultKind::Latency && f.latency.is_none() {
                p(format!(
                    "faults[{i}].latency: required for kind = \"latency\""
                ));
            }
            if let Some(a) = &f.account
                && !is_account_id(a)
            {
                p(format!(
                    "faults[{i}].account: `{a}` is not a 12-digit account id"
                ));
            }
            faults.push(Fault::new(f.clone()));
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
            default_grant: file.default_grant.unwrap_or(GrantStatus::Granted),
            faults,
        })
    }

    /// The model access of `account` to `model` in `region`: the most specific matching
    /// `[[grants]]` entry (exact model beats `*`, then exact region beats `*`; ties: first).
    pub fn grant(&self, account: &str, region: &str, model: &str) -> GrantStatus {
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
        best.map_or(self.default_grant, |(_, s)| s)
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
