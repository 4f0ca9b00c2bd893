//! The HTTP interface on a real loopback listener, with a fake prober and a fake configuration
//! loader (see `runtime_support::load_lines`).

mod runtime_support;

use std::path::PathBuf;
use std::sync::Arc;

use bedrock_access_exporter::app::{App, ProberFactory};
use bedrock_access_exporter::config::Config;
use bedrock_access_exporter::daemon::serve;
use bedrock_access_exporter::metrics::Metrics;
use runtime_support::*;
use tokio_util::sync::CancellationToken;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

struct Running {
    app: Arc<App<FakeProber>>,
    base: String,
    stop: CancellationToken,
    config: PathBuf,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Running {
    async fn start(lines: &str, apply: bool) -> Running {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let config = dir.path().join("config.txt");
        if let Err(e) = std::fs::write(&config, lines) {
            panic!("write: {e}");
        }
        let metrics = match Metrics::new() {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("registry: {e}"),
        };
        let factory: ProberFactory<FakeProber> =
            Arc::new(|_c: Arc<Config>| Box::pin(async { scripted() }));
        let app = App::new(metrics, config.clone(), load_lines, factory);
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let base = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(e) => panic!("addr: {e}"),
        };
        let stop = CancellationToken::new();
        serve(Arc::clone(&app), listener, stop.clone());
        if apply {
            match app.load() {
                Ok(c) => app.apply(c).await,
                Err(e) => panic!("config: {e:?}"),
            }
        }
        Running {
            app,
            base,
            stop,
            config,
            _dir: dir,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client for loopback"),
        }
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        match self.client.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let ctype = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                (status, ctype, r.text().await.unwrap_or_default())
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    async fn post(&self, path: &str) -> (u16, String) {
        match self
            .client
            .post(format!("{}{path}", self.base))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => panic!("POST {path}: {e}"),
        }
    }

    async fn stop(self) {
        self.app.shutdown().await;
        self.stop.cancel();
    }
}

const TWO_TARGETS: &str = "prod us-east-1 anthropic.claude-3-haiku-20240307-v1:0\nprod us-west-2 anthropic.claude-3-haiku-20240307-v1:0\nstaging us-east-1 anthropic.claude-3-haiku-20240307-v1:0\n";

#[tokio::test]
async fn the_exporter_is_healthy_at_once_but_ready_only_once_its_configuration_runs() {
    let r = Running::start(TWO_TARGETS, false).await;
    assert_eq!(r.get("/-/healthy").await.0, 200);
    assert_eq!(r.get("/-/ready").await.0, 503);
    match r.app.load() {
        Ok(c) => r.app.apply(c).await,
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(r.get("/-/ready").await.0, 200);
    r.stop().await;
}

#[tokio::test]
async fn metrics_are_served_in_the_text_format_even_when_openmetrics_is_asked_for() {
    let r = Running::start(TWO_TARGETS, true).await;
    let resp = r
        .client
        .get(format!("{}/metrics", r.base))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await;
    let resp = match resp {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        value(&body, "bedrock_access_exporter_tuples", &[]),
        Some(3.0)
    );
    assert!(body.contains("# TYPE bedrock_access_exporter_schedule_lag_seconds histogram"));
    r.stop().await;
}

#[tokio::test]
async fn probing_an_unknown_target_is_a_404_with_a_clear_text() {
    let r = Running::start(TWO_TARGETS, true).await;
    let (status, _, body) = r.get("/probe?target=nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown target \"nope\""), "{body}");
    r.stop().await;
}

