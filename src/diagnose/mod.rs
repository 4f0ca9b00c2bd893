//! `diagnose`: probe the selected tuples now and explain each one as the guides' checklist
//! (account boundary → trust policy → role assumption → Bedrock permissions → model access and
//! region → invocation), each step ✓ / ✗ / not reached / unknown, with the reason, AWS's
//! evidence (code, request id, redacted message), deeper IAM evidence where the prober may read
//! it ([`evidence`]), and concrete fixes ([`fix`]). [`render`] prints text or JSON.
//!
//! Steps 3 (role assumption) and 6 (invocation) are the calls themselves; steps 2, 4 and 5 are
//! causes: a failed call marks its own step ✗ and, when the reason points at a cause, that
//! cause's step ✗ too, which then carries the fix. The tuple's `failing_step` is the first ✗.

pub mod evidence;
pub mod fix;
pub mod render;

use std::collections::HashMap;

use futures::StreamExt;
use serde::Serialize;

use crate::config::{Config, Expect, Target, TupleKey};
use crate::metrics::probe_success;
use crate::probe::aws::redact;
use crate::probe::model_access::geo_profile_prefix;
use crate::probe::{Failure, LayerResult, LayerStatus, ProbeAccess, ProbeReport, Prober, Round};
use crate::reason::{Class, Layer, Reason};
use evidence::{Read, SimDecision, SimResult};
use fix::{Fix, FixContext};

/// Which tuples to diagnose (`--target`, `--region`, `--model`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub target: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
}

/// A selection naming something the configuration does not have.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectionError {
    #[error("unknown target {0:?} (configured: {1})")]
    UnknownTarget(String, String),
    #[error("no selected target probes region {0:?}")]
    UnknownRegion(String),
    #[error("no selected target probes model {0:?}")]
    UnknownModel(String),
    #[error("the selection matches no tuple")]
    Empty,
}

/// The tuples of `config` that `sel` selects, in configuration order.
pub fn select<'c>(
    config: &'c Config,
    sel: &Selection,
) -> Result<Vec<(TupleKey, &'c Target)>, SelectionError> {
    if let Some(t) = &sel.target
        && config.target(t).is_none()
    {
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(SelectionError::UnknownTarget(t.clone(), names.join(", ")));
    }
    let by_target: Vec<(TupleKey, &Target)> = config
        .tuples()
        .into_iter()
        .filter(|(k, _)| sel.target.as_ref().is_none_or(|t| &k.target == t))
        .collect();
    if let Some(r) = &sel.region
        && !by_target.iter().any(|(k, _)| &k.aws_region == r)
    {
        return Err(SelectionError::UnknownRegion(r.clone()));
    }
    if let Some(m) = &sel.model
        && !by_target.iter().any(|(k, _)| &k.model_id == m)
    {
        return Err(SelectionError::UnknownModel(m.clone()));
    }
    let out: Vec<(TupleKey, &Target)> = by_target
        .into_iter()
        .filter(|(k, _)| sel.region.as_ref().is_none_or(|r| &k.aws_region == r))
        .filter(|(k, _)| sel.model.as_ref().is_none_or(|m| &k.model_id == m))
        .collect();
    if out.is_empty() {
        return Err(SelectionError::Empty);
    }
    Ok(out)
}

/// The checklist steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    AccountBoundary,
    TrustPolicy,
    RoleAssumption,
    BedrockPermission,
    ModelAccess,
    Invocation,
}

impl StepId {
    pub const ALL: [StepId; 6] = [
        StepId::AccountBoundary,
        StepId::TrustPolicy,
        StepId::RoleAssumption,
        StepId::BedrockPermission,
        StepId::ModelAccess,
        StepId::Invocation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepId::AccountBoundary => "account_boundary",
            StepId::TrustPolicy => "trust_policy",
            StepId::RoleAssumption => "role_assumption",
            StepId::BedrockPermission => "bedrock_permission",
            StepId::ModelAccess => "model_access",
            StepId::Invocation => "invocation",
        }
    }

    pub fn number(self) -> usize {
        StepId::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pass,
    Fail,
    NotReached,
    Unknown,
}

/// AWS's answer to a failed call (message redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsError {
    pub code: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn from_failure(f: &Failure) -> AwsError {
        AwsError {
            code: f.error_code.clone(),
            http_status: f.http_status,
            request_id: f.request_id.clone(),
            message: f.message.clone(),
        }
    }

    pub fn local(message: &str) -> AwsError {
        AwsError {
            code: None,
            http_status: None,
            request_id: None,
            message: message.to_string(),
        }
    }
}

/// One deeper-evidence call and what it showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The call, e.g. `iam:SimulatePrincipalPolicy arn:…:user/x sts:AssumeRole on arn:…`.
    pub call: String,
    /// `read`, `not_permitted` or `failed`.
    pub outcome: &'static str,
    /// One line for humans.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<SimDecision>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<SimResult>,
    /// A trust policy (external ids replaced by the placeholder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: StepId,
    pub number: usize,
    pub title: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
    /// What the step established, in order.
    pub findings: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub fixes: Vec<Fix>,
}

