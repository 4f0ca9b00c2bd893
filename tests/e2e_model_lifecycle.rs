//! Model lifecycle before it breaks, end to end: the real binary probes the simulator (through
//! the real AWS SDK) and `/metrics` tells the operator, per probed model and region, that a model
//! is Legacy and when it reaches end of life — read once per region and model however many
//! targets, rounds and reloads there are, and only where the control-plane layer is on.

mod common;

use std::time::Duration;

use common::{Lab, Metrics};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CLAUDE_V2: &str = "anthropic.claude-v2:1";

/// 2026-03-01T00:00:00Z, 2026-09-01T00:00:00Z, 2027-01-15T00:00:00Z as Unix seconds.
const LEGACY_AT: f64 = 1_772_323_200.0;
const EXTENDED_AT: f64 = 1_788_220_800.0;
const END_OF_LIFE_AT: f64 = 1_799_971_200.0;

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIALIFECYCLEPROBER1", secret = "lifecycleProberSecret00000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "BedrockRole"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:Get*"],"Resource":"*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1", "us-west-2"]

[[models]]
id = "anthropic.claude-v2:1"
provider = "Anthropic"
regions = ["us-east-1", "us-west-2"]
lifecycle = "LEGACY"
legacy_time = "2026-03-01T00:00:00Z"
public_extended_access_time = "2026-09-01T00:00:00Z"
end_of_life_time = "2027-01-15T00:00:00Z"
"#;

const CONFIG: &str = r#"
[probe]
interval = "10s"
timeout = "5s"

[[sources]]
name = "platform"
profile = "lifecycle-prober"

[[targets]]
name = "team-a"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1", "us-west-2"]
models = ["anthropic.claude-v2:1", "anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "team-b"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["anthropic.claude-v2:1"]

[[targets]]
name = "invoke-only"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-east-1"]
models = ["anthropic.claude-v2:1"]
model_access = false
"#;

const LATE_TARGET: &str = r#"
[[targets]]
name = "team-c"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockRole"
regions = ["us-west-2"]
models = ["anthropic.claude-v2:1"]
"#;

const AWS_CONFIG: &str = "[profile lifecycle-prober]
aws_access_key_id = AKIALIFECYCLEPROBER1
aws_secret_access_key = lifecycleProberSecret00000000000000000001
region = us-east-1
";

fn tuple<'a>(target: &'a str, region: &'a str, model: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("target", target),
        ("aws_region", region),
        ("model_id", model),
    ]
}

fn with<'a>(base: [(&'a str, &'a str); 3], extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut v = base.to_vec();
    v.push(extra);
    v
}

/// GetFoundationModel requests the exporter sent, whatever their outcome.
fn lifecycle_reads(m: &Metrics) -> f64 {
    m.find(
        "bedrock_access_exporter_aws_requests_total",
        &[("service", "bedrock"), ("operation", "GetFoundationModel")],
    )
    .iter()
    .map(|s| s.value)
    .sum()
}

fn probes(m: &Metrics, target: &str) -> f64 {
    m.find("bedrock_access_probes_total", &[("target", target)])
        .iter()
        .map(|s| s.value)
        .sum()
}

#[test]
fn a_legacy_model_shows_its_end_of_life_date_for_every_target_read_once_per_region_and_model() {
    let Lab {
        dir,
        sim: _sim,
        exporter,
    } = Lab::start(SCENARIO, CONFIG, AWS_CONFIG);
    let m = exporter.scrape_until(Duration::from_secs(60), "every tuple probed once", |m| {
        m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == 6
    });

    // Every tuple passes: a Legacy model still answers until its end of life.
    for s in m.find("bedrock_access_probe_success", &[]) {
        assert_eq!(s.value, 1.0, "{:?}\n{}", s.labels, m.text);
    }

    // The Legacy model: its status and its three dates, for each target and region probing it.
    for (target, region) in [
        ("team-a", "us-east-1"),
        ("team-a", "us-west-2"),
        ("team-b", "us-east-1"),
    ] {
        let t = tuple(target, region, CLAUDE_V2);
        assert_eq!(
            m.value(
                "bedrock_access_model_lifecycle_info",
                &with(t, ("status", "LEGACY"))
            ),
            Some(1.0),
            "{target} {region}\n{}",
            m.text
        );
        for (name, want) in [
            ("bedrock_access_model_legacy_timestamp_seconds", LEGACY_AT),
            (
                "bedrock_access_model_public_extended_access_timestamp_seconds",
                EXTENDED_AT,
            ),
            (
                "bedrock_access_model_end_of_life_timestamp_seconds",
                END_OF_LIFE_AT,
            ),
        ] {
            assert_eq!(m.value(name, &t), Some(want), "{name} {target} {region}");
        }
    }

    // An active model with no dates announced: its status only, no timestamp series.
    let haiku = tuple("team-a", "us-east-1", HAIKU);
    assert_eq!(
        m.value(
            "bedrock_access_model_lifecycle_info",
            &with(haiku, ("status", "ACTIVE"))
        ),
        Some(1.0),
        "{}",
        m.text
    );
    assert!(
        m.find("bedrock_access_model_end_of_life_timestamp_seconds", &haiku)
            .is_empty()
    );

    // A target that keeps off the control plane (model_access = false) reads no lifecycle.
    let off = tuple("invoke-only", "us-east-1", CLAUDE_V2);
    assert!(
        m.find("bedrock_access_model_lifecycle_info", &off)
            .is_empty(),
        "{}",
        m.text
    );
    assert!(
        m.find("bedrock_access_model_end_of_life_timestamp_seconds", &off)
            .is_empty()
    );

    // One read per (region, model): four (2 regions × 2 models), whatever the number of targets.
    assert_eq!(lifecycle_reads(&m), 4.0, "{}", m.text);

    // A second round, and a reload that adds a target on a model already known: no new read.
    let m = exporter.scrape_until(Duration::from_secs(40), "a second round", |m| {
        probes(m, "team-b") >= 2.0
    });
    assert_eq!(lifecycle_reads(&m), 4.0, "{}", m.text);
    let config = format!("{CONFIG}{LATE_TARGET}");
    std::fs::write(dir.path().join("exporter.toml"), config).expect("write config");
    let (status, body) = exporter.post("/-/reload");
    assert_eq!(status, 200, "{body}");
    let m = exporter.scrape_until(Duration::from_secs(40), "the new target probed", |m| {
        probes(m, "team-c") >= 1.0
    });
    let late = tuple("team-c", "us-west-2", CLAUDE_V2);
    assert_eq!(
        m.value("bedrock_access_model_end_of_life_timestamp_seconds", &late),
        Some(END_OF_LIFE_AT),
        "{}",
        m.text
    );
    assert_eq!(lifecycle_reads(&m), 4.0, "{}", m.text);
}
