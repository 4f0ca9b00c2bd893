//! End to end: the real daemon under a pretend service manager. The test binds the unix
//! datagram socket systemd would (`NOTIFY_SOCKET`) and gives a 1 s watchdog
//! (`WATCHDOG_USEC`), then lives through what `systemctl start`, `reload` and `stop` do:
//! READY=1 only once `/-/ready` answers 200, WATCHDOG=1 at half the watchdog period, RELOADING=1
//! with MONOTONIC_USEC then READY=1 on SIGHUP and on `POST /-/reload` (also when the new file is
//! rejected), STOPPING=1 and exit 0 on SIGTERM.

mod common;

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, Proc, free_port, http_get, http_post, tail};

const GOOD_CONFIG: &str = r#"[probe]
interval = "10s"
timeout = "2s"

[[sources]]
name = "platform"

[[targets]]
name = "notify-story"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

/// One datagram as the manager receives it.
struct Note {
    at: Instant,
    text: String,
}

impl Note {
    fn has(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }
    fn value(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// The pretend service manager: a bound datagram socket read by a thread.
struct Manager {
    rx: mpsc::Receiver<Note>,
    seen: Vec<Note>,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        Manager::listen(UnixDatagram::bind(path).expect("bind the notify socket"))
    }

    /// A socket in the abstract namespace (`NOTIFY_SOCKET=@name`).
    fn bind_abstract(name: &str) -> Manager {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        Manager::listen(UnixDatagram::bind_addr(&addr).expect("bind the abstract socket"))
    }

    fn listen(sock: UnixDatagram) -> Manager {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if tx
                    .send(Note {
                        at: Instant::now(),
                        text,
                    })
                    .is_err()
                {
                    return;
                }
            }
        });
        Manager {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next datagram that is not a bare watchdog ping (pings are kept in `seen`).
    fn next_event(&mut self, limit: Duration, what: &str, exporter: &Proc) -> Note {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(n) if n.text == "WATCHDOG=1\n" => self.seen.push(n),
                Ok(n) => {
                    self.seen.push(Note {
                        at: n.at,
                        text: n.text.clone(),
                    });
                    return n;
                }
                Err(_) => panic!(
                    "waiting for {what}: nothing after {limit:?}; received so far:\n{}\n--- exporter log ---\n{}",
                    self.transcript(),
                    tail(&exporter.log_text(), 40)
                ),
            }
        }
    }

    /// Collects everything for `d`.
    fn collect(&mut self, d: Duration) -> Vec<Note> {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(n) = self
            .rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            got.push(Note {
                at: n.at,
                text: n.text.clone(),
            });
            self.seen.push(n);
        }
        got
    }

    fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|n| n.text.trim_end().replace('\n', " | "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Starts the daemon the way systemd would: NOTIFY_SOCKET, WATCHDOG_USEC (and WATCHDOG_PID
/// when given), against an AWS endpoint on a closed loopback port (probes fail fast; that does
/// not concern the service manager).
fn start(dir: &Path, config: &Path, watchdog_pid: Option<&str>) -> (Proc, SocketAddr) {
    let socket = dir.join("notify.sock").display().to_string();
    start_with_socket(dir, config, watchdog_pid, &socket)
}

fn start_with_socket(
    dir: &Path,
    config: &Path,
    watchdog_pid: Option<&str>,
    notify_socket: &str,
) -> (Proc, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let closed = free_port();
    let empty = dir.join("empty");
    std::fs::write(&empty, "").expect("write empty file");
    let log = dir.join("exporter.log");
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = Command::new(BIN);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_")
            || k.starts_with("BEDROCK_EXPORTER")
            || k == "NOTIFY_SOCKET"
            || k.starts_with("WATCHDOG_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("NOTIFY_SOCKET", notify_socket)
        .env("WATCHDOG_USEC", "1000000")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "us-east-1");
    if let Some(pid) = watchdog_pid {
        cmd.env("WATCHDOG_PID", pid);
    }
    let child = cmd.spawn().expect("spawn the daemon");
    (Proc { child, log }, addr)
}

#[test]
fn systemd_hears_ready_watchdog_reload_and_stop_at_the_right_moments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, GOOD_CONFIG).expect("write config");
    let mut manager = Manager::bind(&dir.path().join("notify.sock"));
    let (mut exporter, addr) = start(dir.path(), &config, None);

    // Start: READY=1 arrives, and at that moment /-/ready already answers 200.
    let ready = manager.next_event(Duration::from_secs(30), "READY=1 at start", &exporter);
    let (status, body) = http_get(&format!("http://{addr}/-/ready"));
    assert!(
        ready.has("READY=1"),
        "the first notification is not READY=1: {:?}",
        ready.text
    );
    assert_eq!(
        status, 200,
        "READY=1 was sent before /-/ready answers 200: {body}"
    );
    assert_eq!(
        ready.value("STATUS"),
        Some("probing 1 tuples of 1 targets"),
        "status line: {:?}",
        ready.text
    );

    // Watchdog: WATCHDOG_USEC=1s, so a ping every ~500 ms; never a gap the manager would
    // punish (1 s).
    let window = Duration::from_secs(4);
    let notes = manager.collect(window);
    let pings: Vec<Instant> = notes
        .iter()
        .filter(|n| n.text == "WATCHDOG=1\n")
        .map(|n| n.at)
        .collect();
    assert!(
        (6..=10).contains(&pings.len()),
        "{} watchdog pings in {window:?} at a 500 ms period:\n{}",
        pings.len(),
        manager.transcript()
    );
    let worst = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();
    assert!(
        worst < Duration::from_millis(1000),
        "a {worst:?} gap between watchdog pings would have fired a 1 s watchdog"
    );
    assert!(
        notes.iter().all(|n| n.text == "WATCHDOG=1\n"),
        "unexpected notifications while idle:\n{}",
        manager.transcript()
    );

    // `systemctl reload` (ExecReload=kill -HUP): RELOADING=1 with MONOTONIC_USEC, then READY=1.
    exporter.signal("HUP");
    let reloading = manager.next_event(
        Duration::from_secs(10),
        "RELOADING=1 after SIGHUP",
        &exporter,
    );
    assert!(reloading.has("RELOADING=1"), "{:?}", reloading.text);
    let usec: u64 = reloading
        .value("MONOTONIC_USEC")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "RELOADING=1 without a numeric MONOTONIC_USEC: {:?}",
                reloading.text
            )
        });
    assert!(usec > 0);
    let again = manager.next_event(
        Duration::from_secs(10),
        "READY=1 after the reload",
        &exporter,
    );
    assert!(again.has("READY=1"), "{:?}", again.text);
    assert_eq!(again.value("STATUS"), Some("probing 1 tuples of 1 targets"));

    // A reload through HTTP with a broken file: the manager still hears RELOADING=1 then
    // READY=1 (the old configuration keeps serving), and the status says so.
    std::fs::write(&config, "[probe\ninterval = ").expect("break the config");
    let (code, body) = http_post(&format!("http://{addr}/-/reload"));
    assert_eq!(code, 500, "a broken file must be rejected: {body}");
    let reloading = manager.next_event(
        Duration::from_secs(10),
        "RELOADING=1 on POST /-/reload",
        &exporter,
    );
    assert!(reloading.has("RELOADING=1"), "{:?}", reloading.text);
    assert!(
        reloading.value("MONOTONIC_USEC").is_some(),
        "{:?}",
        reloading.text
    );
    let kept = manager.next_event(
        Duration::from_secs(10),
        "READY=1 after the rejected reload",
        &exporter,
    );
    assert!(kept.has("READY=1"), "{:?}", kept.text);
    let status = kept.value("STATUS").unwrap_or_default();
    assert!(
        status.contains("rejected") && status.contains("probing 1 tuples"),
        "status after a rejected reload: {status:?}"
    );
    assert_eq!(http_get(&format!("http://{addr}/-/ready")).0, 200);

    // Still pinged after the reloads.
    let after = manager.collect(Duration::from_millis(1600));
    assert!(
        after.iter().filter(|n| n.text == "WATCHDOG=1\n").count() >= 3,
        "the watchdog stopped after the reloads:\n{}",
        manager.transcript()
    );

    // `systemctl stop`: STOPPING=1, then exit 0; no ping after STOPPING=1.
    exporter.signal("TERM");
    let stopping = manager.next_event(
        Duration::from_secs(10),
        "STOPPING=1 after SIGTERM",
        &exporter,
    );
    assert!(stopping.has("STOPPING=1"), "{:?}", stopping.text);
    let status = exporter
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| {
            panic!(
                "no exit 15 s after SIGTERM:\n{}",
                tail(&exporter.log_text(), 30)
            )
        });
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let late = manager.collect(Duration::from_millis(300));
    assert!(
        late.is_empty(),
        "notifications after STOPPING=1:\n{}",
        manager.transcript()
    );
}

