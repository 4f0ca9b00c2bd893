//! The six checklist steps of one tuple, one function each, from the probe's layers (the
//! shared [`TupleLayers`] view), the gathered evidence and the fixes of [`crate::fix`].
//!
//! Steps 3 (role assumption) and 6 (invocation) are the calls themselves; steps 2, 4 and 5 are
//! causes ([`Reason::cause`]): a failed call marks its own step ✗ and, when its reason has a
//! cause, that cause's step ✗ too, which then carries the fix.

use super::gather::Gathered;
use super::model::{Evidence, SimDecision, Step, StepId, StepStatus};
use crate::config::{Expect, Target};
use crate::fix::model::ModelFacts;
use crate::fix::{self, FixContext, model as model_fix, permission, role as role_fix};
use crate::layer_view::{LayerState, LayerView, TupleLayers};
use crate::probe::{Failure, ProbeReport};
use crate::reason::{Cause, Class, Layer, Reason};

/// What the steps are decided from.
pub(super) struct Facts<'a> {
    pub cx: &'a FixContext<'a>,
    pub target: &'a Target,
    pub layers: &'a TupleLayers,
    pub report: &'a ProbeReport,
    pub gathered: &'a Gathered,
    /// The source identity's ARN as GetCallerIdentity returned it.
    pub source_arn: Option<&'a str>,
}

impl Facts<'_> {
    fn layer(&self, layer: Layer) -> &LayerView {
        self.layers.get(layer)
    }

    /// Credentials (and, for a cross-account target, the role) were obtained, or the source
    /// has a Bedrock API key (no STS layer applies).
    fn gate_passed(&self) -> bool {
        let creds = self.layer(Layer::Credentials);
        (creds.passed() || creds.state == LayerState::NotApplicable)
            && (self.target.role_arn.is_none() || self.layer(Layer::AssumeRole).passed())
    }

    /// The failure of `layer`, when it failed with a reason of `cause`.
    fn failed_for(&self, layer: Layer, cause: Cause) -> Option<(Layer, &Failure)> {
        self.layer(layer)
            .failure
            .as_ref()
            .filter(|f| f.reason.cause() == Some(cause))
            .map(|f| (layer, f))
    }
}

/// The checklist, in order.
pub(super) fn build_steps(f: &Facts<'_>) -> Vec<Step> {
    let mut steps = super::api_key::sts_steps(f.cx, &f.target.source)
        .unwrap_or_else(|| vec![account_boundary(f), trust_policy(f), role_assumption(f)]);
    steps.extend([bedrock_permission(f), model_access(f), invocation(f)]);
    steps
}

/// The finding of a failed call whose cause is another step.
fn cause_finding(cause: Cause) -> &'static str {
    match cause {
        Cause::TrustPolicy => "cause: step 2 (trust policy)",
        Cause::Permission => "cause: step 4 (Bedrock permissions)",
        Cause::ModelAccess => "cause: step 5 (model access and region)",
    }
}

/// A simulation's evidence and decision, when it was made.
fn evidence_of(
    sim: &Option<(Evidence, Option<SimDecision>)>,
) -> (Option<Evidence>, Option<SimDecision>) {
    match sim {
        Some((ev, d)) => (Some(ev.clone()), *d),
        None => (None, None),
    }
}

/// 1. Account boundary: the source's credentials and the account Bedrock is evaluated in.
fn account_boundary(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let title = format!(
        "Account boundary: source {:?} ({}) → target account {}",
        f.target.source,
        match (f.source_arn, cx.identity().map(|i| i.account)) {
            (Some(a), Some(acct)) => format!("{a}, account {acct}"),
            _ => "identity unknown".to_string(),
        },
        if cx.target_account.is_empty() {
            "?"
        } else {
            &cx.target_account
        }
    );
    let mut s1 = Step::new(StepId::AccountBoundary, title, StepStatus::NotReached);
    s1.layer = Some(Layer::Credentials);
    let cred = f.layer(Layer::Credentials);
    match (cred.state, &cred.failure) {
        (LayerState::Fail, Some(failure)) => {
            s1 = s1.failed_with(Layer::Credentials, failure);
            match fix::credentials::fixes(failure.reason, cx) {
                Some(fixes) => s1.fixes.extend(fixes),
                None => s1
                    .fixes
                    .push(fix::for_call(failure.reason, &failure.message)),
            }
        }
        (LayerState::Pass, _) => {
            s1.status = StepStatus::Pass;
            s1.findings.push(format!(
                "sts:GetCallerIdentity answered; Bedrock is evaluated in the target account {}",
                cx.target_account
            ));
        }
        _ => {}
    }
    s1
}

