//! Connection reuse, asserted at the endpoints: in front of real AWS every new connection is a
//! TCP and a TLS handshake, so the prober must keep its connections. One counting relay per
//! service (STS, Bedrock, Bedrock runtime: one host each, as in AWS) stands in front of the
//! replay server and counts the connections the prober opens.

#[path = "probe_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::probe::{LayerStatus, ProbeReport, Prober};
use bedrock_access_exporter::schedule::Scheduler;
use support::{CountingRelay, MODEL, ROLE_ARN, Replay, Reply};

/// One relay per service, all in front of `replay`.
struct Endpoints {
    sts: CountingRelay,
    bedrock: CountingRelay,
    runtime: CountingRelay,
}

impl Endpoints {
    async fn before(replay: &Replay) -> Endpoints {
        Endpoints {
            sts: CountingRelay::start(replay.addr).await,
            bedrock: CountingRelay::start(replay.addr).await,
            runtime: CountingRelay::start(replay.addr).await,
        }
    }

    /// A prober whose "default" source reaches each service through its relay.
    fn prober(&self, config: &bedrock_access_exporter::config::Config) -> Prober {
        let sdk = support::sdk_config_per_service(&[
            ("STS", self.sts.url()),
            ("Bedrock", self.bedrock.url()),
            ("Bedrock Runtime", self.runtime.url()),
        ]);
        Prober::with_sdk_config(
            config,
            std::collections::HashMap::from([("default".to_string(), sdk)]),
        )
    }

    /// Connections accepted by (STS, Bedrock, Bedrock runtime).
    fn accepted(&self) -> (usize, usize, usize) {
        (
            self.sts.accepted(),
            self.bedrock.accepted(),
            self.runtime.accepted(),
        )
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
    let replay = Replay::healthy().await;
    let endpoints = Endpoints::before(&replay).await;
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
    assert_eq!(replay.count("AssumeRole"), 50);
    assert_eq!(replay.count("GetCallerIdentity"), 50);
    assert_eq!(replay.count("Converse"), 50);
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
    let models: Vec<String> = (0..8)
        .map(|i| format!("anthropic.claude-test-{i}-v1:0"))
        .collect();
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
    let replay = Replay::healthy().await;
    // Slow Bedrock answers, so that probes overlap and the concurrency bound is what limits them.
    let slow = Duration::from_millis(150);
    replay.script(
        "GetFoundationModelAvailability",
        vec![Reply::from_fixture("model_access--ok--availability-all-available").hang(slow)],
    );
    replay.script(
        "Converse",
        vec![Reply::from_fixture("invoke--ok--converse-max-tokens").hang(slow)],
    );
    let endpoints = Endpoints::before(&replay).await;
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
    assert!(replay.count("Converse") >= config.tuples().len());
}