#[tokio::test]
async fn bad_probe_parameters_are_a_400() {
    let r = Running::start(TWO_TARGETS, true).await;
    for q in [
        "/probe",
        "/probe?target=prod&region=mars-north-1",
        "/probe?target=prod&model=nope",
        "/probe?target=prod&debug=maybe",
        "/probe?target=prod&module=x",
    ] {
        let (status, _, body) = r.get(q).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
    r.stop().await;
}

#[tokio::test]
async fn probing_a_target_returns_only_its_fresh_metrics() {
    let r = Running::start(TWO_TARGETS, true).await;
    let (status, ctype, body) = r.get("/probe?target=prod").await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"));
    assert_eq!(samples(&body, "bedrock_access_probe_success", &[]).len(), 2);
    assert!(!body.contains("target=\"staging\""));
    assert!(
        !body.contains("bedrock_access_exporter_"),
        "only the target's metrics"
    );
    assert_eq!(
        value(
            &body,
            "bedrock_access_failure_info",
            &[
                ("aws_region", "us-west-2"),
                ("reason", "trust_policy_denied")
            ]
        ),
        Some(1.0)
    );
    // One region only.
    let (_, _, body) = r.get("/probe?target=prod&region=us-east-1").await;
    assert_eq!(samples(&body, "bedrock_access_probe_success", &[]).len(), 1);
    assert!(body.contains("aws_region=\"us-east-1\""));
    r.stop().await;
}

#[tokio::test]
async fn the_debug_trace_shows_each_layer_call_outcome_and_reason() {
    let r = Running::start(TWO_TARGETS, true).await;
    let (status, _, body) = r
        .get(&format!(
            "/probe?target=prod&region=us-east-1&model={MODEL}&debug=true"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("credentials call"), "{body}");
    assert!(
        body.contains("trust_policy_denied (class access)"),
        "{body}"
    );
    assert!(body.contains("AccessDenied"));
    assert!(body.contains("req-0001"));
    assert!(body.contains("model_access  not reached"), "{body}");
    assert!(body.contains("fix: "), "{body}");
    assert!(!body.contains("secret-external-id"));
    r.stop().await;
}

#[tokio::test]
async fn an_invalid_reload_is_a_500_listing_every_problem_and_the_old_configuration_stays() {
    let r = Running::start(TWO_TARGETS, true).await;
    if let Err(e) = std::fs::write(
        &r.config,
        "bad targets[0].role_arn not a role ARN\nbad probe.interval below the 10s minimum\n",
    ) {
        panic!("{e}");
    }
    let (status, body) = r.post("/-/reload").await;
    assert_eq!(status, 500);
    assert!(
        body.contains("targets[0].role_arn: not a role ARN"),
        "{body}"
    );
    assert!(
        body.contains("probe.interval: below the 10s minimum"),
        "{body}"
    );
    let (_, _, metrics) = r.get("/metrics").await;
    assert_eq!(
        value(
            &metrics,
            "bedrock_access_exporter_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&metrics, "bedrock_access_exporter_tuples", &[]),
        Some(3.0)
    );
    // The running configuration still answers.
    assert_eq!(r.get("/probe?target=staging").await.0, 200);

    if let Err(e) = std::fs::write(
        &r.config,
        "staging us-east-1 amazon.titan-text-express-v1\n",
    ) {
        panic!("{e}");
    }
    let (status, body) = r.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let (_, _, metrics) = r.get("/metrics").await;
    assert_eq!(
        value(
            &metrics,
            "bedrock_access_exporter_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "bedrock_access_exporter_tuples", &[]),
        Some(1.0)
    );
    assert_eq!(r.get("/probe?target=prod").await.0, 404);
    r.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_reload_needs_post() {
    let r = Running::start(TWO_TARGETS, true).await;
    assert_eq!(r.get("/nope").await.0, 404);
    assert_eq!(r.get("/-/reload").await.0, 405);
    let (status, ctype, body) = r.get("/").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    assert!(
        body.contains(&format!(
            "/probe?target=staging&amp;region=us-east-1&amp;model={}&amp;debug=true",
            MODEL.replace(':', "%3A")
        )),
        "{body}"
    );
    r.stop().await;
}

#[tokio::test]
async fn the_status_api_shows_the_last_background_probe_of_each_tuple_as_json() {
    let r = Running::start(TWO_TARGETS, true).await;
    // Feed the background state directly, as the scheduler would.
    r.app.metrics.record(report(
        &key("prod", "us-west-2", MODEL),
        vec![
            pass(bedrock_access_exporter::reason::Layer::Credentials),
            fail(
                bedrock_access_exporter::reason::Layer::AssumeRole,
                bedrock_access_exporter::reason::Reason::TrustPolicyDenied,
                Some("AccessDenied"),
            ),
        ],
    ));
    let (status, ctype, body) = r.get("/api/v1/status").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"));
    let v: serde_json::Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {body}"),
    };
    let prod = v["tuples"].as_array().and_then(|a| {
        a.iter()
            .find(|t| t["target"] == "prod" && t["aws_region"] == "us-west-2")
    });
    let Some(prod) = prod else {
        panic!("no prod tuple: {body}")
    };
    assert_eq!(prod["success"], false);
    assert_eq!(prod["layers"][1]["reason"], "trust_policy_denied");
    assert_eq!(prod["layers"][1]["class"], "access");
    assert!(!body.contains("secret-external-id"));
    r.stop().await;
}

#[tokio::test]
async fn a_large_exposition_streamed_in_chunks_arrives_whole() {
    let lines: String = (0..600)
        .map(|i| format!("fleet us-east-1 model-{i:04}\n"))
        .collect();
    let r = Running::start(&lines, true).await;
    for i in 0..600 {
        r.app.metrics.record(all_passed(
            &key("fleet", "us-east-1", &format!("model-{i:04}")),
            true,
        ));
    }
    let (status, _, body) = r.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.len() > 3 * 64 * 1024, "{} bytes", body.len());
    assert_eq!(
        samples(&body, "bedrock_access_probe_success", &[]).len(),
        600
    );
    assert_eq!(
        samples(
            &body,
            "bedrock_access_layer_success",
            &[("model_id", "model-0599")]
        )
        .len(),
        4
    );
    // The per-tuple part is byte for byte the one-piece rendering.
    let tuple_part = body
        .find("# HELP bedrock_access_probe_success")
        .map(|i| &body[i..]);
    assert!(
        tuple_part == Some(r.app.metrics.tuples.render().as_str()),
        "streamed body differs from the one-piece rendering"
    );
    r.stop().await;
}

#[tokio::test]
async fn a_scraper_asking_for_gzip_gets_the_same_exposition_at_least_eight_times_smaller() {
    let lines: String = (0..600)
        .map(|i| format!("fleet us-east-1 model-{i:04}\n"))
        .collect();
    let r = Running::start(&lines, true).await;
    for i in 0..600 {
        r.app.metrics.record(all_passed(
            &key("fleet", "us-east-1", &format!("model-{i:04}")),
            true,
        ));
    }
    let scrape = |encoding: Option<&'static str>| {
        let mut request = r.client.get(format!("{}/metrics", r.base));
        if let Some(e) = encoding {
            request = request.header("Accept-Encoding", e);
        }
        async move {
            let response = match request.send().await {
                Ok(resp) => resp,
                Err(e) => panic!("GET /metrics: {e}"),
            };
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (encoding, vary) = (header("content-encoding"), header("vary"));
            let body = response.bytes().await.unwrap_or_default().to_vec();
            (encoding, vary, body)
        }
    };

    // As Prometheus asks: gzip, which decompresses to the exposition.
    let (encoding, vary, gz) = scrape(Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(vary.as_deref(), Some("Accept-Encoding"));
    let mut text = String::new();
    let read =
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text);
    assert!(read.is_ok(), "not a gzip stream: {read:?}");
    let tuple_part = text
        .find("# HELP bedrock_access_probe_success")
        .map(|i| &text[i..]);
    assert!(
        tuple_part == Some(r.app.metrics.tuples.render().as_str()),
        "decompressed body differs from the rendering"
    );
    assert!(
        gz.len() * 8 <= text.len(),
        "gzip body {} bytes for {} bytes of text",
        gz.len(),
        text.len()
    );

    // A client that does not ask, or refuses gzip, gets the text as it is.
    for refused in [None, Some("identity"), Some("gzip;q=0, identity")] {
        let (encoding, vary, plain) = scrape(refused).await;
        assert_eq!(encoding, None, "{refused:?}");
        assert_eq!(vary.as_deref(), Some("Accept-Encoding"));
        let plain = String::from_utf8_lossy(&plain).into_owned();
        assert_eq!(
            samples(&plain, "bedrock_access_probe_success", &[]).len(),
            600,
            "{refused:?}"
        );
    }
    r.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The status page `/` and `/api/v1/status`

use bedrock_access_exporter::config::InvokeMode;
use bedrock_access_exporter::http::status_page;
use bedrock_access_exporter::probe::{LayerResult, LayerStatus};
use bedrock_access_exporter::reason::{Layer, Reason};

fn json_of(body: &str) -> serde_json::Value {
    match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {body}"),
    }
}

fn tuple<'a>(v: &'a serde_json::Value, target: &str, region: &str) -> &'a serde_json::Value {
    let found = v["tuples"].as_array().and_then(|a| {
        a.iter()
            .find(|t| t["target"] == target && t["aws_region"] == region)
    });
    match found {
        Some(t) => t,
        None => panic!("no tuple {target} {region} in {v}"),
    }
}

