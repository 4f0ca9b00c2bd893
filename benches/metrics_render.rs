//! `/metrics` rendering with 10,000 tuples of realistic reports (≈250k series). Target: < 50 ms.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};

use bedrock_access_exporter::config::{
    Config, Expect, InvokeMode, ProbeSettings, Source, Target, TupleKey,
};
use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::probe::{
    Availability, Failure, LayerResult, LayerStatus, ProbeReport,
};
use bedrock_access_exporter::reason::{Layer, Reason};

const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"];
const MODELS: [&str; 5] = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-8b-instruct-v1:0",
    "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
];

fn settings() -> ProbeSettings {
    ProbeSettings {
        interval: Duration::from_secs(300),
        timeout: Duration::from_secs(30),
        concurrency: 8,
        invoke: InvokeMode::Converse,
        invoke_interval: Duration::from_secs(300),
        model_access: true,
        session_name: "bedrock-access-exporter".into(),
        session_duration: Duration::from_secs(900),
        max_tokens: 1,
        expect: Expect::Allow,
        stream: false,
        service_tier: None,
    }
}

fn layer(layer: Layer, failed: Option<Reason>) -> LayerResult {
    LayerResult {
        layer,
        status: match failed {
            None => LayerStatus::Passed,
            Some(reason) => LayerStatus::Failed(Failure {
                reason,
                error_code: Some("AccessDeniedException".into()),
                http_status: Some(403),
                request_id: Some("0f6b7c1e-1111-2222-3333-444455556666".into()),
                message: "not authorized".into(),
            }),
        },
        duration: Duration::from_millis(87),
        call: String::new(),
    }
}

/// 500 targets × 4 regions × 5 models = 10,000 tuples; every 7th fails at invoke, every 13th
/// at assume_role.
fn populated() -> Metrics {
    let targets: Vec<Target> = (0..500)
        .map(|i| Target {
            name: format!("team-{i:03}-inference"),
            source: "default".into(),
            role_arn: Some(format!(
                "arn:aws:iam::{:012}:role/bedrock-prober",
                100_000_000_000u64 + i
            )),
            external_id: None,
            regions: REGIONS.iter().map(|s| s.to_string()).collect(),
            models: MODELS.iter().map(|s| s.to_string()).collect(),
            settings: settings(),
            accounts: Default::default(),
        })
        .collect();
    let config = Config {
        path: PathBuf::from("bench.toml"),
        defaults: settings(),
        sources: vec![Source {
            name: "default".into(),
            profile: None,
            expected_account: None,
            api_key: None,
        }],
        targets,
        limits: Default::default(),
        probe_endpoint: Default::default(),
    };
    let metrics = match Metrics::new() {
        Ok(m) => m,
        Err(e) => panic!("registry: {e}"),
    };
    metrics.apply_config(&config);
    for (n, (key, target)) in config.tuples().into_iter().enumerate() {
        let layers = if n % 13 == 0 {
            vec![
                layer(Layer::Credentials, None),
                layer(Layer::AssumeRole, Some(Reason::TrustPolicyDenied)),
            ]
        } else {
            vec![
                layer(Layer::Credentials, None),
                layer(Layer::AssumeRole, None),
                layer(Layer::ModelAccess, None),
                layer(
                    Layer::Invoke,
                    (n % 7 == 0).then_some(Reason::ModelAccessNotGranted),
                ),
            ]
        };
        let reached = layers.len() > 2;
        let report = ProbeReport {
            key: TupleKey { ..key },
            account_id: target.role_account().unwrap_or("").to_string(),
            role_name: target.role_name().to_string(),
            layers,
            availability: reached.then(|| Availability {
                agreement: "AVAILABLE".into(),
                authorization: "AUTHORIZED".into(),
                entitlement: "AVAILABLE".into(),
                region: "AVAILABLE".into(),
            }),
            tokens: reached.then_some((12, 1)),
            invoke_ran: reached,
            finished_at: SystemTime::now(),
            lifecycle: None,
        };
        metrics.record(report);
    }
    metrics
}

fn bench(c: &mut Criterion) {
    let metrics = populated();
    let text = metrics.render();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "metrics_render: {} tuples, {series} series, {} bytes",
        metrics.tuples.len(),
        text.len()
    );
    let mut g = c.benchmark_group("metrics");
    g.sample_size(20);
    // What `/metrics` does: snapshot under the lock, then write 64 KiB chunks (each dropped
    // after being written, as the HTTP body does).
    g.bench_function("scrape_10k_tuples_chunked", |b| {
        b.iter(|| {
            metrics
                .exposition()
                .into_chunks(64 * 1024)
                .map(|c| std::hint::black_box(c).len())
                .sum::<usize>()
        })
    });
    // The whole exposition as one string (as `/probe` and tests use it).
    g.bench_function("render_10k_tuples_string", |b| b.iter(|| metrics.render()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