impl Step {
    fn new(step: StepId, title: String, status: StepStatus) -> Step {
        Step {
            step,
            number: step.number(),
            title,
            status,
            layer: None,
            reason: None,
            class: None,
            error: None,
            findings: Vec::new(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }

    fn failed_with(mut self, layer: Layer, f: &Failure) -> Step {
        self.status = StepStatus::Fail;
        self.layer = Some(layer);
        self.reason = Some(f.reason);
        self.class = Some(f.reason.class());
        self.error = Some(AwsError::from_failure(f));
        self
    }
}

/// The diagnosis of one tuple.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TupleDiagnosis {
    pub target: String,
    pub aws_region: String,
    pub model_id: String,
    pub source: String,
    pub source_principal: Option<String>,
    pub source_account: Option<String>,
    pub target_account: String,
    pub role_arn: Option<String>,
    pub expect: Expect,
    /// The probe's verdict (with `expect = "deny"`: denied for an access reason).
    pub passed: bool,
    /// The first ✗ step, with its layer and reason.
    pub failing_step: Option<StepId>,
    pub layer: Option<Layer>,
    pub reason: Option<Reason>,
    pub steps: Vec<Step>,
}

impl TupleDiagnosis {
    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.iter().find(|s| s.step == id)
    }
}

/// The diagnosis of every selected tuple.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub passed: bool,
    pub tuples: Vec<TupleDiagnosis>,
}

/// Probes `tuples` now (one shared [`Round`], a few at a time) and diagnoses each.
pub async fn diagnose(prober: &Prober, tuples: &[(TupleKey, &Target)]) -> Diagnosis {
    let round = prober.new_round();
    let round = &round;
    let out: Vec<TupleDiagnosis> = futures::stream::iter(tuples.iter())
        // Boxed: the tuple's future (probe, then evidence calls) is deep enough that nesting it
        // unboxed in the stream's types overflows the compiler's query depth in release builds.
        .map(|(key, target)| Box::pin(diagnose_tuple(prober, round, key, target)))
        .buffered(4)
        .collect()
        .await;
    Diagnosis {
        passed: out.iter().all(|t| t.passed),
        tuples: out,
    }
}

/// Reasons whose cause is the target role's trust policy.
fn trust_cause(reason: Reason) -> bool {
    matches!(reason, Reason::TrustPolicyDenied)
}

/// Reasons whose cause is the assumed role's (or the account's) authorisation of Bedrock.
fn permission_cause(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::BedrockNotPermitted | Reason::ExplicitDeny | Reason::ScpDenied
    )
}

/// Reasons whose cause is model access, the model or the region.
fn model_cause(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::ModelAccessNotGranted
            | Reason::ModelAccessPending
            | Reason::MarketplaceSubscriptionRequired
            | Reason::UseCaseFormRequired
            | Reason::ModelNotInRegion
            | Reason::InferenceProfileRequired
            | Reason::ModelLegacyNoAccess
            | Reason::ModelEndOfLife
            | Reason::AccountNotAuthorized
            | Reason::DailyTokenQuotaExhausted
    )
}

fn failure(l: Option<&LayerResult>) -> Option<&Failure> {
    match l.map(|l| &l.status) {
        Some(LayerStatus::Failed(f)) => Some(f),
        _ => None,
    }
}

