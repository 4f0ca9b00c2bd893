//! The per-tuple families of `docs/metrics.md` and their encoding in the text format 0.0.4: a tuple's
//! state becomes one fragment of sample lines per family, rebuilt only when the state changes.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::state::{Counters, TupleState};
use crate::probe::LayerStatus;
use crate::reason::error_code_label;

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: [Family; 15] = [
    Family {
        name: "bedrock_access_probe_success",
        kind: "gauge",
        help: "1 when every attempted, enabled layer passed (expect=deny: when access was refused for an access reason), else 0; from the last background probe.",
    },
    Family {
        name: "bedrock_access_layer_success",
        kind: "gauge",
        help: "1 when the layer passed, 0 when it failed, in the last background probe; absent for a layer not attempted or turned off.",
    },
    Family {
        name: "bedrock_access_layer_duration_seconds",
        kind: "gauge",
        help: "How long the layer took in the last background probe.",
    },
    Family {
        name: "bedrock_access_failure_info",
        kind: "gauge",
        help: "One series (value 1) per layer that failed in the last background probe, with the classified reason and the AWS error code.",
    },
    Family {
        name: "bedrock_access_probe_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the last background probe finished.",
    },
    Family {
        name: "bedrock_access_last_success_timestamp_seconds",
        kind: "gauge",
        help: "Unix time of the last fully successful background probe; 0 if none yet.",
    },
    Family {
        name: "bedrock_access_probes_total",
        kind: "counter",
        help: "Finished background probes, by result.",
    },
    Family {
        name: "bedrock_access_layer_failures_total",
        kind: "counter",
        help: "Layer failures in background probes, by layer and reason.",
    },
    Family {
        name: "bedrock_access_model_availability",
        kind: "gauge",
        help: "Model availability (value 1) per dimension with the status GetFoundationModelAvailability reported in the last background probe.",
    },
    Family {
        name: "bedrock_access_invoke_tokens_total",
        kind: "counter",
        help: "Tokens consumed by the background probes' invocations, by direction.",
    },
    Family {
        name: "bedrock_access_invoke_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the invoke layer last ran in a background probe (it may run less often than the other layers).",
    },
    Family {
        name: "bedrock_access_model_lifecycle_info",
        kind: "gauge",
        help: "The model's lifecycle status (value 1) as GetFoundationModel reported it (read at most once per hour per region and model).",
    },
    Family {
        name: "bedrock_access_model_legacy_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the model becomes (or became) Legacy, as GetFoundationModel reported it; absent when AWS gives none.",
    },
    Family {
        name: "bedrock_access_model_public_extended_access_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the model's public extended access (higher prices) starts, as GetFoundationModel reported it; absent when AWS gives none.",
    },
    Family {
        name: "bedrock_access_model_end_of_life_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the model reaches end of life (invocations fail from then on), as GetFoundationModel reported it; absent when AWS gives none.",
    },
];

const F_SUCCESS: usize = 0;
const F_LAYER_SUCCESS: usize = 1;
const F_LAYER_DURATION: usize = 2;
const F_FAILURE_INFO: usize = 3;
const F_PROBE_TS: usize = 4;
const F_LAST_SUCCESS_TS: usize = 5;
const F_PROBES_TOTAL: usize = 6;
const F_LAYER_FAILURES: usize = 7;
const F_AVAILABILITY: usize = 8;
const F_TOKENS: usize = 9;
const F_INVOKE_TS: usize = 10;
const F_LIFECYCLE: usize = 11;
const F_LEGACY_TS: usize = 12;
const F_EXTENDED_TS: usize = 13;
const F_END_OF_LIFE_TS: usize = 14;
pub(super) const NFAM: usize = FAMILIES.len();

/// Writes `s` as a label value (escaping `\`, `"` and newlines).
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(super) fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(_) => 0.0,
    }
}

/// Appends one sample line: `name{base,extra} value`.
fn sample(out: &mut String, fam: usize, base: &str, extra: &[(&str, &str)], value: f64) {
    out.push_str(FAMILIES[fam].name);
    out.push('{');
    out.push_str(base);
    for (k, v) in extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        push_escaped(out, v);
        out.push('"');
    }
    out.push_str("} ");
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
    }
    out.push('\n');
}

/// Whether per-tuple family `i` is a counter (left out of `/probe`'s gauges-only answer).
pub(super) fn is_counter(i: usize) -> bool {
    FAMILIES.get(i).is_some_and(|f| f.kind == "counter")
}

/// `# HELP` and `# TYPE` lines of each per-tuple family.
pub(super) fn family_headers() -> &'static [Bytes; NFAM] {
    static HEADERS: std::sync::OnceLock<[Bytes; NFAM]> = std::sync::OnceLock::new();
    HEADERS.get_or_init(|| {
        FAMILIES.each_ref().map(|fam| {
            Bytes::from(format!(
                "# HELP {} {}\n# TYPE {} {}\n",
                fam.name, fam.help, fam.name, fam.kind
            ))
        })
    })
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The sample lines of one tuple, one fragment per family (empty where it has no series).
pub(super) fn encode(s: &TupleState, c: &Counters) -> [Bytes; NFAM] {
    let base = label_base(s);
    let b = base.as_str();
    let mut f: [String; NFAM] = Default::default();
    sample(&mut f[F_SUCCESS], F_SUCCESS, b, &[], bool_f(s.success));
    layers(&mut f, b, s);
    sample(
        &mut f[F_PROBE_TS],
        F_PROBE_TS,
        b,
        &[],
        unix_seconds(s.report.finished_at),
    );
    sample(
        &mut f[F_LAST_SUCCESS_TS],
        F_LAST_SUCCESS_TS,
        b,
        &[],
        s.last_success.map(unix_seconds).unwrap_or(0.0),
    );
    counters(&mut f, b, c);
    availability(&mut f, b, s);
    tokens(&mut f, b, c);
    if let Some(t) = s.last_invoke {
        sample(&mut f[F_INVOKE_TS], F_INVOKE_TS, b, &[], unix_seconds(t));
    }
    lifecycle(&mut f, b, s);
    // Exact-size buffers: a `Bytes` made from a vector with spare capacity keeps all of it (and
    // a separate header); with tens of thousands of tuples per process that slack is most of
    // the store's memory.
    f.map(|mut s| {
        s.shrink_to_fit();
        Bytes::from(s.into_bytes())
    })
}

