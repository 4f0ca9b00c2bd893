//! Model access, region and model id: what to change when the account may not use the model
//! there (grant, agreement, Marketplace subscription, use-case form) or the model cannot be
//! called that way (region, inference profile, retired model), as one line and as structured
//! fixes.

use serde_json::{Value, json};

use super::{ConfigChange, Fix, FixContext, FixKind, Placeholder};
use crate::model_id::{base_model, profile_id};
use crate::reason::Reason;

/// The one-line fix of the model reasons; `None` for other reasons.
pub(super) fn line(reason: Reason, cx: &FixContext<'_>) -> Option<String> {
    let acct = cx.account_words();
    let model = cx.model();
    let region = cx.region();
    Some(match reason {
        Reason::ModelAccessNotGranted => {
            format!("enable or request access to {model} in {acct}, region {region}")
        }
        Reason::ModelAccessPending => format!(
            "access to {model} in {acct}, {region} is being activated; wait (minutes) and re-check"
        ),
        Reason::ModelNotInRegion => format!(
            "{model} is not offered in {region}: change region or use a cross-region inference profile"
        ),
        Reason::InferenceProfileRequired => format!(
            "use the inference profile id {} instead of the bare model id",
            profile_id(model, region)
        ),
        Reason::ModelEndOfLife => format!("{model} is retired; change the model id"),
        Reason::UseCaseFormRequired => format!(
            "submit the Anthropic use-case form once for {acct} (or the organisation's management account)"
        ),
        Reason::AccountNotAuthorized => format!(
            "{acct} is blocked from {model} in {region}, whatever IAM says; open a support case or ask your AWS account team to enable it"
        ),
        _ => return None,
    })
}

/// The Bedrock console's model catalogue in `region`.
fn console_bedrock(region: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/model-catalog")
}

/// Grant (or request) model access in the target account and region. `old_world` is true
/// when AWS answered with the pre-2025-10 grant signals (authorizationStatus NOT_AUTHORIZED,
/// entitlement NOT_AVAILABLE, "You don't have access to the model").
pub fn model_access(cx: &FixContext<'_>, old_world: bool) -> Fix {
    let model = base_model(cx.model());
    let r = cx.region();
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
    fix.account = Some(cx.target_account.clone());
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
    let model = base_model(cx.model());
    let mut fix = Fix::new(
        FixKind::Wait,
        format!(
            "Access to {model} in account {} region {} is being activated (the agreement or the AWS Marketplace subscription is still being processed): wait a few minutes and re-check; AWS says to retry every 15 minutes and to contact AWS Support if it lasts.",
            cx.target_account,
            cx.region()
        ),
    );
    fix.account = Some(cx.target_account.clone());
    fix.region = Some(cx.region().to_string());
    fix.model = Some(model.to_string());
    fix.commands.push(format!(
        "aws bedrock get-foundation-model-availability --model-id {model} --region {}",
        cx.region()
    ));
    fix
}

/// AWS refuses the account itself (not a principal): nothing in IAM changes it; AWS Support or
/// the account team does. The control plane may still say AUTHORIZED.
pub fn account_blocked(cx: &FixContext<'_>) -> Fix {
    let model = base_model(cx.model());
    let r = cx.region();
    let mut fix = Fix::new(
        FixKind::Advice,
        format!(
            "AWS refuses account {} itself for {model} in {r} (not a principal: no IAM or SCP change helps; the model may not be offered to this account, or the account needs a valid payment instrument or an entitlement). Open a support case or ask your AWS account team to enable it; GetFoundationModelAvailability may still say AUTHORIZED.",
            cx.target_account
        ),
    );
    fix.account = Some(cx.target_account.clone());
    fix.region = Some(r.to_string());
    fix.model = Some(model.to_string());
    fix.console = Some(format!(
        "AWS console of account {} → AWS Support → Create case (account and billing, or technical: Amazon Bedrock): https://support.console.aws.amazon.com/support/home#/case/create",
        cx.target_account
    ));
    fix.commands.push(format!(
        "aws bedrock get-foundation-model-availability --model-id {model} --region {r}"
    ));
    fix
}

/// Third-party models subscribe through AWS Marketplace on first invocation: the invoking role
/// needs the Marketplace permissions.
pub fn marketplace(cx: &FixContext<'_>) -> Fix {
    let role = cx.invoker();
    let model = base_model(cx.model());
    let mut fix = Fix::new(
        FixKind::IdentityPolicy,
        format!(
            "Since 2025-10, third-party models such as {model} are subscribed through AWS Marketplace on their first invocation, which needs the Marketplace permissions: attach this policy to {role} in account {} (or subscribe once from a principal that has them), then invoke in {}.",
            cx.target_account,
            cx.region()
        ),
    );
    fix.principal = Some(role);
    fix.account = Some(cx.target_account.clone());
    fix.region = Some(cx.region().to_string());
    fix.model = Some(model.to_string());
    fix.policy = Some(marketplace_policy());
    fix.commands.push(format!(
        "aws iam put-role-policy --role-name {} --policy-name bedrock-marketplace --policy-document file://bedrock-marketplace.json",
        cx.role_name
    ));
    fix.commands.push(format!(
        "aws bedrock get-foundation-model-availability --model-id {model} --region {}",
        cx.region()
    ));
    fix
}

