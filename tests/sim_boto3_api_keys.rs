//! An independent client cross-checks the simulator's Bedrock API keys: boto3/botocore read the
//! key from `AWS_BEARER_TOKEN_BEDROCK` and send it with their own bearer auth
//! (`tests/boto3/check_api_keys.py`), and must get what the AWS SDK for Rust gets: both key
//! kinds accepted, AWS's refusal of an expired key of each kind, and an SCP on
//! `bedrock:CallWithBearerToken` that blocks long-term keys only.
//!
//! python3 with boto3 is required (`scripts/test` installs it); the test fails without it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use bedrock_access_exporter::sim::api_keys::{Signer, long_term_key, short_term_key};
use bedrock_access_exporter::sim::{Simulator, serve};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mint(signer: &Signer<'_>, age: Duration) -> String {
    match short_term_key(
        signer,
        "us-east-1",
        SystemTime::now() - age,
        Duration::from_secs(43_200),
    ) {
        Ok(k) => k,
        Err(e) => panic!("minting: {e}"),
    }
}

#[test]
fn boto3_with_aws_bearer_token_bedrock_gets_what_the_rust_sdk_gets_for_each_key() {
    let dir = manifest_dir();
    let scenario = dir.join("tests/fixtures/api_keys/scenario.toml");
    let sim = match Simulator::from_file(&scenario) {
        Ok(s) => s,
        Err(e) => panic!("the API key scenario must load: {e}"),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let listener = match rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")) {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => panic!("addr: {e}"),
    };
    rt.spawn(serve(sim, listener, std::future::pending()));

    // The keys of tests/fixtures/api_keys/scenario.toml's users: short-term keys are signed
    // by a user's access key in the keys account, and in the lab account (whose SCP denies
    // long-term keys only).
    let minter = Signer {
        access_key: "AKIAKEYSMINTERE2E001",
        secret: "minterSecretE2E0000000000000000000000001",
        session_token: None,
    };
    let lab_minter = Signer {
        access_key: "AKIALABMINTERE2E0001",
        secret: "labMinterSecretE2E000000000000000000001",
        session_token: None,
    };
    let keys = serde_json::json!({
        "long": long_term_key("BedrockAPIKey-ok", "111111111111", "okKeySecretE2E0000000000000000000001"),
        "lapsed": long_term_key("BedrockAPIKey-ok", "111111111111", "lapsedKeySecretE2E00000000000000000002"),
        "lab": long_term_key("BedrockAPIKey-lab", "555555555555", "labKeySecretE2E00000000000000000000003"),
        "short": mint(&minter, Duration::from_secs(60)),
        "short_expired": mint(&minter, Duration::from_secs(13 * 3600)),
        "lab_short": mint(&lab_minter, Duration::from_secs(60)),
    });
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("tempdir: {e}"),
    };
    let keys_path = tmp.path().join("keys.json");
    let empty = tmp.path().join("empty");
    for (p, text) in [(&keys_path, keys.to_string()), (&empty, String::new())] {
        if let Err(e) = std::fs::write(p, text) {
            panic!("write: {e}");
        }
    }
    let mut cmd = Command::new("python3");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        // SigV4 credentials the simulator does not know: a request signed instead of sent
        // with the bearer token fails.
        .env("AWS_ACCESS_KEY_ID", "AKIANOTUSEDBYTHETEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-used-by-the-test")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(dir.join("tests/boto3/check_api_keys.py"))
        .args(["--endpoint", &url])
        .arg("--keys")
        .arg(&keys_path)
        .arg("--fixtures")
        .arg(dir.join("tests/fixtures/aws"))
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("python3 is required for the boto3 cross-check: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        out.status.success() && passed == 6 && stdout.contains("6 passed, 0 failed"),
        "boto3 disagrees with the simulator (exit {}):\n{stdout}\n{stderr}",
        out.status
    );
}
