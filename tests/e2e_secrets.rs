//! No secret leaves the exporter: the demo runs (simulator + exporter as processes), every output
//! the exporter produces is collected — `/`, `/api/v1/status`, `/metrics`, `/probe` with and
//! without `debug=true` for every demo target, `/-/reload`, `check-config`, `diagnose` (text and
//! JSON, with its debug logs), the daemon's logs
//! at `--log.level=debug` (logfmt), and everything `demo` prints (JSON logs at trace level of
//! the daemon, the AWS SDK and the in-process simulator) — and each is searched for every secret
//! of the scenario: the users' secret access keys, the external id, and the session
//! credentials the simulator issues on AssumeRole (recognised by their form).
//!
//! Adding an output: push one more [`Output`] in [`collect_outputs`] or [`diagnose_outputs`];
//! every secret is then checked in it too.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Exporter, Sim, free_port, http_get, repo, tail, wait_listening};

/// A secret to look for, and what kind of secret it is (for the failure message).
#[derive(Debug, Clone)]
struct Secret {
    kind: &'static str,
    value: String,
}

/// One thing the exporter printed or served.
#[derive(Debug, Clone)]
struct Output {
    name: String,
    text: String,
}

/// Shows `text` around byte `at` (±60 bytes) with the `len` secret bytes masked.
fn masked_excerpt(text: &str, at: usize, len: usize) -> String {
    let floor = |mut i: usize| {
        while i > 0 && !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(at.saturating_sub(60));
    let end = floor((at + len + 60).min(text.len()));
    let secret_end = floor((at + len).min(text.len()));
    format!(
        "…{}<SECRET {} chars>{}…",
        &text[start..at],
        len,
        &text[secret_end..end]
    )
    .replace('\n', "⏎")
}

/// Session credentials the simulator issues: tokens start with this (see `src/sim/auth.rs`,
/// shaped like AWS's own `FwoGZXIvYXdzE…` tokens).
const SESSION_TOKEN_PREFIX: &str = "FwoGZXIvYXdzE";

/// Runs of 40+ base64 characters with upper case, lower case and digits: the shape of a secret
/// access key or session token (session secret keys are random, so their form is all we know).
fn secret_shaped_runs(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let run = &b[start..i];
        // Paths and ARNs are made of short segments between '/'; a key is one long segment.
        let longest_segment = run.split(|c| *c == b'/').map(<[u8]>::len).max();
        if run.len() >= 40
            && longest_segment.is_some_and(|n| n >= 30)
            && run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit)
        {
            out.push((start, i - start));
        }
    }
    out
}

/// Every place a secret appears in the outputs, as readable failure lines (empty: none).
fn find_secrets(outputs: &[Output], secrets: &[Secret]) -> Vec<String> {
    let mut found = Vec::new();
    for o in outputs {
        for s in secrets {
            if s.value.is_empty() {
                continue;
            }
            if let Some(at) = o.text.find(&s.value) {
                found.push(format!(
                    "{}: contains the {} — {}",
                    o.name,
                    s.kind,
                    masked_excerpt(&o.text, at, s.value.len())
                ));
            }
        }
        if let Some(at) = o.text.find(SESSION_TOKEN_PREFIX) {
            found.push(format!(
                "{}: contains a session token issued by AssumeRole — {}",
                o.name,
                masked_excerpt(&o.text, at, SESSION_TOKEN_PREFIX.len())
            ));
        }
        for (at, len) in secret_shaped_runs(&o.text) {
            found.push(format!(
                "{}: contains something shaped like a secret key or session token — {}",
                o.name,
                masked_excerpt(&o.text, at, len)
            ));
        }
    }
    found
}

