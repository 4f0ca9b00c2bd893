//! The optional fifth layer, `invoke_stream`, end to end: the real binary probes the simulator
//! (through the standard AWS settings only) with `stream = true` on some targets, and
//! `/metrics`, `/probe?debug=true`, `/api/v1/status` and `check-config` tell what a streaming
//! chat application would live through: a role allowed to invoke but not to stream fails only
//! `invoke_stream`; an error event inside an open stream is classified like the same error
//! before it; streamed tokens are counted; a target without `stream` has no series of the layer.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{BIN, Lab, Metrics};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const MISTRAL: &str = "mistral.mistral-large-2402-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const EMBED: &str = "amazon.titan-embed-text-v2:0";

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIASTREAMPROBER0001", secret = "streamProberSecret000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "StreamRole"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream","bedrock:Get*"],"Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "InvokeOnlyRole"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:Get*"],"Resource":"*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]
[[models]]
id = "mistral.mistral-large-2402-v1:0"
provider = "Mistral AI"
regions = ["us-east-1"]
[[models]]
id = "meta.llama3-8b-instruct-v1:0"
provider = "Meta"
regions = ["us-east-1"]
[[models]]
id = "amazon.titan-embed-text-v2:0"
provider = "Amazon"
regions = ["us-east-1"]
output_modalities = ["EMBEDDING"]

# The model's stream breaks after its first event.
[[faults]]
service = "bedrock-runtime"
model = "mistral.mistral-large-2402-v1:0"
kind = "stream_error"
exception = "modelStreamErrorException"

# The account's daily token quota runs out in the middle of a stream.
[[faults]]
service = "bedrock-runtime"
model = "meta.llama3-8b-instruct-v1:0"
kind = "stream_error"
exception = "throttlingException"
message = "Too many tokens per day, please wait before trying again."
"#;

const CONFIG: &str = r#"
[probe]
interval = "10s"
timeout = "5s"

[[sources]]
name = "platform"
profile = "stream-prober"

[[targets]]
name = "streaming"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/StreamRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
stream = true

[[targets]]
name = "plain"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/StreamRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "invoke-only"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/InvokeOnlyRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
stream = true

[[targets]]
name = "broken-stream"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/StreamRole"
regions = ["us-east-1"]
models = ["mistral.mistral-large-2402-v1:0", "meta.llama3-8b-instruct-v1:0"]
stream = true

[[targets]]
name = "streaming-invoke-model"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/StreamRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-embed-text-v2:0"]
invoke = "invoke_model"
stream = true
"#;

const AWS_CONFIG: &str = "[profile stream-prober]
aws_access_key_id = AKIASTREAMPROBER0001
aws_secret_access_key = streamProberSecret000000000000000000001
region = us-east-1
";

const TUPLES: usize = 7;

fn start() -> Lab {
    Lab::start(SCENARIO, CONFIG, AWS_CONFIG)
}

fn all_probed(lab: &Lab) -> Metrics {
    lab.exporter
        .scrape_until(Duration::from_secs(60), "every tuple probed once", |m| {
            m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == TUPLES
        })
}

fn layer(m: &Metrics, target: &str, model: &str, layer: &str) -> Option<f64> {
    m.value(
        "bedrock_access_layer_success",
        &[("target", target), ("model_id", model), ("layer", layer)],
    )
}

/// The failure_info of a layer: (reason, class, error_code).
fn failure(
    m: &Metrics,
    target: &str,
    model: &str,
    layer: &str,
) -> Option<(String, String, String)> {
    let found = m.find(
        "bedrock_access_failure_info",
        &[("target", target), ("model_id", model), ("layer", layer)],
    );
    found.first().map(|s| {
        (
            s.labels["reason"].clone(),
            s.labels["class"].clone(),
            s.labels["error_code"].clone(),
        )
    })
}

/// (output tokens, probes) of a tuple, from one scrape.
fn tokens_per_probe(m: &Metrics, target: &str, model: &str) -> (f64, f64) {
    let sel = [("target", target), ("model_id", model)];
    let mut out_sel = sel.to_vec();
    out_sel.push(("direction", "output"));
    let tokens = m
        .value("bedrock_access_invoke_tokens_total", &out_sel)
        .unwrap_or(-1.0);
    let probes: f64 = m
        .find("bedrock_access_probes_total", &sel)
        .iter()
        .map(|s| s.value)
        .sum();
    (tokens, probes)
}

