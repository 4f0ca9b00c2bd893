//! End to end: the hostile `/probe` client meets the real binary. Two hundred concurrent
//! `/probe` requests for one tuple pay for one invocation (counted where it lands: a relay
//! between the exporter and the simulator counts every Converse and InvokeModel request); the
//! requests beyond the in-flight bound are told to retry later; `HEAD` invokes nothing; a
//! scraper's timeout bounds the probe; and `/metrics` shows what `/probe` spent.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bedrock_access_exporter::schedule::target_phase;
use common::{Exporter, Sim, repo};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// A TCP relay in front of the simulator that counts the paid calls passing through it
/// (`POST /model/…/converse` and `POST /model/…/invoke` request lines).
struct Relay {
    addr: SocketAddr,
    invocations: Arc<AtomicUsize>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let invocations = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&invocations);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (Ok(client_r), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let count = Arc::clone(&count);
                std::thread::spawn(move || pump(server_r, client, None));
                std::thread::spawn(move || pump(client_r, server, Some(count)));
            }
        });
        Relay { addr, invocations }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn invocations(&self) -> usize {
        self.invocations.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to`; with `count`, counts the invocation request lines on the way.
fn pump(mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicUsize>>) {
    let mut buf = [0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(count) = &count {
            for &b in &buf[..n] {
                if b == b'\n' {
                    let text = String::from_utf8_lossy(&line);
                    if text.contains("POST /model/")
                        && (text.contains("/converse HTTP/1.1")
                            || text.contains("/invoke HTTP/1.1"))
                    {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    line.clear();
                } else {
                    line.push(b);
                    if line.len() > 32 * 1024 {
                        line.drain(..16 * 1024);
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A target name whose first background probe comes after the test (hourly, one tuple).
fn quiet_name(prefix: &str) -> String {
    (0..1000)
        .map(|i| format!("{prefix}-{i}"))
        .find(|n| target_phase(n, Duration::from_secs(3600), 1) > Duration::from_secs(600))
        .unwrap_or_else(|| panic!("no quiet name for {prefix}"))
}

fn config(burst: &str, slow: &str) -> String {
    let target = |name: &str, region: &str| {
        format!(
            "\n[[targets]]\nname = \"{name}\"\nsource = \"platform\"\nrole_arn = \"arn:aws:iam::222222222222:role/BedrockProbeRole\"\nexternal_id = \"demo-external-id\"\nregions = [\"{region}\"]\nmodels = [\"{HAIKU}\"]\n"
        )
    };
    format!(
        "[probe]\ninterval = \"1h\"\ntimeout = \"10s\"\n\n[probe_endpoint]\nmax_in_flight = 4\n\n[[sources]]\nname = \"platform\"\nprofile = \"demo-platform\"\n{}{}",
        target(burst, "us-east-1"),
        target(slow, "us-west-2")
    )
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    reused: Option<String>,
    body: String,
}

async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = client.get(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let h = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Answer {
        status: r.status().as_u16(),
        retry_after: h("retry-after"),
        reused: h("x-probe-invoke-reused"),
        body: r.text().await.unwrap_or_default(),
    }
}

#[test]
fn two_hundred_concurrent_probes_of_one_tuple_pay_for_one_invocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Converse answers after a second, so the burst overlaps the one invocation.
    let scenario = dir.path().join("scenario.toml");
    let mut text =
        std::fs::read_to_string(repo("config/demo/scenario.toml")).expect("demo scenario");
    text.push_str(&format!(
        "\n[[faults]]\nservice = \"bedrock-runtime\"\nmodel = \"{HAIKU}\"\nkind = \"latency\"\nlatency = \"1s\"\n"
    ));
    std::fs::write(&scenario, text).expect("write scenario");
    let sim = Sim::start(dir.path(), &scenario);
    let relay = Relay::start(sim.addr);
    let (burst, slow) = (quiet_name("burst"), quiet_name("slow"));
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(&cfg, config(&burst, &slow)).expect("write config");
    let exporter = Exporter::start(
        dir.path(),
        &cfg,
        &repo("config/demo/aws-config"),
        &relay.url(),
    );
    let base = format!("http://{}", exporter.addr);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    // HEAD (a monitoring tool checking that the URL exists) invokes nothing.
    for _ in 0..3 {
        let r = rt
            .block_on(client.head(format!("{base}/probe?target={burst}")).send())
            .expect("HEAD");
        assert_eq!(r.status().as_u16(), 405);
    }
    assert_eq!(relay.invocations(), 0, "HEAD /probe invoked a model");

    // The burst.
    let url = format!("{base}/probe?target={burst}");
    let answers: Vec<Answer> = rt.block_on(futures::future::join_all(
        (0..200).map(|_| get(&client, &url, &[])),
    ));
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(ok.len() + refused.len(), 200, "only 200 and 429 answers");
    assert!(!ok.is_empty());
    assert!(
        refused.len() >= 50,
        "only {} of 200 refused with 4 in flight",
        refused.len()
    );
    assert!(
        refused
            .iter()
            .all(|a| a.retry_after.as_deref() == Some("1")),
        "every 429 says when to retry"
    );
    assert_eq!(
        relay.invocations(),
        1,
        "200 concurrent /probe of one tuple paid for more than one invocation"
    );
    assert_eq!(
        ok.iter().filter(|a| a.reused.is_some()).count(),
        ok.len() - 1,
        "every answer but the first reused the invocation"
    );
    for a in &ok {
        let m = common::Metrics::parse(&a.body);
        assert_eq!(
            m.value("bedrock_access_layer_success", &[("layer", "invoke")]),
            Some(1.0),
            "{}",
            a.body
        );
        assert!(!a.body.contains("_total"), "gauges only: {}", a.body);
    }

    // A repeat within invoke_interval reuses it too.
    let again = rt.block_on(get(&client, &url, &[]));
    assert_eq!(again.status, 200);
    assert!(
        again
            .reused
            .as_deref()
            .is_some_and(|h| h.starts_with("1 of 1 tuple(s)")),
        "{:?}",
        again.reused
    );
    assert_eq!(relay.invocations(), 1);

    // What /probe spent is on /metrics, for rate().
    let m = exporter.scrape();
    let v = |name: &str, want: &[(&str, &str)]| m.value(name, want).unwrap_or(-1.0);
    assert_eq!(
        v(
            "bedrock_access_exporter_ondemand_requests_total",
            &[("code", "429")]
        ),
        refused.len() as f64
    );
    assert_eq!(
        v(
            "bedrock_access_exporter_ondemand_requests_total",
            &[("code", "405")]
        ),
        3.0
    );
    assert_eq!(
        v(
            "bedrock_access_exporter_ondemand_invocations_total",
            &[("outcome", "ran")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "bedrock_access_exporter_ondemand_invocations_total",
            &[("outcome", "reused")]
        ),
        ok.len() as f64
    );
    assert!(
        v(
            "bedrock_access_exporter_ondemand_invoke_tokens_total",
            &[("direction", "input")]
        ) > 0.0
    );

    // A scraper that gives up after 1 s gets its answer before then; the invoke layer that
    // did not answer in the 0.5 s budget says timeout.
    let started = Instant::now();
    let slow_trace = rt.block_on(get(
        &client,
        &format!("{base}/probe?target={slow}&debug=true"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
    ));
    let took = started.elapsed();
    assert_eq!(slow_trace.status, 200, "{}", slow_trace.body);
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    assert!(
        slow_trace.body.contains("[ X ] invoke") && slow_trace.body.contains("reason: timeout"),
        "{}",
        slow_trace.body
    );
}
