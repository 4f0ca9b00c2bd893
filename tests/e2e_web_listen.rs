//! Where the daemon listens, through the real binary: every `--web.listen-address` given, and
//! with `--web.systemd-socket` the socket systemd passes (started here by
//! `systemd-socket-activate`, which passes `LISTEN_FDS`/`LISTEN_PID` the way a `.socket` unit
//! does); without a passed socket it refuses to start and says why.

mod common;
mod web_support;

use std::time::{Duration, Instant};

use web_support::{Web, curl};

#[test]
fn every_listen_address_given_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let second = format!("127.0.0.1:{}", common::free_port());
    let web = Web::start(
        dir.path(),
        None,
        &[&format!("--web.listen-address={second}")],
    );
    web.wait_until("first address ready", || {
        curl(&[], &web.http("/-/ready")).code == 200
    });
    let other = curl(&[], &format!("http://{second}/metrics"));
    assert_eq!(other.code, 200, "{other:?}");
    assert!(other.body.contains("bedrock_access_exporter_build_info"));
    let log = web.log();
    assert!(
        log.contains(&second) && log.contains(&web.addr.to_string()),
        "{log}"
    );
}

#[test]
fn a_socket_passed_by_systemd_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = common::Sim::start_demo(dir.path());
    let addr = format!("127.0.0.1:{}", common::free_port());
    let empty = dir.path().join("empty-credentials");
    std::fs::write(&empty, "").expect("write");
    let cmd: Vec<String> = vec![
        "systemd-socket-activate".into(),
        "--listen".into(),
        addr.clone(),
        common::BIN.into(),
        format!(
            "--config.file={}",
            common::repo("config/demo/exporter.toml").display()
        ),
        "--web.systemd-socket".into(),
        // Ignored with --web.systemd-socket, as in the exporter toolkit.
        "--web.listen-address=127.0.0.1:1".into(),
    ];
    let env = [
        ("AWS_ENDPOINT_URL".to_string(), sim.url()),
        (
            "AWS_CONFIG_FILE".to_string(),
            common::repo("config/demo/aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".to_string(),
            empty.display().to_string(),
        ),
    ];
    let activated = web_support::spawn_command(dir.path(), "activated", &cmd, &env);
    common::wait_listening(addr.parse().expect("addr"), Duration::from_secs(20));
    // The first connection starts the daemon, which accepts it on the passed socket.
    let start = Instant::now();
    while curl(&[], &format!("http://{addr}/-/ready")).code != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not ready on the passed socket:\n{}",
            common::tail(&activated.log_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl(&[], &format!("http://{addr}/metrics")).code, 200);
    assert!(activated.log_text().contains(&format!("address={addr}")));
}

#[test]
fn without_a_passed_socket_systemd_socket_mode_refuses_to_start() {
    let out = std::process::Command::new(common::BIN)
        .arg(format!(
            "--config.file={}",
            common::repo("config/demo/exporter.toml").display()
        ))
        .arg("--web.systemd-socket")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--web.systemd-socket: no socket was passed"),
        "{err}"
    );
}
