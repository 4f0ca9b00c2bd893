//! The per-tuple families of `docs/metrics.md` and their encoding in the text format 0.0.4: the
//! sample lines of one tuple in one family, written when a scrape reads them.

use super::rows::{Row, Rows};
use super::state::TupleState;

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
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes a sample value in its shortest round-trip form: whole numbers (flags, counters) as
/// integers, others as `ryu` writes them (`0.087`, `1764496171.25`, `1e-7`), which the text
/// format's float syntax reads back exactly.
fn push_value(out: &mut String, value: f64) {
    if value.is_finite() {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            out.push_str(itoa::Buffer::new().format(value as i64));
        } else {
            out.push_str(ryu::Buffer::new().format_finite(value));
        }
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
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
    push_value(out, value);
    out.push('\n');
}

/// Whether per-tuple family `i` is a counter (left out of `/probe`'s gauges-only answer).
pub(super) fn is_counter(i: usize) -> bool {
    FAMILIES.get(i).is_some_and(|f| f.kind == "counter")
}

/// `# HELP` and `# TYPE` lines of each per-tuple family.
pub(super) fn family_headers() -> &'static [String; NFAM] {
    static HEADERS: std::sync::OnceLock<[String; NFAM]> = std::sync::OnceLock::new();
    HEADERS.get_or_init(|| {
        FAMILIES.each_ref().map(|fam| {
            format!(
                "# HELP {} {}\n# TYPE {} {}\n",
                fam.name, fam.help, fam.name, fam.kind
            )
        })
    })
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Appends the sample lines of tuple `row` in family `fam` (nothing where it has no series).
pub(super) fn family_lines(out: &mut String, fam: usize, rows: &Rows, row: &Row) {
    let b = rows.str(row.labels);
    match fam {
        F_SUCCESS => sample(out, fam, b, &[], bool_f(row.success)),
        F_LAYER_SUCCESS | F_LAYER_DURATION | F_FAILURE_INFO => layers(out, fam, b, rows, row),
        F_PROBE_TS => sample(out, fam, b, &[], row.finished_at),
        F_LAST_SUCCESS_TS => sample(out, fam, b, &[], row.last_success),
        F_PROBES_TOTAL => {
            for (result, n) in [("success", row.probes[0]), ("failure", row.probes[1])] {
                sample(out, fam, b, &[("result", result)], n as f64);
            }
        }
        F_LAYER_FAILURES => {
            for &(layer, reason, n) in rows.failures(row) {
                let labels = [("layer", layer), ("reason", reason)];
                sample(out, fam, b, &labels, n as f64);
            }
        }
        F_AVAILABILITY => availability(out, b, rows, row),
        F_TOKENS => {
            for (direction, n) in [("input", row.tokens[0]), ("output", row.tokens[1])] {
                sample(out, fam, b, &[("direction", direction)], n as f64);
            }
        }
        F_INVOKE_TS => {
            if let Some(t) = row.last_invoke {
                sample(out, fam, b, &[], t);
            }
        }
        F_LIFECYCLE | F_LEGACY_TS | F_EXTENDED_TS | F_END_OF_LIFE_TS => {
            lifecycle(out, fam, b, rows, row)
        }
        _ => {}
    }
}

/// The labels every series of the tuple carries: `target`, `account_id`, `role_name`,
/// `aws_region`, `model_id`, escaped.
pub(super) fn label_base(s: &TupleState) -> Box<str> {
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
    base.into_boxed_str()
}

/// `layer_success`, `layer_duration_seconds` or `failure_info` (`fam`) of every attempted layer.
fn layers(out: &mut String, fam: usize, b: &str, rows: &Rows, row: &Row) {
    for l in rows.layers(row) {
        let layer = ("layer", l.layer);
        match (fam, l.failure) {
            (F_LAYER_SUCCESS, _) => sample(out, fam, b, &[layer], bool_f(l.passed)),
            (F_LAYER_DURATION, _) => sample(out, fam, b, &[layer], l.duration),
            (F_FAILURE_INFO, Some((reason, class, code))) => {
                let labels = [
                    layer,
                    ("reason", reason),
                    ("class", class),
                    ("error_code", rows.str(code)),
                ];
                sample(out, fam, b, &labels, 1.0)
            }
            _ => {}
        }
    }
}

/// `model_availability`: one series per dimension with its reported status.
fn availability(out: &mut String, b: &str, rows: &Rows, row: &Row) {
    let Some(statuses) = row.availability else {
        return;
    };
    let dims = ["agreement", "authorization", "entitlement", "region"];
    for (dim, status) in dims.into_iter().zip(statuses) {
        let labels = [("dimension", dim), ("status", rows.str(status))];
        sample(out, F_AVAILABILITY, b, &labels, 1.0);
    }
}

/// `model_lifecycle_info` with the status, or one of the lifecycle's dates that AWS gave.
fn lifecycle(out: &mut String, fam: usize, b: &str, rows: &Rows, row: &Row) {
    let Some((status, [legacy, extended, end_of_life])) = row.lifecycle else {
        return;
    };
    let when = match fam {
        F_LIFECYCLE => return sample(out, fam, b, &[("status", rows.str(status))], 1.0),
        F_LEGACY_TS => legacy,
        F_EXTENDED_TS => extended,
        F_END_OF_LIFE_TS => end_of_life,
        _ => None,
    };
    if let Some(t) = when {
        sample(out, fam, b, &[], t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::error_code_label;

    fn value_text(v: f64) -> String {
        let mut s = String::new();
        push_value(&mut s, v);
        s
    }

    #[test]
    fn sample_values_are_written_in_a_form_that_reads_back_exactly() {
        for (v, text) in [
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "0"),
            (12345678901234.0, "12345678901234"),
            (0.087, "0.087"),
            (1764496171.25, "1764496171.25"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(value_text(v), text);
        }
        for v in [1e-7, 1e15, 3.5e20, 0.1 + 0.2, 1764496171.123_456_7, -2.5] {
            let text = value_text(v);
            assert_eq!(text.parse::<f64>().ok(), Some(v), "{text}");
        }
    }

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
