//! End to end: the real binary runs `simulate` with the demo scenario and the daemon against it
//! (endpoint and credentials through the standard AWS settings only), and `/metrics` must tell
//! every story of `config/demo/README.md`: the right layer fails with the right reason, layers
//! after a failed gate have no series, healthy tuples pass every layer.

mod common;

use std::time::Duration;

use common::{Exporter, Metrics, Sim};

const LAYERS: [&str; 5] = [
    "credentials",
    "assume_role",
    "model_access",
    "invoke",
    "invoke_stream",
];

/// What a story expects of one tuple: per layer `Some(pass)` or `None` (no series), the failure
/// reasons by layer, and `probe_success`.
struct Story {
    says: &'static str,
    target: &'static str,
    region: &'static str,
    layers: [Option<bool>; 5],
    failures: &'static [(&'static str, &'static str, &'static str)],
    probe_success: f64,
}

const PASS: Option<bool> = Some(true);
const FAIL: Option<bool> = Some(false);
const NONE: Option<bool> = None;

fn stories() -> Vec<Story> {
    let gate = |says, target, reason| Story {
        says,
        target,
        region: "us-east-1",
        layers: [PASS, FAIL, NONE, NONE, NONE],
        failures: match reason {
            "assume_role_denied" => &[("assume_role", "assume_role_denied", "access")],
            "assume_role_not_permitted" => {
                &[("assume_role", "assume_role_not_permitted", "access")]
            }
            _ => &[("assume_role", "session_duration_exceeded", "configuration")],
        },
        probe_success: 0.0,
    };
    let invoke_only =
        |says, target, failure: &'static [(&'static str, &'static str, &'static str)]| Story {
            says,
            target,
            region: "us-east-1",
            layers: [PASS, PASS, PASS, FAIL, NONE],
            failures: failure,
            probe_success: 0.0,
        };
    vec![
        Story {
            says: "a healthy cross-account tuple shows every layer at 1",
            target: "healthy-claude",
            region: "us-east-1",
            layers: [PASS, PASS, PASS, PASS, NONE],
            failures: &[],
            probe_success: 1.0,
        },
        Story {
            says: "the same target is healthy in its second region too",
            target: "healthy-claude",
            region: "us-west-2",
            layers: [PASS, PASS, PASS, PASS, NONE],
            failures: &[],
            probe_success: 1.0,
        },
        Story {
            says: "a model reached through an inference profile is healthy",
            target: "healthy-profile",
            region: "us-east-1",
            layers: [PASS, PASS, PASS, PASS, NONE],
            failures: &[],
            probe_success: 1.0,
        },
        Story {
            says: "an embedding model invoked with InvokeModel is healthy",
            target: "healthy-embeddings",
            region: "us-east-1",
            layers: [PASS, PASS, PASS, PASS, NONE],
            failures: &[],
            probe_success: 1.0,
        },
        gate(
            "the role trusts the wrong account → assume_role fails with assume_role_denied, later layers are not probed",
            "untrusted-source",
            "assume_role_denied",
        ),
        gate(
            "the target sends no ExternalId the trust policy requires → assume_role_denied, later layers are not probed",
            "missing-external-id",
            "assume_role_denied",
        ),
        gate(
            "the caller lacks sts:AssumeRole → assume_role_not_permitted, later layers are not probed",
            "caller-without-assumerole",
            "assume_role_not_permitted",
        ),
        gate(
            "the session asked for is longer than the role allows → session_duration_exceeded",
            "session-too-long",
            "session_duration_exceeded",
        ),
        invoke_only(
            "the role may read Bedrock but not invoke → invoke fails with bedrock_not_permitted",
            "role-without-invoke",
            &[("invoke", "bedrock_not_permitted", "access")],
        ),
        Story {
            says: "the role may invoke but not stream → invoke passes, invoke_stream fails with bedrock_not_permitted",
            target: "role-without-stream",
            region: "us-east-1",
            layers: [PASS, PASS, PASS, PASS, FAIL],
            failures: &[("invoke_stream", "bedrock_not_permitted", "access")],
            probe_success: 0.0,
        },
        invoke_only(
            "the role's own policy denies Anthropic models → invoke fails with explicit_deny",
            "identity-deny",
            &[("invoke", "explicit_deny", "access")],
        ),
        invoke_only(
            "an SCP denies invocation in the sandbox account → invoke fails with scp_denied",
            "scp-deny",
            &[("invoke", "scp_denied", "access")],
        ),
        Story {
            says: "the same SCP checked as a guardrail (expect = deny) → probe succeeds, raw layers still show scp_denied",
            target: "sandbox-guardrail",
            region: "us-east-1",
            layers: [PASS, PASS, PASS, FAIL, NONE],
            failures: &[("invoke", "scp_denied", "access")],
            probe_success: 1.0,
        },
        Story {
            says: "model access not granted in us-west-2 → both model_access and invoke say model_access_not_granted",
            target: "grant-missing",
            region: "us-west-2",
            layers: [PASS, PASS, FAIL, FAIL, NONE],
            failures: &[
                ("model_access", "model_access_not_granted", "access"),
                ("invoke", "model_access_not_granted", "access"),
            ],
            probe_success: 0.0,
        },
        Story {
            says: "model access still being activated → model_access_pending (transient) on both layers: the invocation says the subscription is still being processed",
            target: "grant-pending",
            region: "us-west-2",
            layers: [PASS, PASS, FAIL, FAIL, NONE],
            failures: &[
                ("model_access", "model_access_pending", "transient"),
                ("invoke", "model_access_pending", "transient"),
            ],
            probe_success: 0.0,
        },
        Story {
            says: "a third-party model without Marketplace permissions → marketplace_subscription_required on both layers",
            target: "marketplace-missing",
            region: "us-east-1",
            layers: [PASS, PASS, FAIL, FAIL, NONE],
            failures: &[
                (
                    "model_access",
                    "marketplace_subscription_required",
                    "access",
                ),
                ("invoke", "marketplace_subscription_required", "access"),
            ],
            probe_success: 0.0,
        },
        invoke_only(
            "the account never submitted the Anthropic use-case form → invoke fails with use_case_form_required",
            "use-case-form-missing",
            &[("invoke", "use_case_form_required", "access")],
        ),
        Story {
            says: "the model is not offered in ap-northeast-1 → model_not_in_region on both layers",
            target: "not-in-region",
            region: "ap-northeast-1",
            layers: [PASS, PASS, FAIL, FAIL, NONE],
            failures: &[
                ("model_access", "model_not_in_region", "configuration"),
                ("invoke", "model_not_in_region", "configuration"),
            ],
            probe_success: 0.0,
        },
        invoke_only(
            "a profile-only model called by its bare id → inference_profile_required",
            "profile-required",
            &[("invoke", "inference_profile_required", "configuration")],
        ),
        invoke_only(
            "a legacy model the account stopped using → model_legacy_no_access",
            "legacy-inactive",
            &[("invoke", "model_legacy_no_access", "access")],
        ),
        invoke_only(
            "a retired model → model_end_of_life",
            "end-of-life",
            &[("invoke", "model_end_of_life", "configuration")],
        ),
        Story {
            says: "the control plane says AUTHORIZED, the model is not offered to the account → account_not_authorized",
            target: "not-offered",
            region: "us-west-2",
            layers: [PASS, PASS, PASS, FAIL, NONE],
            failures: &[("invoke", "account_not_authorized", "access")],
            probe_success: 0.0,
        },
    ]
}

