//! Concrete fixes, filled in with the real account ids, role and model ARNs and regions.
//!
//! The external id is a secret: it is never printed. Where a fix needs it, the fix carries
//! [`EXTERNAL_ID_PLACEHOLDER`] and says which configuration field holds the value.

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Target;
use crate::probe::model_access::{foundation_model_id, is_inference_profile};

/// Stands for the target's `external_id` wherever a fix would contain it.
pub const EXTERNAL_ID_PLACEHOLDER: &str = "<EXTERNAL_ID>";

/// What kind of change a fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// Replace (or merge into) the target role's trust policy: `policy`, on `principal` (the role).
    TrustPolicy,
    /// Attach `policy` as an identity policy of `principal` (a user or role ARN).
    IdentityPolicy,
    /// Remove or narrow the Deny of `action` on `resource` in an identity policy of `principal`.
    RemoveDeny,
    /// A service control policy of the organisation denies it for `account` (`policy_arn` when
    /// AWS named it).
    Scp,
    /// Grant model access in `account` and `region` for `model` (console and `commands`).
    ModelAccess,
    /// Submit the Anthropic use-case form for `account` (console and `commands`).
    UseCaseForm,
    /// Nothing to change: wait and re-check.
    Wait,
    /// Change the exporter configuration: `config_change`.
    ConfigChange,
    /// Change something in IAM with `commands` (e.g. a role's maximum session duration).
    Command,
    /// Free text (credentials, support cases, quotas, transient conditions).
    Advice,
}

/// A change of the exporter's configuration: set `field` of target `target` to `value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigChange {
    pub target: String,
    pub field: String,
    pub value: Value,
}

/// One concrete fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub kind: FixKind,
    /// One or two sentences for humans.
    pub summary: String,
    /// The principal (user or role ARN) whose policy changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// A policy document (IAM JSON) to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// The ARN of the policy at fault, when AWS named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// Where to do it in the AWS console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// CLI commands, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_change: Option<ConfigChange>,
    /// Placeholders in `policy`/`commands` and what to put there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<Placeholder>,
}

/// A placeholder in a fix and what it stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placeholder {
    pub placeholder: String,
    pub meaning: String,
}

impl Fix {
    pub fn new(kind: FixKind, summary: impl Into<String>) -> Fix {
        Fix {
            kind,
            summary: summary.into(),
            principal: None,
            account: None,
            region: None,
            model: None,
            action: None,
            resource: None,
            policy: None,
            policy_arn: None,
            console: None,
            commands: Vec::new(),
            config_change: None,
            placeholders: Vec::new(),
        }
    }
}

/// What the fixes of one tuple are filled in with.
#[derive(Debug, Clone)]
pub struct FixContext<'a> {
    pub target: &'a Target,
    pub region: &'a str,
    pub model: &'a str,
    pub source_account: Option<&'a str>,
    /// The source principal as IAM knows it (user or role ARN).
    pub source_principal: Option<&'a str>,
    pub target_account: &'a str,
}

impl FixContext<'_> {
    /// The principal that calls Bedrock: the target's role, or for a same-account target the
    /// source principal.
    pub fn invoker(&self) -> String {
        self.target
            .role_arn
            .clone()
            .or_else(|| self.source_principal.map(str::to_string))
            .unwrap_or_else(|| "the source principal".to_string())
    }
}

/// `arn:aws:iam::<account>:root` or a placeholder when the account is unknown.
fn account_root(account: Option<&str>) -> String {
    format!(
        "arn:aws:iam::{}:root",
        account.unwrap_or("<SOURCE_ACCOUNT_ID>")
    )
}

/// The foundation model behind a model id: the id itself, or an inference profile's id without
/// its geographic prefix.
pub fn base_model(model: &str) -> &str {
    let id = foundation_model_id(model);
    if is_inference_profile(id) && !id.starts_with("arn:") {
        id.split_once('.').map_or(id, |(_, rest)| rest)
    } else {
        id
    }
}