#[test]
fn a_watchdog_meant_for_another_process_is_never_pinged() {
    // WATCHDOG_PID names the process the watchdog is for; a daemon started by a wrapper must
    // not ping on its behalf. READY=1 still arrives.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, GOOD_CONFIG).expect("write config");
    let mut manager = Manager::bind(&dir.path().join("notify.sock"));
    let (mut exporter, _addr) = start(dir.path(), &config, Some("1"));
    let ready = manager.next_event(Duration::from_secs(30), "READY=1", &exporter);
    assert!(ready.has("READY=1"), "{:?}", ready.text);
    let notes = manager.collect(Duration::from_millis(2000));
    assert!(
        manager.seen.iter().all(|n| !n.has("WATCHDOG=1")),
        "pinged a watchdog that is not ours:\n{}",
        manager.transcript()
    );
    assert!(notes.is_empty());
    exporter.signal("TERM");
    assert!(exporter.wait_exit(Duration::from_secs(15)).is_some());
}

#[test]
fn a_daemon_with_a_broken_configuration_never_tells_systemd_it_is_ready() {
    // `systemctl start` with a typo in config.toml: the daemon exits non-zero and systemd must
    // not have heard READY=1 (the unit fails instead of looking started).
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        GOOD_CONFIG.replace("interval = \"10s\"", "interval = 10"),
    )
    .expect("write config");
    let mut manager = Manager::bind(&dir.path().join("notify.sock"));
    let (mut exporter, _addr) = start(dir.path(), &config, None);
    let status = exporter
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running with a broken configuration"));
    assert!(
        !status.success(),
        "exit status with a broken configuration: {status}"
    );
    manager.collect(Duration::from_millis(300));
    assert!(
        manager.seen.iter().all(|n| !n.has("READY=1")),
        "READY=1 with a broken configuration:\n{}",
        manager.transcript()
    );
}

#[test]
fn a_manager_listening_on_an_abstract_socket_hears_ready_and_stopping_too() {
    // NOTIFY_SOCKET=@name (abstract namespace, as some managers and containers use).
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, GOOD_CONFIG).expect("write config");
    let name = format!("bedrock-access-exporter-test-{}", std::process::id());
    let mut manager = Manager::bind_abstract(&name);
    let (mut exporter, addr) = start_with_socket(dir.path(), &config, None, &format!("@{name}"));
    let ready = manager.next_event(Duration::from_secs(30), "READY=1", &exporter);
    assert!(ready.has("READY=1"), "{:?}", ready.text);
    assert_eq!(http_get(&format!("http://{addr}/-/ready")).0, 200);
    exporter.signal("TERM");
    let stopping = manager.next_event(Duration::from_secs(10), "STOPPING=1", &exporter);
    assert!(stopping.has("STOPPING=1"), "{:?}", stopping.text);
    assert!(
        exporter
            .wait_exit(Duration::from_secs(15))
            .is_some_and(|s| s.success())
    );
}