/// A failed layer (as `runtime_support::fail`) with its own AWS message.
fn failed_with(layer: Layer, reason: Reason, message: &str) -> LayerResult {
    let mut result = fail(layer, reason, Some("AccessDeniedException"));
    if let LayerStatus::Failed(f) = &mut result.status {
        f.message = message.into();
    }
    result
}

#[tokio::test]
async fn the_status_api_gives_every_tuple_its_state_age_five_layers_fix_and_debug_url() {
    let r = Running::start(TWO_TARGETS, true).await;
    r.app.metrics.record(report(
        &key("prod", "us-west-2", MODEL),
        vec![
            pass(Layer::Credentials),
            fail(
                Layer::AssumeRole,
                Reason::TrustPolicyDenied,
                Some("AccessDenied"),
            ),
        ],
    ));
    r.app
        .metrics
        .record(all_passed(&key("staging", "us-east-1", MODEL), true));
    let (status, ctype, body) = r.get("/api/v1/status").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v = json_of(&body);

    let prod = tuple(&v, "prod", "us-west-2");
    assert_eq!(prod["state"], "failing");
    assert_eq!(prod["success"], false);
    assert_eq!(prod["account_id"], "222222222222");
    assert_eq!(prod["role_name"], "bedrock-prober");
    assert_eq!(prod["model_id"], MODEL);
    assert_eq!(prod["expect"], "allow");
    assert_eq!(prod["failed_layer"], "assume_role");
    assert_eq!(prod["reason"], "trust_policy_denied");
    assert_eq!(prod["class"], "access");
    assert!(
        prod["fix"].as_str().is_some_and(|f| f
            .contains("arn:aws:iam::222222222222:role/bedrock-prober")
            && !f.contains('\n')),
        "one-line fix naming the role: {}",
        prod["fix"]
    );
    assert!(prod["probed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(
        prod["age_seconds"]
            .as_f64()
            .is_some_and(|a| (0.0..60.0).contains(&a))
    );
    assert_eq!(
        prod["debug_url"],
        "/probe?target=prod&region=us-west-2&model=anthropic.claude-3-haiku-20240307-v1%3A0&debug=true"
    );
    let layers: Vec<(&str, &str)> = prod["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    (
                        l["layer"].as_str().unwrap_or(""),
                        l["state"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        layers,
        [
            ("credentials", "pass"),
            ("assume_role", "fail"),
            ("model_access", "not_reached"),
            ("invoke", "not_reached"),
            ("invoke_stream", "off")
        ]
    );
    let ar = &prod["layers"][1];
    assert_eq!(ar["reason"], "trust_policy_denied");
    assert_eq!(ar["class"], "access");
    assert_eq!(ar["error_code"], "AccessDenied");
    assert_eq!(ar["request_id"], "req-0001");
    assert_eq!(ar["http_status"], 403);
    assert_eq!(
        ar["message"],
        "User is not authorized to perform the action"
    );
    assert!(ar["fix"].as_str().is_some_and(|f| !f.is_empty()));
    assert!(prod["layers"][0]["reason"].is_null());

    let staging = tuple(&v, "staging", "us-east-1");
    assert_eq!(staging["state"], "ok");
    assert!(staging["reason"].is_null() && staging["fix"].is_null());

    assert_eq!(v["summary"]["tuples"], 3);
    assert!(v["summary"]["failing"].as_u64().is_some_and(|n| n >= 1));
    assert!(v["summary"]["last_probe_at"].is_string());
    assert!(!body.contains("secret-external-id"));
    r.stop().await;
}

#[tokio::test]
async fn tuples_without_a_finished_probe_are_listed_as_pending_first_probe() {
    let r = Running::start(TWO_TARGETS, true).await;
    let (_, _, body) = r.get("/api/v1/status").await;
    let v = json_of(&body);
    let Some(tuples) = v["tuples"].as_array() else {
        panic!("{body}")
    };
    assert_eq!(tuples.len(), 3, "every configured tuple has a row: {body}");
    let prober = match r.app.current() {
        Some(g) => g.prober.clone(),
        None => panic!("no configuration"),
    };
    let mut pending = 0;
    for t in tuples {
        let k = key(
            t["target"].as_str().unwrap_or(""),
            t["aws_region"].as_str().unwrap_or(""),
            t["model_id"].as_str().unwrap_or(""),
        );
        if t["state"] == "pending" {
            pending += 1;
            assert!(
                t["success"].is_null() && t["probed_at"].is_null() && t["age_seconds"].is_null()
            );
            assert!(
                t["layers"].as_array().is_some_and(|l| l.len() == 5
                    && l[..4].iter().all(|l| l["state"] == "not_reached")
                    && l[4]["layer"] == "invoke_stream"
                    && l[4]["state"] == "off"),
                "{t}"
            );
            // Labels come from the configuration before any probe.
            assert_eq!(t["account_id"], "222222222222");
            assert_eq!(t["role_name"], "bedrock-prober");
        } else {
            assert!(
                !prober.calls_for(&k).is_empty(),
                "{k:?} shows a result the prober never produced"
            );
        }
    }
    assert!(
        pending > 0,
        "hour-long intervals leave tuples unprobed: {body}"
    );
    assert_eq!(v["summary"]["pending"], pending);
    let (_, _, html) = r.get("/").await;
    assert!(html.contains("data-state=\"pending\""), "{html}");
    assert!(html.contains("pending first probe"), "{html}");
    r.stop().await;
}

#[tokio::test]
async fn a_target_named_like_a_script_tag_and_an_html_message_come_out_inert() {
    const EVIL: &str = "<script>alert(1)</script>";
    let lines = format!("{EVIL} us-east-1 {MODEL}\n");
    let r = Running::start(&lines, true).await;
    r.app.metrics.record(report(
        &key(EVIL, "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            failed_with(
                Layer::Invoke,
                Reason::BedrockNotPermitted,
                "<img src=x onerror=alert(2)> \"quoted\" & 'single'",
            ),
        ],
    ));
    let (status, ctype, html) = r.get("/").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("data-target=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(
        html.contains(
            "&lt;img src=x onerror=alert(2)&gt; &quot;quoted&quot; &amp; &#39;single&#39;"
        )
    );
    assert!(
        html.contains("href=\"/probe?target=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;region=us-east-1&amp;model=anthropic.claude-3-haiku-20240307-v1%3A0&amp;debug=true\""),
        "{html}"
    );
    let (_, _, body) = r.get("/api/v1/status").await;
    let v = json_of(&body);
    let t = tuple(&v, EVIL, "us-east-1");
    assert_eq!(t["layers"][3]["state"], "fail");
    assert_eq!(
        t["debug_url"],
        "/probe?target=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&region=us-east-1&model=anthropic.claude-3-haiku-20240307-v1%3A0&debug=true"
    );
    // The link works: it names the target back.
    let url = t["debug_url"].as_str().unwrap_or("");
    let (status, _, trace) = r.get(url).await;
    assert_eq!(status, 200, "{trace}");
    assert!(trace.contains(EVIL), "plain text keeps the name: {trace}");
    r.stop().await;
}

#[tokio::test]
async fn failing_rows_come_first_and_the_summary_counts_them_by_class() {
    let lines = format!(
        "aaa us-east-1 {MODEL}\nbbb us-east-1 {MODEL}\nccc us-east-1 {MODEL}\nddd us-east-1 {MODEL}\n"
    );
    let r = Running::start(&lines, true).await;
    r.app
        .metrics
        .record(all_passed(&key("aaa", "us-east-1", MODEL), true));
    r.app.metrics.record(report(
        &key("bbb", "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            failed_with(Layer::ModelAccess, Reason::Throttled, "Rate exceeded"),
            pass(Layer::Invoke),
        ],
    ));
    r.app
        .metrics
        .record(all_passed(&key("ccc", "us-east-1", MODEL), true));
    r.app.metrics.record(report(
        &key("ddd", "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            failed_with(Layer::ModelAccess, Reason::ModelNotInRegion, "not offered"),
            failed_with(Layer::Invoke, Reason::ModelNotInRegion, "invalid model"),
        ],
    ));
    let (_, _, body) = r.get("/api/v1/status").await;
    let v = json_of(&body);
    let order: Vec<&str> = v["tuples"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["target"].as_str().unwrap_or(""))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        order,
        ["bbb", "ddd", "aaa", "ccc"],
        "failing first, stable otherwise"
    );
    let s = &v["summary"];
    assert_eq!(s["tuples"], 4);
    assert_eq!(s["failing"], 2);
    assert_eq!(s["ok"], 2);
    assert_eq!(s["failing_by_class"]["transient"], 1);
    assert_eq!(s["failing_by_class"]["configuration"], 1);
    assert_eq!(s["failing_by_class"]["access"], 0);
    let ddd = tuple(&v, "ddd", "us-east-1");
    assert_eq!(ddd["failed_layer"], "model_access");
    assert!(
        ddd["fix"]
            .as_str()
            .is_some_and(|f| f.contains(MODEL) && f.contains("us-east-1")),
        "{}",
        ddd["fix"]
    );
    let (_, _, html) = r.get("/").await;
    let pos = |t: &str| {
        html.find(&format!("data-target=\"{t}\""))
            .unwrap_or(usize::MAX)
    };
    assert!(pos("bbb") < pos("ddd") && pos("ddd") < pos("aaa") && pos("aaa") < pos("ccc"));
    assert!(
        html.contains("<b>2</b> failing (1 configuration, 1 transient)"),
        "{html}"
    );
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(!html.contains("<script"));
    r.stop().await;
}