/// The resource ARNs `bedrock:InvokeModel` is authorised on for `model` in `region`: the
/// foundation-model ARN, or for an inference profile the profile ARN plus the foundation-model
/// ARNs of the regions it may route to.
pub fn model_arns(model: &str, region: &str, account: &str) -> Vec<String> {
    if model.starts_with("arn:") {
        return vec![model.to_string()];
    }
    if is_inference_profile(model) {
        vec![
            format!("arn:aws:bedrock:{region}:{account}:inference-profile/{model}"),
            format!("arn:aws:bedrock:*::foundation-model/{}", base_model(model)),
        ]
    } else {
        vec![format!(
            "arn:aws:bedrock:{region}::foundation-model/{model}"
        )]
    }
}

/// The ARNs to simulate `bedrock:InvokeModel` on (concrete: the tuple's region).
pub fn simulated_arns(model: &str, region: &str, account: &str) -> Vec<String> {
    if model.starts_with("arn:") {
        return vec![model.to_string()];
    }
    if is_inference_profile(model) {
        vec![
            format!("arn:aws:bedrock:{region}:{account}:inference-profile/{model}"),
            format!(
                "arn:aws:bedrock:{region}::foundation-model/{}",
                base_model(model)
            ),
        ]
    } else {
        vec![format!(
            "arn:aws:bedrock:{region}::foundation-model/{model}"
        )]
    }
}

/// The trust policy the target role needs: the source account may assume it (with the
/// ExternalId condition when the target configures one).
pub fn trust_policy(cx: &FixContext<'_>) -> Fix {
    let role = cx.target.role_arn.clone().unwrap_or_default();
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": account_root(cx.source_account)},
        "Action": "sts:AssumeRole",
    });
    let mut fix = if cx.target.external_id.is_some() {
        statement["Condition"] =
            json!({"StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}});
        let mut f = Fix::new(
            FixKind::TrustPolicy,
            format!(
                "In account {}, the trust policy of {role} must allow the source account {} to sts:AssumeRole, with the sts:ExternalId condition equal to the target's configured external_id.",
                cx.target_account,
                cx.source_account.unwrap_or("<SOURCE_ACCOUNT_ID>"),
            ),
        );
        f.placeholders.push(external_id_placeholder(cx));
        f
    } else {
        Fix::new(
            FixKind::TrustPolicy,
            format!(
                "In account {}, the trust policy of {role} must allow the source account {} to sts:AssumeRole. This target configures no external_id: if the role's trust policy requires sts:ExternalId, set it on the target instead (see the configuration fix).",
                cx.target_account,
                cx.source_account.unwrap_or("<SOURCE_ACCOUNT_ID>"),
            ),
        )
    };
    fix.principal = Some(role.clone());
    fix.account = Some(cx.target_account.to_string());
    fix.policy = Some(json!({"Version": "2012-10-17", "Statement": [statement]}));
    fix.console = Some(format!(
        "IAM console of account {} → Roles → {} → Trust relationships → Edit trust policy",
        cx.target_account,
        cx.target.role_name()
    ));
    fix.commands.push(format!(
        "aws iam update-assume-role-policy --role-name {} --policy-document file://trust-policy.json",
        cx.target.role_name()
    ));
    fix
}

fn external_id_placeholder(cx: &FixContext<'_>) -> Placeholder {
    Placeholder {
        placeholder: EXTERNAL_ID_PLACEHOLDER.to_string(),
        meaning: format!(
            "the external_id configured for target {:?} (never printed: it is a secret)",
            cx.target.name
        ),
    }
}

/// A target without `external_id` whose role may require one.
pub fn set_external_id(cx: &FixContext<'_>) -> Fix {
    let mut fix = Fix::new(
        FixKind::ConfigChange,
        format!(
            "The role's trust policy may require an sts:ExternalId and target {:?} sends none: set external_id on the target to the value the role's trust policy expects.",
            cx.target.name
        ),
    );
    fix.config_change = Some(ConfigChange {
        target: cx.target.name.clone(),
        field: "external_id".to_string(),
        value: Value::String(EXTERNAL_ID_PLACEHOLDER.to_string()),
    });
    fix.placeholders.push(Placeholder {
        placeholder: EXTERNAL_ID_PLACEHOLDER.to_string(),
        meaning: "the sts:ExternalId value of the role's trust policy condition (ask the target account's owner)".to_string(),
    });
    fix
}

/// The source principal's identity policy must allow `sts:AssumeRole` on the role.
pub fn source_assume_policy(cx: &FixContext<'_>) -> Fix {
    let role = cx.target.role_arn.clone().unwrap_or_default();
    let principal = cx
        .source_principal
        .map_or_else(|| "the source principal".to_string(), str::to_string);
    let mut fix = Fix::new(
        FixKind::IdentityPolicy,
        format!(
            "In the source account {}, allow {principal} to sts:AssumeRole on {role}.",
            cx.source_account.unwrap_or("<SOURCE_ACCOUNT_ID>")
        ),
    );
    fix.principal = cx.source_principal.map(str::to_string);
    fix.account = cx.source_account.map(str::to_string);
    fix.action = Some("sts:AssumeRole".to_string());
    fix.resource = Some(role.clone());
    fix.policy = Some(json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]
    }));
    fix
}

