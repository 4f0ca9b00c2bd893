//! End to end: the operator's day with the real binary — reloads that add, change and remove
//! targets, a reload that is rejected, `check-config`, a bad file at start-up, the lifecycle
//! endpoints, `/probe`, and a graceful stop on SIGTERM while a probe hangs.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Exporter, Sim, repo};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const TITAN: &str = "amazon.titan-text-express-v1";

fn target(name: &str, region: &str, model: &str) -> String {
    format!(
        r#"
[[targets]]
name = "{name}"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["{region}"]
models = ["{model}"]
"#
    )
}

fn config(targets: &[String]) -> String {
    let mut s = String::from(
        r#"[probe]
interval = "10s"
timeout = "5s"

[[sources]]
name = "platform"
profile = "demo-platform"
"#,
    );
    for t in targets {
        s.push_str(t);
    }
    s
}

fn probed(m: &common::Metrics, target: &str, model: &str) -> bool {
    !m.find(
        "bedrock_access_probe_timestamp_seconds",
        &[("target", target), ("model_id", model)],
    )
    .is_empty()
}

#[test]
fn a_reload_adds_changes_and_removes_targets_and_a_bad_reload_keeps_the_running_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &cfg,
        config(&[
            target("keep", "us-east-1", HAIKU),
            target("change", "us-east-1", HAIKU),
            target("remove", "us-east-1", HAIKU),
        ]),
    )
    .expect("write config");
    let exporter = Exporter::start(
        dir.path(),
        &cfg,
        &repo("config/demo/aws-config"),
        &sim.url(),
    );
    exporter.scrape_until(Duration::from_secs(40), "three tuples probed", |m| {
        probed(m, "keep", HAIKU) && probed(m, "change", HAIKU) && probed(m, "remove", HAIKU)
    });

    // The operator edits the file and sends SIGHUP: "change" now probes another model, "remove"
    // is gone, "added" is new.
    std::fs::write(
        &cfg,
        config(&[
            target("keep", "us-east-1", HAIKU),
            target("change", "us-east-1", TITAN),
            target("added", "us-west-2", HAIKU),
        ]),
    )
    .expect("rewrite config");
    exporter.proc.signal("HUP");
    let m = exporter.scrape_until(Duration::from_secs(40), "reload reflected", |m| {
        probed(m, "change", TITAN) && probed(m, "added", HAIKU)
    });
    assert!(
        m.samples
            .iter()
            .all(|s| s.labels.get("target").map(String::as_str) != Some("remove")),
        "a removed target keeps series:\n{}",
        m.text
    );
    assert!(
        m.find(
            "bedrock_access_layer_success",
            &[("target", "change"), ("model_id", HAIKU)]
        )
        .is_empty(),
        "the changed target still exports its old model"
    );
    assert_eq!(
        m.value("bedrock_access_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(m.value("bedrock_access_exporter_tuples", &[]), Some(3.0));
    assert!(
        probed(&m, "keep", HAIKU),
        "the unchanged target lost its series"
    );

    // A broken file is rejected through POST /-/reload: 500 naming the problems, the running
    // configuration stays, and the reload gauge says so.
    std::fs::write(
        &cfg,
        config(&[
            target("keep", "moon-base-1", HAIKU),
            target("keep", "us-east-1", HAIKU),
        ]),
    )
    .expect("write bad config");
    let (status, body) = exporter.post("/-/reload");
    assert_eq!(status, 500, "bad reload answered {status}: {body}");
    assert!(
        body.contains("exporter.toml"),
        "the error names the file: {body}"
    );
    assert!(
        body.contains("moon-base-1") || body.contains("regions"),
        "names the region problem: {body}"
    );
    assert!(
        body.to_lowercase().contains("duplicate"),
        "names the duplicate target: {body}"
    );
    let m = exporter.scrape();
    assert_eq!(
        m.value("bedrock_access_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(m.value("bedrock_access_exporter_tuples", &[]), Some(3.0));
    assert!(
        probed(&m, "added", HAIKU),
        "the running configuration was dropped"
    );
    let (status, _) = exporter.get("/-/ready");
    assert_eq!(status, 200, "still ready on the old configuration");
}

#[test]
fn sigterm_during_a_hung_probe_stops_promptly_with_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("scenario.toml");
    let mut text =
        std::fs::read_to_string(repo("config/demo/scenario.toml")).expect("demo scenario");
    text.push_str("\n[[faults]]\nservice = \"bedrock-runtime\"\nkind = \"hang\"\n");
    std::fs::write(&scenario, text).expect("write scenario");
    let sim = Sim::start(dir.path(), &scenario);
    let cfg = dir.path().join("exporter.toml");
    let mut c = config(&[target("hangs", "us-east-1", HAIKU)]);
    c = c.replace("timeout = \"5s\"", "timeout = \"9s\"");
    std::fs::write(&cfg, c).expect("write config");
    let mut exporter = Exporter::start(
        dir.path(),
        &cfg,
        &repo("config/demo/aws-config"),
        &sim.url(),
    );
    exporter.scrape_until(Duration::from_secs(20), "a probe in flight", |m| {
        m.value("bedrock_access_exporter_probes_in_flight", &[]) == Some(1.0)
    });
    assert_eq!(exporter.get("/-/healthy").0, 200);
    assert_eq!(exporter.get("/-/ready").0, 200);
    let start = Instant::now();
    exporter.proc.signal("TERM");
    let status = exporter
        .proc
        .wait_exit(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(status.success(), "exit status {status:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The listener is closed.
    assert!(
        std::net::TcpStream::connect_timeout(&exporter.addr, Duration::from_millis(500)).is_err()
    );
}

#[test]
fn probe_endpoint_probes_one_target_now_and_404s_an_unknown_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &cfg,
        config(&[
            target("one", "us-east-1", HAIKU),
            target("two", "us-west-2", HAIKU),
        ]),
    )
    .expect("write config");
    let exporter = Exporter::start(
        dir.path(),
        &cfg,
        &repo("config/demo/aws-config"),
        &sim.url(),
    );
    let (status, body) = exporter.get("/probe?target=one");
    assert_eq!(status, 200, "{body}");
    let m = common::Metrics::parse(&body);
    let ok = m.find("bedrock_access_probe_success", &[]);
    assert_eq!(ok.len(), 1, "only the asked target: {body}");
    assert_eq!(ok[0].labels["target"], "one");
    assert_eq!(ok[0].value, 1.0, "{body}");
    assert_eq!(
        m.find("bedrock_access_layer_success", &[("target", "one")])
            .len(),
        4
    );

    let (status, body) = exporter.get("/probe?target=nope");
    assert_eq!(status, 404);
    assert!(body.contains("nope"), "the 404 names the target: {body}");
}

#[test]
fn check_config_lists_tuples_of_a_good_file_and_every_problem_of_a_bad_one() {
    let out = Command::new(BIN)
        .args([
            "check-config",
            &format!(
                "--config.file={}",
                repo("config/demo/exporter.toml").display()
            ),
        ])
        .output()
        .expect("run check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-config failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains("target=")).count(),
        22,
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" stream=on ")).count(),
        1,
        "only role-without-stream streams: {stdout}"
    );
    assert!(
        !stdout.contains("demo-external-id"),
        "the external id is printed"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[probe]\ninterval = \"1s\"\n\n[[targets]]\nname = \"a\"\nrole_arn = \"arn:aws:iam::12:role/x\"\nregions = []\nmodels = [\"m\"]\nbogus = 1\n",
    )
    .expect("write bad config");
    let out = Command::new(BIN)
        .args(["check-config", &format!("--config.file={}", bad.display())])
        .output()
        .expect("run check-config");
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in ["bad.toml:2", "interval", "role_arn", "regions", "bogus"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    // The daemon refuses to start on the same file, listing the problems.
    let out = Command::new(BIN)
        .args([
            &format!("--config.file={}", bad.display()),
            "--web.listen-address=127.0.0.1:0",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run daemon");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("bogus") && text.contains("role_arn"),
        "{text}"
    );
}