/// Checks one story against a scrape; returns what did not match.
fn check(m: &Metrics, s: &Story) -> Vec<String> {
    let mut wrong = Vec::new();
    let base = [("target", s.target), ("aws_region", s.region)];
    for (layer, want) in LAYERS.iter().zip(s.layers) {
        let mut sel = base.to_vec();
        sel.push(("layer", layer));
        let got = m.find("bedrock_access_layer_success", &sel);
        match (want, got.as_slice()) {
            (None, []) => {}
            (None, found) => wrong.push(format!(
                "layer {layer} should have no series, has {}",
                found.len()
            )),
            (Some(pass), [one]) => {
                let want_v = if pass { 1.0 } else { 0.0 };
                if one.value != want_v {
                    wrong.push(format!(
                        "layer {layer}: layer_success {} (want {want_v})",
                        one.value
                    ));
                }
            }
            (Some(_), found) => {
                wrong.push(format!("layer {layer}: {} series (want 1)", found.len()))
            }
        }
        let dur = m.find("bedrock_access_layer_duration_seconds", &sel);
        if want.is_some() != (dur.len() == 1) {
            wrong.push(format!("layer {layer}: {} duration series", dur.len()));
        }
    }
    let infos = m.find("bedrock_access_failure_info", &base);
    let mut got: Vec<(String, String, String)> = infos
        .iter()
        .map(|x| {
            (
                x.labels["layer"].clone(),
                x.labels["reason"].clone(),
                x.labels["class"].clone(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = s
        .failures
        .iter()
        .map(|(l, r, c)| (l.to_string(), r.to_string(), c.to_string()))
        .collect();
    want.sort();
    if got != want {
        wrong.push(format!("failure_info {got:?}, want {want:?}"));
    }
    match m.value("bedrock_access_probe_success", &base) {
        Some(v) if v == s.probe_success => {}
        other => wrong.push(format!("probe_success {other:?}, want {}", s.probe_success)),
    }
    wrong
}

#[test]
fn demo_scenario_shows_every_failure_in_its_layer_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let exporter = Exporter::start_demo(dir.path(), &sim);
    let stories = stories();
    let m = exporter.scrape_until(
        Duration::from_secs(90),
        "every demo tuple probed once",
        |m| m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == 22,
    );

    let mut failed = Vec::new();
    for s in &stories {
        let wrong = check(&m, s);
        if !wrong.is_empty() {
            failed.push(format!(
                "{} ({} {}):\n    {}",
                s.says,
                s.target,
                s.region,
                wrong.join("\n    ")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} stories wrong:\n{}\n--- scrape ---\n{}",
        failed.len(),
        stories.len(),
        failed.join("\n"),
        m.text
    );

    // Error codes are AWS's codes, sanitised; availability statuses are exported as reported.
    let sel = [("target", "untrusted-source"), ("layer", "assume_role")];
    let info = m.find("bedrock_access_failure_info", &sel);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].labels["error_code"], "AccessDenied");
    let pending = m.find(
        "bedrock_access_model_availability",
        &[("target", "grant-pending"), ("dimension", "agreement")],
    );
    assert_eq!(pending.len(), 1, "one agreement status series");
    assert_eq!(pending[0].labels["status"], "PENDING");

    // The demo's model near end of life: Legacy, its end of life 20 days ahead (at midnight UTC),
    // which is inside BedrockAccessModelEndOfLifeSoon's 30 days.
    let near = [("target", "legacy-inactive"), ("aws_region", "us-east-1")];
    let status = m.find("bedrock_access_model_lifecycle_info", &near);
    assert_eq!(status.len(), 1, "{}", m.text);
    assert_eq!(status[0].labels["status"], "LEGACY");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    let end = m.value("bedrock_access_model_end_of_life_timestamp_seconds", &near);
    let days = end.map(|t| (t - now) / 86_400.0);
    assert!(
        days.is_some_and(|d| d > 18.9 && d <= 20.0),
        "end of life in {days:?} days"
    );

    // Every tuple's labels come from the configuration.
    for s in m.find("bedrock_access_probe_success", &[]) {
        for label in [
            "target",
            "account_id",
            "role_name",
            "aws_region",
            "model_id",
        ] {
            assert!(
                s.labels.contains_key(label),
                "{label} missing on {:?}",
                s.labels
            );
        }
    }
    let healthy = m.find(
        "bedrock_access_probe_success",
        &[("target", "healthy-claude")],
    );
    assert!(
        healthy
            .iter()
            .all(|s| s.labels["account_id"] == "222222222222"
                && s.labels["role_name"] == "BedrockProbeRole")
    );

    // Probes really invoked the model: tokens were counted.
    let output_tokens = m.value(
        "bedrock_access_invoke_tokens_total",
        &[
            ("target", "healthy-claude"),
            ("aws_region", "us-east-1"),
            ("direction", "output"),
        ],
    );
    assert!(
        matches!(output_tokens, Some(v) if v >= 1.0),
        "output tokens {output_tokens:?}"
    );

    // Nothing secret in the metrics or the logs: not the secret keys, not the external id.
    let log = exporter.proc.log_text();
    for secret in [
        "demo-external-id",
        "demoPlatformSecretKey0000000000000000001",
        "demoOpsSecretKey00000000000000000000002",
    ] {
        assert!(!m.text.contains(secret), "{secret} appears in /metrics");
        assert!(
            !log.contains(secret),
            "{secret} appears in the exporter's log"
        );
    }
    // One log line per layer failure, naming target, layer and reason.
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("target=untrusted-source") && l.contains("reason=assume_role_denied")
        })
        .collect();
    assert!(
        !lines.is_empty(),
        "no log line for the untrusted-source failure"
    );
    drop(sim);
}

#[test]
fn the_demo_over_https_tells_every_story_with_the_ca_it_made_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (demo, addr) = start_demo_with(dir.path(), &["--tls"]);
    let exporter = Exporter { proc: demo, addr };
    let m = exporter.scrape_until(
        Duration::from_secs(90),
        "every demo tuple probed once over HTTPS",
        |m| m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == 22,
    );
    let failed: Vec<String> = stories()
        .iter()
        .filter_map(|s| {
            let wrong = check(&m, s);
            (!wrong.is_empty()).then(|| format!("{} ({}): {}", s.says, s.target, wrong.join("; ")))
        })
        .collect();
    assert!(failed.is_empty(), "{}\n{}", failed.join("\n"), m.text);
    let out = exporter.proc.log_text();
    let ca = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("CA:"))
        .and_then(|rest| rest.split_whitespace().next())
        .map(std::path::PathBuf::from);
    assert!(
        out.contains("simulator: https://127.0.0.1:"),
        "the demo names its HTTPS simulator:\n{out}"
    );
    assert!(
        ca.as_ref().is_some_and(
            |p| std::fs::read_to_string(p).is_ok_and(|pem| pem.contains("BEGIN CERTIFICATE"))
        ),
        "the demo names the CA file it made up: {ca:?}\n{out}"
    );
}

