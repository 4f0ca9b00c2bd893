//! An independent client cross-checks the simulator: boto3/botocore (their own SigV4 signer and
//! response parsers, not the AWS SDK for Rust) replay the cases of `tests/sim_sdk.rs` through
//! `tests/boto3/check_simulator.py` and must see the same AWS codes, texts and statuses.
//!
//! python3 with boto3 is required (`scripts/test` installs it); the test fails without it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bedrock_access_exporter::sim::tokens::{
    IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, ServiceAccountToken,
};
use bedrock_access_exporter::sim::{Scenario, Simulator, serve};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the simulator in-process on a loopback port of its own runtime; returns its URL, the
/// handle to expire sessions with, and the runtime (dropping it stops the server).
fn start_simulator(scenario: &Path) -> (String, Simulator, tokio::runtime::Runtime) {
    let sim = match Simulator::from_file(scenario) {
        Ok(s) => s,
        Err(e) => panic!("the boto3 scenario must load: {e}"),
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
    rt.spawn(serve(sim.clone(), listener, std::future::pending()));
    (url, sim, rt)
}

/// The service account tokens the Kubernetes cases present, minted with the scenario's
/// cluster key, as a JSON object (name → token) in `dir/tokens.json`.
fn mint_tokens(scenario: &Path, dir: &Path) -> PathBuf {
    let text = match std::fs::read_to_string(scenario) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let sc = match Scenario::parse(&text, "boto3") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let sa = |ns: &str, aud: &str| ServiceAccountToken::new(ns, "bedrock-access-exporter", aud);
    let mut tokens = serde_json::Map::new();
    for (name, t) in [
        ("irsa", sa("monitoring", IRSA_AUDIENCE)),
        ("irsa_wrong_subject", sa("default", IRSA_AUDIENCE)),
        ("irsa_wrong_audience", sa("monitoring", "vault")),
        (
            "irsa_expired",
            sa("monitoring", IRSA_AUDIENCE).expires_in(-60),
        ),
        ("pod_identity", sa("monitoring", POD_IDENTITY_AUDIENCE)),
    ] {
        match t.mint(&sc, "probe") {
            Ok(token) => tokens.insert(name.to_string(), token.into()),
            Err(e) => panic!("{name}: {e}"),
        };
    }
    let path = dir.join("tokens.json");
    if let Err(e) = std::fs::write(&path, serde_json::Value::Object(tokens).to_string()) {
        panic!("tokens: {e}");
    }
    path
}

/// A `python3` child with an environment where botocore can find nothing but what we pass:
/// no AWS_* variables of the caller, empty config and credentials files, no instance metadata.
fn python(empty: &Path) -> Command {
    let mut cmd = Command::new("python3");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty)
        .env("AWS_ACCESS_KEY_ID", "AKIANOTUSEDBYTHETEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-used-by-the-test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

#[test]
fn boto3_sees_the_same_aws_errors_and_parses_every_success_of_the_simulator() {
    let dir = manifest_dir();
    let scenario = dir.join("tests/boto3/scenario.toml");
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("tempdir: {e}"),
    };
    let empty = tmp.path().join("empty");
    if let Err(e) = std::fs::write(&empty, "") {
        panic!("empty config file: {e}");
    }

    // Fail (never skip) when the independent client is missing.
    let probe = python(&empty)
        .args(["-c", "import boto3, botocore"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "python3 has no boto3 (run scripts/test, which installs it): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("python3 is required for the boto3 cross-check: {e}"),
    }

    let tokens = mint_tokens(&scenario, tmp.path());
    let (url, sim, _rt) = start_simulator(&scenario);
    let child = python(&empty)
        .arg(dir.join("tests/boto3/check_simulator.py"))
        .args(["--endpoint", &url])
        .arg("--scenario")
        .arg(&scenario)
        .arg("--fixtures")
        .arg(dir.join("tests/fixtures/aws"))
        .arg("--expire-hook")
        .arg("--web-identity-tokens")
        .arg(&tokens)
        .current_dir(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot run check_simulator.py: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout pipe")
    };
    let mut stdin = child.stdin.take();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        println!("{line}");
        if line == "EXPIRE_SESSIONS" {
            sim.expire_sessions();
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(b"done\n");
                let _ = s.flush();
            }
            continue;
        }
        lines.push(line);
    }
    drop(stdin);
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => panic!("wait: {e}"),
    };
    let failed: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        failed.is_empty() && status.success(),
        "boto3 disagrees with the simulator ({summary}, exit {status}):\n{}",
        failed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The run really covered the cases (a script that checked nothing would also "pass").
    let passed = lines.iter().filter(|l| l.starts_with("ok ")).count();
    assert!(
        passed >= 30,
        "only {passed} boto3 cases ran; expected the whole set"
    );
    assert_eq!(summary, format!("{passed} passed, 0 failed"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("expired_session_replayed_on_sts")),
        "the expired-session cases must run"
    );
    let k8s = lines
        .iter()
        .filter(|l| l.starts_with("ok   web_identity_"))
        .count();
    assert_eq!(k8s, 7, "every web identity and Pod Identity case must run");
}
