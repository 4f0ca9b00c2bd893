//! End to end over HTTPS: the daemon against `simulate --tls`, one listener per service as AWS
//! has one host per service (`AWS_ENDPOINT_URL_STS`, `_BEDROCK`, `_BEDROCK_RUNTIME`), trusting
//! the simulator's made-up CA through `AWS_CA_BUNDLE`. In front of AWS every new connection is
//! a TCP and a TLS handshake: the simulator's own counters (`GET /_sim/metrics`, read on a
//! fourth listener the daemon never uses) say how many connections the daemon opened to each
//! endpoint, and which requests it sent.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Exporter, Metrics, Sim, repo};

/// The listeners: STS, Bedrock, Bedrock runtime, and one to read the counters on.
const STS: usize = 0;
const BEDROCK: usize = 1;
const RUNTIME: usize = 2;
const READER: usize = 3;

/// The per-service endpoint settings for the three services' listeners; STS by name
/// (`localhost`, which the certificate covers), the others by address.
fn per_service_env(sim: &Sim) -> Vec<(String, String)> {
    let ca = sim.ca_file.as_ref().expect("simulate --tls");
    vec![
        (
            "AWS_ENDPOINT_URL_STS".into(),
            format!("https://localhost:{}", sim.addrs[STS].port()),
        ),
        ("AWS_ENDPOINT_URL_BEDROCK".into(), sim.url_of(BEDROCK)),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".into(),
            sim.url_of(RUNTIME),
        ),
        ("AWS_CA_BUNDLE".into(), ca.display().to_string()),
    ]
}

/// Connections the simulator accepted on listener `i`.
fn connections(counters: &Metrics, sim: &Sim, i: usize) -> f64 {
    counters
        .value(
            "aws_simulator_connections_accepted_total",
            &[("listener", &sim.addrs[i].to_string())],
        )
        .unwrap_or(0.0)
}

/// Connections on listener `i` that the simulator closed itself, no request having come within
/// its 30 s header-read timeout (idle keep-alive connections included, as AWS closes them).
fn closed_waiting(counters: &Metrics, sim: &Sim, i: usize) -> f64 {
    counters
        .value(
            "aws_simulator_connections_closed_waiting_total",
            &[("listener", &sim.addrs[i].to_string())],
        )
        .unwrap_or(0.0)
}

/// TLS handshakes on listener `i` that ended as `result`.
fn handshakes(counters: &Metrics, sim: &Sim, i: usize, result: &str) -> f64 {
    counters
        .value(
            "aws_simulator_tls_handshakes_total",
            &[("listener", &sim.addrs[i].to_string()), ("result", result)],
        )
        .unwrap_or(0.0)
}

/// Requests for `operation`, over all accounts.
fn requests(counters: &Metrics, operation: &str) -> f64 {
    counters
        .find("aws_simulator_requests_total", &[("operation", operation)])
        .iter()
        .map(|s| s.value)
        .sum()
}