/// Anthropic's one-time use-case form.
pub fn use_case_form(cx: &FixContext<'_>) -> Fix {
    let model = base_model(cx.model());
    let r = cx.region();
    let mut fix = Fix::new(
        FixKind::UseCaseForm,
        format!(
            "Account {} has not submitted Anthropic's use-case details (needed once per account, or once for the organisation's management account, in both the pre- and post-2025-10 worlds).",
            cx.target_account
        ),
    );
    fix.account = Some(cx.target_account.clone());
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
    for r in cx.regions() {
        if r == cx.region() {
            if let Some(b) = &better
                && !cx.regions().contains(b)
            {
                regions.push(Value::String(b.clone()));
            }
        } else {
            regions.push(Value::String(r.clone()));
        }
    }
    let model = base_model(cx.model());
    let summary = match &better {
        Some(_) => format!(
            "{model} is not offered in {}; it is offered in {}. Probe it there (or use a cross-region inference profile).",
            cx.region(),
            offered.join(", ")
        ),
        None => format!(
            "{model} is not offered in {}: change the region (see the Bedrock model catalog for where it is offered) or use a cross-region inference profile.",
            cx.region()
        ),
    };
    let mut fix = Fix::new(FixKind::ConfigChange, summary);
    fix.region = Some(cx.region().to_string());
    fix.model = Some(model.to_string());
    if better.is_some() {
        fix.config_change = Some(ConfigChange {
            target: cx.target_name().to_string(),
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
            cx.model(),
            cx.target_name()
        ),
        None => format!(
            "{why}: change the model id of target {:?}.",
            cx.target_name()
        ),
    };
    let mut fix = Fix::new(FixKind::ConfigChange, summary);
    fix.region = Some(cx.region().to_string());
    fix.model = Some(cx.model().to_string());
    if let Some(m) = replacement {
        let models: Vec<Value> = cx
            .models()
            .iter()
            .map(|x| {
                if x == cx.model() {
                    Value::String(m.to_string())
                } else {
                    Value::String(x.clone())
                }
            })
            .collect();
        fix.config_change = Some(ConfigChange {
            target: cx.target_name().to_string(),
            field: "models".to_string(),
            value: Value::Array(models),
        });
    }
    fix
}

/// The inference profile to probe instead of a model served only through one.
pub fn inference_profile(cx: &FixContext<'_>) -> Fix {
    change_model(
        cx,
        Some(&profile_id(cx.model(), cx.region())),
        &format!("{} is served only through an inference profile", cx.model()),
    )
}

/// A legacy model the account lost access to, or a retired one: probe an active model of the
/// same provider (`alternatives`, when `diagnose` could list them).
pub fn replace_model(cx: &FixContext<'_>, reason: Reason, alternatives: &[String]) -> Fix {
    let why = if reason == Reason::ModelEndOfLife {
        format!("{} has reached the end of its life", cx.model())
    } else {
        format!(
            "{} is Legacy and account {} lost access after inactivity",
            cx.model(),
            cx.target_account
        )
    };
    change_model(cx, alternatives.first().map(String::as_str), &why)
}

/// What `diagnose` learned about the model, to fill in its structured fixes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelFacts<'f> {
    /// AWS answered with the grant signals of before 2025-10.
    pub old_world: bool,
    /// Regions where the model is offered.
    pub offered: &'f [String],
    /// Active models of the same provider in the region.
    pub alternatives: &'f [String],
}

/// The structured fixes of a reason whose cause is model access, the model or the region
/// ([`crate::reason::Cause::ModelAccess`]); the generic advice for any other reason.
pub fn structured(reason: Reason, cx: &FixContext<'_>, facts: &ModelFacts<'_>) -> Fix {
    match reason {
        Reason::ModelAccessNotGranted => model_access(cx, facts.old_world),
        Reason::ModelAccessPending => wait(cx),
        Reason::MarketplaceSubscriptionRequired => marketplace(cx),
        Reason::UseCaseFormRequired => use_case_form(cx),
        Reason::ModelNotInRegion => change_region(cx, facts.offered),
        Reason::InferenceProfileRequired => inference_profile(cx),
        Reason::ModelLegacyNoAccess | Reason::ModelEndOfLife => {
            replace_model(cx, reason, facts.alternatives)
        }
        Reason::AccountNotAuthorized => account_blocked(cx),
        other => super::advice(other.fix()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::tests::{cx, key, target};

    const MISTRAL: &str = "mistral.mistral-large-2402-v1:0";

    #[test]
    fn a_region_fix_replaces_only_the_failing_region() {
        let t = target(None, &["ap-northeast-1", "us-east-1"], &[MISTRAL]);
        let k = key("ap-northeast-1", MISTRAL);
        let fix = change_region(&cx(&t, &k), &["us-west-2".to_string()]);
        let change = fix.config_change.unwrap_or_else(|| panic!("no change"));
        assert_eq!(change.value, json!(["us-west-2", "us-east-1"]));
        let fix = change_region(&cx(&t, &k), &[]);
        assert!(fix.config_change.is_none());
    }

    #[test]
    fn model_access_commands_carry_the_region_and_the_bare_model() {
        let t = target(None, &["ap-northeast-1", "us-east-1"], &[MISTRAL]);
        let k = key("ap-northeast-1", "eu.mistral.mistral-large-2402-v1:0");
        let fix = model_access(&cx(&t, &k), true);
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

    #[test]
    fn the_profile_fix_of_diagnose_and_the_one_line_fix_name_the_same_profile() {
        let sonnet = "anthropic.claude-3-7-sonnet-20250219-v1:0";
        let t = target(None, &["sa-east-1"], &[sonnet]);
        let k = key("sa-east-1", sonnet);
        let cx = cx(&t, &k);
        let fix = inference_profile(&cx);
        let profile = format!("global.{sonnet}");
        assert!(
            fix.config_change
                .is_some_and(|c| c.value == json!([profile.as_str()]))
        );
        assert!(cx.line(Reason::InferenceProfileRequired).contains(&profile));
    }
}
