//! Which deeper evidence one tuple's failure calls for, gathered with the calls of
//! [`super::evidence`] through the SDK configuration and credentials the probe used: the caller
//! side of a refused AssumeRole, the role's trust policy and Bedrock permissions once assumed,
//! and where else (or what else) the model is offered.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;

use super::evidence::{self, Read};
use super::model::{Evidence, SimDecision, SimResult};
use crate::config::{Target, TupleKey};
use crate::fix::EXTERNAL_ID_PLACEHOLDER;
use crate::layer_view::TupleLayers;
use crate::model_id::{base_model, simulated_arns};
use crate::probe::{ProbeAccess, ProbeReport};
use crate::reason::{Layer, Reason};

/// The regions `not_in_region` suggests when the model is offered there.
const CANDIDATE_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "us-east-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-3",
    "ap-northeast-1",
    "ap-southeast-2",
];

/// Evidence gathered for one tuple.
#[derive(Default)]
pub(super) struct Gathered {
    /// Source side: can the source principal sts:AssumeRole on the role?
    pub source_sim: Option<(Evidence, Option<SimDecision>)>,
    /// Target side: the role's trust policy.
    pub trust: Option<Evidence>,
    /// Target side: may the role invoke the model?
    pub role_sim: Option<(Evidence, Option<SimDecision>)>,
    /// Regions where the model is offered (model_not_in_region).
    pub offered: Vec<String>,
    /// Active models of the same provider in the region (legacy / end of life).
    pub alternatives: Vec<String>,
}

fn read_evidence<T>(call: String, read: &Read<T>, ok: String, not_permitted: String) -> Evidence {
    let (outcome, summary, error) = match read {
        Read::Read(_) => ("read", ok, None),
        Read::NotPermitted(e) => ("not_permitted", not_permitted, Some(e.clone())),
        Read::Failed(e) => (
            "failed",
            format!(
                "could not read it: {}{}",
                e.code
                    .as_deref()
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default(),
                e.message
            ),
            Some(e.clone()),
        ),
    };
    Evidence {
        call,
        outcome,
        summary,
        decision: None,
        results: Vec::new(),
        trust_policy: None,
        error,
    }
}

/// What every evidence call of one tuple shares.
struct Calls<'a> {
    sdk: &'a SdkConfig,
    timeout: Duration,
    secrets: Vec<&'a str>,
}

/// Gathers the evidence `layers` call for (nothing without `access`: the source had no SDK
/// configuration). `principal` is the source principal as IAM knows it.
pub(super) async fn gather(
    target: &Target,
    key: &TupleKey,
    report: &ProbeReport,
    layers: &TupleLayers,
    access: Option<&ProbeAccess>,
    principal: Option<&str>,
) -> Gathered {
    let mut g = Gathered::default();
    let Some(access) = access else {
        return g;
    };
    let calls = Calls {
        sdk: &access.sdk,
        timeout: target.settings.timeout,
        secrets: target.secrets(),
    };
    let role_arn = target.role_arn.as_deref();

    // Source side, for an assume_role failure the caller's policy may explain.
    if let (Some(f), Some(role), Some(principal), Some(src)) = (
        layers.get(Layer::AssumeRole).failure.as_ref(),
        role_arn,
        principal,
        access.source.as_ref(),
    ) && matches!(
        f.reason,
        Reason::AssumeRoleDenied | Reason::TrustPolicyDenied | Reason::AssumeRoleNotPermitted
    ) {
        g.source_sim = Some(caller_side(&calls, src.credentials.clone(), principal, role).await);
    }

    // Target side, once assumed (a same-account target: the source principal itself).
    let invoker = role_arn.or(principal);
    if let (Some(invoker), Some(creds)) = (invoker, access.target_credentials.as_ref()) {
        if let Some(role) = role_arn {
            g.trust = Some(trust_side(&calls, creds, role, target.role_name()).await);
        }
        let arns = simulated_arns(&key.model_id, &key.aws_region, &report.account_id);
        g.role_sim = Some(role_side(&calls, creds, invoker, &arns).await);
        model_side(&calls, creds, key, layers, &mut g).await;
    }
    g
}

/// Does the source principal's own policy allow sts:AssumeRole on the role?
async fn caller_side(
    calls: &Calls<'_>,
    creds: Credentials,
    principal: &str,
    role: &str,
) -> (Evidence, Option<SimDecision>) {
    let read = evidence::simulate(
        calls.sdk,
        creds,
        calls.timeout,
        principal,
        &["sts:AssumeRole"],
        &[role.to_string()],
        &calls.secrets,
    )
    .await;
    let call = format!("iam:SimulatePrincipalPolicy {principal} sts:AssumeRole on {role}");
    let mut ev = read_evidence(
        call,
        &read,
        String::new(),
        format!(
            "could not read the caller side: the source principal {principal} lacks iam:SimulatePrincipalPolicy on itself"
        ),
    );
    let mut decision = None;
    if let Read::Read(results) = &read {
        let d = evidence::overall(results);
        decision = Some(d);
        ev.summary = match d {
            SimDecision::Allowed => format!(
                "the caller side allows it: {principal}'s identity policies allow sts:AssumeRole on {role}"
            ),
            SimDecision::ImplicitDeny => format!(
                "the caller side does not allow it (implicitDeny): no identity policy of {principal} allows sts:AssumeRole on {role}"
            ),
            SimDecision::ExplicitDeny => format!(
                "the caller side denies it (explicitDeny): an identity policy of {principal} denies sts:AssumeRole on {role}"
            ),
        };
        ev.decision = Some(d);
        ev.results = results.clone();
    }
    (ev, decision)
}