/// The source principal's own policy explicitly denies `sts:AssumeRole` on the role.
pub fn source_remove_deny(cx: &FixContext<'_>) -> Fix {
    let role = cx.target.role_arn.clone().unwrap_or_default();
    let mut fix = Fix::new(
        FixKind::RemoveDeny,
        format!(
            "An identity-based policy of {} denies sts:AssumeRole on {role}: remove or narrow that Deny statement.",
            cx.source_principal.unwrap_or("the source principal")
        ),
    );
    fix.principal = cx.source_principal.map(str::to_string);
    fix.account = cx.source_account.map(str::to_string);
    fix.action = Some("sts:AssumeRole".to_string());
    fix.resource = Some(role);
    fix
}

/// The role's maximum session duration is lower than the configured `session_duration`.
pub fn session_duration(cx: &FixContext<'_>) -> Vec<Fix> {
    let mut lower = Fix::new(
        FixKind::ConfigChange,
        format!(
            "Lower session_duration of target {:?} to at most the role's MaxSessionDuration (1h is the default maximum of every role).",
            cx.target.name
        ),
    );
    lower.config_change = Some(ConfigChange {
        target: cx.target.name.clone(),
        field: "session_duration".to_string(),
        value: Value::String("1h".to_string()),
    });
    let secs = cx.target.settings.session_duration.as_secs().max(3600);
    let mut raise = Fix::new(
        FixKind::Command,
        format!(
            "Or, in account {}, raise the role's maximum session duration to {secs} s.",
            cx.target_account
        ),
    );
    raise.principal = cx.target.role_arn.clone();
    raise.commands.push(format!(
        "aws iam update-role --role-name {} --max-session-duration {secs}",
        cx.target.role_name()
    ));
    vec![lower, raise]
}