#[tokio::test]
async fn a_guardrail_that_holds_is_denied_as_expected_and_one_that_lets_access_through_is_failing()
{
    let lines = format!("guard us-east-1 {MODEL} deny\nguard us-west-2 {MODEL} deny\n");
    let r = Running::start(&lines, true).await;
    r.app.metrics.record(report(
        &key("guard", "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            failed_with(
                Layer::Invoke,
                Reason::ScpDenied,
                "explicit deny in a service control policy",
            ),
        ],
    ));
    r.app
        .metrics
        .record(all_passed(&key("guard", "us-west-2", MODEL), true));
    let (_, _, body) = r.get("/api/v1/status").await;
    let v = json_of(&body);
    let held = tuple(&v, "guard", "us-east-1");
    assert_eq!(held["state"], "denied_as_expected");
    assert_eq!(held["expect"], "deny");
    assert_eq!(held["success"], true);
    assert_eq!(held["reason"], "scp_denied");
    assert!(held["fix"].is_null(), "a guardrail that holds needs no fix");
    let broken = tuple(&v, "guard", "us-west-2");
    assert_eq!(broken["state"], "failing");
    assert!(broken["reason"].is_null());
    assert!(
        broken["fix"]
            .as_str()
            .is_some_and(|f| f.contains("expects it to be denied"))
    );
    assert_eq!(v["summary"]["failing_by_class"]["unexpected_access"], 1);
    assert_eq!(v["summary"]["denied_as_expected"], 1);
    let (_, _, html) = r.get("/").await;
    assert!(html.contains("denied as expected"));
    r.stop().await;
}