fn passed(l: Option<&LayerResult>) -> bool {
    matches!(l.map(|l| &l.status), Some(LayerStatus::Passed))
}

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
struct Gathered {
    /// Source side: can the source principal sts:AssumeRole on the role?
    source_sim: Option<(Evidence, Option<SimDecision>)>,
    /// Target side: the role's trust policy.
    trust: Option<Evidence>,
    /// Target side: may the role invoke the model?
    role_sim: Option<(Evidence, Option<SimDecision>)>,
    /// Regions where the model is offered (model_not_in_region).
    offered: Vec<String>,
    /// Active models of the same provider in the region (legacy / end of life).
    alternatives: Vec<String>,
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

async fn gather(
    target: &Target,
    key: &TupleKey,
    report: &ProbeReport,
    access: Option<&ProbeAccess>,
    principal: Option<&str>,
) -> Gathered {
    let mut g = Gathered::default();
    let Some(access) = access else {
        return g;
    };
    let timeout = target.settings.timeout;
    let secrets = target.secrets();
    let layer = |l: Layer| report.layers.iter().find(|x| x.layer == l);
    let role_arn = target.role_arn.as_deref();

    // Source side, for an assume_role failure the caller's policy may explain.
    if let (Some(f), Some(role), Some(principal), Some(src)) = (
        failure(layer(Layer::AssumeRole)),
        role_arn,
        principal,
        access.source.as_ref(),
    ) && matches!(
        f.reason,
        Reason::AssumeRoleDenied | Reason::TrustPolicyDenied | Reason::AssumeRoleNotPermitted
    ) {
        let read = evidence::simulate(
            &access.sdk,
            src.credentials.clone(),
            timeout,
            principal,
            &["sts:AssumeRole"],
            &[role.to_string()],
            &secrets,
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
        g.source_sim = Some((ev, decision));
    }

    // Target side, once assumed (a same-account target: the source principal itself).
    let invoker = role_arn.or(principal);
    if let (Some(invoker), Some(creds)) = (invoker, access.target_credentials.as_ref()) {
        if let Some(role) = role_arn {
            let name = target.role_name();
            let read =
                evidence::trust_policy(&access.sdk, creds.clone(), timeout, name, &secrets).await;
            let mut ev = read_evidence(
                format!("iam:GetRole {name}"),
                &read,
                format!(
                    "read the trust policy of {role} (sts:ExternalId values shown as {})",
                    fix::EXTERNAL_ID_PLACEHOLDER
                ),
                format!(
                    "could not read the trust policy: the role {role} lacks iam:GetRole on itself"
                ),
            );
            if let Read::Read(doc) = read {
                ev.trust_policy = Some(doc);
            }
            g.trust = Some(ev);
        }

        let arns = fix::simulated_arns(&key.model_id, &key.aws_region, &report.account_id);
        let read = evidence::simulate(
            &access.sdk,
            creds.clone(),
            timeout,
            invoker,
            &["bedrock:InvokeModel"],
            &arns,
            &secrets,
        )
        .await;
        let call = format!(
            "iam:SimulatePrincipalPolicy {invoker} bedrock:InvokeModel on {}",
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
            ev.summary = match d {
                SimDecision::Allowed => format!(
                    "allowed: the identity policies of {invoker} allow bedrock:InvokeModel on the model"
                ),
                SimDecision::ImplicitDeny => format!(
                    "implicitDeny: no identity policy of {invoker} allows bedrock:InvokeModel on the model"
                ),
                SimDecision::ExplicitDeny
                    if results
                        .iter()
                        .any(|r| r.allowed_by_organizations == Some(false)) =>
                {
                    format!(
                        "explicitDeny: a service control policy of the organisation denies bedrock:InvokeModel for the account of {invoker}"
                    )
                }
                SimDecision::ExplicitDeny => format!(
                    "explicitDeny: an identity policy of {invoker} denies bedrock:InvokeModel on the model"
                ),
            };
            ev.decision = Some(d);
            ev.results = results.clone();
        }
        g.role_sim = Some((ev, decision));

        let reasons: Vec<Reason> = [Layer::ModelAccess, Layer::Invoke]
            .into_iter()
            .filter_map(|l| failure(layer(l)).map(|f| f.reason))
            .collect();
        let base = fix::base_model(&key.model_id).to_string();
        if reasons.contains(&Reason::ModelNotInRegion) {
            let candidates: Vec<&str> = CANDIDATE_REGIONS
                .iter()
                .copied()
                .filter(|r| *r != key.aws_region)
                .collect();
            g.offered =
                evidence::regions_offering(&access.sdk, creds, timeout, &base, &candidates).await;
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
                &access.sdk,
                creds,
                timeout,
                &key.aws_region,
                &prefix,
                &base,
            )
            .await;
        }
    }
    g
}

async fn diagnose_tuple(
    prober: &Prober,
    round: &Round,
    key: &TupleKey,
    target: &Target,
) -> TupleDiagnosis {
    let (report, access) = prober
        .probe_with_access(target, &key.aws_region, &key.model_id, round)
        .await;
    let source_identity = access.as_ref().and_then(|a| a.source.as_ref());
    let principal = source_identity.and_then(|s| evidence::iam_principal_arn(&s.arn));
    let gathered = gather(target, key, &report, access.as_ref(), principal.as_deref()).await;
    let source_arn = source_identity.map(|s| s.arn.clone());
    let source_account = source_identity.map(|s| s.account.clone());
    let cx = FixContext {
        target,
        region: &key.aws_region,
        model: &key.model_id,
        source_account: source_account.as_deref(),
        source_principal: principal.as_deref(),
        target_account: &report.account_id,
    };
    let steps = build_steps(&cx, &report, gathered, source_arn.as_deref());
    let first_fail = steps.iter().find(|s| s.status == StepStatus::Fail);
    let secrets = target.secrets();
    let mut d = TupleDiagnosis {
        target: key.target.clone(),
        aws_region: key.aws_region.clone(),
        model_id: key.model_id.clone(),
        source: target.source.clone(),
        source_principal: source_arn,
        source_account,
        target_account: report.account_id.clone(),
        role_arn: target.role_arn.clone(),
        expect: target.settings.expect,
        passed: probe_success(&report.layers, target.settings.expect),
        failing_step: first_fail.map(|s| s.step),
        layer: first_fail.and_then(|s| s.layer),
        reason: first_fail.and_then(|s| s.reason),
        steps,
    };
    scrub(&mut d, &secrets);
    d
}

/// Last line of defence: every free text of the diagnosis goes through redaction.
fn scrub(d: &mut TupleDiagnosis, secrets: &[&str]) {
    for s in &mut d.steps {
        for f in &mut s.findings {
            *f = redact(f, secrets);
        }
        if let Some(e) = &mut s.error {
            e.message = redact(&e.message, secrets);
        }
        for e in &mut s.evidence {
            e.summary = redact(&e.summary, secrets);
            if let Some(err) = &mut e.error {
                err.message = redact(&err.message, secrets);
            }
        }
        for f in &mut s.fixes {
            f.summary = redact(&f.summary, secrets);
        }
    }
}

fn build_steps(
    cx: &FixContext<'_>,
    report: &ProbeReport,
    g: Gathered,
    source_arn: Option<&str>,
) -> Vec<Step> {
    let layers: HashMap<Layer, &LayerResult> = report.layers.iter().map(|l| (l.layer, l)).collect();
    let cred = layers.get(&Layer::Credentials).copied();
    let ar = layers.get(&Layer::AssumeRole).copied();
    let ma = layers.get(&Layer::ModelAccess).copied();
    let inv = layers.get(&Layer::Invoke).copied();
    let target = cx.target;
    let role = target.role_arn.as_deref();
    let gate_passed = passed(cred) && (role.is_none() || passed(ar));
    let mut steps = Vec::with_capacity(6);

    // 1. Account boundary.
    let title = format!(
        "Account boundary: source {:?} ({}) → target account {}",
        target.source,
        match (source_arn, cx.source_account) {
            (Some(a), Some(acct)) => format!("{a}, account {acct}"),
            _ => "identity unknown".to_string(),
        },
        if cx.target_account.is_empty() {
            "?"
        } else {
            cx.target_account
        }
    );
    let mut s1 = Step::new(StepId::AccountBoundary, title, StepStatus::NotReached);
    s1.layer = Some(Layer::Credentials);
    match (cred, failure(cred)) {
        (Some(_), Some(f)) => {
            s1 = s1.failed_with(Layer::Credentials, f);
            s1.fixes.push(fix::advice(f.reason.fix()));
        }
        (Some(_), None) => {
            s1.status = StepStatus::Pass;
            s1.findings.push(format!(
                "sts:GetCallerIdentity answered; Bedrock is evaluated in the target account {}",
                cx.target_account
            ));
        }
        (None, _) => {}
    }
    steps.push(s1);

    // 2. Trust policy; 3. role assumption.
    let role_name = target.role_name();
    let mut s2 = Step::new(
        StepId::TrustPolicy,
        match role {
            Some(r) => format!("Trust policy of {r} allows the source account"),
            None => "Trust policy: none (same-account target, no role)".to_string(),
        },
        StepStatus::NotReached,
    );
    let mut s3 = Step::new(
        StepId::RoleAssumption,
        match role {
            Some(r) => format!("Role assumption: sts:AssumeRole {r}"),
            None => "Role assumption: none (same-account target)".to_string(),
        },
        StepStatus::NotReached,
    );
    if role.is_none() && passed(cred) {
        s2.status = StepStatus::Pass;
        s3.status = StepStatus::Pass;
    }
    if let Some(ar) = ar {
        s3.layer = Some(Layer::AssumeRole);
        s2.layer = Some(Layer::AssumeRole);
        match failure(Some(ar)) {
            None => {
                s2.status = StepStatus::Pass;
                s2.findings.push(format!(
                    "the role {role_name} trusts the source: AssumeRole succeeded"
                ));
                if let Some(ev) = g.trust {
                    s2.evidence.push(ev);
                }
                s3.status = StepStatus::Pass;
                s3.findings.push(format!(
                    "assumed {} for {} in {}",
                    role.unwrap_or(""),
                    humantime::format_duration(target.settings.session_duration),
                    cx.region
                ));
            }
            Some(f) => {
                s3 = s3.failed_with(Layer::AssumeRole, f);
                let (source_ev, decision) = match g.source_sim {
                    Some((ev, d)) => (Some(ev), d),
                    None => (None, None),
                };
                if let Some(ev) = source_ev {
                    s3.evidence.push(ev);
                }
                match f.reason {
                    r if trust_cause(r) => {
                        s2 = s2.failed_with(Layer::AssumeRole, f);
                        s2.findings.push(format!(
                            "AWS says the role's trust policy does not allow the caller: the fault is on the target side (account {})",
                            cx.target_account
                        ));
                        push_trust_fixes(&mut s2, cx);
                        s3.findings.push("cause: step 2 (trust policy)".to_string());
                    }
                    Reason::AssumeRoleDenied => match decision {
                        Some(SimDecision::Allowed) => {
                            s2 = s2.failed_with(Layer::AssumeRole, f);
                            s2.findings.push(format!(
                                "the caller side allows it; the fault is on the target side (account {}): the role's trust policy, the ExternalId condition, or the role does not exist",
                                cx.target_account
                            ));
                            if target.external_id.is_none() {
                                s2.findings.push("this target sends no ExternalId: if the role's trust policy requires one, set external_id on the target".to_string());
                            }
                            push_trust_fixes(&mut s2, cx);
                            s3.findings
                                .push("cause: step 2 (trust policy, target side)".to_string());
                        }
                        Some(d) => {
                            s2.status = StepStatus::Unknown;
                            s2.findings.push("not checked: the caller's own policy already refuses sts:AssumeRole (step 3)".to_string());
                            s3.findings.push(format!(
                                "the source principal's policy is at fault ({})",
                                d.as_str()
                            ));
                            s3.fixes.push(if d == SimDecision::ExplicitDeny {
                                fix::source_remove_deny(cx)
                            } else {
                                fix::source_assume_policy(cx)
                            });
                        }
                        None => {
                            s2 = s2.failed_with(Layer::AssumeRole, f);
                            s2.findings.push("AWS answers every refused AssumeRole with the same text: the role's trust policy (or its ExternalId condition, or the role's existence) in the target account, or the caller's own policy. Check in order:".to_string());
                            push_trust_fixes(&mut s2, cx);
                            s3.findings.push("ambiguous: if the trust policy is right, the source principal's policy must allow sts:AssumeRole on the role".to_string());
                            s3.fixes.push(fix::source_assume_policy(cx));
                        }
                    },
                    Reason::AssumeRoleNotPermitted => {
                        s2.status = StepStatus::Unknown;
                        s2.findings.push(
                            "not checked: AWS stopped at the caller's own policy (step 3)"
                                .to_string(),
                        );
                        s3.findings.push("the source principal's identity policy does not allow sts:AssumeRole on the role (caller side)".to_string());
                        s3.fixes.push(fix::source_assume_policy(cx));
                    }
                    Reason::ExplicitDeny => {
                        s2.status = StepStatus::Unknown;
                        s3.fixes.push(fix::source_remove_deny(cx));
                    }
                    Reason::ScpDenied => {
                        s2.status = StepStatus::Unknown;
                        let account = cx.source_account.unwrap_or("the source account");
                        s3.findings.push(format!(
                            "a service control policy of the organisation denies sts:AssumeRole for {account} (caller side)"
                        ));
                        s3.fixes
                            .push(fix::scp(account, "sts:AssumeRole", &f.message));
                    }
                    Reason::SessionDurationExceeded => {
                        s2.status = StepStatus::Unknown;
                        s2.findings.push(
                            "not checked: AWS refused the requested session duration first"
                                .to_string(),
                        );
                        s3.fixes.extend(fix::session_duration(cx));
                    }
                    other => {
                        s2.status = StepStatus::Unknown;
                        s3.fixes.push(fix::advice(other.fix()));
                    }
                }
            }
        }
    }
    steps.push(s2);
    steps.push(s3);

    // 4. Bedrock permissions; 5. model access and region; 6. invocation.
    let assumed = role.unwrap_or("the caller");
    let mut s4 = Step::new(
        StepId::BedrockPermission,
        format!("Bedrock permissions of {assumed} on {}", cx.model),
        StepStatus::NotReached,
    );
    let mut s5 = Step::new(
        StepId::ModelAccess,
        format!(
            "Model access and region: {} in account {} region {}",
            cx.model, cx.target_account, cx.region
        ),
        StepStatus::NotReached,
    );
    let mut s6 = Step::new(
        StepId::Invocation,
        format!("Invocation of {} in {}", cx.model, cx.region),
        StepStatus::NotReached,
    );
    if gate_passed {
        let (role_ev, role_decision) = match g.role_sim {
            Some((ev, d)) => (Some(ev), d),
            None => (None, None),
        };
        // Which failure explains which cause.
        let perm = [(Layer::Invoke, inv), (Layer::ModelAccess, ma)]
            .into_iter()
            .find_map(|(l, r)| {
                failure(r)
                    .filter(|f| permission_cause(f.reason))
                    .map(|f| (l, f))
            });
        let model = [(Layer::ModelAccess, ma), (Layer::Invoke, inv)]
            .into_iter()
            .find_map(|(l, r)| failure(r).filter(|f| model_cause(f.reason)).map(|f| (l, f)));

        // 4.
        if let Some(ev) = role_ev {
            s4.evidence.push(ev);
        }
        s4.layer = Some(Layer::Invoke);
        match perm {
            Some((l, f)) => {
                s4 = s4.failed_with(l, f);
                let action = if l == Layer::ModelAccess {
                    "bedrock:GetFoundationModelAvailability"
                } else {
                    "bedrock:InvokeModel"
                };
                match f.reason {
                    Reason::ScpDenied => {
                        s4.findings.push(format!(
                            "a service control policy denies {action} for account {} (the SCP hint of the guides: SCPs block Bedrock silently)",
                            cx.target_account
                        ));
                        if role_decision == Some(SimDecision::Allowed) {
                            s4.findings.push("the role's own identity policies allow it: only the organisation's SCP denies".to_string());
                        }
                        s4.fixes
                            .push(fix::scp(cx.target_account, action, &f.message));
                    }
                    Reason::ExplicitDeny => {
                        s4.findings.push(format!(
                            "an explicit Deny for {action} applies to the role ({})",
                            match role_decision {
                                Some(SimDecision::ExplicitDeny) => "the policy simulator confirms: explicitDeny in the role's identity policies",
                                _ => "AWS names an identity-based, resource-based, boundary or session policy",
                            }
                        ));
                        s4.fixes.push(fix::role_remove_deny(
                            cx,
                            action,
                            fix::policy_arn_in(&f.message),
                        ));
                    }
                    _ => {
                        s4.findings.push(match role_decision {
                            Some(SimDecision::ImplicitDeny) => format!("no identity policy of the role allows {action} on the model (implicitDeny): add the permission policy below"),
                            Some(SimDecision::Allowed) if l == Layer::ModelAccess => "the role may invoke, but not read the model's availability: add the control-plane actions below".to_string(),
                            Some(SimDecision::Allowed) => "the policy simulator says the identity policies allow it: look for a permissions boundary, session policy or resource policy".to_string(),
                            Some(SimDecision::ExplicitDeny) => "an identity policy of the role denies it (explicitDeny)".to_string(),
                            None => format!("the assumed role is not allowed {action} on the model"),
                        });
                        s4.fixes.push(fix::invoke_permission(
                            cx,
                            failure(ma).is_some_and(|f| f.reason == Reason::BedrockNotPermitted),
                        ));
                    }
                }
            }
            None => match (inv, failure(inv)) {
                (Some(_), None) => {
                    s4.status = StepStatus::Pass;
                    s4.findings
                        .push("the invocation was authorised".to_string());
                }
                (Some(_), Some(f)) if model_cause(f.reason) => {
                    s4.status = StepStatus::Pass;
                    s4.findings.push("IAM authorised the invocation (Bedrock refused it for a model-access reason, after authorisation)".to_string());
                }
                _ => {
                    s4.status = match role_decision {
                        Some(SimDecision::Allowed) => StepStatus::Pass,
                        Some(_) => StepStatus::Fail,
                        None => StepStatus::Unknown,
                    };
                    if s4.status == StepStatus::Fail {
                        s4.reason = Some(Reason::BedrockNotPermitted);
                        s4.class = Some(Reason::BedrockNotPermitted.class());
                        s4.fixes.push(fix::invoke_permission(cx, false));
                    }
                    if s4.status == StepStatus::Unknown {
                        s4.findings
                            .push("not established: the invocation did not answer".to_string());
                    }
                }
            },
        }

        // 5.
        s5.layer = Some(Layer::ModelAccess);
        match model {
            Some((l, f)) => {
                s5 = s5.failed_with(l, f);
                let old_world = l == Layer::ModelAccess
                    || f.message.contains("don't have access")
                    || f.message.contains("don’t have access")
                    || f.message.contains("not authorized to invoke this API");
                let avail = report.availability.as_ref();
                if let Some(a) = avail {
                    s5.findings.push(format!(
                        "GetFoundationModelAvailability: authorization={} entitlement={} agreement={} region={}",
                        a.authorization, a.entitlement, a.agreement, a.region
                    ));
                }
                let old_world = old_world
                    && avail.is_none_or(|a| {
                        a.authorization == "NOT_AUTHORIZED" || a.entitlement == "NOT_AVAILABLE"
                    });
                match f.reason {
                    Reason::ModelAccessNotGranted => {
                        s5.fixes.push(fix::model_access(cx, old_world))
                    }
                    Reason::ModelAccessPending => s5.fixes.push(fix::wait(cx)),
                    Reason::MarketplaceSubscriptionRequired => s5.fixes.push(fix::marketplace(cx)),
                    Reason::UseCaseFormRequired => s5.fixes.push(fix::use_case_form(cx)),
                    Reason::ModelNotInRegion => {
                        s5.fixes.push(fix::change_region(cx, &g.offered));
                    }
                    Reason::InferenceProfileRequired => {
                        let profile = format!(
                            "{}{}",
                            geo_profile_prefix(cx.region).unwrap_or("global."),
                            fix::base_model(cx.model)
                        );
                        s5.fixes.push(fix::change_model(
                            cx,
                            Some(&profile),
                            &format!("{} is served only through an inference profile", cx.model),
                        ));
                    }
                    Reason::ModelLegacyNoAccess | Reason::ModelEndOfLife => {
                        let why = if f.reason == Reason::ModelEndOfLife {
                            format!("{} has reached the end of its life", cx.model)
                        } else {
                            format!(
                                "{} is Legacy and account {} lost access after inactivity",
                                cx.model, cx.target_account
                            )
                        };
                        if !g.alternatives.is_empty() {
                            s5.findings.push(format!(
                                "active models of the same provider in {}: {}",
                                cx.region,
                                g.alternatives.join(", ")
                            ));
                        }
                        s5.fixes.push(fix::change_model(
                            cx,
                            g.alternatives.first().map(String::as_str),
                            &why,
                        ));
                    }
                    other => s5.fixes.push(fix::advice(other.fix())),
                }
            }
            None => {
                match (ma, failure(ma)) {
                    (Some(_), Some(f)) if !permission_cause(f.reason) => {
                        s5 = s5.failed_with(Layer::ModelAccess, f);
                        s5.fixes.push(fix::advice(f.reason.fix()));
                    }
                    (Some(_), Some(_)) => {
                        s5.status = StepStatus::Unknown;
                        s5.findings.push("not established: the role may not read the model's availability (step 4)".to_string());
                    }
                    (Some(_), None) => {
                        s5.status = StepStatus::Pass;
                        if let Some(a) = &report.availability {
                            s5.findings.push(format!(
                            "GetFoundationModelAvailability: authorization={} entitlement={} agreement={} region={}",
                            a.authorization, a.entitlement, a.agreement, a.region
                        ));
                        }
                    }
                    (None, _) => {
                        s5.status = if passed(inv) {
                            StepStatus::Pass
                        } else {
                            StepStatus::Unknown
                        };
                        s5.findings.push(
                            "model_access = false: the control-plane check is off".to_string(),
                        );
                    }
                }
            }
        }

        // 6.
        s6.layer = Some(Layer::Invoke);
        match (inv, failure(inv)) {
            (None, _) => {
                s6.status = StepStatus::Unknown;
                s6.findings
                    .push("invoke = \"none\": the model was not invoked".to_string());
            }
            (Some(_), None) => {
                s6.status = StepStatus::Pass;
                if let Some((i, o)) = report.tokens {
                    s6.findings
                        .push(format!("the model answered ({i} input, {o} output tokens)"));
                }
            }
            (Some(_), Some(f)) => {
                s6 = s6.failed_with(Layer::Invoke, f);
                if permission_cause(f.reason) {
                    s6.findings
                        .push("cause: step 4 (Bedrock permissions)".to_string());
                } else if model_cause(f.reason) {
                    s6.findings
                        .push("cause: step 5 (model access and region)".to_string());
                } else {
                    s6.fixes.push(fix::advice(f.reason.fix()));
                }
                if target.settings.expect == Expect::Deny && f.reason.class() == Class::Access {
                    s6.findings.push(
                        "expected: this target must be denied (expect = \"deny\")".to_string(),
                    );
                }
            }
        }
    }
    steps.push(s4);
    steps.push(s5);
    steps.push(s6);
    steps
}

fn push_trust_fixes(step: &mut Step, cx: &FixContext<'_>) {
    if cx.target.external_id.is_none() {
        step.fixes.push(fix::set_external_id(cx));
    }
    step.fixes.push(fix::trust_policy(cx));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{InvokeMode, ProbeSettings};
    use std::time::{Duration, SystemTime};

    fn target(external_id: Option<&str>, invoke: InvokeMode) -> Target {
        Target {
            name: "t".into(),
            source: "platform".into(),
            role_arn: Some("arn:aws:iam::222222222222:role/ProbeRole".into()),
            external_id: external_id.map(str::to_string),
            regions: vec!["us-east-1".into()],
            models: vec!["anthropic.claude-3-haiku-20240307-v1:0".into()],
            settings: ProbeSettings {
                interval: Duration::from_secs(60),
                timeout: Duration::from_secs(5),
                concurrency: 1,
                invoke,
                invoke_interval: Duration::from_secs(60),
                model_access: true,
                session_name: "s".into(),
                session_duration: Duration::from_secs(900),
                max_tokens: 1,
                expect: Expect::Allow,
            },
        }
    }

    fn layer(layer: Layer, failed: Option<(Reason, &str)>) -> LayerResult {
        LayerResult {
            layer,
            status: match failed {
                None => LayerStatus::Passed,
                Some((reason, code)) => LayerStatus::Failed(Failure {
                    reason,
                    error_code: Some(code.to_string()),
                    http_status: Some(403),
                    request_id: Some("req-1".into()),
                    message: "User: x is not authorized to perform: sts:AssumeRole".into(),
                }),
            },
            duration: Duration::ZERO,
            call: String::new(),
        }
    }

    fn report(layers: Vec<LayerResult>) -> ProbeReport {
        ProbeReport {
            key: TupleKey {
                target: "t".into(),
                aws_region: "us-east-1".into(),
                model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            },
            account_id: "222222222222".into(),
            role_name: "ProbeRole".into(),
            layers,
            availability: None,
            tokens: None,
            invoke_ran: true,
            finished_at: SystemTime::now(),
        }
    }

    fn cx(t: &Target) -> FixContext<'_> {
        FixContext {
            target: t,
            region: "us-east-1",
            model: "anthropic.claude-3-haiku-20240307-v1:0",
            source_account: Some("111111111111"),
            source_principal: Some("arn:aws:iam::111111111111:user/prober"),
            target_account: "222222222222",
        }
    }

