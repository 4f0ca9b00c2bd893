//! End to end: a configuration file cannot hurt the real binary. `check-config`, the start and
//! a reload (`POST /-/reload` and SIGHUP) reject a YAML alias bomb and a depth bomb in well
//! under a second and 100 MB, and an oversize `concurrency` that once crashed the scheduler; a
//! rejected reload keeps the running configuration and says so; `check-config | head -1` ends
//! quietly; a FIFO at the configuration path is refused at once; a name with a right-to-left
//! override is refused.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Exporter, Sim, repo};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const MB: i64 = 1024;

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/config").join(name)
}

/// A finished run of the binary: exit code, wall time, peak resident memory (KiB, from
/// wait4's rusage) and its output.
struct Finished {
    code: Option<i32>,
    took: Duration,
    max_rss_kib: i64,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` to its end (killed after 20 s) and measures it.
// The child is reaped by wait4 (std's wait would reap a pid that may have been reused since).
#[allow(clippy::zombie_processes)]
fn run_measured(dir: &Path, args: &[String]) -> Finished {
    let out = dir.join("out.txt");
    let err = dir.join("err.txt");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    Finished {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        took,
        max_rss_kib: usage.ru_maxrss,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

fn check_config(dir: &Path, path: &Path) -> Finished {
    run_measured(
        dir,
        &[
            "check-config".to_string(),
            format!("--config.file={}", path.display()),
        ],
    )
}

/// Peak resident memory of a running process, from /proc (KiB).
fn vm_hwm_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn check_config_rejects_the_yaml_bombs_in_under_a_second_and_100_mb() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (bomb, says) in [
        (
            "bad-yaml-alias-bomb.yaml",
            ":7: the YAML expands to more than",
        ),
        (
            "bad-yaml-depth-bomb.yaml",
            ":5: the YAML nests tables and lists",
        ),
    ] {
        let run = check_config(dir.path(), &fixture(bomb));
        assert_eq!(run.code, Some(1), "{bomb}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{bomb}: {}", run.stderr);
        assert!(run.took < Duration::from_secs(1), "{bomb}: {:?}", run.took);
        assert!(
            run.max_rss_kib < 100 * MB,
            "{bomb}: peak {} KiB",
            run.max_rss_kib
        );
    }
}

#[test]
fn check_config_piped_into_head_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2,000 tuples: far more output than a pipe holds.
    let models: Vec<String> = (0..500)
        .map(|i| format!("\"amazon.m-{i:03}-v1:0\""))
        .collect();
    let cfg = dir.path().join("big.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[targets]]\nname = \"big\"\nregions = [\"us-east-1\", \"us-west-2\", \"eu-west-1\", \"eu-central-1\"]\nmodels = [{}]\n",
            models.join(", ")
        ),
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .args(["check-config", &format!("--config.file={}", cfg.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(
        first.contains("valid, 1 target(s), 2000 tuple(s)"),
        "{first}"
    );
    // `head -1` has exited: the reading end is closed (dropped above).
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_fifo_at_the_configuration_path_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("config.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let run = check_config(dir.path(), &fifo);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("is a FIFO (named pipe), not a regular file"),
        "{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(1), "{:?}", run.took);
    // The daemon refuses to start on it, too.
    let run = run_measured(
        dir.path(),
        &[
            format!("--config.file={}", fifo.display()),
            "--web.listen-address=127.0.0.1:0".to_string(),
        ],
    );
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("FIFO"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(2), "{:?}", run.took);
}

#[test]
fn a_name_with_a_right_to_left_override_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = check_config(dir.path(), &fixture("bad-target-name-bidi.toml"));
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(
            ":20: targets[1].name: contains a bidirectional formatting character (U+202E)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\u{202E}'),
        "the override is not echoed"
    );
}

#[test]
fn an_oversize_concurrency_is_refused_by_check_config_and_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = fixture("bad-concurrency-too-large.toml");
    let run = check_config(dir.path(), &bad);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(":5: probe.concurrency: 9223372036854775807 is above the maximum of 1024"),
        "{}",
        run.stderr
    );
    let run = run_measured(
        dir.path(),
        &[
            format!("--config.file={}", bad.display()),
            "--web.listen-address=127.0.0.1:0".to_string(),
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("probe.concurrency"), "{}", run.stderr);
    assert!(run.stdout.is_empty() || !run.stdout.contains("panicked"));
}

fn good_yaml() -> String {
    format!(
        "probe:\n  interval: 10s\n  timeout: 5s\nsources:\n  - name: platform\n    profile: demo-platform\ntargets:\n  - name: steady\n    source: platform\n    role_arn: arn:aws:iam::222222222222:role/BedrockProbeRole\n    external_id: demo-external-id\n    regions: [us-east-1]\n    models: [\"{HAIKU}\"]\n"
    )
}

/// The daemon kept its configuration: still ready, still one tuple with its series, the last
/// reload marked failed.
fn kept_running(exporter: &Exporter) {
    assert_eq!(exporter.get("/-/ready").0, 200);
    let m = exporter.scrape();
    assert_eq!(m.value("bedrock_access_exporter_tuples", &[]), Some(1.0));
    assert_eq!(
        m.value("bedrock_access_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        m.find("bedrock_access_probe_success", &[("target", "steady")])
            .len(),
        1,
        "the running configuration's series vanished"
    );
}

#[test]
fn a_reload_of_a_bomb_an_oversize_value_or_a_fifo_is_refused_and_the_daemon_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let cfg = dir.path().join("exporter.yaml");
    std::fs::write(&cfg, good_yaml()).expect("write config");
    let exporter = Exporter::start(
        dir.path(),
        &cfg,
        &repo("config/demo/aws-config"),
        &sim.url(),
    );
    exporter.scrape_until(Duration::from_secs(30), "the first probe", |m| {
        !m.find("bedrock_access_probe_success", &[("target", "steady")])
            .is_empty()
    });
    let pid = exporter.proc.child.id();

    for (bomb, says) in [
        ("bad-yaml-alias-bomb.yaml", "the YAML expands to more than"),
        (
            "bad-yaml-depth-bomb.yaml",
            "the YAML nests tables and lists",
        ),
    ] {
        std::fs::copy(fixture(bomb), &cfg).expect("copy bomb");
        let started = Instant::now();
        let (status, body) = exporter.post("/-/reload");
        assert!(started.elapsed() < Duration::from_secs(1), "{bomb}");
        assert_eq!(status, 500, "{bomb}: {body}");
        assert!(body.contains(says), "{bomb}: {body}");
        assert!(body.contains("the running configuration stays"), "{body}");
        kept_running(&exporter);
        assert!(
            vm_hwm_kib(pid) < 100 * MB,
            "{bomb}: peak {} KiB",
            vm_hwm_kib(pid)
        );
    }

    // The value that once panicked the scheduler, by POST and by SIGHUP.
    std::fs::write(
        &cfg,
        good_yaml().replace(
            "timeout: 5s",
            "timeout: 5s\n  concurrency: 9223372036854775807",
        ),
    )
    .expect("write");
    let (status, body) = exporter.post("/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("probe.concurrency: 9223372036854775807 is above"),
        "{body}"
    );
    kept_running(&exporter);
    exporter.proc.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        exporter.get("/-/healthy").0,
        200,
        "SIGHUP killed the daemon"
    );
    kept_running(&exporter);

    // A FIFO where the file was: refused at once, not waited on.
    std::fs::remove_file(&cfg).expect("remove");
    assert!(
        Command::new("mkfifo")
            .arg(&cfg)
            .status()
            .expect("mkfifo")
            .success()
    );
    let started = Instant::now();
    let (status, body) = exporter.post("/-/reload");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("FIFO"), "{body}");
    kept_running(&exporter);

    // Fixed: the reload succeeds again.
    std::fs::remove_file(&cfg).expect("remove");
    std::fs::write(&cfg, good_yaml()).expect("write");
    let (status, body) = exporter.post("/-/reload");
    assert_eq!(status, 200, "{body}");
    assert!(!exporter.proc.log_text().contains("panicked"));
}