#[test]
fn a_layer_turned_off_by_configuration_is_off_not_not_reached() {
    let mut t = target(
        "embeddings",
        &["us-east-1"],
        &[MODEL],
        std::time::Duration::from_secs(300),
    );
    t.settings.invoke = InvokeMode::None;
    let mut quiet = target(
        "quiet",
        &["us-east-1"],
        &[MODEL],
        std::time::Duration::from_secs(300),
    );
    quiet.settings.model_access = false;
    let cfg = config(vec![t, quiet]);
    let mut st = report(
        &key("embeddings", "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
        ],
    );
    st.invoke_ran = false;
    let state = bedrock_access_exporter::metrics::TupleState {
        key: st.key.clone(),
        expect: bedrock_access_exporter::config::Expect::Allow,
        success: true,
        last_success: Some(st.finished_at),
        last_invoke: None,
        report: st,
    };
    let view = status_page::build(Some(&cfg), &[state], std::time::SystemTime::now());
    let v = status_page::render_json(&view);
    let emb = tuple(&v, "embeddings", "us-east-1");
    assert_eq!(emb["state"], "ok");
    assert_eq!(emb["layers"][3]["state"], "off");
    let quiet = tuple(&v, "quiet", "us-east-1");
    assert_eq!(quiet["state"], "pending");
    assert_eq!(quiet["layers"][2]["state"], "off");
    assert_eq!(quiet["layers"][3]["state"], "not_reached");
    let html = status_page::render_html(&view);
    assert!(
        html.contains("data-layer=\"invoke\" data-state=\"off\""),
        "{html}"
    );
}