/// `demo` on a free loopback port, with its daemon ready.
fn start_demo(dir: &std::path::Path) -> (common::Proc, std::net::SocketAddr) {
    start_demo_with(dir, &[])
}

/// `demo` with `extra` arguments on a free loopback port, with its daemon ready.
fn start_demo_with(dir: &std::path::Path, extra: &[&str]) -> (common::Proc, std::net::SocketAddr) {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let mut args = vec!["demo".to_string(), format!("--web.listen-address={addr}")];
    args.extend(extra.iter().map(|a| a.to_string()));
    let demo = common::spawn(dir, "demo", &args, &[]);
    common::wait_listening(addr, Duration::from_secs(30));
    let start = std::time::Instant::now();
    while common::http_get(&format!("http://{addr}/-/ready")).0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the demo's daemon is not ready after 30 s:\n{}",
            common::tail(&demo.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (demo, addr)
}

/// (state, parent pid) of a process, from `/proc/PID/stat`; `None` once it is gone.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMM) STATE PPID …`; COMM may itself contain spaces and parentheses.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Running, not a zombie waiting to be reaped by whoever inherited it.
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// The daemon the demo `parent` started: its only child process.
fn daemon_of(parent: u32) -> u32 {
    let children: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| proc_stat(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .filter(|pid| alive(*pid))
        .collect();
    assert_eq!(children.len(), 1, "children of the demo: {children:?}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", children[0])).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--config.file="),
        "the demo's child is not its daemon: {cmdline:?}"
    );
    children[0]
}

