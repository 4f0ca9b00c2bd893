//! Printing a [`Diagnosis`]: text with ✓ / ✗ / – / ? / ○ marks, or JSON.

use std::fmt::Write as _;

use super::{Diagnosis, Step, StepStatus, TupleDiagnosis};
use crate::config::Expect;

/// The mark of a step status.
pub fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pass => "✓",
        StepStatus::Fail => "✗",
        StepStatus::NotReached => "–",
        StepStatus::Unknown => "?",
        StepStatus::NotApplicable => "○",
    }
}

/// The diagnosis as pretty JSON.
pub fn json(d: &Diagnosis) -> String {
    serde_json::to_string_pretty(d).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The diagnosis as text.
pub fn text(d: &Diagnosis) -> String {
    let mut out = String::new();
    for t in &d.tuples {
        tuple(&mut out, t);
        out.push('\n');
    }
    let failed = d.tuples.iter().filter(|t| !t.passed).count();
    let _ = writeln!(
        out,
        "{} tuple(s): {} passed, {failed} failed",
        d.tuples.len(),
        d.tuples.len() - failed
    );
    out
}

fn tuple(out: &mut String, t: &TupleDiagnosis) {
    let verdict = match (t.passed, t.expect) {
        (true, Expect::Deny) => "PASS (denied as expected)",
        (true, Expect::Allow) => "PASS",
        (false, Expect::Deny) => "FAIL (expected a denial)",
        (false, Expect::Allow) => "FAIL",
    };
    let _ = writeln!(
        out,
        "── {} · {} · {} — {verdict}",
        t.target, t.aws_region, t.model_id
    );
    if let (Some(step), Some(reason)) = (t.failing_step, t.reason) {
        let _ = writeln!(
            out,
            "   first failing step: {} ({}), reason {reason} ({}), layer {}",
            step.number(),
            step.as_str(),
            reason.class(),
            t.layer.map_or("-", |l| l.as_str())
        );
    }
    for s in &t.steps {
        // Trust policies are long: shown for failing tuples (always in JSON).
        step(out, s, !t.passed);
    }
}

fn step(out: &mut String, s: &Step, show_documents: bool) {
    let status = match s.status {
        StepStatus::NotReached => " (not reached)",
        StepStatus::Unknown => " (unknown)",
        StepStatus::NotApplicable => " (not applicable)",
        _ => "",
    };
    let _ = writeln!(
        out,
        "  {} {}. {}{status}",
        mark(s.status),
        s.number,
        s.title
    );
    let pad = "       ";
    if s.status == StepStatus::Fail
        && let Some(r) = s.reason
    {
        let _ = writeln!(
            out,
            "{pad}reason: {r} ({}){}",
            r.class(),
            s.layer.map(|l| format!(", layer {l}")).unwrap_or_default()
        );
    }
    if let Some(e) = &s.error {
        let mut parts: Vec<String> = Vec::new();
        if let Some(c) = &e.code {
            parts.push(c.clone());
        }
        if let Some(h) = e.http_status {
            parts.push(format!("HTTP {h}"));
        }
        if let Some(id) = &e.request_id {
            parts.push(format!("request id {id}"));
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "{pad}AWS: {}", parts.join(", "));
        }
        if !e.message.is_empty() {
            let _ = writeln!(out, "{pad}message: {}", e.message);
        }
    }
    for f in &s.findings {
        let _ = writeln!(out, "{pad}{f}");
    }
    for e in &s.evidence {
        let _ = writeln!(out, "{pad}evidence: {}", e.call);
        let _ = writeln!(out, "{pad}  → {}", e.summary);
        if let Some(doc) = e.trust_policy.as_ref().filter(|_| show_documents) {
            block(out, &pretty(doc), &format!("{pad}    "));
        }
    }
    for (i, f) in s.fixes.iter().enumerate() {
        let _ = writeln!(out, "{pad}fix {}: {}", i + 1, f.summary);
        if let Some(p) = &f.principal {
            let _ = writeln!(out, "{pad}  principal: {p}");
        }
        if let Some(p) = &f.policy_arn {
            let _ = writeln!(out, "{pad}  policy: {p}");
        }
        if let Some(doc) = &f.policy {
            block(out, &pretty(doc), &format!("{pad}    "));
        }
        if let Some(c) = &f.config_change {
            let value = match &c.value {
                serde_json::Value::String(s) => format!("{s:?}"),
                v => v.to_string(),
            };
            let _ = writeln!(
                out,
                "{pad}  config: [[targets]] name = {:?}: {} = {value}",
                c.target, c.field
            );
        }
        if let Some(c) = &f.console {
            let _ = writeln!(out, "{pad}  console: {c}");
        }
        for c in &f.commands {
            let _ = writeln!(out, "{pad}  $ {c}");
        }
        for p in &f.placeholders {
            let _ = writeln!(out, "{pad}  {}: {}", p.placeholder, p.meaning);
        }
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn block(out: &mut String, text: &str, pad: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{pad}{line}");
    }
}