#[test]
fn streaming_is_probed_where_turned_on_and_every_output_shows_the_fifth_layer() {
    let lab = start();
    let m = all_probed(&lab);

    // A role allowed both actions: every layer passes, the stream included.
    for l in [
        "credentials",
        "assume_role",
        "model_access",
        "invoke",
        "invoke_stream",
    ] {
        assert_eq!(
            layer(&m, "streaming", HAIKU, l),
            Some(1.0),
            "streaming {l}\n{}",
            m.text
        );
    }
    assert_eq!(
        m.value("bedrock_access_probe_success", &[("target", "streaming")]),
        Some(1.0)
    );

    // Off: no series of the layer at all, and the probe succeeds without it.
    for name in [
        "bedrock_access_layer_success",
        "bedrock_access_layer_duration_seconds",
        "bedrock_access_failure_info",
    ] {
        assert!(
            m.find(name, &[("target", "plain"), ("layer", "invoke_stream")])
                .is_empty(),
            "{name}: plain has invoke_stream series\n{}",
            m.text
        );
    }
    assert_eq!(
        m.value("bedrock_access_probe_success", &[("target", "plain")]),
        Some(1.0)
    );
    // An embedding model answers no stream: off for that tuple, on for its neighbour.
    assert_eq!(
        layer(&m, "streaming-invoke-model", EMBED, "invoke_stream"),
        None
    );
    assert_eq!(
        layer(&m, "streaming-invoke-model", EMBED, "invoke"),
        Some(1.0)
    );
    assert_eq!(
        layer(&m, "streaming-invoke-model", HAIKU, "invoke_stream"),
        Some(1.0),
        "InvokeModelWithResponseStream\n{}",
        m.text
    );

    // Allowed to invoke, not to stream: invoke passes, invoke_stream fails for an access reason.
    assert_eq!(layer(&m, "invoke-only", HAIKU, "invoke"), Some(1.0));
    assert_eq!(layer(&m, "invoke-only", HAIKU, "invoke_stream"), Some(0.0));
    assert_eq!(
        failure(&m, "invoke-only", HAIKU, "invoke_stream"),
        Some((
            "bedrock_not_permitted".into(),
            "access".into(),
            "AccessDeniedException".into()
        ))
    );
    assert_eq!(failure(&m, "invoke-only", HAIKU, "invoke"), None);
    assert_eq!(
        m.value("bedrock_access_probe_success", &[("target", "invoke-only")]),
        Some(0.0)
    );
    assert!(
        m.value(
            "bedrock_access_layer_failures_total",
            &[
                ("target", "invoke-only"),
                ("layer", "invoke_stream"),
                ("reason", "bedrock_not_permitted")
            ]
        )
        .is_some_and(|v| v >= 1.0)
    );

    // Error events inside an open stream, classified like the same errors before it.
    assert_eq!(layer(&m, "broken-stream", MISTRAL, "invoke"), Some(1.0));
    assert_eq!(
        failure(&m, "broken-stream", MISTRAL, "invoke_stream"),
        Some((
            "service_unavailable".into(),
            "transient".into(),
            "ModelStreamErrorException".into()
        ))
    );
    assert_eq!(
        failure(&m, "broken-stream", LLAMA, "invoke_stream"),
        Some((
            "daily_token_quota_exhausted".into(),
            "access".into(),
            "ThrottlingException".into()
        ))
    );

    // Streamed tokens count: twice the output tokens of a plain probe per probe (Converse and
    // ConverseStream, or InvokeModel and InvokeModelWithResponseStream, 1 token each).
    for (target, model, per_probe) in [
        ("streaming", HAIKU, 2.0),
        ("streaming-invoke-model", HAIKU, 2.0),
        ("plain", HAIKU, 1.0),
    ] {
        let (tokens, probes) = tokens_per_probe(&m, target, model);
        assert!(probes >= 1.0, "{target}: {probes} probes");
        assert_eq!(
            tokens,
            per_probe * probes,
            "{target}: output tokens over {probes} probes"
        );
    }

    // The debug trace names the layer, the error event and its classification.
    let (status, trace) = lab.exporter.get(&format!(
        "/probe?target=broken-stream&region=us-east-1&model={}&debug=true",
        MISTRAL.replace(':', "%3A")
    ));
    assert_eq!(status, 200, "{trace}");
    for want in [
        "[ X ] invoke_stream FAILED",
        "bedrock-runtime:ConverseStream mistral.mistral-large-2402-v1:0 region=us-east-1 maxTokens=1; failed in the open stream after 1 event(s)",
        "reason: service_unavailable (class transient)",
        "error code: ModelStreamErrorException",
        "message: An error occurred while streaming the response. Retry your request.",
    ] {
        assert!(trace.contains(want), "missing {want:?} in:\n{trace}");
    }
    let (_, trace) = lab.exporter.get("/probe?target=plain&debug=true");
    assert!(
        trace.contains("[ - ] invoke_stream off: turned off in the configuration"),
        "{trace}"
    );

    // The status API lists the fifth layer for every tuple: off, pass or fail.
    let (status, body) = lab.exporter.get("/api/v1/status");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    let state_of = |target: &str, model: &str| -> (String, String) {
        let t = v["tuples"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|t| t["target"] == target && t["model_id"] == model)
            })
            .unwrap_or_else(|| panic!("no tuple {target} {model}"));
        let l = t["layers"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["layer"] == "invoke_stream"))
            .unwrap_or_else(|| panic!("no invoke_stream layer in {t}"));
        (
            l["state"].as_str().unwrap_or_default().to_string(),
            t["failed_layer"].as_str().unwrap_or("-").to_string(),
        )
    };
    assert_eq!(state_of("plain", HAIKU), ("off".into(), "-".into()));
    assert_eq!(state_of("streaming", HAIKU), ("pass".into(), "-".into()));
    assert_eq!(
        state_of("invoke-only", HAIKU),
        ("fail".into(), "invoke_stream".into())
    );
    assert_eq!(state_of("streaming-invoke-model", EMBED).0, "off");

    drop(lab.exporter);
    drop(lab.sim);
}

#[test]
fn check_config_says_which_tuples_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("exporter.toml");
    std::fs::write(&config, CONFIG).expect("write config");
    let out = Command::new(BIN)
        .arg(format!("--config.file={}", config.display()))
        .arg("check-config")
        .output()
        .expect("run check-config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |target: &str, model: &str| -> String {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("target={target} "))
                    && l.contains(&format!(" model_id={model} "))
            })
            .unwrap_or_else(|| panic!("no line for {target} {model} in:\n{text}"))
            .to_string()
    };
    assert!(line("streaming", HAIKU).contains(" stream=on "), "{text}");
    assert!(line("plain", HAIKU).contains(" stream=off "), "{text}");
    assert!(
        line("streaming-invoke-model", EMBED).contains(" stream=off "),
        "an embedding model answers no stream:\n{text}"
    );
}
