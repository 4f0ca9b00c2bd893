//! The HTTP interface on a real loopback listener, with a fake prober and a fake configuration
//! loader (see `runtime_support::load_lines`).

mod runtime_support;

use std::path::PathBuf;
use std::sync::Arc;

use bedrock_access_exporter::config::Config;
use bedrock_access_exporter::daemon::{App, ProberFactory, serve};
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
            client: reqwest::Client::new(),
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