/// The assumed role's trust policy, as the role itself may read it.
async fn trust_side(calls: &Calls<'_>, creds: &Credentials, role: &str, name: &str) -> Evidence {
    let read = evidence::trust_policy(
        calls.sdk,
        creds.clone(),
        calls.timeout,
        name,
        &calls.secrets,
    )
    .await;
    let mut ev = read_evidence(
        format!("iam:GetRole {name}"),
        &read,
        format!(
            "read the trust policy of {role} (sts:ExternalId values shown as {EXTERNAL_ID_PLACEHOLDER})"
        ),
        format!("could not read the trust policy: the role {role} lacks iam:GetRole on itself"),
    );
    if let Read::Read(doc) = read {
        ev.trust_policy = Some(doc);
    }
    ev
}

/// The actions an invoking role needs (step 4 of the checklist): plain and streaming
/// invocation (Converse and ConverseStream are authorized as these two).
pub(super) const INVOKE_ACTIONS: [&str; 2] = [
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
];

/// The actions of `results` that are not allowed (both when none is named), in order.
fn refused_actions(results: &[SimResult]) -> String {
    let mut refused: Vec<&str> = Vec::new();
    for r in results
        .iter()
        .filter(|r| r.decision != SimDecision::Allowed)
    {
        if !refused.contains(&r.action.as_str()) {
            refused.push(&r.action);
        }
    }
    if refused.is_empty() {
        refused = INVOKE_ACTIONS.to_vec();
    }
    refused.join(" and ")
}

/// May the invoking principal call bedrock:InvokeModel and
/// bedrock:InvokeModelWithResponseStream on the model's ARNs?
async fn role_side(
    calls: &Calls<'_>,
    creds: &Credentials,
    invoker: &str,
    arns: &[String],
) -> (Evidence, Option<SimDecision>) {
    let read = evidence::simulate(
        calls.sdk,
        creds.clone(),
        calls.timeout,
        invoker,
        &INVOKE_ACTIONS,
        arns,
        &calls.secrets,
    )
    .await;
    let call = format!(
        "iam:SimulatePrincipalPolicy {invoker} {} on {}",
        INVOKE_ACTIONS.join(", "),
        arns.join(", ")
    );
    let mut ev = read_evidence(
        call,
        &read,
        String::new(),
        format!(
            "could not simulate the policies of {invoker}: it lacks iam:SimulatePrincipalPolicy on itself"
        ),
    );
    let mut decision = None;
    if let Read::Read(results) = &read {
        let d = evidence::overall(results);
        decision = Some(d);
        let refused = refused_actions(results);
        ev.summary = match d {
            SimDecision::Allowed => format!(
                "allowed: the identity policies of {invoker} allow {} on the model",
                INVOKE_ACTIONS.join(" and ")
            ),
            SimDecision::ImplicitDeny => format!(
                "implicitDeny: no identity policy of {invoker} allows {refused} on the model"
            ),
            SimDecision::ExplicitDeny
                if results
                    .iter()
                    .any(|r| r.allowed_by_organizations == Some(false)) =>
            {
                format!(
                    "explicitDeny: a service control policy of the organisation denies {refused} for the account of {invoker}"
                )
            }
            SimDecision::ExplicitDeny => format!(
                "explicitDeny: an identity policy of {invoker} denies {refused} on the model"
            ),
        };
        ev.decision = Some(d);
        ev.results = results.clone();
    }
    (ev, decision)
}

/// Where else the model is offered (not in this region), or which active models of its
/// provider could replace it (legacy, end of life).
async fn model_side(
    calls: &Calls<'_>,
    creds: &Credentials,
    key: &TupleKey,
    layers: &TupleLayers,
    g: &mut Gathered,
) {
    let reasons: Vec<Reason> = [Layer::ModelAccess, Layer::Invoke, Layer::InvokeStream]
        .into_iter()
        .filter_map(|l| layers.get(l).reason())
        .collect();
    let base = base_model(&key.model_id).to_string();
    if reasons.contains(&Reason::ModelNotInRegion) {
        let candidates: Vec<&str> = CANDIDATE_REGIONS
            .iter()
            .copied()
            .filter(|r| *r != key.aws_region)
            .collect();
        g.offered =
            evidence::regions_offering(calls.sdk, creds, calls.timeout, &base, &candidates).await;
    }
    if reasons
        .iter()
        .any(|r| matches!(r, Reason::ModelLegacyNoAccess | Reason::ModelEndOfLife))
    {
        let prefix = base
            .split_once('.')
            .map(|(p, _)| format!("{p}."))
            .unwrap_or_default();
        g.alternatives = evidence::active_models(
            calls.sdk,
            creds,
            calls.timeout,
            &key.aws_region,
            &prefix,
            &base,
        )
        .await;
    }
}
