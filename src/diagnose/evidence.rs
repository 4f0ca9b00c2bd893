//! Deeper evidence where the prober may read it, with `aws-sdk-iam` and `aws-sdk-bedrock`
//! clients built from the source's SDK configuration (so endpoint overrides apply):
//!
//! * source side: `iam:SimulatePrincipalPolicy` on the source principal for `sts:AssumeRole`
//!   on the role ARN (does the caller side allow it?);
//! * target side, once assumed: `iam:GetRole` (the trust policy) and
//!   `iam:SimulatePrincipalPolicy` on the role for `bedrock:InvokeModel` and
//!   `bedrock:InvokeModelWithResponseStream` on the model ARNs;
//! * where a model is offered (`GetFoundationModelAvailability` in other regions) and which
//!   active models of the same provider the region serves (`ListFoundationModels`), to fill in
//!   configuration fixes.
//!
//! Every call may be refused: the answer is then [`Read::NotPermitted`] and diagnosis goes on.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::types::PolicyEvaluationDecisionType;

use super::model::{AwsError, SimDecision, SimResult};
use crate::probe::Failure;
use crate::probe::aws::{bedrock_client, failure_from_sdk, iam_client, redact};
use crate::reason::Layer;

/// The outcome of one evidence call.
#[derive(Debug, Clone, PartialEq)]
pub enum Read<T> {
    Read(T),
    /// AWS refused the call (AccessDenied): the principal lacks the permission to look.
    NotPermitted(AwsError),
    /// Any other failure (network, missing entity, …).
    Failed(AwsError),
}

/// The overall decision: any explicit deny wins, then any implicit deny, else allowed.
pub fn overall(results: &[SimResult]) -> SimDecision {
    if results
        .iter()
        .any(|r| r.decision == SimDecision::ExplicitDeny)
    {
        SimDecision::ExplicitDeny
    } else if results.is_empty()
        || results
            .iter()
            .any(|r| r.decision == SimDecision::ImplicitDeny)
    {
        SimDecision::ImplicitDeny
    } else {
        SimDecision::Allowed
    }
}

/// The IAM ARN to simulate for a caller ARN from GetCallerIdentity: a user ARN as is; an
/// assumed-role session `arn:aws:sts::A:assumed-role/R/S` becomes the role `arn:aws:iam::A:role/R`.
/// `None` for ARNs IAM cannot simulate (root, federated users).
pub fn iam_principal_arn(caller_arn: &str) -> Option<String> {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return None;
    }
    let (partition, service, account, resource) = (parts[1], parts[2], parts[4], parts[5]);
    match service {
        "iam" if resource.starts_with("user/") || resource.starts_with("role/") => {
            Some(caller_arn.to_string())
        }
        "sts" => {
            let rest = resource.strip_prefix("assumed-role/")?;
            let role = rest.split('/').next().filter(|r| !r.is_empty())?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => None,
    }
}

fn aws_error(f: &Failure) -> AwsError {
    AwsError::from_failure(f)
}

fn read_from_failure<T>(f: Failure) -> Read<T> {
    let e = aws_error(&f);
    let denied = matches!(
        f.error_code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException")
    ) || f.http_status == Some(403);
    if denied {
        Read::NotPermitted(e)
    } else {
        Read::Failed(e)
    }
}

/// `iam:SimulatePrincipalPolicy` of `policy_source_arn` for `actions` × `resources`.
pub async fn simulate(
    sdk: &SdkConfig,
    creds: Credentials,
    timeout: Duration,
    policy_source_arn: &str,
    actions: &[&str],
    resources: &[String],
    secrets: &[&str],
) -> Read<Vec<SimResult>> {
    let client = iam_client(sdk, creds, timeout);
    let mut req = client
        .simulate_principal_policy()
        .policy_source_arn(policy_source_arn);
    for a in actions {
        req = req.action_names(*a);
    }
    for r in resources {
        req = req.resource_arns(r);
    }
    match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => Read::Failed(AwsError::local("no answer in time")),
        Ok(Err(err)) => read_from_failure(failure_from_sdk(Layer::AssumeRole, &err, secrets)),
        Ok(Ok(out)) => Read::Read(
            out.evaluation_results()
                .iter()
                .map(|r| SimResult {
                    action: r.eval_action_name().to_string(),
                    resource: r.eval_resource_name().unwrap_or("*").to_string(),
                    decision: match r.eval_decision() {
                        PolicyEvaluationDecisionType::Allowed => SimDecision::Allowed,
                        PolicyEvaluationDecisionType::ExplicitDeny => SimDecision::ExplicitDeny,
                        _ => SimDecision::ImplicitDeny,
                    },
                    allowed_by_organizations: r
                        .organizations_decision_detail()
                        .map(|o| o.allowed_by_organizations()),
                })
                .collect(),
        ),
    }
}

/// `iam:GetRole`: the role's trust policy, URL-decoded, with every `sts:ExternalId` condition
/// value replaced by [`crate::fix::EXTERNAL_ID_PLACEHOLDER`] and `secrets` redacted.
pub async fn trust_policy(
    sdk: &SdkConfig,
    creds: Credentials,
    timeout: Duration,
    role_name: &str,
    secrets: &[&str],
) -> Read<serde_json::Value> {
    let client = iam_client(sdk, creds, timeout);
    let sent = client.get_role().role_name(role_name).send();
    match tokio::time::timeout(timeout, sent).await {
        Err(_) => Read::Failed(AwsError::local("no answer in time")),
        Ok(Err(err)) => read_from_failure(failure_from_sdk(Layer::AssumeRole, &err, secrets)),
        Ok(Ok(out)) => {
            let raw = out
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .to_string();
            Read::Read(redact_trust_policy(&decoded, secrets))
        }
    }
}

