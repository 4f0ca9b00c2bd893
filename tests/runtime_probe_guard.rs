//! `/probe` cannot spend money on demand or starve the schedule: a burst of requests for one
//! tuple invokes once and the rest reuse that result or are told to retry later; its probes hold
//! at most half of the probe pool; a scraper's timeout bounds it; `HEAD` probes nothing; what it
//! spends shows in the exporter's own counters. On a real loopback listener, with a fake prober
//! that counts its calls (see `runtime_support`).

mod runtime_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_access_exporter::app::{App, ProberFactory};
use bedrock_access_exporter::config::{Config, TupleKey};
use bedrock_access_exporter::daemon::serve;
use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::reason::Layer;
use bedrock_access_exporter::schedule::target_phase;
use runtime_support::*;
use tokio_util::sync::CancellationToken;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The interval `load_lines` gives every target.
const HOUR: Duration = Duration::from_secs(3600);

/// A target name whose first background probe (of `tuples` tuples, hourly) comes after `quiet`:
/// only `/probe` calls the prober during the test.
fn quiet_name(prefix: &str, tuples: usize, quiet: Duration) -> String {
    (0..1000)
        .map(|i| format!("{prefix}-{i}"))
        .find(|n| target_phase(n, HOUR, tuples) > quiet)
        .unwrap_or_else(|| panic!("no quiet name for {prefix}"))
}

struct Running {
    app: Arc<App<FakeProber>>,
    base: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// Every layer passes after a second: long enough for a burst to overlap it.
fn slow_prober(_c: Arc<Config>) -> futures::future::BoxFuture<'static, FakeProber> {
    Box::pin(async { FakeProber::owned(Duration::from_secs(1), all_passed) })
}

fn stuck_prober(_c: Arc<Config>) -> futures::future::BoxFuture<'static, FakeProber> {
    Box::pin(async { FakeProber::owned(Duration::from_secs(20), all_passed) })
}

impl Running {
    async fn start(lines: &str, factory: ProberFactory<FakeProber>) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let config: PathBuf = dir.path().join("config.txt");
        std::fs::write(&config, lines).expect("write");
        let metrics = Arc::new(Metrics::new().expect("registry"));
        let app = App::new(metrics, config, load_lines, factory);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        serve(Arc::clone(&app), listener, stop.clone());
        let c = app.load().expect("config");
        app.apply(c).await;
        Running {
            app,
            base,
            stop,
            _dir: dir,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client for loopback"),
        }
    }

    fn prober(&self) -> Arc<FakeProber> {
        Arc::clone(&self.app.current().expect("running").prober)
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn metrics(&self) -> String {
        self.get("/metrics", &[])
            .await
            .text()
            .await
            .unwrap_or_default()
    }

    async fn stop(self) {
        self.app.shutdown().await;
        self.stop.cancel();
    }
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn forty_concurrent_probes_of_one_tuple_invoke_once_reuse_it_and_refuse_the_excess() {
    let name = quiet_name("burst", 1, Duration::from_secs(120));
    let r = Running::start(
        &format!("{name} us-east-1 {MODEL}\n"),
        Arc::new(slow_prober),
    )
    .await;
    let path = format!("/probe?target={name}");
    let answers = futures::future::join_all((0..40).map(|_| r.get(&path, &[]))).await;
    let mut ok = Vec::new();
    let mut refused = 0;
    for a in answers {
        match a.status().as_u16() {
            200 => ok.push((
                header(&a, "x-probe-invoke-reused"),
                a.text().await.unwrap_or_default(),
            )),
            429 => {
                assert_eq!(header(&a, "retry-after").as_deref(), Some("1"));
                let body = a.text().await.unwrap_or_default();
                assert!(body.contains("max_in_flight"), "{body}");
                refused += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    // The default bound: 8 answered at once, the other 32 refused at once.
    assert_eq!((ok.len(), refused), (8, 32));
    let calls = r.prober().calls();
    assert_eq!(calls.len(), 8, "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| c.run_invoke).count(),
        1,
        "one paid invocation: {calls:?}"
    );
    let reused: Vec<&String> = ok.iter().filter_map(|(h, _)| h.as_ref()).collect();
    assert_eq!(reused.len(), 7, "the others say they reused it");
    assert!(
        reused
            .iter()
            .all(|h| h.starts_with("1 of 1 tuple(s); oldest from ")),
        "{reused:?}"
    );
    for (_, body) in &ok {
        assert_eq!(
            value(body, "bedrock_access_layer_success", &[("layer", "invoke")]),
            Some(1.0),
            "{body}"
        );
        assert!(!body.contains("_total"), "gauges only: {body}");
    }
    // Half of the pool of 8.
    let most = r
        .prober()
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 4, "{most} probes of /probe at once");

    let m = r.metrics().await;
    let od = |name: &str, want: &[(&str, &str)]| value(&m, name, want);
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_requests_total",
            &[("code", "200")]
        ),
        Some(8.0)
    );
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_requests_total",
            &[("code", "429")]
        ),
        Some(32.0)
    );
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_invocations_total",
            &[("outcome", "ran")]
        ),
        Some(1.0)
    );
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_invocations_total",
            &[("outcome", "reused")]
        ),
        Some(7.0)
    );
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_probes_total",
            &[("result", "success")]
        ),
        Some(8.0)
    );
    // The fake's invocation consumed 9 input tokens, counted once.
    assert_eq!(
        od(
            "bedrock_access_exporter_ondemand_invoke_tokens_total",
            &[("direction", "input")]
        ),
        Some(9.0)
    );
    assert_eq!(
        od("bedrock_access_exporter_ondemand_requests_in_flight", &[]),
        Some(0.0)
    );
    r.stop().await;
}