/// Fails with every leak found: which output, which kind of secret, an excerpt (masked).
fn assert_no_secrets(outputs: &[Output], secrets: &[Secret]) {
    let found = find_secrets(outputs, secrets);
    assert!(
        found.is_empty(),
        "{} secret leak(s) in the exporter's outputs:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// A TOML file of the repository (errors name the file, never echo its text).
fn read_toml(path: &str) -> toml::Table {
    let text = match std::fs::read_to_string(repo(path)) {
        Ok(t) => t,
        Err(e) => panic!("read {path}: {e}"),
    };
    match toml::from_str::<toml::Table>(&text) {
        Ok(t) => t,
        Err(e) => panic!("{path} is not TOML: {}", e.message()),
    }
}

/// The secrets of the demo: each user's secret access key (from the scenario) and every
/// external id (from the exporter configuration).
fn demo_secrets() -> Vec<Secret> {
    let mut secrets = Vec::new();
    let scenario = read_toml("config/demo/scenario.toml");
    for user in scenario
        .get("users")
        .and_then(|u| u.as_array())
        .into_iter()
        .flatten()
    {
        for key in user
            .get("access_keys")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(secret) = key.get("secret").and_then(|s| s.as_str()) {
                secrets.push(Secret {
                    kind: "secret access key of a scenario user",
                    value: secret.to_string(),
                });
            }
        }
    }
    let config = read_toml("config/demo/exporter.toml");
    for t in config
        .get("targets")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(x) = t.get("external_id").and_then(|x| x.as_str())
            && !secrets.iter().any(|s| s.value == x)
        {
            secrets.push(Secret {
                kind: "external id",
                value: x.to_string(),
            });
        }
    }
    secrets
}

fn demo_targets() -> Vec<String> {
    let config = read_toml("config/demo/exporter.toml");
    config
        .get("targets")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect()
}

/// `demo` (the in-process simulator and the daemon as its child) with JSON logs at trace level
/// (the AWS SDK's own logs included):
/// its stdout/stderr carry the banner, the simulator's and the daemon's logs.
struct Demo {
    proc: common::Proc,
    addr: std::net::SocketAddr,
}