/// The role's identity policies must allow invoking the model (and, for the control-plane
/// check, reading its availability).
pub fn invoke_permission(cx: &FixContext<'_>, control_plane: bool) -> Fix {
    let role = cx.invoker();
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        "Resource": model_arns(cx.model, cx.region, cx.target_account),
    })];
    if control_plane {
        statements.push(json!({
            "Effect": "Allow",
            "Action": ["bedrock:GetFoundationModelAvailability", "bedrock:GetFoundationModel", "bedrock:GetInferenceProfile"],
            "Resource": "*",
        }));
    }
    let mut fix = Fix::new(
        FixKind::IdentityPolicy,
        format!(
            "In account {}, attach this permission policy to {role} (the assumed role: permissions in the source account do not matter after the role is assumed).",
            cx.target_account
        ),
    );
    fix.principal = Some(role.clone());
    fix.account = Some(cx.target_account.to_string());
    fix.region = Some(cx.region.to_string());
    fix.model = Some(cx.model.to_string());
    fix.action = Some("bedrock:InvokeModel".to_string());
    fix.policy = Some(json!({"Version": "2012-10-17", "Statement": statements}));
    fix.commands.push(format!(
        "aws iam put-{kind}-policy --{kind}-name {} --policy-name bedrock-invoke --policy-document file://bedrock-invoke.json",
        role.rsplit('/').next().unwrap_or_default(),
        kind = if role.contains(":user/") { "user" } else { "role" }
    ));
    fix
}

/// An identity policy of the role explicitly denies the action.
pub fn role_remove_deny(cx: &FixContext<'_>, action: &str, policy_arn: Option<String>) -> Fix {
    let role = cx.invoker();
    let resource = model_arns(cx.model, cx.region, cx.target_account)
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut fix = Fix::new(
        FixKind::RemoveDeny,
        format!(
            "An identity-based policy of {role} in account {} denies {action} on {resource}{}: remove or narrow that Deny statement (an Allow cannot override it).",
            cx.target_account,
            policy_arn
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ),
    );
    fix.principal = Some(role);
    fix.account = Some(cx.target_account.to_string());
    fix.action = Some(action.to_string());
    fix.resource = Some(resource);
    fix.policy_arn = policy_arn;
    fix
}

/// The ARN that ends an AWS denial message (`…: arn:aws:…`), if any.
pub fn policy_arn_in(message: &str) -> Option<String> {
    message
        .match_indices("arn:aws")
        .map(|(start, _)| {
            let arn: String = message[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
                .collect();
            arn.trim_end_matches(['.', ')']).to_string()
        })
        .find(|arn| arn.contains(":policy/"))
}

/// An SCP (or RCP) of the organisation denies the call for the target account.
pub fn scp(account: &str, action: &str, message: &str) -> Fix {
    let policy_arn = policy_arn_in(message);
    let mut fix = Fix::new(
        FixKind::Scp,
        format!(
            "A service control policy of the organisation denies {action} for account {}{}. Ask the organisation's administrators (management account) to exempt this account or the calling principal from that Deny, or to detach the SCP.",
            account,
            policy_arn
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
        ),
    );
    fix.account = Some(account.to_string());
    fix.action = Some(action.to_string());
    fix.commands.push(format!(
        "aws organizations list-policies-for-target --target-id {} --filter SERVICE_CONTROL_POLICY",
        account
    ));
    if let Some(id) = policy_arn.as_deref().and_then(|a| a.rsplit('/').next()) {
        fix.commands.push(format!(
            "aws organizations describe-policy --policy-id {id}"
        ));
    }
    fix.console = Some(
        "AWS Organizations console (management account) → Policies → Service control policies"
            .to_string(),
    );
    fix.policy_arn = policy_arn;
    fix
}

fn console_bedrock(region: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/model-catalog")
}

/// Grant (or request) model access in the target account and region. `old_world` is true
/// when AWS answered with the pre-2025-10 grant signals (authorizationStatus NOT_AUTHORIZED,
/// entitlement NOT_AVAILABLE, "You don't have access to the model").
pub fn model_access(cx: &FixContext<'_>, old_world: bool) -> Fix {
    let model = base_model(cx.model);
    let r = cx.region;
    let world = if old_world {
        "AWS answered with an explicit model-access grant check: this account still uses the model-access grants of before 2025-10 (per account, per region, per model)"
    } else {
        "Since 2025-10 serverless models are enabled by default and restricted with IAM/SCPs; an account that predates it may still need the grant"
    };
    let mut fix = Fix::new(
        FixKind::ModelAccess,
        format!(
            "{world}. Enable access to {model} in account {} in region {r} (access in another region does not count); the principal creating the agreement needs the Marketplace permissions of the policy below.",
            cx.target_account
        ),
    );
    fix.account = Some(cx.target_account.to_string());
    fix.region = Some(r.to_string());
    fix.model = Some(model.to_string());
    fix.console = Some(format!(
        "AWS console of account {} in region {r} → Amazon Bedrock → Model catalog → {model} (older accounts: Bedrock → Model access → Modify model access): {}",
        cx.target_account,
        console_bedrock(r)
    ));
    fix.commands = vec![
        format!(
            "aws bedrock list-foundation-model-agreement-offers --model-id {model} --region {r}"
        ),
        format!(
            "aws bedrock create-foundation-model-agreement --model-id {model} --offer-token <OFFER_TOKEN> --region {r}"
        ),
        format!("aws bedrock get-foundation-model-availability --model-id {model} --region {r}"),
    ];
    if model.starts_with("anthropic.") {
        fix.commands.insert(
            0,
            format!(
                "aws bedrock put-use-case-for-model-access --form-data fileb://use-case.json --region {r}"
            ),
        );
    }
    // Creating the agreement subscribes through AWS Marketplace: whoever runs the commands
    // (or the invoking role, for the subscription on first invocation) needs these.
    fix.principal = Some(cx.invoker());
    fix.policy = Some(marketplace_policy());
    fix.placeholders.push(Placeholder {
        placeholder: "<OFFER_TOKEN>".to_string(),
        meaning: "the offerToken printed by list-foundation-model-agreement-offers".to_string(),
    });
    fix
}

/// The AWS Marketplace permissions a subscription needs (on first invocation, or when an
/// agreement is created).
fn marketplace_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["aws-marketplace:Subscribe", "aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions"],
            "Resource": "*"
        }]
    })
}

