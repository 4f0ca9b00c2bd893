//! The plain-text trace of `/probe?target=…&debug=true`: per tuple, each layer of the shared
//! [`TupleLayers`] view with its call, outcome and duration, and for a failure the reason and
//! class, AWS's evidence (error code, HTTP status, request id, redacted message) and the
//! one-line fix of [`crate::fix`]; layers not attempted say whether they were not reached or
//! turned off; an invoke result reused from an earlier probe says where it comes from.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::config::{Config, Expect, Target, TupleKey};
use crate::fix::FixContext;
use crate::layer_view::{LayerState, LayerView, TupleLayers};
use crate::metrics::probe_success;
use crate::ondemand::{Reused, TupleOutcome};
use crate::probe::ProbeReport;

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// The trace. `config` (the running configuration) lets the fixes name the source account;
/// `limit` is how long a probe had before it was abandoned.
pub fn trace(
    config: Option<&Config>,
    target: &Target,
    outcomes: &[TupleOutcome],
    limit: Duration,
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
    for o in outcomes {
        let key = &o.key;
        let _ = writeln!(s, "\n== region {} / model {}", key.aws_region, key.model_id);
        match &o.report {
            Some(report) => {
                tuple(&mut s, config, target, key, report);
                if let Some(r) = o.reused {
                    reused_line(&mut s, target, r);
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "   probe did not finish within {} (its budget); no result",
                    secs(limit)
                );
            }
        }
    }
    s
}

/// Where a reused invoke result comes from, and why it was not run again.
fn reused_line(s: &mut String, target: &Target, r: Reused) {
    let age = SystemTime::now().duration_since(r.at).unwrap_or_default();
    let _ = writeln!(
        s,
        "   invoke: reused from {} at {} ({} ago); the paid layer runs at most once per {} (invoke_interval) per tuple",
        r.origin.describe(),
        humantime::format_rfc3339_seconds(r.at),
        secs(age),
        humantime::format_duration(target.settings.invoke_interval)
    );
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