fn start_demo_json(dir: &Path) -> Demo {
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let log = dir.join("demo-json.log");
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args([
            "demo".to_string(),
            format!("--web.listen-address={addr}"),
            "--log.level=trace".into(),
            "--log.format=json".into(),
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn the demo");
    wait_listening(addr, Duration::from_secs(30));
    Demo {
        proc: common::Proc { child, log },
        addr,
    }
}

/// Waits until `/api/v1/status` at `addr` has a result for every tuple.
fn wait_all_probed(addr: std::net::SocketAddr, log: &dyn Fn() -> String) {
    let start = Instant::now();
    loop {
        let (status, body) = http_get(&format!("http://{addr}/api/v1/status"));
        if status == 200
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v["summary"]["pending"] == 0
            && v["summary"]["tuples"].as_u64().is_some_and(|n| n > 0)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "not every tuple probed after 90 s:\n{body}\n{}",
            tail(&log(), 40)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn get(addr: std::net::SocketAddr, path: &str) -> Output {
    let (status, body) = http_get(&format!("http://{addr}{path}"));
    assert_ne!(status, 0, "GET {path}: {body}");
    Output {
        name: format!("GET {path} ({status})"),
        text: body,
    }
}

/// Every output of the exporter, with the daemon at `addr`.
fn collect_outputs(addr: std::net::SocketAddr, targets: &[String]) -> Vec<Output> {
    let mut outputs = vec![
        get(addr, "/"),
        get(addr, "/api/v1/status"),
        get(addr, "/metrics"),
    ];
    for t in targets {
        let q: String = form_urlencoded::byte_serialize(t.as_bytes()).collect();
        outputs.push(get(addr, &format!("/probe?target={q}")));
        outputs.push(get(addr, &format!("/probe?target={q}&debug=true")));
    }
    // Error answers too.
    outputs.push(get(addr, "/probe?target=no-such-target&debug=true"));
    outputs.push(get(addr, "/probe?target=healthy-claude&region=mars-1"));
    let (status, body) = common::http_post(&format!("http://{addr}/-/reload"));
    outputs.push(Output {
        name: format!("POST /-/reload ({status})"),
        text: body,
    });
    // `check-config` prints the expanded tuples.
    let check = Command::new(BIN)
        .arg("check-config")
        .arg(format!(
            "--config.file={}",
            repo("config/demo/exporter.toml").display()
        ))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run check-config");
    outputs.push(Output {
        name: "check-config stdout+stderr".into(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ),
    });
    outputs
}

/// `diagnose` over every demo tuple, as text and as JSON, with its logs at debug level:
/// stdout and stderr of each run.
fn diagnose_outputs(sim_url: &str) -> Vec<Output> {
    let mut outputs = Vec::new();
    for format in ["text", "json"] {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .arg("diagnose")
            .arg(format!(
                "--config.file={}",
                repo("config/demo/exporter.toml").display()
            ))
            .arg(format!("--output={format}"))
            .arg("--log.level=debug")
            .env("AWS_CONFIG_FILE", repo("config/demo/aws-config"))
            .env("AWS_ENDPOINT_URL", sim_url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run diagnose");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // The output must be real: the demo's failures and fixes are in it.
        assert_eq!(out.status.code(), Some(1), "diagnose --output={format}");
        assert!(
            stdout.contains("assume_role_denied") && stdout.contains("<EXTERNAL_ID>"),
            "diagnose --output={format}:\n{}",
            tail(&stdout, 40)
        );
        outputs.push(Output {
            name: format!("diagnose --output={format} stdout"),
            text: stdout,
        });
        outputs.push(Output {
            name: format!("diagnose --output={format} stderr"),
            text: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    outputs
}

#[test]
fn the_grep_finds_a_planted_secret_and_says_where_and_what_kind() {
    let secrets = vec![Secret {
        kind: "external id",
        value: "demo-external-id".into(),
    }];
    let outputs = vec![
        Output {
            name: "clean".into(),
            text: "nothing to see: arn:aws:iam::222222222222:role/BedrockProbeRole".into(),
        },
        Output {
            name: "GET /leaky".into(),
            text: "assume role with external id demo-external-id failed".into(),
        },
        Output {
            name: "log".into(),
            text: format!(
                "x-amz-security-token: {SESSION_TOKEN_PREFIX}AbCdEf0123456789abcdefGHIJKLMNOPQRSTUVWXYZ"
            ),
        },
        Output {
            name: "session secret".into(),
            text: "aws_secret_access_key=Zx9kQ2vT8mL4pR7sW1yB3nH6jF0gD5cA+eU/oI2qK".into(),
        },
    ];
    let found = find_secrets(&outputs, &secrets);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("GET /leaky: contains the external id")),
        "{found:?}"
    );
    assert!(
        found.iter().all(|f| !f.contains("demo-external-id")),
        "the report must mask the secret: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("log: contains a session token")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("session secret: contains something shaped like a secret")),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.starts_with("clean")), "{found:?}");
}

#[test]
fn no_output_of_the_exporter_contains_a_key_a_session_token_or_the_external_id() {
    let secrets = demo_secrets();
    assert!(
        secrets
            .iter()
            .filter(|s| s.kind.contains("access key"))
            .count()
            >= 2
            && secrets.iter().any(|s| s.value == "demo-external-id"),
        "the demo's secrets were not all found: {} secrets",
        secrets.len()
    );
    let targets = demo_targets();
    assert!(targets.len() >= 20, "{targets:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let logfmt = Exporter::start_demo(dir.path(), &sim);
    let json = start_demo_json(dir.path());
    wait_all_probed(logfmt.addr, &|| logfmt.proc.log_text());
    wait_all_probed(json.addr, &|| json.proc.log_text());

    let mut outputs = collect_outputs(logfmt.addr, &targets);
    // The outputs must be real: the demo's failures are in them.
    let debug = outputs
        .iter()
        .find(|o| {
            o.name
                .starts_with("GET /probe?target=untrusted-source&debug=true")
        })
        .map(|o| o.text.clone())
        .unwrap_or_default();
    assert!(debug.contains("assume_role_denied"), "{debug}");
    outputs.extend(collect_outputs(json.addr, &targets[..2]));
    outputs.extend(diagnose_outputs(&sim.url()));

    // Stop both daemons so their logs are complete, then add them.
    logfmt.proc.signal("TERM");
    json.proc.signal("TERM");
    let mut logfmt = logfmt;
    let mut json = json;
    let _ = logfmt.proc.wait_exit(Duration::from_secs(20));
    let _ = json.proc.wait_exit(Duration::from_secs(20));
    let logfmt_log = logfmt.proc.log_text();
    let json_log = json.proc.log_text();
    assert!(
        logfmt_log.contains("assume_role_denied") && json_log.contains("assume_role_denied"),
        "the logs must carry the failures:\n{}\n{}",
        tail(&logfmt_log, 20),
        tail(&json_log, 20)
    );
    outputs.push(Output {
        name: "exporter log (logfmt, debug)".into(),
        text: logfmt_log,
    });
    outputs.push(Output {
        name: "demo stdout+stderr (json logs, trace)".into(),
        text: json_log,
    });

    assert_no_secrets(&outputs, &secrets);
    drop(sim);
}