#[tokio::test]
async fn probe_errors_say_what_is_wrong_in_plain_text() {
    let r = Running::start(TWO_TARGETS, true).await;
    for (q, status, text) in [
        (
            "/probe?target=nope&debug=true",
            404,
            "unknown target \"nope\": not in the configuration\n",
        ),
        ("/probe", 400, "missing parameter \"target\"\n"),
        (
            "/probe?target=prod&region=mars-north-1",
            400,
            "region \"mars-north-1\" is not configured for target \"prod\"\n",
        ),
        (
            "/probe?target=prod&model=nope",
            400,
            "model \"nope\" is not configured for target \"prod\"\n",
        ),
        (
            "/probe?target=prod&account=999999999999",
            400,
            "account \"999999999999\" is not probed by target \"prod\"\n",
        ),
        (
            "/probe?target=prod&debug=maybe",
            400,
            "parameter \"debug\" must be true or false\n",
        ),
        (
            "/probe?target=prod&target=staging",
            400,
            "parameter \"target\" given twice\n",
        ),
    ] {
        let (got, ctype, body) = r.get(q).await;
        assert_eq!((got, body.as_str()), (status, text), "{q}");
        assert!(ctype.starts_with("text/plain"), "{q}: {ctype}");
    }
    r.stop().await;
}

