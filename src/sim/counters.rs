//! What the simulator counts, for the tests and the benchmarks that must tell what a client
//! did to AWS: connections accepted, closed for idling and TLS handshakes per listener, and
//! requests per service, operation and account. Served in the Prometheus text format on `GET /_sim/metrics`
//! ([`SIM_PREFIX`]: no AWS operation has a path starting with `/_`), and as text through
//! [`super::Simulator::render_metrics`].
//!
//! Every label value is bounded: listeners are the simulator's own addresses, services and
//! REST operations are the routes' names, a query-protocol `Action` (which the client writes)
//! counts under its name only when it looks like an operation name and fewer than
//! [`MAX_OPERATIONS`] names were seen, else as `other`, and accounts are the scenario's.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

/// Paths the simulator answers for itself, never for AWS.
pub const SIM_PREFIX: &str = "/_sim/";
/// Distinct operation names counted by name; later ones count as `other`.
pub const MAX_OPERATIONS: usize = 64;
/// Longest operation name counted by name.
const MAX_OPERATION_LEN: usize = 64;

/// Why a request got an error before it reached a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The body was too large or did not arrive.
    Body,
    /// Signature, scope, date, key or session refused.
    Authentication,
    /// No operation at that path.
    Routing,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Body => "body",
            Refusal::Authentication => "authentication",
            Refusal::Routing => "routing",
        }
    }
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Full,
    Resumed,
    /// The client refused it with an alert (e.g. it does not trust the certificate).
    Refused,
    /// Closed, timed out or garbled before it finished.
    Failed,
}

impl Handshake {
    fn label(self) -> &'static str {
        match self {
            Handshake::Full => "full",
            Handshake::Resumed => "resumed",
            Handshake::Refused => "refused",
            Handshake::Failed => "failed",
        }
    }
}

/// The simulator's counters (one set per [`super::Simulator`], shared by its listeners).
pub(crate) struct Counters {
    registry: Registry,
    connections: IntCounterVec,
    handshakes: IntCounterVec,
    closed_waiting: IntCounterVec,
    requests: IntCounterVec,
    refused: IntCounterVec,
    operations: Mutex<HashSet<String>>,
}

fn family(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    // Names and labels are constants of this file: building and registering cannot fail
    // other than by a programming error, which the unit test below would show.
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("counter {name}: {e}"));
    if let Err(e) = registry.register(Box::new(vec.clone())) {
        panic!("counter {name}: {e}");
    }
    vec
}

impl Counters {
    pub(crate) fn new() -> Counters {
        let registry = Registry::new();
        Counters {
            connections: family(
                &registry,
                "aws_simulator_connections_accepted_total",
                "TCP connections the simulator accepted, by listener address.",
                &["listener"],
            ),
            handshakes: family(
                &registry,
                "aws_simulator_tls_handshakes_total",
                "TLS handshakes on HTTPS listeners: full, resumed (a session the client kept), refused (the client sent an alert, e.g. it does not trust the certificate) or failed (closed, timed out or garbled before the end).",
                &["listener", "result"],
            ),
            closed_waiting: family(
                &registry,
                "aws_simulator_connections_closed_waiting_total",
                "Connections the simulator closed itself because no request head came within 30 s (an idle keep-alive connection included), by listener address.",
                &["listener"],
            ),
            requests: family(
                &registry,
                "aws_simulator_requests_total",
                "AWS requests the simulator routed to an operation (after authentication, whatever the answer), by service signing name, operation and the caller's account (empty for an unsigned call of an unknown account).",
                &["service", "operation", "account"],
            ),
            refused: family(
                &registry,
                "aws_simulator_requests_refused_total",
                "Requests answered with an error before reaching an operation: body, authentication or routing.",
                &["stage"],
            ),
            registry,
            operations: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn connection(&self, listener: &str) {
        self.connections.with_label_values(&[listener]).inc();
    }

    pub(crate) fn closed_waiting(&self, listener: &str) {
        self.closed_waiting.with_label_values(&[listener]).inc();
    }

    pub(crate) fn handshake(&self, listener: &str, how: Handshake) {
        self.handshakes
            .with_label_values(&[listener, how.label()])
            .inc();
    }

    /// One request for `operation` of `service` by a caller of `account` (already one of the
    /// scenario's, or empty).
    pub(crate) fn request(&self, service: &str, operation: &str, account: &str) {
        let operation = self.operation_label(operation);
        self.requests
            .with_label_values(&[service, operation, account])
            .inc();
    }

    pub(crate) fn refused(&self, stage: Refusal) {
        self.refused.with_label_values(&[stage.label()]).inc();
    }

    /// `operation` itself when it looks like an operation name and is one of the first
    /// [`MAX_OPERATIONS`] seen, else `other`.
    fn operation_label<'a>(&self, operation: &'a str) -> &'a str {
        let plausible = !operation.is_empty()
            && operation.len() <= MAX_OPERATION_LEN
            && operation.bytes().all(|b| b.is_ascii_alphanumeric());
        if !plausible {
            return "other";
        }
        let mut seen = match self.operations.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.contains(operation) {
            return operation;
        }
        if seen.len() < MAX_OPERATIONS {
            seen.insert(operation.to_owned());
            return operation;
        }
        "other"
    }

    /// The counters in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the simulator's counters");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_prometheus_text() {
        let c = Counters::new();
        c.connection("127.0.0.1:4566");
        c.handshake("127.0.0.1:4566", Handshake::Resumed);
        c.closed_waiting("127.0.0.1:4566");
        c.request("sts", "AssumeRole", "111111111111");
        c.request("sts", "AssumeRole", "111111111111");
        c.refused(Refusal::Authentication);
        let text = c.render();
        for line in [
            "aws_simulator_connections_accepted_total{listener=\"127.0.0.1:4566\"} 1",
            "aws_simulator_tls_handshakes_total{listener=\"127.0.0.1:4566\",result=\"resumed\"} 1",
            "aws_simulator_connections_closed_waiting_total{listener=\"127.0.0.1:4566\"} 1",
            "aws_simulator_requests_total{account=\"111111111111\",operation=\"AssumeRole\",service=\"sts\"} 2",
            "aws_simulator_requests_refused_total{stage=\"authentication\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn operation_names_a_client_makes_up_stay_bounded() {
        let c = Counters::new();
        c.request("sts", "Not An Action", "");
        for i in 0..(MAX_OPERATIONS + 10) {
            c.request("sts", &format!("MadeUp{i}"), "");
        }
        let text = c.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("aws_simulator_requests_total{"))
            .count();
        assert_eq!(series, MAX_OPERATIONS + 1, "{text}");
        assert!(
            text.contains("operation=\"other\",service=\"sts\"} 11"),
            "{text}"
        );
    }
}
