//! What `GET /probe` spends, in the exporter's own counters on `/metrics`: requests by answer,
//! requests in flight, the tuples it probed by result, whether each paid invocation ran or was
//! reused, the tokens it consumed and the layer failures it observed. `/probe`'s own answer
//! carries gauges only; these counters live as long as the process, so `rate()` sees them.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use crate::config::Expect;
use crate::probe::{LayerStatus, ProbeReport};

use super::state::probe_success;

/// The HTTP statuses `/probe` answers with (the `code` label's values).
pub const CODES: [u16; 7] = [200, 400, 404, 405, 429, 500, 503];

/// The on-demand families of the exporter's registry.
pub struct OnDemandMetrics {
    requests: IntCounterVec,
    in_flight: IntGauge,
    probes: IntCounterVec,
    invocations: IntCounterVec,
    tokens: IntCounterVec,
    layer_failures: IntCounterVec,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl OnDemandMetrics {
    /// Registers the families; every series with a fixed label set starts at 0.
    pub fn register(registry: &Registry) -> Result<OnDemandMetrics, prometheus::Error> {
        let requests = counter(
            registry,
            "bedrock_access_exporter_ondemand_requests_total",
            "GET /probe requests answered, by HTTP status (429: refused, too many in flight).",
            &["code"],
        )?;
        let in_flight = IntGauge::new(
            "bedrock_access_exporter_ondemand_requests_in_flight",
            "GET /probe requests being answered now.",
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        let probes = counter(
            registry,
            "bedrock_access_exporter_ondemand_probes_total",
            "Tuples probed for GET /probe, by result.",
            &["result"],
        )?;
        let invocations = counter(
            registry,
            "bedrock_access_exporter_ondemand_invocations_total",
            "The paid invoke layer of GET /probe probes: ran now, or reused from a probe within invoke_interval.",
            &["outcome"],
        )?;
        let tokens = counter(
            registry,
            "bedrock_access_exporter_ondemand_invoke_tokens_total",
            "Tokens consumed by the invocations of GET /probe probes, by direction.",
            &["direction"],
        )?;
        let layer_failures = counter(
            registry,
            "bedrock_access_exporter_ondemand_layer_failures_total",
            "Layer failures observed by GET /probe probes, by layer and reason (a reused paid result is not counted again).",
            &["layer", "reason"],
        )?;
        for code in CODES {
            requests.with_label_values(&[code.to_string().as_str()]);
        }
        for (family, values) in [
            (&probes, ["success", "failure"]),
            (&invocations, ["ran", "reused"]),
            (&tokens, ["input", "output"]),
        ] {
            for v in values {
                family.with_label_values(&[v]);
            }
        }
        Ok(OnDemandMetrics {
            requests,
            in_flight,
            probes,
            invocations,
            tokens,
            layer_failures,
        })
    }

    /// Counts one answered request (a status outside [`CODES`] counts as 500).
    pub fn request(&self, code: u16) {
        let code = if CODES.contains(&code) { code } else { 500 };
        self.requests
            .with_label_values(&[code.to_string().as_str()])
            .inc();
    }

    pub fn in_flight(&self) -> &IntGauge {
        &self.in_flight
    }

    /// Counts one tuple probed for `/probe`. `report.layers` includes a reused invoke result
    /// (`reused`), which counts in the result but not again as a failure or in tokens.
    pub fn record(&self, report: &ProbeReport, expect: Expect, reused: bool) {
        let result = if probe_success(&report.layers, expect) {
            "success"
        } else {
            "failure"
        };
        self.probes.with_label_values(&[result]).inc();
        if report.invoke_ran {
            self.invocations.with_label_values(&["ran"]).inc();
        } else if reused {
            self.invocations.with_label_values(&["reused"]).inc();
        }
        for l in &report.layers {
            if let LayerStatus::Failed(f) = &l.status
                && !(reused && l.layer.is_invocation())
            {
                self.layer_failures
                    .with_label_values(&[l.layer.as_str(), f.reason.as_str()])
                    .inc();
            }
        }
        if let Some((input, output)) = report.tokens {
            self.tokens.with_label_values(&["input"]).inc_by(input);
            self.tokens.with_label_values(&["output"]).inc_by(output);
        }
    }
}
