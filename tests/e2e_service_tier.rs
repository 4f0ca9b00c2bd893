//! `service_tier` end to end: the real binary probes the simulator (through the real AWS SDK)
//! with the service tier the application uses — Converse's `serviceTier`, InvokeModel's
//! service tier header, on both invoke layers — so a tier the model does not offer fails the
//! probe as the application fails: a configuration problem (`validation_error`), not an access
//! one; a tier the model offers, `default`, or no tier at all pass.

mod common;

use std::time::Duration;

use common::{Lab, Metrics};

const MISTRAL: &str = "mistral.mistral-large-2402-v1:0";

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIATIERPROBER000001", secret = "tierProberSecret0000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "BedrockRole"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream","bedrock:Get*"],"Resource":"*"}]}']

# Offers every tier (the catalogue's default).
[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]

# Offers the default tier only.
[[models]]
id = "mistral.mistral-large-2402-v1:0"
provider = "Mistral AI"
regions = ["us-east-1"]
service_tiers = []
"#;

const CONFIG: &str = r#"
[probe]
interval = "10s"
timeout = "5s"
stream = true

[[sources]]
name = "platform"
profile = "tier-prober"

[[targets]]
name = "priority"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
service_tier = "priority"

[[targets]]
name = "flex-converse"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["mistral.mistral-large-2402-v1:0"]
service_tier = "flex"

[[targets]]
name = "flex-invoke-model"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["mistral.mistral-large-2402-v1:0"]
invoke = "invoke_model"
service_tier = "flex"

[[targets]]
name = "default-tier"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["mistral.mistral-large-2402-v1:0"]
service_tier = "default"

[[targets]]
name = "no-tier"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["mistral.mistral-large-2402-v1:0"]
"#;

const AWS_CONFIG: &str = "[profile tier-prober]
aws_access_key_id = AKIATIERPROBER000001
aws_secret_access_key = tierProberSecret0000000000000000000000001
region = us-east-1
";

fn layer(m: &Metrics, target: &str, layer: &str) -> Option<f64> {
    m.value(
        "bedrock_access_layer_success",
        &[("target", target), ("layer", layer)],
    )
}

/// (reason, class, error_code) of a failing layer.
fn failure(m: &Metrics, target: &str, layer: &str) -> Option<(String, String, String)> {
    let found = m.find(
        "bedrock_access_failure_info",
        &[("target", target), ("layer", layer)],
    );
    found.first().map(|s| {
        (
            s.labels["reason"].clone(),
            s.labels["class"].clone(),
            s.labels["error_code"].clone(),
        )
    })
}

#[test]
fn the_probe_asks_for_the_application_s_service_tier_and_a_tier_the_model_lacks_is_a_configuration_error()
 {
    let Lab {
        dir: _dir,
        sim: _sim,
        exporter,
    } = Lab::start(SCENARIO, CONFIG, AWS_CONFIG);
    let m = exporter.scrape_until(Duration::from_secs(60), "every tuple probed once", |m| {
        m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == 5
    });

    // A tier the model offers, the default tier, or none: every layer passes.
    for target in ["priority", "default-tier", "no-tier"] {
        assert_eq!(
            m.value("bedrock_access_probe_success", &[("target", target)]),
            Some(1.0),
            "{target}\n{}",
            m.text
        );
        assert_eq!(layer(&m, target, "invoke_stream"), Some(1.0), "{target}");
    }

    // Flex on a model that offers only the default tier: both invoke layers fail, through
    // Converse / ConverseStream and InvokeModel / InvokeModelWithResponseStream alike, as a
    // configuration problem; the control plane still passes.
    let want = Some((
        "validation_error".to_string(),
        "configuration".to_string(),
        "ValidationException".to_string(),
    ));
    for target in ["flex-converse", "flex-invoke-model"] {
        assert_eq!(layer(&m, target, "model_access"), Some(1.0), "{target}");
        for l in ["invoke", "invoke_stream"] {
            assert_eq!(layer(&m, target, l), Some(0.0), "{target} {l}\n{}", m.text);
            assert_eq!(failure(&m, target, l), want, "{target} {l}");
        }
    }

    // The debug trace names the tier the call asked for, and AWS's refusal.
    let (status, body) = exporter.get(&format!(
        "/probe?target=flex-invoke-model&region=us-east-1&model={}&debug=true",
        MISTRAL.replace(':', "%3A")
    ));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("bedrock-runtime:InvokeModel mistral.mistral-large-2402-v1:0 region=us-east-1 max_tokens=1 serviceTier=flex"),
        "{body}"
    );
    assert!(
        body.contains("service tier flex is not supported"),
        "{body}"
    );
}
