//! The shipped systemd unit: `systemd-analyze verify` accepts it without a word, and
//! `systemd-analyze security --offline=true` rates its exposure at most 1.5 (Debian's own
//! prometheus-blackbox-exporter unit rates 9.2). The unit must also match the package layout:
//! the binary in /usr/bin, the configuration in /etc/bedrock-access-exporter, the environment
//! file in /etc/default.
//!
//! These tests FAIL when systemd-analyze is missing (`./scripts/install-test-deps` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-access-exporter");
const UNIT_NAME: &str = "bedrock-access-exporter.service";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn unit_text() -> String {
    std::fs::read_to_string(repo("systemd/bedrock-access-exporter.service"))
        .expect("systemd/bedrock-access-exporter.service is readable")
}

/// The unit as shipped, with ExecStart pointed at the binary cargo built (verify checks that
/// the executable exists), written to a fresh directory under its real name.
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let text = unit_text();
    assert!(
        text.contains("ExecStart=/usr/bin/bedrock-access-exporter "),
        "the unit must start /usr/bin/bedrock-access-exporter (where the package installs it)"
    );
    let text = text.replace(
        "ExecStart=/usr/bin/bedrock-access-exporter ",
        &format!("ExecStart={BIN} "),
    );
    let path = dir.join(UNIT_NAME);
    std::fs::write(&path, text).expect("write the unit copy");
    path
}

fn systemd_analyze(args: &[&str]) -> Output {
    match Command::new("systemd-analyze").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "systemd-analyze cannot run ({e}); install it (Debian: apt-get install systemd) — \
             ./scripts/install-test-deps does"
        ),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn systemd_analyze_verify_finds_nothing_wrong_with_the_unit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_this_build(dir.path());
    let out = systemd_analyze(&["verify", &unit.display().to_string()]);
    let all = text(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed ({}):\n{all}",
        out.status
    );
    // Other units of the host may be mentioned (the container has no booted systemd); nothing
    // may be said about ours.
    let about_ours: Vec<&str> = all
        .lines()
        .filter(|l| l.contains(UNIT_NAME) || l.contains(&unit.display().to_string()))
        .collect();
    assert!(
        about_ours.is_empty(),
        "systemd-analyze verify warns about the unit:\n{}",
        about_ours.join("\n")
    );
}

/// The "Overall exposure level for X: 1.1 OK" line's number.
fn overall_exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let (_, after) = line.split_once(": ")?;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_unit_is_rated_at_most_1_5_by_systemd_analyze_security() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_this_build(dir.path());
    let out = systemd_analyze(&[
        "security",
        "--offline=true",
        "--no-pager",
        &unit.display().to_string(),
    ]);
    let report = text(&out);
    let Some(exposure) = overall_exposure(&report) else {
        panic!(
            "no \"Overall exposure level\" in the output ({}):\n{report}",
            out.status
        )
    };
    assert!(
        exposure <= 1.5,
        "exposure {exposure} > 1.5 — the full table:\n{report}"
    );
    // The settings the hardening rests on must be the ones that pass, not an accident of
    // weights: each of these rows must carry a check mark.
    for setting in [
        "SystemCallFilter=~@privileged",
        "SystemCallFilter=~@resources",
        "SystemCallArchitectures=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "NoNewPrivileges=",
        "User=/DynamicUser=",
        "ProtectSystem=",
        "ProtectHome=",
        "MemoryDenyWriteExecute=",
        "RestrictNamespaces=~user",
        "AmbientCapabilities=",
    ] {
        let row = report
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(setting));
        match row {
            Some(r) => assert!(
                r.trim_start().starts_with('✓'),
                "{setting} is not satisfied:\n{r}\n--- full table ---\n{report}"
            ),
            None => panic!("no row for {setting} in:\n{report}"),
        }
    }
}

#[test]
fn the_exposure_parser_reads_the_overall_line() {
    assert_eq!(
        overall_exposure("x\n→ Overall exposure level for a.service: 1.1 OK 🙂\n"),
        Some(1.1)
    );
    assert_eq!(
        overall_exposure("→ Overall exposure level for b.service: 9.2 UNSAFE 😨"),
        Some(9.2)
    );
    assert_eq!(overall_exposure("Failed to load unit"), None);
}

#[test]
fn the_unit_is_a_watched_notify_service_that_reloads_with_sighup() {
    let unit = unit_text();
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "EnvironmentFile=-/etc/default/bedrock-access-exporter",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(has(line), "the unit lacks `{line}`:\n{unit}");
    }
    assert!(
        unit.lines().any(|l| l.starts_with("WatchdogSec=")),
        "the unit has no WatchdogSec"
    );
    assert!(
        unit.contains("--config.file=/etc/bedrock-access-exporter/config.toml"),
        "the unit does not read the packaged configuration"
    );
}

#[test]
fn the_environment_file_is_only_comments_and_assignments_without_secrets() {
    let env = std::fs::read_to_string(repo("systemd/bedrock-access-exporter.env"))
        .expect("systemd/bedrock-access-exporter.env is readable");
    for (i, line) in env.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((key, _)) = l.split_once('=') else {
            panic!("line {}: not VAR=value: {line}", i + 1)
        };
        assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "line {}: not a variable name: {key}",
            i + 1
        );
        for secret in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ACCESS_KEY_ID",
        ] {
            assert_ne!(
                key,
                secret,
                "line {}: a secret in the environment file",
                i + 1
            );
        }
    }
}

#[test]
fn the_flags_in_the_environment_file_are_flags_the_daemon_knows() {
    // EXPORTER_ARGS is appended to ExecStart; every flag in it (active or commented out) must
    // be one the binary documents.
    let env = std::fs::read_to_string(repo("systemd/bedrock-access-exporter.env"))
        .expect("systemd/bedrock-access-exporter.env is readable");
    let help = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let mut seen = 0;
    for line in env.lines() {
        let l = line.trim_start_matches('#');
        let Some(args) = l.strip_prefix("EXPORTER_ARGS=") else {
            continue;
        };
        for flag in args.split_whitespace() {
            let name = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.contains(name),
                "{name} is not a flag of the daemon:\n{help}"
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no EXPORTER_ARGS in the environment file");
}
