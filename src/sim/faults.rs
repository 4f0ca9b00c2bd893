//! Fault injection: a `[[faults]]` entry (its definition, as the scenario file writes it) matches
//! calls by service, operation, account, model and region, and fires on every matching call, on
//! every Nth, or with a probability.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

/// What a fault does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer normally after `latency`.
    Latency,
    /// 429 ThrottlingException (STS: 400 Throttling).
    Throttle,
    /// 503 ServiceUnavailableException (STS: 503 ServiceUnavailable).
    Unavailable,
    /// Drop the connection without an answer.
    Reset,
    /// 200 with a truncated body.
    Malformed,
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// `sts`, `iam`, `bedrock`, `bedrock-runtime` or `*`.
    #[serde(default = "star")]
    pub service: String,
    /// Operation name, e.g. `Converse`, `AssumeRole`; default all.
    #[serde(default)]
    pub operation: Option<String>,
    /// Caller's account (for assumed roles: the role's account).
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub kind: FaultKind,
    /// Fraction of matching calls affected (0..=1).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Affect every Nth matching call.
    #[serde(default)]
    pub every: Option<u64>,
    /// Added delay (kind = "latency"), humantime, e.g. "250ms".
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
}

fn star() -> String {
    "*".to_owned()
}

#[derive(Debug)]
pub struct Fault {
    def: FaultDef,
    seen: AtomicU64,
}

/// What a call is, for matching.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub model: Option<&'a str>,
}

/// The faults that fire for one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    pub delay: Duration,
    /// The first non-latency fault that fired.
    pub action: Option<FaultKind>,
}

impl Fault {
    pub fn new(def: FaultDef) -> Fault {
        Fault {
            def,
            seen: AtomicU64::new(0),
        }
    }

    fn matches(&self, c: &CallInfo<'_>) -> bool {
        let d = &self.def;
        (d.service == "*" || d.service == c.service)
            && d.operation
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case(c.operation))
            && d.account.as_deref().is_none_or(|a| a == c.account)
            && d.region.as_deref().is_none_or(|r| r == c.region)
            && d.model.as_deref().is_none_or(|m| Some(m) == c.model)
    }

    fn fires(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(every) = self.def.every
            && !n.is_multiple_of(every.max(1))
        {
            return false;
        }
        match self.def.probability {
            Some(p) => rand::random::<f64>() < p,
            None => true,
        }
    }
}

/// Evaluates all faults for one call.
pub fn evaluate(faults: &[Fault], call: &CallInfo<'_>) -> Firing {
    let mut out = Firing::default();
    for f in faults {
        if !f.matches(call) || !f.fires() {
            continue;
        }
        match f.def.kind {
            FaultKind::Latency => out.delay += f.def.latency.unwrap_or_default(),
            k => {
                if out.action.is_none() {
                    out.action = Some(k);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: FaultKind) -> FaultDef {
        FaultDef {
            service: "bedrock-runtime".into(),
            operation: Some("Converse".into()),
            account: None,
            model: Some("m.x".into()),
            region: None,
            kind,
            probability: None,
            every: None,
            latency: None,
        }
    }

    const CALL: CallInfo<'static> = CallInfo {
        service: "bedrock-runtime",
        operation: "converse",
        account: "111111111111",
        region: "us-east-1",
        model: Some("m.x"),
    };

    #[test]
    fn every_third_converse_is_throttled_and_other_calls_are_untouched() {
        let mut d = def(FaultKind::Throttle);
        d.every = Some(3);
        let faults = vec![Fault::new(d)];
        let fired: Vec<bool> = (0..6)
            .map(|_| evaluate(&faults, &CALL).action.is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        let other = CallInfo {
            operation: "InvokeModel",
            ..CALL
        };
        assert_eq!(evaluate(&faults, &other), Firing::default());
    }

    #[test]
    fn latency_adds_up_and_probability_zero_never_fires() {
        let mut a = def(FaultKind::Latency);
        a.latency = Some(Duration::from_millis(5));
        let mut b = def(FaultKind::Unavailable);
        b.probability = Some(0.0);
        let faults = vec![Fault::new(a), Fault::new(b)];
        for _ in 0..20 {
            let f = evaluate(&faults, &CALL);
            assert_eq!(f.delay, Duration::from_millis(5));
            assert_eq!(f.action, None);
        }
    }
}
