//! The source's credentials: what to check when the `credentials` layer fails, by how the
//! credentials came ([`CredentialSource`], from the layer's call): a Kubernetes service
//! account's web identity token (IRSA), the EKS Pod Identity Agent, or a role the source's
//! profile assumes. As one line and as structured fixes (the IRSA trust policy).

use serde_json::json;

use super::{Fix, FixContext, FixKind, Placeholder};
use crate::probe::credentials::CredentialSource;
use crate::reason::Reason;

/// The issuer of the cluster's service account tokens, without `https://`.
const ISSUER: &str = "<OIDC_ISSUER>";
/// The role's account.
const ACCOUNT: &str = "<ACCOUNT_ID>";
/// `system:serviceaccount:<namespace>:<service account>` of the exporter's pod.
const SUBJECT: &str = "system:serviceaccount:<NAMESPACE>:<SERVICE_ACCOUNT>";

/// The one-line fix of a failed `credentials` layer; `None` when the reason's own fix says it.
pub(super) fn line(reason: Reason, cx: &FixContext<'_>) -> Option<String> {
    match cx.credential_source() {
        Some(CredentialSource::WebIdentity) => web_identity(reason),
        Some(CredentialSource::Container) => container(reason),
        None => profile_role(reason),
    }
}

fn web_identity(reason: Reason) -> Option<String> {
    Some(match reason {
        Reason::AssumeRoleDenied | Reason::TrustPolicyDenied | Reason::AssumeRoleNotPermitted => {
            format!(
                "check the service account's eks.amazonaws.com/role-arn annotation (AWS_ROLE_ARN: \
                 that role must exist), and that the role's trust policy allows the cluster's OIDC \
                 provider (Federated arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}) to \
                 sts:AssumeRoleWithWebIdentity with StringEquals {ISSUER}:sub = {SUBJECT} and \
                 {ISSUER}:aud = sts.amazonaws.com"
            )
        }
        Reason::InvalidCredentials => format!(
            "STS refused the token in AWS_WEB_IDENTITY_TOKEN_FILE: the role's account needs an IAM \
             OIDC provider for the cluster's issuer (aws iam list-open-id-connect-providers; \
             eksctl utils associate-iam-oidc-provider) with the client id sts.amazonaws.com, and \
             the file must hold that cluster's projected service account token (audience \
             sts.amazonaws.com, as the {ISSUER}:aud condition expects)"
        ),
        Reason::ExpiredCredentials => "the token in AWS_WEB_IDENTITY_TOKEN_FILE has expired: the \
             kubelet rewrites the projected service account token before it expires, so check \
             that the file is the mounted token volume (not a copy) and that the node's kubelet \
             is healthy"
            .to_string(),
        _ => return None,
    })
}

fn container(reason: Reason) -> Option<String> {
    Some(match reason {
        Reason::InvalidCredentials => "the EKS Pod Identity Agent refused the token in \
             AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: check that the projected \
             eks-pod-identity-token (audience pods.eks.amazonaws.com) is mounted and current, \
             and that the associated role's trust policy allows pods.eks.amazonaws.com to \
             sts:AssumeRole and sts:TagSession (the agent's log on the node says which)"
            .to_string(),
        Reason::NoCredentials => "the EKS Pod Identity Agent has no credentials for this pod: \
             create the Pod Identity association of its namespace and service account (aws eks \
             create-pod-identity-association --cluster-name <CLUSTER> --namespace <NAMESPACE> \
             --service-account <SERVICE_ACCOUNT> --role-arn <ROLE_ARN>), or check that \
             aws eks list-pod-identity-associations shows it"
            .to_string(),
        _ => return None,
    })
}

/// A role assumed inside the chain without a web identity: a profile's `role_arn`.
fn profile_role(reason: Reason) -> Option<String> {
    matches!(
        reason,
        Reason::AssumeRoleDenied | Reason::TrustPolicyDenied | Reason::AssumeRoleNotPermitted
    )
    .then(|| {
        "the source's credential chain assumes a role (the role_arn of its profile): that role \
         must exist, its trust policy must allow the profile's source principal, and that \
         principal must be allowed sts:AssumeRole on it"
            .to_string()
    })
}