/// Access is being activated.
pub fn wait(cx: &FixContext<'_>) -> Fix {
    let model = base_model(cx.model);
    let mut fix = Fix::new(
        FixKind::Wait,
        format!(
            "Access to {model} in account {} region {} is being activated (agreement PENDING): wait a few minutes and re-check.",
            cx.target_account, cx.region
        ),
    );
    fix.account = Some(cx.target_account.to_string());
    fix.region = Some(cx.region.to_string());
    fix.model = Some(model.to_string());
    fix.commands.push(format!(
        "aws bedrock get-foundation-model-availability --model-id {model} --region {}",
        cx.region
    ));
    fix
}

/// Third-party models subscribe through AWS Marketplace on first invocation: the invoking role
/// needs the Marketplace permissions.
pub fn marketplace(cx: &FixContext<'_>) -> Fix {
    let role = cx.invoker();
    let model = base_model(cx.model);
    let mut fix = Fix::new(
        FixKind::IdentityPolicy,
        format!(
            "Since 2025-10, third-party models such as {model} are subscribed through AWS Marketplace on their first invocation, which needs the Marketplace permissions: attach this policy to {role} in account {} (or subscribe once from a principal that has them), then invoke in {}.",
            cx.target_account, cx.region
        ),
    );
    fix.principal = Some(role);
    fix.account = Some(cx.target_account.to_string());
    fix.region = Some(cx.region.to_string());
    fix.model = Some(model.to_string());
    fix.policy = Some(marketplace_policy());
    fix.commands.push(format!(
        "aws iam put-role-policy --role-name {} --policy-name bedrock-marketplace --policy-document file://bedrock-marketplace.json",
        cx.target.role_name()
    ));
    fix.commands.push(format!(
        "aws bedrock get-foundation-model-availability --model-id {model} --region {}",
        cx.region
    ));
    fix
}