/// A trust policy document safe to print: `sts:ExternalId` values are replaced by the
/// placeholder, other secrets redacted. Unparseable text is returned as a redacted string.
pub fn redact_trust_policy(doc: &str, secrets: &[&str]) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(mut v) => {
            scrub_external_ids(&mut v);
            let text = redact(&v.to_string(), secrets);
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        }
        Err(_) => serde_json::Value::String(redact(doc, secrets)),
    }
}

fn scrub_external_ids(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.eq_ignore_ascii_case("sts:ExternalId") {
                    *val = match val {
                        serde_json::Value::Array(a) => serde_json::Value::Array(
                            a.iter()
                                .map(|_| crate::fix::EXTERNAL_ID_PLACEHOLDER.into())
                                .collect(),
                        ),
                        _ => crate::fix::EXTERNAL_ID_PLACEHOLDER.into(),
                    };
                } else {
                    scrub_external_ids(val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub_external_ids),
        _ => {}
    }
}

/// The regions among `candidates` where `GetFoundationModelAvailability` says the model is
/// offered (`regionAvailability = AVAILABLE`). Calls that fail count as "not offered".
pub async fn regions_offering(
    sdk: &SdkConfig,
    creds: &Credentials,
    timeout: Duration,
    model_id: &str,
    candidates: &[&str],
) -> Vec<String> {
    let calls = candidates.iter().map(|region| {
        let client = bedrock_client(sdk, region, creds.clone(), timeout);
        async move {
            let sent = client
                .get_foundation_model_availability()
                .model_id(model_id)
                .send();
            match tokio::time::timeout(timeout, sent).await {
                Ok(Ok(out)) if out.region_availability().as_str() == "AVAILABLE" => {
                    Some(region.to_string())
                }
                _ => None,
            }
        }
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Active, on-demand models of `provider_prefix` (e.g. `anthropic.`) that `region` serves with
/// the same output modality as `like` when known (`ListFoundationModels`).
pub async fn active_models(
    sdk: &SdkConfig,
    creds: &Credentials,
    timeout: Duration,
    region: &str,
    provider_prefix: &str,
    exclude: &str,
) -> Vec<String> {
    let client = bedrock_client(sdk, region, creds.clone(), timeout);
    let sent = client
        .list_foundation_models()
        .by_inference_type(aws_sdk_bedrock::types::InferenceType::OnDemand)
        .send();
    let Ok(Ok(out)) = tokio::time::timeout(timeout, sent).await else {
        return Vec::new();
    };
    let summaries = out.model_summaries();
    let output_of = |id: &str| {
        summaries
            .iter()
            .find(|m| m.model_id() == id)
            .map(|m| m.output_modalities().to_vec())
    };
    let wanted_output = output_of(exclude);
    summaries
        .iter()
        .filter(|m| m.model_id().starts_with(provider_prefix) && m.model_id() != exclude)
        .filter(|m| {
            m.model_lifecycle()
                .is_some_and(|l| l.status().as_str() == "ACTIVE")
        })
        .filter(|m| {
            wanted_output
                .as_ref()
                .is_none_or(|w| m.output_modalities() == w.as_slice())
        })
        .map(|m| m.model_id().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_session_is_simulated_as_its_role() {
        assert_eq!(
            iam_principal_arn("arn:aws:sts::111111111111:assumed-role/Prober/i-0abc").as_deref(),
            Some("arn:aws:iam::111111111111:role/Prober")
        );
        assert_eq!(
            iam_principal_arn("arn:aws:iam::111111111111:user/bedrock-prober").as_deref(),
            Some("arn:aws:iam::111111111111:user/bedrock-prober")
        );
        assert_eq!(
            iam_principal_arn("arn:aws-cn:sts::111111111111:assumed-role/R/s").as_deref(),
            Some("arn:aws-cn:iam::111111111111:role/R")
        );
        assert_eq!(iam_principal_arn("arn:aws:iam::111111111111:root"), None);
        assert_eq!(iam_principal_arn("not an arn"), None);
    }

    #[test]
    fn a_trust_policy_is_printed_without_its_external_id() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},
            "Condition":{"StringEquals":{"sts:ExternalId":"s3cr3t-id"}}},
            {"Condition":{"StringLike":{"STS:EXTERNALID":["a-secret","b-secret"]}}}]}"#;
        let out = redact_trust_policy(doc, &[]).to_string();
        assert!(!out.contains("s3cr3t-id"), "{out}");
        assert!(
            !out.contains("a-secret") && !out.contains("b-secret"),
            "{out}"
        );
        assert!(out.contains(crate::fix::EXTERNAL_ID_PLACEHOLDER));
        let broken = redact_trust_policy("{not json s3cr3t-id", &["s3cr3t-id"]).to_string();
        assert!(!broken.contains("s3cr3t-id"));
    }

    #[test]
    fn any_explicit_deny_wins_and_no_rows_means_not_allowed() {
        let row = |d| SimResult {
            action: "a".into(),
            resource: "r".into(),
            decision: d,
            allowed_by_organizations: None,
        };
        assert_eq!(overall(&[]), SimDecision::ImplicitDeny);
        assert_eq!(
            overall(&[row(SimDecision::Allowed), row(SimDecision::ExplicitDeny)]),
            SimDecision::ExplicitDeny
        );
        assert_eq!(
            overall(&[row(SimDecision::Allowed), row(SimDecision::ImplicitDeny)]),
            SimDecision::ImplicitDeny
        );
        assert_eq!(overall(&[row(SimDecision::Allowed)]), SimDecision::Allowed);
    }
}