#[tokio::test]
async fn the_debug_trace_shows_for_each_layer_the_call_its_outcome_reason_and_fix() {
    let r = Running::start(TWO_TARGETS, true).await;
    let (status, _, body) = r
        .get(&format!(
            "/probe?target=prod&region=us-west-2&model={MODEL}&debug=true"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("[ok ] credentials   passed in "), "{body}");
    assert!(body.contains(": credentials call"), "{body}");
    assert!(body.contains("[ X ] assume_role   FAILED in "), "{body}");
    assert!(
        body.contains("reason: trust_policy_denied (class access)"),
        "{body}"
    );
    assert!(
        body.contains(
            "fix: the trust policy of arn:aws:iam::222222222222:role/bedrock-prober must allow"
        ),
        "the fix names the role: {body}"
    );
    assert!(
        body.contains("[ - ] invoke        not reached: an earlier layer failed"),
        "{body}"
    );
    assert!(
        body.contains("probe_success = 0 (a layer failed)"),
        "{body}"
    );
    r.stop().await;
}

#[tokio::test]
async fn before_the_first_configuration_the_status_says_so_instead_of_failing() {
    let r = Running::start(TWO_TARGETS, false).await;
    let (status, _, body) = r.get("/api/v1/status").await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["configured"], false);
    assert_eq!(v["tuples"].as_array().map(Vec::len), Some(0));
    assert!(v["summary"]["last_probe_at"].is_null());
    let (status, _, html) = r.get("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("No configuration loaded yet."), "{html}");
    r.stop().await;
}