/// Anthropic's one-time use-case form.
pub fn use_case_form(cx: &FixContext<'_>) -> Fix {
    let model = base_model(cx.model);
    let r = cx.region;
    let mut fix = Fix::new(
        FixKind::UseCaseForm,
        format!(
            "Account {} has not submitted Anthropic's use-case details (needed once per account, or once for the organisation's management account, in both the pre- and post-2025-10 worlds).",
            cx.target_account
        ),
    );
    fix.account = Some(cx.target_account.to_string());
    fix.region = Some(r.to_string());
    fix.model = Some(model.to_string());
    fix.console = Some(format!(
        "AWS console of account {} in region {r} → Amazon Bedrock → Model catalog → {model} → submit use case details: {}",
        cx.target_account,
        console_bedrock(r)
    ));
    fix.commands = vec![
        format!(
            "aws bedrock put-use-case-for-model-access --form-data fileb://use-case.json --region {r}"
        ),
        format!("aws bedrock get-use-case-for-model-access --region {r}"),
    ];
    fix
}

/// A configuration change replacing the tuple's region.
pub fn change_region(cx: &FixContext<'_>, offered: &[String]) -> Fix {
    let better = offered.first().cloned();
    let mut regions: Vec<Value> = Vec::new();
    for r in &cx.target.regions {
        if r == cx.region {
            if let Some(b) = &better
                && !cx.target.regions.contains(b)
            {
                regions.push(Value::String(b.clone()));
            }
        } else {
            regions.push(Value::String(r.clone()));
        }
    }
    let model = base_model(cx.model);
    let summary = match &better {
        Some(_) => format!(
            "{model} is not offered in {}; it is offered in {}. Probe it there (or use a cross-region inference profile).",
            cx.region,
            offered.join(", ")
        ),
        None => format!(
            "{model} is not offered in {}: change the region (see the Bedrock model catalog for where it is offered) or use a cross-region inference profile.",
            cx.region
        ),
    };
    let mut fix = Fix::new(FixKind::ConfigChange, summary);
    fix.region = Some(cx.region.to_string());
    fix.model = Some(model.to_string());
    if better.is_some() {
        fix.config_change = Some(ConfigChange {
            target: cx.target.name.clone(),
            field: "regions".to_string(),
            value: Value::Array(regions),
        });
    }
    fix
}

/// A configuration change replacing the tuple's model by `replacement`.
pub fn change_model(cx: &FixContext<'_>, replacement: Option<&str>, why: &str) -> Fix {
    let summary = match replacement {
        Some(m) => format!(
            "{why}: probe {m} instead of {} in target {:?}.",
            cx.model, cx.target.name
        ),
        None => format!("{why}: change the model id of target {:?}.", cx.target.name),
    };
    let mut fix = Fix::new(FixKind::ConfigChange, summary);
    fix.region = Some(cx.region.to_string());
    fix.model = Some(cx.model.to_string());
    if let Some(m) = replacement {
        let models: Vec<Value> = cx
            .target
            .models
            .iter()
            .map(|x| {
                if x == cx.model {
                    Value::String(m.to_string())
                } else {
                    Value::String(x.clone())
                }
            })
            .collect();
        fix.config_change = Some(ConfigChange {
            target: cx.target.name.clone(),
            field: "models".to_string(),
            value: Value::Array(models),
        });
    }
    fix
}