fn push_trust_fixes(step: &mut Step, cx: &FixContext<'_>) {
    if !cx.has_external_id() {
        step.fixes.push(role_fix::set_external_id(cx));
    }
    step.fixes.push(role_fix::trust_policy(cx));
}

/// 2. The target role's trust policy allows the source (a cause of a refused AssumeRole).
fn trust_policy(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let role = f.target.role_arn.as_deref();
    let mut s2 = Step::new(
        StepId::TrustPolicy,
        match role {
            Some(r) => format!("Trust policy of {r} allows the source account"),
            None => "Trust policy: none (same-account target, no role)".to_string(),
        },
        StepStatus::NotReached,
    );
    if role.is_none() && f.layer(Layer::Credentials).passed() {
        s2.status = StepStatus::Pass;
    }
    let ar = f.layer(Layer::AssumeRole);
    if !matches!(ar.state, LayerState::Pass | LayerState::Fail) {
        return s2;
    }
    s2.layer = Some(Layer::AssumeRole);
    let Some(failure) = &ar.failure else {
        s2.status = StepStatus::Pass;
        s2.findings.push(format!(
            "the role {} trusts the source: AssumeRole succeeded",
            f.target.role_name()
        ));
        if let Some(ev) = &f.gathered.trust {
            s2.evidence.push(ev.clone());
        }
        return s2;
    };
    let (_, decision) = evidence_of(&f.gathered.source_sim);
    match (failure.reason, decision) {
        (r, _) if r.cause() == Some(Cause::TrustPolicy) => {
            s2 = s2.failed_with(Layer::AssumeRole, failure);
            s2.findings.push(format!(
                "AWS says the role's trust policy does not allow the caller: the fault is on the target side (account {})",
                cx.target_account
            ));
            push_trust_fixes(&mut s2, cx);
        }
        (Reason::AssumeRoleDenied, Some(SimDecision::Allowed)) => {
            s2 = s2.failed_with(Layer::AssumeRole, failure);
            s2.findings.push(format!(
                "the caller side allows it; the fault is on the target side (account {}): the role's trust policy, the ExternalId condition, or the role does not exist",
                cx.target_account
            ));
            if !cx.has_external_id() {
                s2.findings.push("this target sends no ExternalId: if the role's trust policy requires one, set external_id on the target".to_string());
            }
            push_trust_fixes(&mut s2, cx);
        }
        (Reason::AssumeRoleDenied, Some(_)) => {
            s2.status = StepStatus::Unknown;
            s2.findings.push(
                "not checked: the caller's own policy already refuses sts:AssumeRole (step 3)"
                    .to_string(),
            );
        }
        (Reason::AssumeRoleDenied, None) => {
            s2 = s2.failed_with(Layer::AssumeRole, failure);
            s2.findings.push("AWS answers every refused AssumeRole with the same text: the role's trust policy (or its ExternalId condition, or the role's existence) in the target account, or the caller's own policy. Check in order:".to_string());
            push_trust_fixes(&mut s2, cx);
        }
        (Reason::AssumeRoleNotPermitted, _) => {
            s2.status = StepStatus::Unknown;
            s2.findings
                .push("not checked: AWS stopped at the caller's own policy (step 3)".to_string());
        }
        (Reason::SessionDurationExceeded, _) => {
            s2.status = StepStatus::Unknown;
            s2.findings
                .push("not checked: AWS refused the requested session duration first".to_string());
        }
        _ => s2.status = StepStatus::Unknown,
    }
    s2
}

