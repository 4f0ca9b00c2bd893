//! Shared by the API key end-to-end tests: the simulator with `tests/fixtures/api_keys/
//! scenario.toml` and the daemon with four sources that authenticate with Bedrock API keys —
//! a working long-term key (file), a long-term key past its `api_key_expires` (file), a
//! long-term key in an account whose SCP denies long-term keys (environment variable) and a
//! working short-term key minted like AWS's token generator does (file) — one target each.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bedrock_access_exporter::sim::api_keys::{Signer, long_term_key, short_term_key};

use crate::common::{Exporter, Sim, http_get, repo, tail};

pub const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The environment variable the SCP-denied key is read from.
pub const LAB_ENV: &str = "LAB_BEDROCK_API_KEY";

/// The keys of the story and what each is made of (to look for them in outputs).
pub struct Keys {
    pub healthy: String,
    pub lapsed: String,
    pub lab: String,
    pub short: String,
    /// The secrets inside the long-term keys and the minter's secret access key.
    pub secrets: Vec<String>,
}

pub fn keys() -> Keys {
    let secrets = [
        "okKeySecretE2E0000000000000000000001",
        "lapsedKeySecretE2E00000000000000000002",
        "labKeySecretE2E00000000000000000000003",
        "minterSecretE2E0000000000000000000000001",
    ];
    let minter = Signer {
        access_key: "AKIAKEYSMINTERE2E001",
        secret: secrets[3],
        session_token: None,
    };
    let short = match short_term_key(
        &minter,
        "us-east-1",
        SystemTime::now() - Duration::from_secs(60),
        Duration::from_secs(43_200),
    ) {
        Ok(k) => k,
        Err(e) => panic!("minting a short-term key: {e}"),
    };
    Keys {
        healthy: long_term_key("BedrockAPIKey-ok", "111111111111", secrets[0]),
        lapsed: long_term_key("BedrockAPIKey-ok", "111111111111", secrets[1]),
        lab: long_term_key("BedrockAPIKey-lab", "555555555555", secrets[2]),
        short,
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    }
}

/// The exporter configuration: key files relative to it, the lab key in [`LAB_ENV`].
pub const CONFIG: &str = r#"
[probe]
interval = "30s"
timeout = "10s"

[[sources]]
name = "key-long"
api_key_file = "healthy.key"
api_key_expires = "2099-01-01"

[[sources]]
name = "key-lapsed"
api_key_file = "lapsed.key"
api_key_expires = "2020-01-01"

[[sources]]
name = "key-lab"
api_key_env = "LAB_BEDROCK_API_KEY"

[[sources]]
name = "key-short"
api_key_file = "short.key"

[[targets]]
name = "key-healthy"
source = "key-long"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "key-expired"
source = "key-lapsed"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "key-scp-denied"
source = "key-lab"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "short-key-healthy"
source = "key-short"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

/// The running story.
pub struct Story {
    pub sim: Sim,
    pub exporter: Exporter,
    pub keys: Keys,
    pub config: PathBuf,
    pub aws_config: PathBuf,
}

/// Writes the keys and configuration into `dir`, starts the simulator and the daemon (logs
/// at debug level) and waits until every tuple was probed.
pub fn start(dir: &Path) -> Story {
    let keys = keys();
    for (file, key) in [
        ("healthy.key", &keys.healthy),
        ("lapsed.key", &keys.lapsed),
        ("short.key", &keys.short),
    ] {
        std::fs::write(dir.join(file), key).expect("write key file");
    }
    let config = dir.join("exporter.toml");
    std::fs::write(&config, CONFIG).expect("write config");
    let aws_config = dir.join("aws-config");
    std::fs::write(&aws_config, "").expect("write aws config");
    let sim = Sim::start(dir, &repo("tests/fixtures/api_keys/scenario.toml"));
    let exporter = Exporter::start_with(
        dir,
        &config,
        &aws_config,
        &sim.url(),
        &[(LAB_ENV.to_string(), keys.lab.clone())],
    );
    wait_all_probed(&exporter);
    Story {
        sim,
        exporter,
        keys,
        config,
        aws_config,
    }
}

fn wait_all_probed(exporter: &Exporter) {
    let start = Instant::now();
    loop {
        let (status, body) = http_get(&format!("http://{}/api/v1/status", exporter.addr));
        if status == 200
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v["summary"]["pending"] == 0
            && v["summary"]["tuples"] == 4
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not every tuple probed after 60 s:\n{body}\n{}",
            tail(&exporter.proc.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `diagnose --output=FORMAT --log.level=debug` over the story's tuples: (exit code, stdout,
/// stderr).
pub fn diagnose(story: &Story, format: &str) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(crate::common::BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .arg("diagnose")
        .arg(format!("--config.file={}", story.config.display()))
        .arg(format!("--output={format}"))
        .arg("--log.level=debug")
        .env("AWS_CONFIG_FILE", &story.aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &story.aws_config)
        .env("AWS_ENDPOINT_URL", story.sim.url())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(LAB_ENV, &story.keys.lab)
        .output()
        .expect("run diagnose");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
