//! Connection reuse, asserted at the endpoints: in front of real AWS every new connection is a
//! TCP and a TLS handshake, so the prober must keep its connections. The simulator serves each
//! service (STS, Bedrock, Bedrock runtime) on a listener of its own, one host each as in AWS,
//! and its counters (`Simulator::render_metrics`, what `GET /_sim/metrics` serves) say how many
//! connections the prober opened to each and which requests it sent.

#[path = "probe_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::probe::{LayerStatus, ProbeReport, Prober};
use bedrock_access_exporter::schedule::Scheduler;
use bedrock_access_exporter::sim::{Simulator, serve};
use support::{MODEL, ROLE_ARN};

const KEY_ID: &str = "AKIACONNECTIONS00001";
const SECRET: &str = "connectionsSecretKey00000000000000000001";

/// Eight test models besides [`MODEL`].
fn test_model(i: usize) -> String {
    format!("anthropic.claude-test-{i}-v1:0")
}

/// The source user, the role of [`ROLE_ARN`] trusting its account, [`MODEL`] and the test
/// models in two regions, every grant given; `slow` delays Bedrock's availability and
/// runtime's Converse answers (so that probes overlap).
fn scenario(slow: Option<&str>) -> String {
    let mut out = format!(
        r#"default_grant = "granted"

[[accounts]]
id = "123456789012"

[[accounts]]
id = "210987654321"

[[users]]
account = "123456789012"
name = "prober"
access_keys = [{{ id = "{KEY_ID}", secret = "{SECRET}" }}]
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}']

[[roles]]
account = "210987654321"
name = "BedrockProbeRole"
trust_policy = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"sts:AssumeRole"}}]}}'
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}}]}}']
"#
    );
    let models = std::iter::once(MODEL.to_string()).chain((0..8).map(test_model));
    for m in models {
        out.push_str(&format!(
            "\n[[models]]\nid = \"{m}\"\nname = \"{m}\"\nprovider = \"Anthropic\"\nregions = [\"us-east-1\", \"us-west-2\"]\n"
        ));
    }
    if let Some(latency) = slow {
        for (service, operation) in [
            ("bedrock", "GetFoundationModelAvailability"),
            ("bedrock-runtime", "Converse"),
        ] {
            out.push_str(&format!(
                "\n[[faults]]\nservice = \"{service}\"\noperation = \"{operation}\"\nkind = \"latency\"\nlatency = \"{latency}\"\n"
            ));
        }
    }
    out
}

/// One simulator serving each service on a listener of its own.
struct Endpoints {
    sim: Simulator,
    sts: SocketAddr,
    bedrock: SocketAddr,
    runtime: SocketAddr,
}

impl Endpoints {
    async fn start(slow: Option<&str>) -> Endpoints {
        let sim = match Simulator::from_toml(&scenario(slow), "connections") {
            Ok(s) => s,
            Err(e) => panic!("the test scenario must load: {e}"),
        };
        let mut addrs = Vec::new();
        for _ in 0..3 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            tokio::spawn(serve(sim.clone(), listener, std::future::pending()));
        }
        Endpoints {
            sim,
            sts: addrs[0],
            bedrock: addrs[1],
            runtime: addrs[2],
        }
    }

    /// A prober whose "default" source reaches each service on its listener.
    fn prober(&self, config: &bedrock_access_exporter::config::Config) -> Prober {
        let url = |a: SocketAddr| format!("http://{a}");
        let sdk = support::sdk_config_per_service(
            &[
                ("STS", url(self.sts)),
                ("Bedrock", url(self.bedrock)),
                ("Bedrock Runtime", url(self.runtime)),
            ],
            KEY_ID,
            SECRET,
        );
        Prober::with_sdk_config(
            config,
            std::collections::HashMap::from([("default".to_string(), sdk)]),
        )
    }

    /// The value of the simulator's counter `name` with every label of `labels` (summed).
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        let text = self.sim.render_metrics();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as usize
    }

    /// Connections accepted by (STS, Bedrock, Bedrock runtime).
    fn accepted(&self) -> (usize, usize, usize) {
        let on = |a: SocketAddr| {
            self.counter(
                "aws_simulator_connections_accepted_total",
                &[("listener", &a.to_string())],
            )
        };
        (on(self.sts), on(self.bedrock), on(self.runtime))
    }

    /// Requests the simulator routed to `operation`.
    fn count(&self, operation: &str) -> usize {
        self.counter("aws_simulator_requests_total", &[("operation", operation)])
    }
}