#[tokio::test]
async fn a_probe_reuses_the_background_schedules_fresh_invocation_and_says_so() {
    let name = quiet_name("fresh", 1, Duration::from_secs(120));
    let r = Running::start(
        &format!("{name} us-east-1 {MODEL}\n"),
        Arc::new(slow_prober),
    )
    .await;
    // The background schedule invoked a moment ago.
    let k = key(&name, "us-east-1", MODEL);
    assert!(r.app.metrics.record(all_passed(&k, true)).is_some());
    let a = r
        .get(&format!("/probe?target={name}&debug=true"), &[])
        .await;
    assert_eq!(a.status().as_u16(), 200);
    assert!(header(&a, "x-probe-invoke-reused").is_some());
    let trace = a.text().await.unwrap_or_default();
    assert!(
        trace.contains("invoke: reused from the background probe at "),
        "{trace}"
    );
    assert!(trace.contains("[ok ] invoke"), "{trace}");
    let calls = r.prober().calls();
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].run_invoke, "no second paid invocation");
    r.stop().await;
}

/// Every layer passes after a second, the streaming layer with invoke.
fn streaming_prober(_c: Arc<Config>) -> futures::future::BoxFuture<'static, FakeProber> {
    Box::pin(async {
        FakeProber::owned(Duration::from_secs(1), |k: &TupleKey, run_invoke: bool| {
            let mut r = all_passed(k, run_invoke);
            if run_invoke {
                r.layers.push(pass(Layer::InvokeStream));
            }
            r
        })
    })
}

#[tokio::test]
async fn a_streaming_tuples_second_probe_reuses_both_paid_layers() {
    let name = quiet_name("stream", 1, Duration::from_secs(120));
    let r = Running::start(
        &format!("{name} us-east-1 {MODEL} stream\n"),
        Arc::new(streaming_prober),
    )
    .await;
    let path = format!("/probe?target={name}&debug=true");
    let first = r.get(&path, &[]).await;
    assert_eq!(first.status().as_u16(), 200);
    assert!(header(&first, "x-probe-invoke-reused").is_none());
    let second = r.get(&path, &[]).await;
    assert_eq!(second.status().as_u16(), 200);
    assert!(header(&second, "x-probe-invoke-reused").is_some());
    let trace = second.text().await.unwrap_or_default();
    assert!(trace.contains("[ok ] invoke_stream"), "{trace}");
    assert!(
        trace.contains("invoke: reused from the /probe at "),
        "{trace}"
    );
    let calls = r.prober().calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].run_invoke);
    assert!(!calls[1].run_invoke, "no second paid invocation");
    let gauges = r
        .get(&format!("/probe?target={name}"), &[])
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        gauges
            .lines()
            .any(|l| l.contains("layer=\"invoke_stream\"") && l.ends_with(" 1")),
        "{gauges}"
    );
    r.stop().await;
}

#[tokio::test]
async fn head_of_probe_probes_nothing() {
    let name = quiet_name("head", 1, Duration::from_secs(120));
    let r = Running::start(
        &format!("{name} us-east-1 {MODEL}\n"),
        Arc::new(slow_prober),
    )
    .await;
    let a = r
        .client
        .head(format!("{}/probe?target={name}", r.base))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(a.status().as_u16(), 405);
    assert_eq!(header(&a, "allow").as_deref(), Some("GET"));
    assert!(r.prober().calls().is_empty());
    r.stop().await;
}

#[tokio::test]
async fn a_scrapers_timeout_less_the_offset_bounds_a_probe_that_would_hang() {
    let name = quiet_name("scrape", 1, Duration::from_secs(120));
    let r = Running::start(
        &format!("{name} us-east-1 {MODEL}\n"),
        Arc::new(stuck_prober),
    )
    .await;
    let started = Instant::now();
    let a = r
        .get(
            &format!("/probe?target={name}&debug=true"),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(a.status().as_u16(), 200);
    let trace = a.text().await.unwrap_or_default();
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    assert!(
        trace.contains("probe did not finish within 1.100s (its budget)"),
        "{trace}"
    );
    let bad = r
        .get(
            &format!("/probe?target={name}"),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 400);
    r.stop().await;
}

#[tokio::test]
async fn the_tuples_of_one_probe_hold_at_most_half_of_the_probe_pool() {
    let name = quiet_name("wide", 12, Duration::from_secs(60));
    let lines: String = (0..12)
        .map(|i| format!("{name} us-east-1 m.model-{i}\n"))
        .collect();
    let r = Running::start(&lines, Arc::new(slow_prober)).await;
    let a = r.get(&format!("/probe?target={name}"), &[]).await;
    assert_eq!(a.status().as_u16(), 200);
    let body = a.text().await.unwrap_or_default();
    assert_eq!(
        samples(&body, "bedrock_access_probe_success", &[]).len(),
        12
    );
    let p = r.prober();
    assert_eq!(p.calls().len(), 12);
    let most = p.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 4, "half of [probe] concurrency = 8");
    // Each tuple's layers came back.
    assert_eq!(
        samples(
            &body,
            "bedrock_access_layer_success",
            &[("layer", Layer::Invoke.as_str())]
        )
        .len(),
        12
    );
    r.stop().await;
}
