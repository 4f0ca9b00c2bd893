//! Role assumption: what to change when `assume_role` fails (the target role's trust policy,
//! the configured external id, the caller's own policy, the session duration), as one line and
//! as structured fixes.

use serde_json::{Value, json};

use super::{ConfigChange, EXTERNAL_ID_PLACEHOLDER, Fix, FixContext, FixKind, Placeholder};
use crate::reason::Reason;

/// The one-line fix of the role-assumption reasons; `None` for other reasons.
pub(super) fn line(reason: Reason, cx: &FixContext<'_>) -> Option<String> {
    let role = cx.role_arn().unwrap_or("the role");
    let source = match cx.configured_source_account() {
        Some(a) => format!("the source account {a}"),
        None => "the source account".to_string(),
    };
    Some(match reason {
        Reason::AssumeRoleDenied => format!(
            "check that {role} exists, that its trust policy allows {source} (with the sts:ExternalId condition matching the configured external id), and that the source may sts:AssumeRole on it; `diagnose` narrows it down"
        ),
        Reason::TrustPolicyDenied => format!(
            "the trust policy of {role} must allow {source} (with the sts:ExternalId condition matching the configured external id) and must not deny it"
        ),
        Reason::AssumeRoleNotPermitted => {
            format!("allow sts:AssumeRole on {role} in the source principal's identity policy")
        }
        Reason::SessionDurationExceeded => {
            format!("lower session_duration or raise the MaxSessionDuration of {role}")
        }
        _ => return None,
    })
}

/// `arn:aws:iam::<account>:root` or a placeholder when the account is unknown.
fn account_root(account: Option<&str>) -> String {
    format!(
        "arn:aws:iam::{}:root",
        account.unwrap_or("<SOURCE_ACCOUNT_ID>")
    )
}

/// The trust policy the target role needs: the source account may assume it (with the
/// ExternalId condition when the target configures one).
pub fn trust_policy(cx: &FixContext<'_>) -> Fix {
    let role = cx.role_arn().unwrap_or_default().to_string();
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": account_root(cx.source_account())},
        "Action": "sts:AssumeRole",
    });
    let mut fix = if cx.has_external_id() {
        statement["Condition"] =
            json!({"StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}});
        let mut f = Fix::new(
            FixKind::TrustPolicy,
            format!(
                "In account {}, the trust policy of {role} must allow the source account {} to sts:AssumeRole, with the sts:ExternalId condition equal to the target's configured external_id.",
                cx.target_account,
                cx.source_account().unwrap_or("<SOURCE_ACCOUNT_ID>"),
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
                cx.source_account().unwrap_or("<SOURCE_ACCOUNT_ID>"),
            ),
        )
    };
    fix.principal = Some(role.clone());
    fix.account = Some(cx.target_account.clone());
    fix.policy = Some(json!({"Version": "2012-10-17", "Statement": [statement]}));
    fix.console = Some(format!(
        "IAM console of account {} → Roles → {} → Trust relationships → Edit trust policy",
        cx.target_account, cx.role_name
    ));
    fix.commands.push(format!(
        "aws iam update-assume-role-policy --role-name {} --policy-document file://trust-policy.json",
        cx.role_name
    ));
    fix
}

fn external_id_placeholder(cx: &FixContext<'_>) -> Placeholder {
    Placeholder {
        placeholder: EXTERNAL_ID_PLACEHOLDER.to_string(),
        meaning: format!(
            "the external_id configured for target {:?} (never printed: it is a secret)",
            cx.target_name()
        ),
    }
}

/// A target without `external_id` whose role may require one.
pub fn set_external_id(cx: &FixContext<'_>) -> Fix {
    let mut fix = Fix::new(
        FixKind::ConfigChange,
        format!(
            "The role's trust policy may require an sts:ExternalId and target {:?} sends none: set external_id on the target to the value the role's trust policy expects.",
            cx.target_name()
        ),
    );
    fix.config_change = Some(ConfigChange {
        target: cx.target_name().to_string(),
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
    let role = cx.role_arn().unwrap_or_default().to_string();
    let principal = cx
        .source_principal()
        .map_or_else(|| "the source principal".to_string(), str::to_string);
    let mut fix = Fix::new(
        FixKind::IdentityPolicy,
        format!(
            "In the source account {}, allow {principal} to sts:AssumeRole on {role}.",
            cx.source_account().unwrap_or("<SOURCE_ACCOUNT_ID>")
        ),
    );
    fix.principal = cx.source_principal().map(str::to_string);
    fix.account = cx.source_account().map(str::to_string);
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
    let role = cx.role_arn().unwrap_or_default().to_string();
    let mut fix = Fix::new(
        FixKind::RemoveDeny,
        format!(
            "An identity-based policy of {} denies sts:AssumeRole on {role}: remove or narrow that Deny statement.",
            cx.source_principal().unwrap_or("the source principal")
        ),
    );
    fix.principal = cx.source_principal().map(str::to_string);
    fix.account = cx.source_account().map(str::to_string);
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
            cx.target_name()
        ),
    );
    lower.config_change = Some(ConfigChange {
        target: cx.target_name().to_string(),
        field: "session_duration".to_string(),
        value: Value::String("1h".to_string()),
    });
    let secs = cx.session_duration().as_secs().max(3600);
    let mut raise = Fix::new(
        FixKind::Command,
        format!(
            "Or, in account {}, raise the role's maximum session duration to {secs} s.",
            cx.target_account
        ),
    );
    raise.principal = cx.role_arn().map(str::to_string);
    raise.commands.push(format!(
        "aws iam update-role --role-name {} --max-session-duration {secs}",
        cx.role_name
    ));
    vec![lower, raise]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::tests::{cx, key, target};

    const MISTRAL: &str = "mistral.mistral-large-2402-v1:0";

    #[test]
    fn a_trust_policy_fix_names_the_source_account_and_never_the_external_id() {
        let k = key("ap-northeast-1", MISTRAL);
        let t = target(
            Some("very-secret-external"),
            &["ap-northeast-1", "us-east-1"],
            &[MISTRAL],
        );
        let fix = trust_policy(&cx(&t, &k));
        let text = serde_json::to_string(&fix).unwrap_or_default();
        assert!(text.contains("arn:aws:iam::111111111111:root"), "{text}");
        assert!(text.contains(EXTERNAL_ID_PLACEHOLDER), "{text}");
        assert!(!text.contains("very-secret-external"), "{text}");
        let t = target(None, &["ap-northeast-1", "us-east-1"], &[MISTRAL]);
        let fix = trust_policy(&cx(&t, &k));
        assert!(
            fix.policy
                .as_ref()
                .is_some_and(|p| p["Statement"][0].get("Condition").is_none())
        );
        assert!(fix.summary.contains("external_id"));
    }
}
