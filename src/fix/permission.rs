//! Bedrock permissions: what to change when the assumed role may not call Bedrock (a missing
//! allow, an explicit deny, the organisation's SCP), as one line and as structured fixes.

use serde_json::json;

use super::{Fix, FixContext, FixKind};
use crate::model_id::model_arns;
use crate::reason::Reason;

/// The one-line fix of the permission reasons; `None` for other reasons.
pub(super) fn line(reason: Reason, cx: &FixContext<'_>) -> Option<String> {
    Some(match reason {
        Reason::BedrockNotPermitted => format!(
            "grant {} bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream (and bedrock:GetFoundationModelAvailability) on {} in {}",
            if cx.role_name.is_empty() {
                "the source principal".to_string()
            } else {
                format!("role {}", cx.role_name)
            },
            cx.model(),
            cx.region()
        ),
        Reason::ScpDenied => format!(
            "the organisation's SCP/RCP denies this for {}; ask the org admins",
            cx.account_words()
        ),
        _ => return None,
    })
}

/// The role's identity policies must allow invoking the model (and, for the control-plane
/// check, reading its availability).
pub fn invoke_permission(cx: &FixContext<'_>, control_plane: bool) -> Fix {
    let role = cx.invoker();
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        "Resource": model_arns(cx.model(), cx.region(), &cx.target_account),
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
    fix.account = Some(cx.target_account.clone());
    fix.region = Some(cx.region().to_string());
    fix.model = Some(cx.model().to_string());
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
    let resource = model_arns(cx.model(), cx.region(), &cx.target_account)
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
    fix.account = Some(cx.target_account.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
