//! The `[[faults]]` section: each entry checked, then armed as a [`Fault`] (the definitions and
//! their evaluation live in `sim::faults`).

use super::check::is_account_id;
use crate::sim::faults::{Fault, FaultDef, FaultKind};

/// Checks `[[faults]]` and arms every entry, in file order.
pub(super) fn compile(defs: &[FaultDef], problems: &mut Vec<String>) -> Vec<Fault> {
    let mut faults = Vec::new();
    for (i, f) in defs.iter().enumerate() {
        if !matches!(
            f.service.as_str(),
            "*" | "sts" | "iam" | "bedrock" | "bedrock-runtime"
        ) {
            problems.push(format!(
                "faults[{i}].service: `{}` is not one of sts, iam, bedrock, bedrock-runtime, *",
                f.service
            ));
        }
        if let Some(pr) = f.probability
            && !(0.0..=1.0).contains(&pr)
        {
            problems.push(format!("faults[{i}].probability: {pr} is outside 0..=1"));
        }
        if f.every == Some(0) {
            problems.push(format!("faults[{i}].every: must be at least 1"));
        }
        if f.kind == FaultKind::Latency && f.latency.is_none() {
            problems.push(format!(
                "faults[{i}].latency: required for kind = \"latency\""
            ));
        }
        if f.kind != FaultKind::StreamError && f.exception.is_some() {
            problems.push(format!(
                "faults[{i}].exception: only for kind = \"stream_error\""
            ));
        }
        if !matches!(f.kind, FaultKind::StreamError | FaultKind::ModelError) && f.message.is_some()
        {
            problems.push(format!(
                "faults[{i}].message: only for kind = \"stream_error\" or \"model_error\""
            ));
        }
        if let Some(m) = &f.message
            && m.len() > 1024
        {
            problems.push(format!("faults[{i}].message: longer than 1024 bytes"));
        }
        if let Some(a) = &f.account
            && !is_account_id(a)
        {
            problems.push(format!(
                "faults[{i}].account: `{a}` is not a 12-digit account id"
            ));
        }
        faults.push(Fault::new(f.clone()));
    }
    faults
}