/// Waits up to `limit` for `pid` to end.
fn ended_within(pid: u32, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while alive(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn a_demo_killed_with_sigkill_takes_its_daemon_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, addr) = start_demo(dir.path());
    let daemon = daemon_of(demo.child.id());

    // `kill -9` on the demo (or the OOM killer): it cannot forward anything.
    demo.child.kill().expect("SIGKILL the demo");
    demo.child.wait().expect("reap the demo");

    assert!(
        ended_within(daemon, Duration::from_secs(10)),
        "the demo's daemon (pid {daemon}) still runs 10 s after the demo was killed:\n{}",
        common::tail(&demo.log_text(), 20)
    );
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "something still serves the demo's port {addr}"
    );
}

#[test]
fn sighup_and_sigterm_sent_to_the_demo_reach_its_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, addr) = start_demo(dir.path());
    let daemon = daemon_of(demo.child.id());

    // SIGHUP: the daemon reloads its configuration and keeps serving.
    demo.signal("HUP");
    let start = std::time::Instant::now();
    while !demo.log_text().contains("configuration reloaded") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no reload 20 s after SIGHUP to the demo:\n{}",
            common::tail(&demo.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(alive(daemon), "the daemon stopped on SIGHUP");
    assert_eq!(
        common::http_get(&format!("http://{addr}/-/ready")).0,
        200,
        "not ready after the reload"
    );

    // SIGTERM: the daemon stops gracefully and the demo exits with its status.
    demo.signal("TERM");
    let status = demo.wait_exit(Duration::from_secs(20));
    let log = demo.log_text();
    assert!(
        status.is_some_and(|s| s.success()),
        "demo after SIGTERM: {status:?}\n{}",
        common::tail(&log, 40)
    );
    assert!(
        log.contains("SIGTERM received"),
        "the daemon never saw the SIGTERM:\n{}",
        common::tail(&log, 40)
    );
    assert!(!alive(daemon), "the daemon outlived the demo's SIGTERM");
}