/// The reason's generic fix as advice.
pub fn advice(text: &str) -> Fix {
    Fix::new(FixKind::Advice, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Expect, InvokeMode, ProbeSettings};
    use std::time::Duration;

    fn target(external_id: Option<&str>) -> Target {
        Target {
            name: "t".into(),
            source: "s".into(),
            role_arn: Some("arn:aws:iam::222222222222:role/ProbeRole".into()),
            external_id: external_id.map(str::to_string),
            regions: vec!["ap-northeast-1".into(), "us-east-1".into()],
            models: vec!["mistral.mistral-large-2402-v1:0".into()],
            settings: ProbeSettings {
                interval: Duration::from_secs(60),
                timeout: Duration::from_secs(5),
                concurrency: 1,
                invoke: InvokeMode::Converse,
                invoke_interval: Duration::from_secs(60),
                model_access: true,
                session_name: "x".into(),
                session_duration: Duration::from_secs(7200),
                max_tokens: 1,
                expect: Expect::Allow,
            },
        }
    }

    fn cx(t: &Target) -> FixContext<'_> {
        FixContext {
            target: t,
            region: "ap-northeast-1",
            model: "mistral.mistral-large-2402-v1:0",
            source_account: Some("111111111111"),
            source_principal: Some("arn:aws:iam::111111111111:user/p"),
            target_account: "222222222222",
        }
    }

    #[test]
    fn a_trust_policy_fix_names_the_source_account_and_never_the_external_id() {
        let t = target(Some("very-secret-external"));
        let fix = trust_policy(&cx(&t));
        let text = serde_json::to_string(&fix).unwrap_or_default();
        assert!(text.contains("arn:aws:iam::111111111111:root"), "{text}");
        assert!(text.contains(EXTERNAL_ID_PLACEHOLDER), "{text}");
        assert!(!text.contains("very-secret-external"), "{text}");
        let t = target(None);
        let fix = trust_policy(&cx(&t));
        assert!(
            fix.policy
                .as_ref()
                .is_some_and(|p| p["Statement"][0].get("Condition").is_none())
        );
        assert!(fix.summary.contains("external_id"));
    }

    #[test]
    fn a_profile_is_authorised_on_the_profile_and_its_foundation_model() {
        let arns = model_arns(
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us-east-1",
            "222222222222",
        );
        assert_eq!(
            arns,
            vec![
                "arn:aws:bedrock:us-east-1:222222222222:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0".to_string(),
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0".to_string(),
            ]
        );
        assert_eq!(
            model_arns("amazon.titan-text-express-v1", "eu-west-3", "1"),
            vec![
                "arn:aws:bedrock:eu-west-3::foundation-model/amazon.titan-text-express-v1"
                    .to_string()
            ]
        );
    }

    #[test]
    fn an_scp_denial_names_the_policy_from_the_message() {
        let msg = "User: arn:aws:sts::333333333333:assumed-role/R/s is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/x with an explicit deny in a service control policy: arn:aws:organizations::999999999999:policy/o-demo12345/service_control_policy/p-sandbox1";
        assert_eq!(
            policy_arn_in(msg).as_deref(),
            Some(
                "arn:aws:organizations::999999999999:policy/o-demo12345/service_control_policy/p-sandbox1"
            )
        );
        assert_eq!(
            policy_arn_in("User: arn:aws:sts::1:assumed-role/R/s is not authorized"),
            None
        );
        let fix = scp("333333333333", "bedrock:InvokeModel", msg);
        assert!(
            fix.commands
                .iter()
                .any(|c| c.contains("--policy-id p-sandbox1"))
        );
    }

    #[test]
    fn a_region_fix_replaces_only_the_failing_region() {
        let t = target(None);
        let fix = change_region(&cx(&t), &["us-west-2".to_string()]);
        let change = fix.config_change.unwrap_or_else(|| panic!("no change"));
        assert_eq!(change.value, json!(["us-west-2", "us-east-1"]));
        let fix = change_region(&cx(&t), &[]);
        assert!(fix.config_change.is_none());
    }

    #[test]
    fn model_access_commands_carry_the_region_and_the_bare_model() {
        let t = target(None);
        let mut c = cx(&t);
        c.model = "eu.mistral.mistral-large-2402-v1:0";
        let fix = model_access(&c, true);
        assert!(
            fix.commands
                .iter()
                .all(|x| x.contains("--region ap-northeast-1"))
        );
        assert!(
            fix.commands
                .iter()
                .all(|x| x.contains("--model-id mistral.mistral-large-2402-v1:0"))
        );
        assert!(fix.summary.contains("before 2025-10"));
    }
}
