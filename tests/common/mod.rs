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

/// The simulator, started with `simulate --scenario=...` on a free loopback port (or several).
pub struct Sim {
    pub proc: Proc,
    pub addr: SocketAddr,
    /// Every listener (the first is `addr`).
    pub addrs: Vec<SocketAddr>,
    /// With `--tls`: the made-up CA's certificate (PEM file).
    pub ca_file: Option<PathBuf>,
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
        Sim {
            proc,
            addr,
            addrs: vec![addr],
            ca_file: None,
        }
    }

    /// `simulate --tls` on `listeners` free loopback ports (e.g. one per service and one to
    /// read the counters on), its made-up CA written to `dir/simulator-ca.pem`.
    pub fn start_tls(dir: &Path, scenario: &Path, listeners: usize) -> Sim {
        let addrs: Vec<SocketAddr> = (0..listeners.max(1))
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect();
        let ca_file = dir.join("simulator-ca.pem");
        let mut args = vec![
            "simulate".to_string(),
            format!("--scenario={}", scenario.display()),
            "--tls".into(),
            format!("--tls.ca-file={}", ca_file.display()),
        ];
        args.extend(addrs.iter().map(|a| format!("--listen={a}")));
        let proc = spawn(dir, "simulate", &args, &[]);
        for a in &addrs {
            wait_listening(*a, Duration::from_secs(20));
        }
        assert!(ca_file.exists(), "no CA file:\n{}", proc.log_text());
        Sim {
            proc,
            addr: addrs[0],
            addrs,
            ca_file: Some(ca_file),
        }
    }

    /// The simulator with the demo scenario (`config/demo/scenario.toml`).
    pub fn start_demo(dir: &Path) -> Sim {
        Sim::start(dir, &repo("config/demo/scenario.toml"))
    }

    pub fn url(&self) -> String {
        self.url_of(0)
    }

    /// The URL of listener `i`.
    pub fn url_of(&self, i: usize) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addrs[i])
    }

    /// The simulator's counters (`GET /_sim/metrics`), read on listener `i` (which counts this
    /// connection too: read on a listener the client under test does not use).
    pub fn counters(&self, i: usize) -> Metrics {
        let (status, body) = match &self.ca_file {
            Some(ca) => https_get(self.addrs[i], "localhost", ca, "/_sim/metrics"),
            None => http_get(&format!("{}/_sim/metrics", self.url_of(i))),
        };
        assert_eq!(status, 200, "GET /_sim/metrics: {body}");
        Metrics::parse(&body)
    }
}

/// `GET path` over HTTPS to `addr` as `host`, trusting only the CA in `ca_file`; the status
/// and the body (the simulator's own answers have a Content-Length and close on request).
pub fn https_get(addr: SocketAddr, host: &str, ca_file: &Path, path: &str) -> (u16, String) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("CA added");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_string()).expect("server name");
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    })
}

/// The exporter daemon, started against `endpoint` with the AWS shared config file `aws_config`.
/// A simulator and a daemon over three files of a test's own: the simulator's scenario, the
/// exporter's configuration and the AWS config file (written to `dir` as `scenario.toml`,
/// `exporter.toml` and `aws-config`).
pub struct Lab {
    /// Holds the lab's files while the processes run.
    pub dir: tempfile::TempDir,
    pub sim: Sim,
    pub exporter: Exporter,
}

impl Lab {
    pub fn start(scenario: &str, config: &str, aws_config: &str) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in [
            ("scenario.toml", scenario),
            ("exporter.toml", config),
            ("aws-config", aws_config),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write lab file");
        }
        let sim = Sim::start(dir.path(), &dir.path().join("scenario.toml"));
        let exporter = Exporter::start(
            dir.path(),
            &dir.path().join("exporter.toml"),
            &dir.path().join("aws-config"),
            &sim.url(),
        );
        Lab { dir, sim, exporter }
    }
}

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