/// The demo's healthy target alone; its background probes are rare, `/probe` does the work.
fn healthy_only_config(dir: &Path) -> PathBuf {
    let config = r#"
[probe]
interval = "30m"
timeout = "10s"
concurrency = 2

[[sources]]
name = "platform"
profile = "demo-platform"
expected_account = "111111111111"

[[targets]]
name = "healthy-claude"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;
    let path = dir.join("healthy.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

#[test]
fn two_hundred_probes_of_one_tuple_over_https_open_one_connection_per_service_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_tls(dir.path(), &repo("config/demo/scenario.toml"), 4);
    let exporter = Exporter::start_with(
        dir.path(),
        &healthy_only_config(dir.path()),
        &repo("config/demo/aws-config"),
        &format!("https://localhost:{}", sim.addrs[STS].port()),
        &per_service_env(&sim),
    );

    // What the start-up checks (a TCP connect per listener) left on the counters.
    let before = sim.counters(READER);
    for i in 0..200 {
        let (status, body) = exporter.get("/probe?target=healthy-claude");
        let m = Metrics::parse(&body);
        assert!(
            status == 200 && m.value("bedrock_access_probe_success", &[]) == Some(1.0),
            "probe {i}: {status}\n{body}\n{}",
            common::tail(&exporter.proc.log_text(), 30)
        );
    }

    let c = sim.counters(READER);
    for (service, i) in [
        ("STS", STS),
        ("Bedrock", BEDROCK),
        ("Bedrock runtime", RUNTIME),
    ] {
        // The runtime sees one invocation only (the paid layer runs once per invoke_interval;
        // the background probe's may be the one, its connection opened before `before`).
        let opened = connections(&c, &sim, i) - connections(&before, &sim, i);
        let want = if i == RUNTIME { 0.0..=1.0 } else { 1.0..=1.0 };
        assert!(
            want.contains(&opened),
            "{service}: {opened} connections for 200 sequential probes\n{}",
            c.text
        );
        // One handshake each (Bedrock's and the runtime's, both to 127.0.0.1, may resume
        // the session of the other), none refused, none given up.
        let done = handshakes(&c, &sim, i, "full") + handshakes(&c, &sim, i, "resumed");
        assert_eq!(done, 1.0, "{service}\n{}", c.text);
        for bad in ["refused", "failed"] {
            assert_eq!(
                handshakes(&c, &sim, i, bad) - handshakes(&before, &sim, i, bad),
                0.0,
                "{service} {bad}\n{}",
                c.text
            );
        }
    }
    // Every probe asked the free layers afresh (the daemon's own background probe may have run
    // once too) and paid once: the invocation runs at most once per invoke_interval, the other
    // probes reuse it. Each call as the identity it must use: the source's user for STS, the
    // assumed role in the target account for Bedrock.
    for op in [
        "GetCallerIdentity",
        "AssumeRole",
        "GetFoundationModelAvailability",
    ] {
        let n = requests(&c, op);
        assert!((200.0..=201.0).contains(&n), "{op}: {n}\n{}", c.text);
    }
    let paid = requests(&c, "Converse");
    assert!((1.0..=2.0).contains(&paid), "Converse: {paid}\n{}", c.text);
    let by = |op: &str, account: &str| {
        c.value(
            "aws_simulator_requests_total",
            &[("operation", op), ("account", account)],
        )
    };
    assert_eq!(
        by("AssumeRole", "111111111111"),
        Some(requests(&c, "AssumeRole"))
    );
    assert_eq!(
        by("Converse", "222222222222"),
        Some(requests(&c, "Converse"))
    );
}

/// A scenario with one source user, one role in a target account, `models` models in
/// us-east-1 and us-west-2, every grant given, and Converse answering after 20 ms (so that
/// probes overlap and the concurrency bound is what limits the connections).
fn fleet_scenario(models: usize) -> String {
    let mut out = String::from(
        r#"default_grant = "granted"

[[accounts]]
id = "111111111111"

[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "fleet-prober"
access_keys = [{ id = "AKIAFLEETPROBER00001", secret = "fleetProberSecretKey000000000000000000001" }]
policies = ['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "FleetProbeRole"
trust_policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}']

[[faults]]
service = "bedrock-runtime"
operation = "Converse"
kind = "latency"
latency = "20ms"
"#,
    );
    for i in 0..models {
        out.push_str(&format!(
            "\n[[models]]\nid = \"amazon.fleet-model-{i:03}-v1:0\"\nname = \"Fleet model {i}\"\nprovider = \"Amazon\"\nregions = [\"us-east-1\", \"us-west-2\"]\n"
        ));
    }
    out
}

/// `targets` targets × 2 regions × `models` models, every `interval_s` seconds, at most
/// `concurrency` probes at once. All the targets are in one account, so `[limits]` lets that
/// account take every probe of the schedule (the default pace, 10 Bedrock calls per second,
/// would stretch a round of 1,000 tuples to minutes; this test is about connections).
fn fleet_config(targets: usize, models: usize, interval_s: u64, concurrency: usize) -> String {
    let model_list: Vec<String> = (0..models)
        .map(|i| format!("\"amazon.fleet-model-{i:03}-v1:0\""))
        .collect();
    let mut out = format!(
        "[probe]\ninterval = \"{interval_s}s\"\ntimeout = \"10s\"\nconcurrency = {concurrency}\n\n[limits]\nbedrock_per_second = 1000\n\n[[sources]]\nname = \"fleet\"\nprofile = \"fleet\"\n"
    );
    for t in 0..targets {
        out.push_str(&format!(
            "\n[[targets]]\nname = \"team-{t:02}\"\nsource = \"fleet\"\nrole_arn = \"arn:aws:iam::222222222222:role/FleetProbeRole\"\nregions = [\"us-east-1\", \"us-west-2\"]\nmodels = [{}]\n",
            model_list.join(", ")
        ));
    }
    out
}

#[test]
fn background_probing_of_1000_tuples_for_three_rounds_opens_at_most_concurrency_connections_per_endpoint()
 {
    const CONCURRENCY: usize = 4;
    const TUPLES: f64 = 1000.0;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("fleet-scenario.toml");
    std::fs::write(&scenario, fleet_scenario(50)).expect("write scenario");
    let config = dir.path().join("fleet.toml");
    std::fs::write(&config, fleet_config(10, 50, 10, CONCURRENCY)).expect("write config");
    let aws_config = dir.path().join("aws-config");
    std::fs::write(
        &aws_config,
        "[profile fleet]\naws_access_key_id = AKIAFLEETPROBER00001\naws_secret_access_key = fleetProberSecretKey000000000000000000001\nregion = us-east-1\n",
    )
    .expect("write aws-config");
    let sim = Sim::start_tls(dir.path(), &scenario, 4);
    let before = sim.counters(READER);
    let exporter = Exporter::start_with(
        dir.path(),
        &config,
        &aws_config,
        &format!("https://localhost:{}", sim.addrs[STS].port()),
        &per_service_env(&sim),
    );

    // Three rounds of every tuple (no timing is asserted: a slow machine only takes longer).
    let probes = |m: &Metrics| -> f64 {
        m.find("bedrock_access_probes_total", &[])
            .iter()
            .map(|s| s.value)
            .sum()
    };
    let started = Instant::now();
    loop {
        let m = exporter.scrape();
        if probes(&m) >= 3.0 * TUPLES {
            let failed: f64 = m
                .find("bedrock_access_probes_total", &[("result", "failure")])
                .iter()
                .map(|s| s.value)
                .sum();
            assert_eq!(failed, 0.0, "{}", common::tail(&m.text, 40));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "only {} probes after 300 s\n{}",
            probes(&m),
            common::tail(&exporter.proc.log_text(), 30)
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    let c = sim.counters(READER);
    for (service, i) in [
        ("STS", STS),
        ("Bedrock", BEDROCK),
        ("Bedrock runtime", RUNTIME),
    ] {
        // Less the start-up check's TCP connect. On a loaded machine the rounds stretch, and a
        // connection can idle past the simulator's 30 s header-read timeout: the simulator
        // closes it (as AWS closes idle connections) and the daemon may open one in its place.
        let n = connections(&c, &sim, i) - connections(&before, &sim, i);
        let replaced = closed_waiting(&c, &sim, i) - closed_waiting(&before, &sim, i);
        assert!(
            n >= 1.0 && n - replaced <= CONCURRENCY as f64,
            "{service}: {n} connections ({replaced} closed idle by the simulator) for {CONCURRENCY} probes in flight at most\n{}",
            c.text
        );
        assert_eq!(
            handshakes(&c, &sim, i, "refused"),
            0.0,
            "{service}\n{}",
            c.text
        );
    }
    // The probes did overlap: more than one runtime connection was needed at once.
    assert!(
        connections(&c, &sim, RUNTIME) - connections(&before, &sim, RUNTIME) > 1.0,
        "Bedrock runtime: one connection only\n{}",
        c.text
    );
    assert!(requests(&c, "Converse") >= 3.0 * TUPLES, "{}", c.text);
    // One AssumeRole per target and region per round, whatever the number of models.
    let assumed = requests(&c, "AssumeRole");
    assert!(
        (60.0..=80.0).contains(&assumed),
        "AssumeRole {assumed} for 3-4 rounds of 20 (target, region) pairs\n{}",
        c.text
    );
}