/// The structured fixes of a failed `credentials` layer, when the source is known to be IRSA
/// and the role refused the token: the trust policy the role needs.
pub fn fixes(reason: Reason, cx: &FixContext<'_>) -> Option<Vec<Fix>> {
    let irsa_denied = cx.credential_source() == Some(CredentialSource::WebIdentity)
        && matches!(
            reason,
            Reason::AssumeRoleDenied | Reason::TrustPolicyDenied | Reason::AssumeRoleNotPermitted
        );
    if !irsa_denied {
        return None;
    }
    let mut fix = Fix::new(
        FixKind::TrustPolicy,
        "The role in the service account's eks.amazonaws.com/role-arn annotation (the pod's \
         AWS_ROLE_ARN) must exist and trust the cluster's OIDC provider for this service account \
         and the audience sts.amazonaws.com.",
    );
    fix.policy = Some(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{ISSUER}:sub"): SUBJECT,
                format!("{ISSUER}:aud"): "sts.amazonaws.com",
            }},
        }],
    }));
    fix.commands = vec![
        "kubectl -n <NAMESPACE> get serviceaccount <SERVICE_ACCOUNT> -o jsonpath='{.metadata.annotations.eks\\.amazonaws\\.com/role-arn}'".to_string(),
        "aws eks describe-cluster --name <CLUSTER> --query cluster.identity.oidc.issuer --output text".to_string(),
        "aws iam update-assume-role-policy --role-name <ROLE_NAME> --policy-document file://trust-policy.json".to_string(),
    ];
    fix.placeholders = [
        (
            ISSUER,
            "the cluster's OIDC issuer without https:// (aws eks describe-cluster)",
        ),
        (
            ACCOUNT,
            "the account of the role (and of its IAM OIDC provider)",
        ),
        ("<NAMESPACE>", "the exporter pod's namespace"),
        ("<SERVICE_ACCOUNT>", "the exporter pod's service account"),
        ("<CLUSTER>", "the EKS cluster's name"),
        ("<ROLE_NAME>", "the name of the role in the annotation"),
    ]
    .into_iter()
    .map(|(p, m)| Placeholder {
        placeholder: p.to_string(),
        meaning: m.to_string(),
    })
    .collect();
    Some(vec![fix])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::tests::{key, target};
    use crate::probe::{LayerResult, LayerStatus, ProbeReport};
    use crate::reason::Layer;

    fn report(call: &str, reason: Reason) -> ProbeReport {
        let k = key("us-east-1", "m");
        ProbeReport {
            key: k,
            account_id: String::new(),
            role_name: String::new(),
            layers: vec![LayerResult {
                layer: Layer::Credentials,
                status: LayerStatus::Failed(crate::probe::aws::local_failure(reason, "")),
                duration: std::time::Duration::ZERO,
                call: call.to_string(),
            }],
            availability: None,
            tokens: None,
            invoke_ran: false,
            finished_at: std::time::SystemTime::now(),
            lifecycle: None,
        }
    }

    #[test]
    fn a_refused_irsa_token_names_the_annotation_and_the_trust_policy_s_sub_and_aud() {
        let t = target(None, &["us-east-1"], &["m"]);
        let k = key("us-east-1", "m");
        let call = "sts:GetCallerIdentity source=default region=us-east-1 credentials=web_identity";
        let r = report(call, Reason::AssumeRoleDenied);
        let cx = FixContext::new(None, Some(&t), &k, Some(&r));
        let line = cx.layer_line(Layer::Credentials, Reason::AssumeRoleDenied);
        for needle in [
            "eks.amazonaws.com/role-arn",
            ":sub = system:serviceaccount:",
            ":aud = sts.amazonaws.com",
            "oidc-provider/",
        ] {
            assert!(line.contains(needle), "{needle}: {line}");
        }
        // The target role's assume_role layer keeps the target role's fix.
        assert_eq!(
            cx.layer_line(Layer::AssumeRole, Reason::AssumeRoleDenied),
            cx.line(Reason::AssumeRoleDenied)
        );
        let fixes = fixes(Reason::AssumeRoleDenied, &cx).unwrap_or_default();
        let text = serde_json::to_string(&fixes).unwrap_or_default();
        assert!(text.contains("sts:AssumeRoleWithWebIdentity"), "{text}");
    }

    #[test]
    fn a_refused_pod_identity_token_names_the_token_file_and_a_missing_association_the_command() {
        let t = target(None, &["us-east-1"], &["m"]);
        let k = key("us-east-1", "m");
        let call = "sts:GetCallerIdentity source=default region=us-east-1 credentials=container";
        let r = report(call, Reason::InvalidCredentials);
        let cx = FixContext::new(None, Some(&t), &k, Some(&r));
        let line = cx.layer_line(Layer::Credentials, Reason::InvalidCredentials);
        assert!(
            line.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            "{line}"
        );
        assert!(line.contains("pods.eks.amazonaws.com"), "{line}");
        let line = cx.layer_line(Layer::Credentials, Reason::NoCredentials);
        assert!(line.contains("create-pod-identity-association"), "{line}");
        // Throttling of the agent is the reason's own advice.
        assert_eq!(
            cx.layer_line(Layer::Credentials, Reason::Throttled),
            Reason::Throttled.fix()
        );
        assert!(fixes(Reason::InvalidCredentials, &cx).is_none());
    }

    #[test]
    fn keys_keep_the_generic_fix_and_a_profile_s_role_is_not_the_target_role() {
        let t = target(None, &["us-east-1"], &["m"]);
        let k = key("us-east-1", "m");
        let r = report(
            "sts:GetCallerIdentity source=default region=us-east-1",
            Reason::InvalidCredentials,
        );
        let cx = FixContext::new(None, Some(&t), &k, Some(&r));
        assert_eq!(
            cx.layer_line(Layer::Credentials, Reason::InvalidCredentials),
            Reason::InvalidCredentials.fix()
        );
        let line = cx.layer_line(Layer::Credentials, Reason::AssumeRoleDenied);
        assert!(line.contains("role_arn of its profile"), "{line}");
        assert!(!line.contains("BedrockProbeRole"), "{line}");
    }
}
