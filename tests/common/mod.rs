//! Shared support for the end-to-end tests: start the real binary (simulator and daemon) on
//! loopback, scrape `/metrics`, and parse the Prometheus text format.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bedrock-access-exporter");

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Sends a Unix signal to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("local addr").port()
}

/// Waits until a TCP connect to `addr` succeeds.
pub fn wait_listening(addr: SocketAddr, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {addr} after {limit:?}");
}

/// Starts the binary with `args` in a clean AWS environment plus `env`, logging to `dir/NAME.log`.
pub fn spawn(dir: &Path, name: &str, args: &[String], env: &[(String, String)]) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // A clean AWS environment: only what the test sets. A proxy of the machine running the
    // tests must not carry the loopback simulator's traffic either.
    for (k, _) in std::env::vars() {
        let proxy = matches!(
            k.to_ascii_uppercase().as_str(),
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
        );
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") || proxy {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn binary");
    Proc { child, log }
}

/// The simulator, started with `simulate --scenario=...` on a free loopback port.
pub struct Sim {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Sim {
    pub fn start(dir: &Path, scenario: &Path) -> Sim {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let proc = spawn(
            dir,
            "simulate",
            &[
                "simulate".into(),
                format!("--scenario={}", scenario.display()),
                format!("--listen={addr}"),
            ],
            &[],
        );
        wait_listening(addr, Duration::from_secs(20));
        Sim { proc, addr }
    }

    /// The simulator with the demo scenario (`config/demo/scenario.toml`).
    pub fn start_demo(dir: &Path) -> Sim {
        Sim::start(dir, &repo("config/demo/scenario.toml"))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The exporter daemon, started against `endpoint` with the AWS shared config file `aws_config`.
pub struct Exporter {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Exporter {
    /// The daemon with the demo configuration and AWS config file, against `sim`.
    pub fn start_demo(dir: &Path, sim: &Sim) -> Exporter {
        Exporter::start(
            dir,
            &repo("config/demo/exporter.toml"),
            &repo("config/demo/aws-config"),
            &sim.url(),
        )
    }

    pub fn start(dir: &Path, config: &Path, aws_config: &Path, endpoint: &str) -> Exporter {
        Self::start_with(dir, config, aws_config, endpoint, &[])
    }

    pub fn start_with(
        dir: &Path,
        config: &Path,
        aws_config: &Path,
        endpoint: &str,
        extra_env: &[(String, String)],
    ) -> Exporter {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let empty = dir.join("empty-credentials");
        std::fs::write(&empty, "").expect("write empty credentials");
        let mut env = vec![
            ("AWS_ENDPOINT_URL".to_string(), endpoint.to_string()),
            (
                "AWS_CONFIG_FILE".to_string(),
                aws_config.display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                empty.display().to_string(),
            ),
        ];
        env.extend(extra_env.iter().cloned());
        let proc = spawn(
            dir,
            "exporter",
            &[
                format!("--config.file={}", config.display()),
                format!("--web.listen-address={addr}"),
                "--log.level=debug".into(),
            ],
            &env,
        );
        wait_listening(addr, Duration::from_secs(20));
        let exporter = Exporter { proc, addr };
        let start = Instant::now();
        while exporter.get("/-/ready").0 != 200 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "exporter not ready after 20 s:\n{}",
                tail(&exporter.proc.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("http://{}{}", self.addr, path))
    }

    pub fn post(&self, path: &str) -> (u16, String) {
        http_post(&format!("http://{}{}", self.addr, path))
    }

    pub fn scrape(&self) -> Metrics {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "GET /metrics: {body}");
        Metrics::parse(&body)
    }

    /// Scrapes until `done` holds for the metrics, or panics with the last scrape after `limit`.
    pub fn scrape_until(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let start = Instant::now();
        loop {
            let m = self.scrape();
            if done(&m) {
                return m;
            }
            if start.elapsed() > limit {
                panic!(
                    "{what}: not reached after {limit:?}\n--- last scrape ---\n{}\n--- exporter log (tail) ---\n{}",
                    m.text,
                    tail(&self.proc.log_text(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn http_get(url: &str) -> (u16, String) {
    runtime().block_on(async {
        match ::reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client for loopback")
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    })
}

pub fn http_post(url: &str) -> (u16, String) {
    runtime().block_on(async {
        match ::reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client for loopback")
            .post(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    })
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = match line.rsplit_once(' ') {
                Some(x) => x,
                None => continue,
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match head.find('{') {
                Some(i) => (&head[..i], parse_labels(&head[i + 1..head.len() - 1])),
                None => (head, BTreeMap::new()),
            };
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        Metrics {
            text: text.to_string(),
            samples,
        }
    }

    /// Samples of `name` whose labels include every pair of `want`.
    pub fn find(&self, name: &str, want: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                want.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The single value of `name` with `want`, if exactly one sample matches.
    pub fn value(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, want);
        if found.len() == 1 {
            Some(found[0].value)
        } else {
            None
        }
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        if !after.starts_with('"') {
            break;
        }
        let mut val = String::new();
        let mut chars = after[1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = Some(i + 2);
                    break;
                }
                other => val.push(other),
            }
        }
        out.insert(key, val);
        match end {
            Some(e) => rest = &after[e..],
            None => break,
        }
    }
    out
}
