//! The plain-text trace of `/probe?target=…&debug=true`: per tuple, each layer of the shared
//! [`TupleLayers`] view with its call, outcome and duration, and for a failure the reason and
//! class, AWS's evidence (error code, HTTP status, request id, redacted message) and the
//! one-line fix of [`crate::fix`]; layers not attempted say whether they were not reached or
//! turned off.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{Config, Expect, Target, TupleKey};
use crate::fix::FixContext;
use crate::layer_view::{LayerState, LayerView, TupleLayers};
use crate::metrics::probe_success;
use crate::probe::ProbeReport;
use crate::schedule::TIMEOUT_GUARD;

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// The trace. `config` (the running configuration) lets the fixes name the source account.
pub fn trace(
    config: Option<&Config>,
    target: &Target,
    outcomes: &[(TupleKey, Option<ProbeReport>)],
) -> String {
    let mut s = String::new();
    let expect = match target.settings.expect {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
    };
    let _ = writeln!(
        s,
        "Probe of target {:?} ({} tuple(s), expect = {expect})",
        target.name,
        outcomes.len()
    );
    for (key, outcome) in outcomes {
        let _ = writeln!(s, "\n== region {} / model {}", key.aws_region, key.model_id);
        match outcome {
            Some(report) => tuple(&mut s, config, target, key, report),
            None => {
                let _ = writeln!(
                    s,
                    "   probe did not finish within {} (timeout + guard); no result",
                    secs(target.settings.timeout + TIMEOUT_GUARD)
                );
            }
        }
    }
    s
}

fn tuple(
    s: &mut String,
    config: Option<&Config>,
    target: &Target,
    key: &TupleKey,
    report: &ProbeReport,
) {
    let _ = writeln!(
        s,
        "   account_id={} role_name={}",
        report.account_id,
        if report.role_name.is_empty() {
            "(same account)"
        } else {
            &report.role_name
        }
    );
    let ok = probe_success(&report.layers, target.settings.expect);
    let verdict = match (ok, target.settings.expect) {
        (true, Expect::Allow) => "every layer passed",
        (true, Expect::Deny) => "access was refused, as expect = deny requires",
        (false, Expect::Allow) => "a layer failed",
        (false, Expect::Deny) => "expect = deny, but access was not refused for an access reason",
    };
    let _ = writeln!(
        s,
        "   probe_success = {} ({verdict})",
        if ok { 1 } else { 0 }
    );
    let cx = FixContext::new(config, Some(target), key, Some(report));
    for layer in TupleLayers::new(&cx, Some(report)).iter() {
        layer_lines(s, layer);
    }
    if let Some(a) = &report.availability {
        let _ = writeln!(
            s,
            "   availability: agreement={} authorization={} entitlement={} region={}",
            a.agreement, a.authorization, a.entitlement, a.region
        );
    }
    if let Some((i, o)) = report.tokens {
        let _ = writeln!(s, "   tokens: input={i} output={o}");
    }
}

fn layer_lines(s: &mut String, l: &LayerView) {
    let name = l.layer.as_str();
    let (mark, outcome) = match l.state {
        LayerState::NotReached => {
            let _ = writeln!(
                s,
                "   [ - ] {name:<13} not reached: an earlier layer failed, no call made"
            );
            return;
        }
        LayerState::Off => {
            let _ = writeln!(
                s,
                "   [ - ] {name:<13} off: turned off in the configuration"
            );
            return;
        }
        LayerState::NotApplicable => {
            let _ = writeln!(
                s,
                "   [ - ] {name:<13} not applicable: the source authenticates with a Bedrock API key, no STS call"
            );
            return;
        }
        LayerState::Pass => ("[ok ]", "passed"),
        LayerState::Fail => ("[ X ]", "FAILED"),
    };
    let _ = writeln!(
        s,
        "   {mark} {name:<13} {outcome} in {}: {}",
        secs(l.duration.unwrap_or_default()),
        l.call.as_deref().unwrap_or_default()
    );
    if let Some(f) = &l.failure {
        let _ = writeln!(
            s,
            "         reason: {} (class {})",
            f.reason,
            f.reason.class()
        );
        let _ = writeln!(
            s,
            "         error code: {}   http status: {}   request id: {}",
            f.error_code.as_deref().unwrap_or("-"),
            f.http_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            f.request_id.as_deref().unwrap_or("-")
        );
        let _ = writeln!(s, "         message: {}", f.message);
        if let Some(fix) = &l.fix {
            let _ = writeln!(s, "         fix: {fix}");
        }
    }
}