fn all_passed(report: &ProbeReport) -> bool {
    report.layers.len() == 4
        && report
            .layers
            .iter()
            .all(|l| l.status == LayerStatus::Passed)
}

#[tokio::test]
async fn fifty_probes_of_one_tuple_in_fifty_rounds_use_one_connection_per_endpoint() {
    let endpoints = Endpoints::start(None).await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = endpoints.prober(&config);

    for i in 0..50 {
        let round = prober.new_round();
        let report = prober
            .probe(&target, "us-east-1", MODEL, &round, true)
            .await;
        assert!(all_passed(&report), "probe {i}: {report:?}");
    }
    // Every round assumed the role afresh, over the same connections.
    assert_eq!(endpoints.count("AssumeRole"), 50);
    assert_eq!(endpoints.count("GetCallerIdentity"), 50);
    assert_eq!(endpoints.count("Converse"), 50);
    assert_eq!(
        endpoints.accepted(),
        (1, 1, 1),
        "connections accepted by (STS, Bedrock, Bedrock runtime)"
    );

    // A reload builds a new prober; the process's HTTP client and its connections stay.
    let reloaded = endpoints.prober(&config);
    let report = reloaded
        .probe(&target, "us-east-1", MODEL, &reloaded.new_round(), true)
        .await;
    assert!(all_passed(&report), "{report:?}");
    assert_eq!(endpoints.accepted(), (1, 1, 1), "after a reload");
}

/// Eight models in two regions for each of four targets: 64 tuples.
fn many_tuples(interval: Duration, concurrency: usize) -> bedrock_access_exporter::config::Config {
    let models: Vec<String> = (0..8).map(test_model).collect();
    let targets = (0..4)
        .map(|i| {
            let mut t = support::target(&format!("team-{i}"), Some(ROLE_ARN));
            t.regions = vec!["us-east-1".into(), "us-west-2".into()];
            t.models = models.clone();
            t.settings.interval = interval;
            t.settings.invoke_interval = interval;
            t.settings.concurrency = concurrency;
            t
        })
        .collect();
    let mut config = support::config(targets, None);
    config.defaults.concurrency = concurrency;
    config
}

fn probes_finished(metrics: &Metrics) -> f64 {
    metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("bedrock_access_probes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_probing_of_64_tuples_opens_at_most_concurrency_connections_per_endpoint() {
    const CONCURRENCY: usize = 3;
    // Slow Bedrock answers, so that probes overlap and the concurrency bound is what limits them.
    let endpoints = Endpoints::start(Some("150ms")).await;
    let config = Arc::new(many_tuples(Duration::from_secs(2), CONCURRENCY));
    let tuples = config.tuples().len() as f64;
    let prober = Arc::new(endpoints.prober(&config));
    let metrics = Arc::new(Metrics::new().expect("registry"));
    metrics.apply_config(&config);
    let scheduler = Scheduler::new(Arc::clone(&metrics));
    scheduler.start(Arc::clone(&config), prober);

    // Two rounds of every tuple.
    let started = Instant::now();
    while probes_finished(&metrics) < 2.0 * tuples {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} probes after 30 s",
            probes_finished(&metrics)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Counted before the shutdown, which cancels probes in flight (and with them their
    // connections, which cannot be reused mid-exchange).
    let (sts, bedrock, runtime) = endpoints.accepted();
    scheduler.shutdown().await;

    for (service, n) in [
        ("STS", sts),
        ("Bedrock", bedrock),
        ("Bedrock runtime", runtime),
    ] {
        assert!(
            (1..=CONCURRENCY).contains(&n),
            "{service}: {n} connections for {CONCURRENCY} probes in flight at most"
        );
    }
    // The probes did overlap: more than one connection was needed at once.
    assert!(runtime > 1, "Bedrock runtime: {runtime} connection(s)");
    assert!(endpoints.count("Converse") >= config.tuples().len());
}
