//! `diagnose`: probe the selected tuples now and explain each one as the guides' checklist
//! (account boundary → trust policy → role assumption → Bedrock permissions → model access and
//! region → invocation), each step ✓ / ✗ / not reached / unknown, with the reason, AWS's
//! evidence (code, request id, redacted message), deeper IAM evidence where the prober may read
//! it, and concrete fixes.
//!
//! [`select`] picks the tuples; [`model`] is what a diagnosis holds; [`evidence`] makes the
//! IAM/Bedrock evidence calls and `gather` decides which a tuple needs; `steps` decides each
//! checklist step (one function per step) from the shared per-layer view
//! ([`crate::layer_view`]) and the fixes of [`crate::fix`]; [`render`] prints text or JSON.
//! The tuple's `failing_step` is the first ✗; its `layers` are those the status page and the
//! debug trace show, with the same one-line fixes.

mod api_key;
pub mod evidence;
mod gather;
pub mod model;
pub mod render;
pub mod select;
mod steps;

use futures::StreamExt;

use crate::fix::{FixContext, Identity};
use crate::layer_view::TupleLayers;
use crate::metrics::probe_success;
use crate::probe::aws::redact;
use crate::probe::{Prober, Round};

pub use model::{
    AwsError, Diagnosis, Evidence, SimDecision, SimResult, Step, StepId, StepStatus, TupleDiagnosis,
};
pub use select::{Selected, Selection, SelectionError, select};

/// Probes `tuples` now (one shared [`Round`], a few at a time) and diagnoses each.
pub async fn diagnose(prober: &Prober, tuples: &[Selected<'_>]) -> Diagnosis {
    let round = prober.new_round();
    let round = &round;
    let out: Vec<TupleDiagnosis> = futures::stream::iter(tuples.iter())
        // Boxed: the tuple's future (probe, then evidence calls) is deep enough that nesting it
        // unboxed in the stream's types overflows the compiler's query depth in release builds.
        .map(|sel| Box::pin(diagnose_tuple(prober, round, sel)))
        .buffered(4)
        .collect()
        .await;
    Diagnosis {
        passed: out.iter().all(|t| t.passed),
        tuples: out,
    }
}

async fn diagnose_tuple(prober: &Prober, round: &Round, sel: &Selected<'_>) -> TupleDiagnosis {
    let (key, target) = (&sel.key, sel.target);
    let (report, access) = prober
        .probe_with_access(target, &key.aws_region, &key.model_id, round)
        .await;
    let source_identity = access.as_ref().and_then(|a| a.source.as_ref());
    let principal = source_identity.and_then(|s| evidence::iam_principal_arn(&s.arn));
    let identity = source_identity.map(|s| Identity {
        account: &s.account,
        principal: principal.as_deref(),
    });
    let cx =
        FixContext::new(Some(sel.config), Some(target), key, Some(&report)).with_identity(identity);
    let layers = TupleLayers::new(&cx, Some(&report));
    let gathered = gather::gather(
        target,
        key,
        &report,
        &layers,
        access.as_ref(),
        principal.as_deref(),
    )
    .await;
    let steps = steps::build_steps(&steps::Facts {
        cx: &cx,
        target,
        layers: &layers,
        report: &report,
        gathered: &gathered,
        source_arn: source_identity.map(|s| s.arn.as_str()),
    });
    let first_fail = steps.iter().find(|s| s.status == StepStatus::Fail);
    let mut d = TupleDiagnosis {
        target: key.target.clone(),
        aws_region: key.aws_region.clone(),
        model_id: key.model_id.clone(),
        source: target.source.clone(),
        source_principal: source_identity.map(|s| s.arn.clone()),
        source_account: source_identity.map(|s| s.account.clone()),
        target_account: report.account_id.clone(),
        role_arn: target.role_arn.clone(),
        expect: target.settings.expect,
        passed: probe_success(&report.layers, target.settings.expect),
        failing_step: first_fail.map(|s| s.step),
        layer: first_fail.and_then(|s| s.layer),
        reason: first_fail.and_then(|s| s.reason),
        steps,
        layers,
    };
    scrub(&mut d, &target.secrets());
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
    for l in &mut d.layers.0 {
        if let Some(fix) = &mut l.fix {
            *fix = redact(fix, secrets);
        }
        if let Some(f) = &mut l.failure {
            f.message = redact(&f.message, secrets);
        }
    }
}
