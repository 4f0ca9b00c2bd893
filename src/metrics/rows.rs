//! A scrape's compact copy of the store: one row per tuple with the values its sample lines
//! need, and every string in one arena. A scrape writes each family in turn over all tuples;
//! reading fifteen times from these few contiguous megabytes instead of from every tuple's
//! scattered state keeps it fast (`benches/metrics_render.rs`).

use std::time::SystemTime;

use super::state::{Counters, TupleState, unix_seconds};
use crate::probe::LayerStatus;
use crate::reason::error_code_label;

/// A string in [`Rows`]' arena.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Span {
    start: usize,
    end: usize,
}

/// One attempted layer of a tuple.
pub(super) struct LayerRow {
    pub layer: &'static str,
    pub passed: bool,
    pub duration: f64,
    /// `reason`, `class` and `error_code` of a failed layer.
    pub failure: Option<(&'static str, &'static str, Span)>,
}

/// One tuple's values.
pub(super) struct Row {
    /// The escaped label set every series of the tuple carries.
    pub labels: Span,
    pub success: bool,
    pub finished_at: f64,
    pub last_success: f64,
    pub last_invoke: Option<f64>,
    /// Its layers in [`Rows::layers`].
    pub layers: (usize, usize),
    /// `probes_total`: success, failure.
    pub probes: [u64; 2],
    /// `invoke_tokens_total`: input, output.
    pub tokens: [u64; 2],
    /// Its `layer_failures_total` counters in [`Rows::failures`].
    pub failures: (usize, usize),
    /// Agreement, authorization, entitlement, region statuses.
    pub availability: Option<[Span; 4]>,
    /// The lifecycle status and its legacy, public extended access and end-of-life times.
    pub lifecycle: Option<(Span, [Option<f64>; 3])>,
}

/// The rows of a scrape.
#[derive(Default)]
pub(super) struct Rows {
    arena: String,
    pub rows: Vec<Row>,
    layers: Vec<LayerRow>,
    failures: Vec<(&'static str, &'static str, u64)>,
}

fn seconds(t: Option<SystemTime>) -> Option<f64> {
    t.map(unix_seconds)
}

impl Rows {
    pub fn with_capacity(tuples: usize) -> Rows {
        Rows {
            arena: String::with_capacity(tuples * 192),
            rows: Vec::with_capacity(tuples),
            layers: Vec::with_capacity(tuples * 5),
            failures: Vec::new(),
        }
    }

    /// The text of `span`.
    pub fn str(&self, span: Span) -> &str {
        self.arena.get(span.start..span.end).unwrap_or("")
    }

    /// The layers of `row`.
    pub fn layers(&self, row: &Row) -> &[LayerRow] {
        self.layers.get(row.layers.0..row.layers.1).unwrap_or(&[])
    }

    /// The `layer_failures_total` counters (layer, reason, count) of `row`.
    pub fn failures(&self, row: &Row) -> &[(&'static str, &'static str, u64)] {
        self.failures
            .get(row.failures.0..row.failures.1)
            .unwrap_or(&[])
    }

    fn text(&mut self, s: &str) -> Span {
        let start = self.arena.len();
        self.arena.push_str(s);
        Span {
            start,
            end: self.arena.len(),
        }
    }

    /// Appends the row of a tuple with label set `labels`.
    pub fn push(&mut self, labels: &str, s: &TupleState, c: &Counters) {
        let labels = self.text(labels);
        let first_layer = self.layers.len();
        for l in &s.report.layers {
            let failure = match &l.status {
                LayerStatus::Passed => None,
                LayerStatus::Failed(f) => Some((
                    f.reason.as_str(),
                    f.reason.class().as_str(),
                    self.text(error_code_label(f.error_code.as_deref())),
                )),
            };
            self.layers.push(LayerRow {
                layer: l.layer.as_str(),
                passed: failure.is_none(),
                duration: l.duration.as_secs_f64(),
                failure,
            });
        }
        let first_failure = self.failures.len();
        self.failures.extend(
            c.layer_failures
                .iter()
                .map(|((layer, reason), n)| (layer.as_str(), *reason, *n)),
        );
        let availability = s.report.availability.as_ref().map(|a| {
            [&a.agreement, &a.authorization, &a.entitlement, &a.region].map(|v| self.text(v))
        });
        let lifecycle = s.report.lifecycle.as_ref().map(|l| {
            let when = [l.legacy, l.public_extended_access, l.end_of_life].map(seconds);
            (self.text(&l.status), when)
        });
        self.rows.push(Row {
            labels,
            success: s.success,
            finished_at: unix_seconds(s.report.finished_at),
            last_success: seconds(s.last_success).unwrap_or(0.0),
            last_invoke: seconds(s.last_invoke),
            layers: (first_layer, self.layers.len()),
            probes: [c.probes_success, c.probes_failure],
            tokens: [c.tokens_in, c.tokens_out],
            failures: (first_failure, self.failures.len()),
            availability,
            lifecycle,
        });
    }
}
