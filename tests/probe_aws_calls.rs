//! The exporter's own AWS requests on `/metrics`: an operator sees how many requests the probes
//! send to each service and operation, how they went (throttled, refused, timed out, never
//! answered) and how long they took, told against the replay server.
//!
//! The counters are the process's, so this file holds one story: nothing else in this test
//! binary sends AWS requests.

#[path = "probe_support/mod.rs"]
mod support;

use std::time::Duration;

use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::probe::aws::MAX_ATTEMPTS;
use support::{MODEL, ROLE_ARN, Replay, Reply};

const REQUESTS: &str = "bedrock_access_exporter_aws_requests_total";
const DURATION_COUNT: &str = "bedrock_access_exporter_aws_request_duration_seconds_count";

/// The value of the sample `name{labels}` (labels in any order), 0 if absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn requests(text: &str, service: &str, operation: &str, outcome: &str) -> f64 {
    sample(
        text,
        REQUESTS,
        &[
            ("service", service),
            ("operation", operation),
            ("outcome", outcome),
        ],
    )
}

#[tokio::test]
async fn every_aws_request_is_counted_by_service_operation_and_outcome_on_metrics() {
    let metrics = Metrics::new().expect("registry");
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());

    // 1. A healthy probe whose invocation is throttled twice before it goes through.
    replay.script(
        "Converse",
        vec![
            Reply::from_fixture("invoke--throttled--too-many-tokens"),
            Reply::from_fixture("invoke--throttled--too-many-tokens"),
            Reply::from_fixture("invoke--ok--converse-max-tokens"),
        ],
    );
    prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    let text = metrics.render();
    assert_eq!(
        requests(&text, "sts", "GetCallerIdentity", "success"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&text, "sts", "AssumeRole", "success"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(
            &text,
            "bedrock",
            "GetFoundationModelAvailability",
            "success"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&text, "bedrock_runtime", "Converse", "throttled"),
        2.0,
        "{text}"
    );
    assert_eq!(
        requests(&text, "bedrock_runtime", "Converse", "success"),
        1.0,
        "{text}"
    );

    // 2. The next round's AssumeRole is refused: one request, an error, nothing after it.
    replay.script(
        "AssumeRole",
        vec![
            Reply::from_fixture("assume_role--assume_role_denied--cross-account-raw"),
            Reply::from_fixture("assume_role--ok--sts-assumerole"),
        ],
    );
    prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    let text = metrics.render();
    assert_eq!(requests(&text, "sts", "AssumeRole", "error"), 1.0, "{text}");
    assert_eq!(
        requests(&text, "sts", "GetCallerIdentity", "success"),
        2.0,
        "{text}"
    );
    assert_eq!(
        requests(
            &text,
            "bedrock",
            "GetFoundationModelAvailability",
            "success"
        ),
        1.0,
        "{text}"
    );

    // 3. An invocation that hangs past the probe budget is a timeout.
    replay.script(
        "Converse",
        vec![Reply::from_fixture("invoke--ok--converse-max-tokens").hang(Duration::from_secs(30))],
    );
    let mut hurried = target.clone();
    hurried.settings.timeout = Duration::from_secs(1);
    prober
        .probe(&hurried, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    let text = metrics.render();
    assert_eq!(
        requests(&text, "bedrock_runtime", "Converse", "timeout"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&text, "sts", "AssumeRole", "success"),
        2.0,
        "{text}"
    );

    // 4. Nothing listens at the endpoint: every attempt is a network error.
    let closed = support::closed_url().await;
    let unreachable = support::prober(&config, &closed);
    unreachable
        .probe(&target, "us-east-1", MODEL, &unreachable.new_round(), true)
        .await;
    let text = metrics.render();
    assert_eq!(
        requests(&text, "sts", "GetCallerIdentity", "network_error"),
        f64::from(MAX_ATTEMPTS),
        "{text}"
    );

    // Every request has its duration observed, per service.
    for service in ["sts", "bedrock", "bedrock_runtime"] {
        let counted = sample(&text, REQUESTS, &[("service", service)]);
        let timed = sample(&text, DURATION_COUNT, &[("service", service)]);
        assert!(counted > 0.0, "{service}: {text}");
        assert_eq!(counted, timed, "{service}: {text}");
    }
    // Label values are bounded: only the outcomes the exporter defines.
    let outcomes = [
        "success",
        "error",
        "throttled",
        "server_error",
        "timeout",
        "network_error",
        "local_error",
    ];
    for line in text.lines().filter(|l| l.starts_with(REQUESTS)) {
        assert!(
            outcomes
                .iter()
                .any(|o| line.contains(&format!("outcome=\"{o}\""))),
            "{line}"
        );
    }
    assert!(
        text.contains(&format!("# TYPE {REQUESTS} counter")),
        "{text}"
    );
}