/// 3. Role assumption: the AssumeRole call itself, and the caller side of a refusal.
fn role_assumption(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let role = f.target.role_arn.as_deref();
    let mut s3 = Step::new(
        StepId::RoleAssumption,
        match role {
            Some(r) => format!("Role assumption: sts:AssumeRole {r}"),
            None => "Role assumption: none (same-account target)".to_string(),
        },
        StepStatus::NotReached,
    );
    if role.is_none() && f.layer(Layer::Credentials).passed() {
        s3.status = StepStatus::Pass;
    }
    let ar = f.layer(Layer::AssumeRole);
    if !matches!(ar.state, LayerState::Pass | LayerState::Fail) {
        return s3;
    }
    s3.layer = Some(Layer::AssumeRole);
    let Some(failure) = &ar.failure else {
        s3.status = StepStatus::Pass;
        s3.findings.push(format!(
            "assumed {} for {} in {}",
            role.unwrap_or(""),
            humantime::format_duration(f.target.settings.session_duration),
            cx.region()
        ));
        return s3;
    };
    s3 = s3.failed_with(Layer::AssumeRole, failure);
    let (source_ev, decision) = evidence_of(&f.gathered.source_sim);
    if let Some(ev) = source_ev {
        s3.evidence.push(ev);
    }
    match (failure.reason, decision) {
        (r, _) if r.cause() == Some(Cause::TrustPolicy) => {
            s3.findings
                .push(cause_finding(Cause::TrustPolicy).to_string());
        }
        (Reason::AssumeRoleDenied, Some(SimDecision::Allowed)) => {
            s3.findings
                .push("cause: step 2 (trust policy, target side)".to_string());
        }
        (Reason::AssumeRoleDenied, Some(d)) => {
            s3.findings.push(format!(
                "the source principal's policy is at fault ({})",
                d.as_str()
            ));
            s3.fixes.push(if d == SimDecision::ExplicitDeny {
                role_fix::source_remove_deny(cx)
            } else {
                role_fix::source_assume_policy(cx)
            });
        }
        (Reason::AssumeRoleDenied, None) => {
            s3.findings.push("ambiguous: if the trust policy is right, the source principal's policy must allow sts:AssumeRole on the role".to_string());
            s3.fixes.push(role_fix::source_assume_policy(cx));
        }
        (Reason::AssumeRoleNotPermitted, _) => {
            s3.findings.push("the source principal's identity policy does not allow sts:AssumeRole on the role (caller side)".to_string());
            s3.fixes.push(role_fix::source_assume_policy(cx));
        }
        (Reason::ExplicitDeny, _) => s3.fixes.push(role_fix::source_remove_deny(cx)),
        (Reason::ScpDenied, _) => {
            let account = cx.source_account().unwrap_or("the source account");
            s3.findings.push(format!(
                "a service control policy of the organisation denies sts:AssumeRole for {account} (caller side)"
            ));
            s3.fixes
                .push(permission::scp(account, "sts:AssumeRole", &failure.message));
        }
        (Reason::SessionDurationExceeded, _) => {
            s3.fixes.extend(role_fix::session_duration(cx));
        }
        (other, _) => s3.fixes.push(fix::for_call(other, &failure.message)),
    }
    s3
}

/// The IAM action a Bedrock layer's call is authorized as.
fn action_of(layer: Layer) -> &'static str {
    match layer {
        Layer::ModelAccess => "bedrock:GetFoundationModelAvailability",
        Layer::InvokeStream => "bedrock:InvokeModelWithResponseStream",
        _ => "bedrock:InvokeModel",
    }
}

/// The finding of step 4 about streaming when the invocation was authorised: what
/// `invoke_stream` proved, or, with the layer off, what the policy simulator says of
/// `bedrock:InvokeModelWithResponseStream`.
fn streaming_finding(f: &Facts<'_>) -> Option<String> {
    let stream = action_of(Layer::InvokeStream);
    if f.layer(Layer::InvokeStream).passed() {
        return Some(format!(
            "{stream} was authorised too (the streaming invocation answered)"
        ));
    }
    let refused = f.gathered.role_sim.as_ref().is_some_and(|(ev, _)| {
        ev.results
            .iter()
            .any(|r| r.action == stream && r.decision != SimDecision::Allowed)
    });
    refused.then(|| format!("the policy simulator says the role may not call {stream}: streaming applications (ConverseStream) will fail; set stream = true on the target to probe it"))
}