/// The labels every series of the tuple carries: `target`, `account_id`, `role_name`,
/// `aws_region`, `model_id`.
fn label_base(s: &TupleState) -> String {
    let mut base = String::with_capacity(160);
    for (i, (k, v)) in [
        ("target", s.key.target.as_str()),
        ("account_id", s.report.account_id.as_str()),
        ("role_name", s.report.role_name.as_str()),
        ("aws_region", s.key.aws_region.as_str()),
        ("model_id", s.key.model_id.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            base.push(',');
        }
        base.push_str(k);
        base.push_str("=\"");
        push_escaped(&mut base, v);
        base.push('"');
    }
    base
}

/// `layer_success`, `layer_duration_seconds` and `failure_info` of every attempted layer.
fn layers(f: &mut [String; NFAM], b: &str, s: &TupleState) {
    for l in &s.report.layers {
        let layer = l.layer.as_str();
        let passed = l.status == LayerStatus::Passed;
        sample(
            &mut f[F_LAYER_SUCCESS],
            F_LAYER_SUCCESS,
            b,
            &[("layer", layer)],
            bool_f(passed),
        );
        sample(
            &mut f[F_LAYER_DURATION],
            F_LAYER_DURATION,
            b,
            &[("layer", layer)],
            l.duration.as_secs_f64(),
        );
        if let LayerStatus::Failed(fail) = &l.status {
            sample(
                &mut f[F_FAILURE_INFO],
                F_FAILURE_INFO,
                b,
                &[
                    ("layer", layer),
                    ("reason", fail.reason.as_str()),
                    ("class", fail.reason.class().as_str()),
                    ("error_code", error_code_label(fail.error_code.as_deref())),
                ],
                1.0,
            );
        }
    }
}

/// `probes_total` by result and `layer_failures_total` by layer and reason.
fn counters(f: &mut [String; NFAM], b: &str, c: &Counters) {
    sample(
        &mut f[F_PROBES_TOTAL],
        F_PROBES_TOTAL,
        b,
        &[("result", "success")],
        c.probes_success as f64,
    );
    sample(
        &mut f[F_PROBES_TOTAL],
        F_PROBES_TOTAL,
        b,
        &[("result", "failure")],
        c.probes_failure as f64,
    );
    for ((layer, reason), n) in &c.layer_failures {
        sample(
            &mut f[F_LAYER_FAILURES],
            F_LAYER_FAILURES,
            b,
            &[("layer", layer.as_str()), ("reason", reason)],
            *n as f64,
        );
    }
}

/// `model_availability`: one series per dimension with its reported status.
fn availability(f: &mut [String; NFAM], b: &str, s: &TupleState) {
    let Some(a) = &s.report.availability else {
        return;
    };
    for (dim, status) in [
        ("agreement", &a.agreement),
        ("authorization", &a.authorization),
        ("entitlement", &a.entitlement),
        ("region", &a.region),
    ] {
        sample(
            &mut f[F_AVAILABILITY],
            F_AVAILABILITY,
            b,
            &[("dimension", dim), ("status", status)],
            1.0,
        );
    }
}

/// `model_lifecycle_info` with the status, and the lifecycle's dates that AWS gave.
fn lifecycle(f: &mut [String; NFAM], b: &str, s: &TupleState) {
    let Some(l) = &s.report.lifecycle else {
        return;
    };
    sample(
        &mut f[F_LIFECYCLE],
        F_LIFECYCLE,
        b,
        &[("status", l.status.as_str())],
        1.0,
    );
    for (fam, when) in [
        (F_LEGACY_TS, l.legacy),
        (F_EXTENDED_TS, l.public_extended_access),
        (F_END_OF_LIFE_TS, l.end_of_life),
    ] {
        if let Some(t) = when {
            sample(&mut f[fam], fam, b, &[], unix_seconds(t));
        }
    }
}

/// `invoke_tokens_total` by direction.
fn tokens(f: &mut [String; NFAM], b: &str, c: &Counters) {
    sample(
        &mut f[F_TOKENS],
        F_TOKENS,
        b,
        &[("direction", "input")],
        c.tokens_in as f64,
    );
    sample(
        &mut f[F_TOKENS],
        F_TOKENS,
        b,
        &[("direction", "output")],
        c.tokens_out as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_that_could_be_anything_become_other() {
        assert_eq!(
            error_code_label(Some("AccessDeniedException")),
            "AccessDeniedException"
        );
        assert_eq!(
            error_code_label(Some("Sender.Throttling")),
            "Sender.Throttling"
        );
        assert_eq!(error_code_label(None), "");
        assert_eq!(error_code_label(Some("")), "");
        assert_eq!(error_code_label(Some("1Bad")), "other");
        assert_eq!(error_code_label(Some("has space")), "other");
        assert_eq!(error_code_label(Some("Quote\"d")), "other");
        let long = "A".repeat(65);
        assert_eq!(error_code_label(Some(&long)), "other");
        let max = "A".repeat(64);
        assert_eq!(error_code_label(Some(&max)), max.as_str());
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        push_escaped(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