    fn sim(decision: Option<SimDecision>) -> (Evidence, Option<SimDecision>) {
        let ev = Evidence {
            call: "iam:SimulatePrincipalPolicy".into(),
            outcome: if decision.is_some() {
                "read"
            } else {
                "not_permitted"
            },
            summary: String::new(),
            decision,
            results: Vec::new(),
            trust_policy: None,
            error: None,
        };
        (ev, decision)
    }

    fn by_id(steps: &[Step], id: StepId) -> &Step {
        steps
            .iter()
            .find(|s| s.step == id)
            .unwrap_or_else(|| panic!("no step {id:?}"))
    }

    fn denied_assume_role() -> ProbeReport {
        report(vec![
            layer(Layer::Credentials, None),
            layer(
                Layer::AssumeRole,
                Some((Reason::AssumeRoleDenied, "AccessDenied")),
            ),
        ])
    }

    #[test]
    fn assume_role_denied_with_the_caller_side_denying_blames_the_source_policy() {
        let t = target(Some("ext"), InvokeMode::Converse);
        let g = Gathered {
            source_sim: Some(sim(Some(SimDecision::ImplicitDeny))),
            ..Gathered::default()
        };
        let steps = build_steps(&cx(&t), &denied_assume_role(), g, None);
        assert_eq!(
            by_id(&steps, StepId::TrustPolicy).status,
            StepStatus::Unknown
        );
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.status, StepStatus::Fail);
        assert_eq!(s3.fixes[0].kind, fix::FixKind::IdentityPolicy);
        assert_eq!(
            s3.fixes[0].resource.as_deref(),
            Some("arn:aws:iam::222222222222:role/ProbeRole")
        );
        for later in [
            StepId::BedrockPermission,
            StepId::ModelAccess,
            StepId::Invocation,
        ] {
            assert_eq!(by_id(&steps, later).status, StepStatus::NotReached);
        }
    }

    #[test]
    fn assume_role_denied_with_an_explicit_deny_on_the_caller_asks_to_remove_it() {
        let t = target(Some("ext"), InvokeMode::Converse);
        let g = Gathered {
            source_sim: Some(sim(Some(SimDecision::ExplicitDeny))),
            ..Gathered::default()
        };
        let steps = build_steps(&cx(&t), &denied_assume_role(), g, None);
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.fixes[0].kind, fix::FixKind::RemoveDeny);
    }

    #[test]
    fn assume_role_denied_without_evidence_stays_honest_about_the_ambiguity() {
        let t = target(None, InvokeMode::Converse);
        let g = Gathered {
            source_sim: Some(sim(None)),
            ..Gathered::default()
        };
        let steps = build_steps(&cx(&t), &denied_assume_role(), g, None);
        let s2 = by_id(&steps, StepId::TrustPolicy);
        assert_eq!(s2.status, StepStatus::Fail);
        assert!(s2.findings.iter().any(|f| f.contains("same text")));
        // No external id configured: the config fix comes first, then the trust policy.
        assert_eq!(s2.fixes[0].kind, fix::FixKind::ConfigChange);
        assert_eq!(s2.fixes[1].kind, fix::FixKind::TrustPolicy);
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.fixes[0].kind, fix::FixKind::IdentityPolicy);
    }

    #[test]
    fn a_trust_policy_denial_fails_the_trust_step_with_the_trust_policy_fix() {
        let t = target(Some("ext"), InvokeMode::Converse);
        let r = report(vec![
            layer(Layer::Credentials, None),
            layer(
                Layer::AssumeRole,
                Some((Reason::TrustPolicyDenied, "AccessDenied")),
            ),
        ]);
        let steps = build_steps(&cx(&t), &r, Gathered::default(), None);
        let s2 = by_id(&steps, StepId::TrustPolicy);
        assert_eq!(s2.status, StepStatus::Fail);
        assert_eq!(s2.reason, Some(Reason::TrustPolicyDenied));
        assert_eq!(s2.fixes.len(), 1);
        assert_eq!(s2.fixes[0].kind, fix::FixKind::TrustPolicy);
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.status, StepStatus::Fail);
        assert!(s3.fixes.is_empty());
    }

    #[test]
    fn with_invocation_off_the_policy_simulator_decides_the_permission_step() {
        let t = target(None, InvokeMode::None);
        let r = report(vec![
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::ModelAccess, None),
        ]);
        let g = Gathered {
            role_sim: Some(sim(Some(SimDecision::ImplicitDeny))),
            ..Gathered::default()
        };
        let steps = build_steps(&cx(&t), &r, g, None);
        let s4 = by_id(&steps, StepId::BedrockPermission);
        assert_eq!(s4.status, StepStatus::Fail);
        assert_eq!(s4.reason, Some(Reason::BedrockNotPermitted));
        assert_eq!(
            by_id(&steps, StepId::Invocation).status,
            StepStatus::Unknown
        );
        let g = Gathered {
            role_sim: Some(sim(Some(SimDecision::Allowed))),
            ..Gathered::default()
        };
        let steps = build_steps(&cx(&t), &r, g, None);
        assert_eq!(
            by_id(&steps, StepId::BedrockPermission).status,
            StepStatus::Pass
        );
    }

    #[test]
    fn a_throttled_invocation_is_its_own_failure_not_a_permission_problem() {
        let t = target(None, InvokeMode::Converse);
        let r = report(vec![
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::ModelAccess, None),
            layer(
                Layer::Invoke,
                Some((Reason::Throttled, "ThrottlingException")),
            ),
        ]);
        let steps = build_steps(&cx(&t), &r, Gathered::default(), None);
        assert_eq!(
            by_id(&steps, StepId::BedrockPermission).status,
            StepStatus::Unknown
        );
        let s6 = by_id(&steps, StepId::Invocation);
        assert_eq!(s6.status, StepStatus::Fail);
        assert_eq!(s6.fixes[0].kind, fix::FixKind::Advice);
    }

    #[test]
    fn selection_errors_name_what_is_unknown() {
        let cfg = crate::config::load_str(
            std::path::Path::new("test.toml"),
            "[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m1\", \"m2\"]\n",
            crate::config::Format::Toml,
            Vec::<(String, String)>::new(),
        );
        let Ok(cfg) = cfg else {
            panic!("config does not load: {cfg:?}");
        };
        let sel = |t: Option<&str>, r: Option<&str>, m: Option<&str>| Selection {
            target: t.map(str::to_string),
            region: r.map(str::to_string),
            model: m.map(str::to_string),
        };
        assert_eq!(select(&cfg, &sel(None, None, None)).map(|v| v.len()), Ok(2));
        assert_eq!(
            select(&cfg, &sel(None, None, Some("m2"))).map(|v| v.len()),
            Ok(1)
        );
        assert!(matches!(
            select(&cfg, &sel(Some("b"), None, None)),
            Err(SelectionError::UnknownTarget(..))
        ));
        assert!(matches!(
            select(&cfg, &sel(None, Some("eu-west-1"), None)),
            Err(SelectionError::UnknownRegion(_))
        ));
        assert!(matches!(
            select(&cfg, &sel(None, None, Some("m3"))),
            Err(SelectionError::UnknownModel(_))
        ));
    }
}