/// Step 4, Bedrock permissions of the assumed role (a cause of a refused Bedrock call): both
/// `bedrock:InvokeModel` and `bedrock:InvokeModelWithResponseStream`.
fn bedrock_permission(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let assumed = f.target.role_arn.as_deref().unwrap_or("the caller");
    let mut s4 = Step::new(
        StepId::BedrockPermission,
        format!(
            "Bedrock permissions of {assumed} on {}: bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream",
            cx.model()
        ),
        StepStatus::NotReached,
    );
    if !f.gate_passed() {
        return s4;
    }
    let (role_ev, role_decision) = evidence_of(&f.gathered.role_sim);
    if let Some(ev) = role_ev {
        s4.evidence.push(ev);
    }
    s4.layer = Some(Layer::Invoke);
    let perm = f
        .failed_for(Layer::Invoke, Cause::Permission)
        .or_else(|| f.failed_for(Layer::InvokeStream, Cause::Permission))
        .or_else(|| f.failed_for(Layer::ModelAccess, Cause::Permission));
    let Some((l, failure)) = perm else {
        let inv = f.layer(Layer::Invoke);
        match (inv.state, inv.reason()) {
            (LayerState::Pass, _) => {
                s4.status = StepStatus::Pass;
                s4.findings
                    .push("the invocation was authorised".to_string());
                s4.findings.extend(streaming_finding(f));
            }
            (LayerState::Fail, Some(r)) if r.cause() == Some(Cause::ModelAccess) => {
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
                    s4.fixes.push(permission::invoke_permission(cx, false));
                }
                if s4.status == StepStatus::Unknown {
                    s4.findings
                        .push("not established: the invocation did not answer".to_string());
                }
            }
        }
        return s4;
    };
    s4 = s4.failed_with(l, failure);
    let action = action_of(l);
    if l == Layer::InvokeStream && f.layer(Layer::Invoke).passed() {
        s4.findings.push(
            "the plain invocation (bedrock:InvokeModel) is allowed, the streaming one is not: streaming chat applications fail"
                .to_string(),
        );
    }
    match failure.reason {
        Reason::ScpDenied => {
            s4.findings.push(format!(
                "a service control policy denies {action} for account {} (the SCP hint of the guides: SCPs block Bedrock silently)",
                cx.target_account
            ));
            if role_decision == Some(SimDecision::Allowed) {
                s4.findings.push(
                    "the role's own identity policies allow it: only the organisation's SCP denies"
                        .to_string(),
                );
            }
            s4.fixes.push(permission::scp(
                &cx.target_account,
                action,
                &failure.message,
            ));
        }
        Reason::ExplicitDeny => {
            s4.findings.push(format!(
                "an explicit Deny for {action} applies to the role ({})",
                match role_decision {
                    Some(SimDecision::ExplicitDeny) => {
                        "the policy simulator confirms: explicitDeny in the role's identity policies"
                    }
                    _ => "AWS names an identity-based, resource-based, boundary or session policy",
                }
            ));
            s4.fixes.push(permission::role_remove_deny(
                cx,
                action,
                permission::policy_arn_in(&failure.message),
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
            let control_plane =
                f.layer(Layer::ModelAccess).reason() == Some(Reason::BedrockNotPermitted);
            s4.fixes
                .push(permission::invoke_permission(cx, control_plane));
        }
    }
    s4
}

/// The availability statuses `model_access` read, as a finding.
fn availability_finding(report: &ProbeReport) -> Option<String> {
    report.availability.as_ref().map(|a| {
        format!(
            "GetFoundationModelAvailability: authorization={} entitlement={} agreement={} region={}",
            a.authorization, a.entitlement, a.agreement, a.region
        )
    })
}

/// Step 5's finding when GetFoundationModelAvailability says yes and the invocation says no.
const CONTROL_PLANE_DISAGREES: &str = "the control plane (GetFoundationModelAvailability) says yes, the runtime refuses the invocation: trust the runtime, it is what applications live through; the control plane reports the account's grant, not every block";

/// 5. Model access and region (a cause of a refused Bedrock call, or the control-plane check).
fn model_access(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let mut s5 = Step::new(
        StepId::ModelAccess,
        format!(
            "Model access and region: {} in account {} region {}",
            cx.model(),
            cx.target_account,
            cx.region()
        ),
        StepStatus::NotReached,
    );
    if !f.gate_passed() {
        return s5;
    }
    s5.layer = Some(Layer::ModelAccess);
    let model = f
        .failed_for(Layer::ModelAccess, Cause::ModelAccess)
        .or_else(|| f.failed_for(Layer::Invoke, Cause::ModelAccess));
    let Some((l, failure)) = model else {
        let ma = f.layer(Layer::ModelAccess);
        match (ma.state, &ma.failure) {
            (LayerState::Fail, Some(mf)) if mf.reason.cause() != Some(Cause::Permission) => {
                s5 = s5.failed_with(Layer::ModelAccess, mf);
                s5.fixes.push(fix::advice(mf.reason.fix()));
            }
            (LayerState::Fail, _) => {
                s5.status = StepStatus::Unknown;
                s5.findings.push(
                    "not established: the role may not read the model's availability (step 4)"
                        .to_string(),
                );
            }
            (LayerState::Pass, _) => {
                s5.status = StepStatus::Pass;
                s5.findings.extend(availability_finding(f.report));
            }
            (LayerState::Off, _) => {
                s5.status = if f.layer(Layer::Invoke).passed() {
                    StepStatus::Pass
                } else {
                    StepStatus::Unknown
                };
                s5.findings
                    .push("model_access = false: the control-plane check is off".to_string());
            }
            (LayerState::NotReached | LayerState::NotApplicable, _) => {}
        }
        return s5;
    };
    s5 = s5.failed_with(l, failure);
    let avail = f.report.availability.as_ref();
    s5.findings.extend(availability_finding(f.report));
    if l != Layer::ModelAccess
        && failure.reason.class() == Class::Access
        && f.layer(Layer::ModelAccess).state == LayerState::Pass
    {
        s5.findings.push(CONTROL_PLANE_DISAGREES.to_string());
    }
    let old_world = (l == Layer::ModelAccess
        || failure.message.contains("don't have access")
        || failure.message.contains("don’t have access")
        || failure
            .message
            .contains("not authorized to invoke this API"))
        && avail.is_none_or(|a| {
            a.authorization == "NOT_AUTHORIZED" || a.entitlement == "NOT_AVAILABLE"
        });
    let alternatives = &f.gathered.alternatives;
    if matches!(
        failure.reason,
        Reason::ModelLegacyNoAccess | Reason::ModelEndOfLife
    ) && !alternatives.is_empty()
    {
        s5.findings.push(format!(
            "active models of the same provider in {}: {}",
            cx.region(),
            alternatives.join(", ")
        ));
    }
    let facts = ModelFacts {
        old_world,
        offered: &f.gathered.offered,
        alternatives,
    };
    s5.fixes
        .push(model_fix::structured(failure.reason, cx, &facts));
    s5
}

/// Step 6, invocation: the call itself, and with `stream = true` the streaming call too (the
/// first of the two that failed).
fn invocation(f: &Facts<'_>) -> Step {
    let cx = f.cx;
    let stream = f.layer(Layer::InvokeStream);
    let mut s6 = Step::new(
        StepId::Invocation,
        format!(
            "Invocation of {} in {}{}",
            cx.model(),
            cx.region(),
            if stream.state == LayerState::Off {
                ""
            } else {
                " (plain and streaming)"
            }
        ),
        StepStatus::NotReached,
    );
    if !f.gate_passed() {
        return s6;
    }
    let plain = f.layer(Layer::Invoke);
    let (layer, inv) = if plain.state != LayerState::Fail && stream.state == LayerState::Fail {
        (Layer::InvokeStream, stream)
    } else {
        (Layer::Invoke, plain)
    };
    s6.layer = Some(layer);
    match (inv.state, &inv.failure) {
        (LayerState::Fail, Some(failure)) => {
            s6 = s6.failed_with(layer, failure);
            match failure.reason.cause() {
                Some(c @ (Cause::Permission | Cause::ModelAccess)) => {
                    s6.findings.push(cause_finding(c).to_string());
                }
                _ => s6
                    .fixes
                    .push(fix::for_call(failure.reason, &failure.message)),
            }
            if f.target.settings.expect == Expect::Deny && failure.reason.class() == Class::Access {
                s6.findings
                    .push("expected: this target must be denied (expect = \"deny\")".to_string());
            }
        }
        (LayerState::Pass, _) => {
            s6.status = StepStatus::Pass;
            if let Some((i, o)) = f.report.tokens {
                s6.findings
                    .push(format!("the model answered ({i} input, {o} output tokens)"));
            }
            if stream.passed() {
                s6.findings
                    .push("the response stream was read to its end".to_string());
            }
        }
        (LayerState::Off, _) => {
            s6.status = StepStatus::Unknown;
            s6.findings
                .push("invoke = \"none\": the model was not invoked".to_string());
        }
        _ => {}
    }
    s6
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{InvokeMode, ProbeSettings, TupleKey};
    use crate::diagnose::model::SimResult;
    use crate::fix::{FixKind, Identity};
    use crate::probe::{LayerResult, LayerStatus};
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
                stream: false,
                service_tier: None,
            },
            accounts: Default::default(),
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
                account: String::new(),
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
            lifecycle: None,
        }
    }

    /// The steps of `report` of tuple (us-east-1, claude-3-haiku) of `t`, the source identity
    /// 111111111111 / user prober observed.
    fn steps_of(t: &Target, report: &ProbeReport, gathered: Gathered) -> Vec<Step> {
        let key = report.key.clone();
        let cx = FixContext::new(None, Some(t), &key, Some(report)).with_identity(Some(Identity {
            account: "111111111111",
            principal: Some("arn:aws:iam::111111111111:user/prober"),
        }));
        let layers = TupleLayers::new(&cx, Some(report));
        build_steps(&Facts {
            cx: &cx,
            target: t,
            layers: &layers,
            report,
            gathered: &gathered,
            source_arn: None,
        })
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
        let steps = steps_of(&t, &denied_assume_role(), g);
        assert_eq!(
            by_id(&steps, StepId::TrustPolicy).status,
            StepStatus::Unknown
        );
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.status, StepStatus::Fail);
        assert_eq!(s3.fixes[0].kind, FixKind::IdentityPolicy);
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
        let steps = steps_of(&t, &denied_assume_role(), g);
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.fixes[0].kind, FixKind::RemoveDeny);
    }

    #[test]
    fn assume_role_denied_without_evidence_stays_honest_about_the_ambiguity() {
        let t = target(None, InvokeMode::Converse);
        let g = Gathered {
            source_sim: Some(sim(None)),
            ..Gathered::default()
        };
        let steps = steps_of(&t, &denied_assume_role(), g);
        let s2 = by_id(&steps, StepId::TrustPolicy);
        assert_eq!(s2.status, StepStatus::Fail);
        assert!(s2.findings.iter().any(|f| f.contains("same text")));
        // No external id configured: the config fix comes first, then the trust policy.
        assert_eq!(s2.fixes[0].kind, FixKind::ConfigChange);
        assert_eq!(s2.fixes[1].kind, FixKind::TrustPolicy);
        let s3 = by_id(&steps, StepId::RoleAssumption);
        assert_eq!(s3.fixes[0].kind, FixKind::IdentityPolicy);
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
        let steps = steps_of(&t, &r, Gathered::default());
        let s2 = by_id(&steps, StepId::TrustPolicy);
        assert_eq!(s2.status, StepStatus::Fail);
        assert_eq!(s2.reason, Some(Reason::TrustPolicyDenied));
        assert_eq!(s2.fixes.len(), 1);
        assert_eq!(s2.fixes[0].kind, FixKind::TrustPolicy);
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
        let steps = steps_of(&t, &r, g);
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
        let steps = steps_of(&t, &r, g);
        assert_eq!(
            by_id(&steps, StepId::BedrockPermission).status,
            StepStatus::Pass
        );
    }

    #[test]
    fn control_plane_yes_runtime_no_fails_step_5_and_says_to_trust_the_runtime() {
        let t = target(None, InvokeMode::Converse);
        let refused = |reason, code| {
            report(vec![
                layer(Layer::Credentials, None),
                layer(Layer::AssumeRole, None),
                layer(Layer::ModelAccess, None),
                layer(Layer::Invoke, Some((reason, code))),
            ])
        };
        let r = refused(Reason::AccountNotAuthorized, "AccessDeniedException");
        let steps = steps_of(&t, &r, Gathered::default());
        let s5 = by_id(&steps, StepId::ModelAccess);
        assert_eq!(s5.status, StepStatus::Fail);
        assert!(
            s5.findings.iter().any(|f| f == CONTROL_PLANE_DISAGREES),
            "{:?}",
            s5.findings
        );
        // An activation still settling at runtime (class transient) is nothing to act on.
        let r = refused(Reason::ModelAccessPending, "AccessDeniedException");
        let steps = steps_of(&t, &r, Gathered::default());
        let s5 = by_id(&steps, StepId::ModelAccess);
        assert!(
            !s5.findings.iter().any(|f| f == CONTROL_PLANE_DISAGREES),
            "{:?}",
            s5.findings
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
        let steps = steps_of(&t, &r, Gathered::default());
        assert_eq!(
            by_id(&steps, StepId::BedrockPermission).status,
            StepStatus::Unknown
        );
        let s6 = by_id(&steps, StepId::Invocation);
        assert_eq!(s6.status, StepStatus::Fail);
        assert_eq!(s6.fixes[0].kind, FixKind::Advice);
    }

    #[test]
    fn a_role_that_may_invoke_but_not_stream_fails_the_permission_step_with_both_actions_granted() {
        let mut t = target(None, InvokeMode::Converse);
        t.settings.stream = true;
        let r = report(vec![
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::ModelAccess, None),
            layer(Layer::Invoke, None),
            layer(
                Layer::InvokeStream,
                Some((Reason::BedrockNotPermitted, "AccessDeniedException")),
            ),
        ]);
        let g = Gathered {
            role_sim: Some(sim(Some(SimDecision::ImplicitDeny))),
            ..Gathered::default()
        };
        let steps = steps_of(&t, &r, g);
        let s4 = by_id(&steps, StepId::BedrockPermission);
        assert_eq!(s4.status, StepStatus::Fail);
        assert_eq!(s4.layer, Some(Layer::InvokeStream));
        assert!(
            s4.title
                .contains("bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream"),
            "{}",
            s4.title
        );
        assert!(
            s4.findings
                .iter()
                .any(|f| f.contains("bedrock:InvokeModelWithResponseStream on the model")),
            "{:?}",
            s4.findings
        );
        let policy = s4.fixes[0].policy.as_ref().map(|p| p.to_string());
        for action in [
            "\"bedrock:InvokeModel\"",
            "\"bedrock:InvokeModelWithResponseStream\"",
        ] {
            assert!(
                policy.as_deref().is_some_and(|p| p.contains(action)),
                "{policy:?}"
            );
        }
        let s6 = by_id(&steps, StepId::Invocation);
        assert_eq!(s6.status, StepStatus::Fail);
        assert_eq!(s6.layer, Some(Layer::InvokeStream));
        assert!(s6.title.ends_with("(plain and streaming)"), "{}", s6.title);
        assert!(s6.findings.iter().any(|f| f.contains("step 4")));
    }

    #[test]
    fn with_streaming_off_a_role_the_simulator_refuses_streaming_is_still_pointed_out() {
        let t = target(None, InvokeMode::Converse);
        let r = report(vec![
            layer(Layer::Credentials, None),
            layer(Layer::AssumeRole, None),
            layer(Layer::ModelAccess, None),
            layer(Layer::Invoke, None),
        ]);
        let (mut ev, _) = sim(Some(SimDecision::ImplicitDeny));
        ev.results = vec![SimResult {
            action: "bedrock:InvokeModelWithResponseStream".into(),
            resource: "*".into(),
            decision: SimDecision::ImplicitDeny,
            allowed_by_organizations: None,
        }];
        let g = Gathered {
            role_sim: Some((ev, Some(SimDecision::ImplicitDeny))),
            ..Gathered::default()
        };
        let steps = steps_of(&t, &r, g);
        let s4 = by_id(&steps, StepId::BedrockPermission);
        assert_eq!(s4.status, StepStatus::Pass, "the probes passed");
        assert!(
            s4.findings.iter().any(|f| f.contains("set stream = true")),
            "{:?}",
            s4.findings
        );
    }
}
