//! `diagnose`'s first three steps for a source that authenticates with an Amazon Bedrock API
//! key: the account boundary, the trust policy and the role assumption do not apply (the key
//! makes no STS call and assumes no role; Bedrock evaluates the key's own IAM principal), so
//! each says so instead of waiting for layers that never run.

use super::model::{Step, StepId, StepStatus};
use crate::fix::FixContext;
use crate::probe::api_key::KeyKind;

/// The three STS steps of a tuple whose source has an API key; `None` for any other source.
pub(super) fn sts_steps(cx: &FixContext<'_>, source: &str) -> Option<Vec<Step>> {
    let (kind, place) = cx.api_key()?;
    let account = if cx.target_account.is_empty() {
        "the key's account".to_string()
    } else {
        format!("account {}", cx.target_account)
    };
    let principal = match kind {
        KeyKind::LongTerm => "the IAM user the long-term key belongs to",
        KeyKind::ShortTerm => "the principal whose credentials generated the short-term key",
        KeyKind::Unknown => "the key's IAM principal",
    };
    let mut s1 = Step::new(
        StepId::AccountBoundary,
        format!(
            "Account boundary: source {source:?} authenticates with a {} read from {place} → {account}",
            kind.describe()
        ),
        StepStatus::NotApplicable,
    );
    s1.findings.push(format!(
        "no STS call (the credentials layer does not apply and has no series): Bedrock evaluates {principal}, in {account}, and every call needs bedrock:CallWithBearerToken"
    ));
    let s2 = Step::new(
        StepId::TrustPolicy,
        "Trust policy: none (an API key assumes no role)".to_string(),
        StepStatus::NotApplicable,
    );
    let s3 = Step::new(
        StepId::RoleAssumption,
        "Role assumption: none (an API key assumes no role; the assume_role layer does not apply)"
            .to_string(),
        StepStatus::NotApplicable,
    );
    Some(vec![s1, s2, s3])
}
