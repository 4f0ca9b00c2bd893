//! End to end: operators behind an egress proxy set `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`,
//! and every AWS call of the daemon must honour them. A small forward proxy written here, on
//! loopback, records what it relays: absolute-form requests (`POST http://host:port/ HTTP/1.1`,
//! what a client sends for an `http://` endpoint) are forwarded to the simulator, `CONNECT`
//! (what a client sends for an `https://` endpoint) is tunnelled.
//!
//! The simulator speaks plain HTTP, so for its endpoint `HTTP_PROXY` is the variable that
//! applies; `HTTPS_PROXY` applies to `https://` endpoints (real AWS).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Exporter, Metrics, Sim, free_port, repo};

const PROXY_USER: &str = "probe-proxy-user";
const PROXY_PASSWORD: &str = "pr0xy-Passw0rd-never-logged";

/// One request the proxy received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// The request target as sent to the proxy (`http://…` or `host:port` for CONNECT).
    target: String,
    host: Option<String>,
    /// The service of the SigV4 credential scope (`sts`, `bedrock`), when signed.
    service: Option<String>,
    proxy_authorization: Option<String>,
}

/// A forward HTTP proxy on loopback that records every request it relays.
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || relay(conn, &record));
            }
        });
        Proxy { addr, seen }
    }

    /// The proxy URL with credentials in it.
    fn url_with_credentials(&self) -> String {
        format!("http://{PROXY_USER}:{PROXY_PASSWORD}@{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Serves one client connection: one request, relayed with `Connection: close`.
fn relay(client: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return answer(client, "400 Bad Request");
    };
    let (method, target, version) = (method.to_string(), target.to_string(), version.to_string());
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let service = header("authorization").and_then(|a| {
        let scope = a.split("Credential=").nth(1)?;
        scope.split('/').nth(3).map(str::to_string)
    });
    if let Ok(mut s) = seen.lock() {
        s.push(Seen {
            method: method.clone(),
            target: target.clone(),
            host: header("host"),
            service,
            proxy_authorization: header("proxy-authorization"),
        });
    }

    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(&target) else {
            return answer(client, "502 Bad Gateway");
        };
        let mut client_w = client;
        if client_w
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .is_err()
        {
            return;
        }
        let early = reader.buffer().to_vec();
        if upstream.write_all(&early).is_err() {
            return;
        }
        let Ok(mut upstream_r) = upstream.try_clone() else {
            return;
        };
        let Ok(mut client_r) = client_w.try_clone() else {
            return;
        };
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_r, &mut upstream);
            let _ = upstream.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut upstream_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Both);
        let _ = up.join();
        return;
    }

    // Absolute-form: `http://authority/path`.
    let Some(rest) = target.strip_prefix("http://") else {
        return answer(client, "400 Bad Request");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if header("transfer-encoding").is_some() {
        return answer(client, "501 Not Implemented");
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(authority) else {
        return answer(client, "502 Bad Gateway");
    };
    let mut head = format!("{method} {path} {version}\r\n");
    for (k, v) in &headers {
        let hop = [
            "proxy-authorization",
            "proxy-connection",
            "connection",
            "keep-alive",
        ];
        if !hop.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(head.as_bytes()).is_err() || upstream.write_all(&body).is_err() {
        return;
    }
    let mut client_w = client;
    let _ = std::io::copy(&mut upstream, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
}

fn answer(mut client: TcpStream, status: &str) {
    let _ = client.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let _ = client.shutdown(Shutdown::Both);
}

/// Standard base64 (RFC 4648, padded), for the expected `Proxy-Authorization`.
fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The proxy environment of a test exporter: exactly these values, whatever the environment
/// of the test run holds (an empty upper-case variable hides the lower-case one).
fn proxy_env(http: &str, https: &str, no_proxy: &str) -> Vec<(String, String)> {
    [
        ("HTTP_PROXY", http),
        ("HTTPS_PROXY", https),
        ("ALL_PROXY", ""),
        ("NO_PROXY", no_proxy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The demo's healthy target alone (two regions), from the demo configuration's sources.
fn healthy_only_config(dir: &Path) -> PathBuf {
    let config = r#"
[probe]
interval = "10s"
timeout = "5s"
concurrency = 4
invoke = "converse"
model_access = true
session_duration = "15m"
max_tokens = 1

[[sources]]
name = "platform"
profile = "demo-platform"
expected_account = "111111111111"

[[targets]]
name = "healthy-claude"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["us-east-1", "us-west-2"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;
    let path = dir.join("healthy.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// Layer results and failure infos of a scrape, keyed by their labels, for comparison.
fn outcomes(m: &Metrics) -> BTreeMap<String, f64> {
    m.samples
        .iter()
        .filter(|s| {
            s.name == "bedrock_access_layer_success"
                || s.name == "bedrock_access_failure_info"
                || s.name == "bedrock_access_probe_success"
        })
        .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
        .collect()
}

/// Every configured tuple (the exporter's own `_tuples` gauge) has been probed once.
fn probed(m: &Metrics) -> bool {
    let tuples = m
        .value("bedrock_access_exporter_tuples", &[])
        .unwrap_or(0.0) as usize;
    tuples > 0 && m.find("bedrock_access_probe_timestamp_seconds", &[]).len() == tuples
}

fn layer(m: &Metrics, target: &str, region: &str, layer: &str) -> Option<f64> {
    m.value(
        "bedrock_access_layer_success",
        &[("target", target), ("aws_region", region), ("layer", layer)],
    )
}

#[test]
fn probes_through_an_http_proxy_give_the_same_results_as_direct_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let proxy = Proxy::start();
    let direct_dir = dir.path().join("direct");
    let proxied_dir = dir.path().join("proxied");
    std::fs::create_dir_all(&direct_dir).expect("mkdir");
    std::fs::create_dir_all(&proxied_dir).expect("mkdir");

    let direct = Exporter::start_with(
        &direct_dir,
        &repo("config/demo/exporter.toml"),
        &repo("config/demo/aws-config"),
        &sim.url(),
        &proxy_env("", "", ""),
    );
    let url = proxy.url_with_credentials();
    let proxied = Exporter::start_with(
        &proxied_dir,
        &repo("config/demo/exporter.toml"),
        &repo("config/demo/aws-config"),
        &sim.url(),
        &proxy_env(&url, &url, ""),
    );

    let limit = Duration::from_secs(90);
    let d = direct.scrape_until(limit, "every demo tuple probed directly", probed);
    let p = proxied.scrape_until(limit, "every demo tuple probed through the proxy", probed);

    for region in ["us-east-1", "us-west-2"] {
        for l in ["credentials", "assume_role", "model_access", "invoke"] {
            assert_eq!(
                layer(&p, "healthy-claude", region, l),
                Some(1.0),
                "healthy-claude {region} {l} through the proxy\n{}",
                p.text
            );
        }
    }
    let (d, p) = (outcomes(&d), outcomes(&p));
    assert!(d.len() > 40, "too few outcomes to compare: {}", d.len());
    let differ: Vec<String> = d
        .keys()
        .chain(p.keys())
        .filter(|k| d.get(*k) != p.get(*k))
        .map(|k| format!("{k}: direct {:?}, proxied {:?}", d.get(k), p.get(k)))
        .collect();
    assert!(differ.is_empty(), "results differ:\n{}", differ.join("\n"));

    // The proxy relayed STS and Bedrock calls, addressed to the simulator in absolute form,
    // with the URL's credentials as Basic proxy authorization.
    let seen = proxy.seen();
    let sim_prefix = format!("{}/", sim.url());
    let services: Vec<&str> = seen.iter().filter_map(|s| s.service.as_deref()).collect();
    assert!(services.contains(&"sts"), "no STS call seen: {seen:?}");
    assert!(
        services.contains(&"bedrock"),
        "no Bedrock call seen: {seen:?}"
    );
    let expected_auth = format!(
        "Basic {}",
        base64(format!("{PROXY_USER}:{PROXY_PASSWORD}").as_bytes())
    );
    for s in &seen {
        assert_ne!(s.method, "CONNECT", "no tunnel for an http endpoint: {s:?}");
        assert!(s.target.starts_with(&sim_prefix), "target {s:?}");
        assert_eq!(s.host.as_deref(), Some(sim.addr.to_string().as_str()));
        assert_eq!(
            s.proxy_authorization.as_deref(),
            Some(expected_auth.as_str())
        );
    }
    // Credentials in the proxy URL are a secret like any other.
    let log = proxied.proc.log_text();
    assert!(
        !log.contains(PROXY_PASSWORD),
        "the proxy password appears in the exporter's log"
    );
    assert!(
        !log.contains(&expected_auth["Basic ".len()..]),
        "the proxy authorization header appears in the exporter's log"
    );
    let status = proxied.get("/api/v1/status");
    assert!(
        !status.1.contains(PROXY_PASSWORD),
        "proxy password in the status API"
    );
}

#[test]
fn no_proxy_listing_the_endpoint_and_https_proxy_alone_leave_an_http_endpoint_direct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let config = healthy_only_config(dir.path());
    let bypassed = Proxy::start();
    let https_only = Proxy::start();
    let a_dir = dir.path().join("no-proxy");
    let b_dir = dir.path().join("https-only");
    std::fs::create_dir_all(&a_dir).expect("mkdir");
    std::fs::create_dir_all(&b_dir).expect("mkdir");

    let url = bypassed.url_with_credentials();
    let with_no_proxy = Exporter::start_with(
        &a_dir,
        &config,
        &repo("config/demo/aws-config"),
        &sim.url(),
        &proxy_env(&url, &url, "127.0.0.1"),
    );
    let url = https_only.url_with_credentials();
    let with_https_proxy_only = Exporter::start_with(
        &b_dir,
        &config,
        &repo("config/demo/aws-config"),
        &sim.url(),
        &proxy_env("", &url, ""),
    );

    let limit = Duration::from_secs(60);
    for (name, exporter) in [
        ("NO_PROXY=127.0.0.1", &with_no_proxy),
        ("HTTPS_PROXY only", &with_https_proxy_only),
    ] {
        let m = exporter.scrape_until(limit, name, probed);
        for region in ["us-east-1", "us-west-2"] {
            assert_eq!(
                layer(&m, "healthy-claude", region, "invoke"),
                Some(1.0),
                "{name}: healthy-claude {region}\n{}",
                m.text
            );
        }
    }
    assert!(
        bypassed.seen().is_empty(),
        "NO_PROXY=127.0.0.1, yet the proxy saw {:?}",
        bypassed.seen()
    );
    assert!(
        https_only.seen().is_empty(),
        "an http:// endpoint went to HTTPS_PROXY: {:?}",
        https_only.seen()
    );
}

#[test]
fn a_proxy_that_refuses_connections_fails_credentials_with_a_transient_network_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let config = healthy_only_config(dir.path());
    // A loopback port nobody listens on: every connection to the proxy is refused.
    let refused = format!(
        "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
        free_port()
    );
    let exporter = Exporter::start_with(
        dir.path(),
        &config,
        &repo("config/demo/aws-config"),
        &sim.url(),
        &proxy_env(&refused, &refused, ""),
    );
    let m = exporter.scrape_until(Duration::from_secs(60), "both tuples probed", probed);
    for region in ["us-east-1", "us-west-2"] {
        let base = [("target", "healthy-claude"), ("aws_region", region)];
        assert_eq!(
            layer(&m, "healthy-claude", region, "credentials"),
            Some(0.0),
            "{}",
            m.text
        );
        let info = m.find("bedrock_access_failure_info", &base);
        assert_eq!(info.len(), 1, "{}", m.text);
        assert_eq!(info[0].labels["layer"], "credentials");
        assert_eq!(info[0].labels["reason"], "network_error");
        assert_eq!(info[0].labels["class"], "transient");
        assert_eq!(layer(&m, "healthy-claude", region, "assume_role"), None);
    }
    assert!(
        exporter.proc.child.id() > 0 && exporter.get("/-/healthy").0 == 200,
        "the exporter keeps serving"
    );
    let log = exporter.proc.log_text();
    assert!(!log.contains("panicked"), "panic in the log:\n{log}");
    assert!(
        !log.contains(PROXY_PASSWORD),
        "the proxy password appears in the exporter's log"
    );
}

#[test]
fn an_https_endpoint_is_reached_through_a_connect_tunnel_of_https_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let config = healthy_only_config(dir.path());
    let proxy = Proxy::start();
    let url = proxy.url_with_credentials();
    // The simulator speaks plain HTTP: the tunnel is established, the TLS handshake inside it
    // fails. What matters here is that the client asked HTTPS_PROXY for the tunnel.
    let endpoint = format!("https://{}", sim.addr);
    let exporter = Exporter::start_with(
        dir.path(),
        &config,
        &repo("config/demo/aws-config"),
        &endpoint,
        &proxy_env("", &url, ""),
    );
    let m = exporter.scrape_until(Duration::from_secs(60), "both tuples probed", probed);
    let seen = proxy.seen();
    let tunnels: Vec<&Seen> = seen.iter().filter(|s| s.method == "CONNECT").collect();
    assert!(!tunnels.is_empty(), "no CONNECT seen: {seen:?}");
    let expected_auth = format!(
        "Basic {}",
        base64(format!("{PROXY_USER}:{PROXY_PASSWORD}").as_bytes())
    );
    for t in &tunnels {
        assert_eq!(t.target, sim.addr.to_string());
        assert_eq!(
            t.proxy_authorization.as_deref(),
            Some(expected_auth.as_str())
        );
    }
    assert_eq!(
        seen.len(),
        tunnels.len(),
        "only tunnels for an https endpoint: {seen:?}"
    );
    for region in ["us-east-1", "us-west-2"] {
        let info = m.find(
            "bedrock_access_failure_info",
            &[("target", "healthy-claude"), ("aws_region", region)],
        );
        assert_eq!(info.len(), 1, "{}", m.text);
        assert_eq!(info[0].labels["reason"], "network_error", "{}", m.text);
    }
    assert!(
        !exporter.proc.log_text().contains(PROXY_PASSWORD),
        "the proxy password appears in the exporter's log"
    );
}

#[test]
fn demo_keeps_a_proxy_of_the_users_shell_away_from_its_loopback_simulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = Proxy::start();
    let url = proxy.url_with_credentials();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let log = dir.path().join("demo.log");
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = std::process::Command::new(common::BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    // A shell behind a corporate proxy: every proxy variable set, NO_PROXY without loopback.
    for k in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env(k, &url);
    }
    cmd.env("NO_PROXY", ".corp.example").env_remove("no_proxy");
    let child = cmd
        .args(["demo".to_string(), format!("--web.listen-address={addr}")])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(out))
        .stderr(std::process::Stdio::from(err))
        .spawn()
        .expect("spawn the demo");
    let demo = common::Proc { child, log };
    common::wait_listening(addr, Duration::from_secs(30));

    let start = std::time::Instant::now();
    let m = loop {
        let (status, body) = common::http_get(&format!("http://{addr}/metrics"));
        let m = Metrics::parse(&body);
        if status == 200 && probed(&m) {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "demo tuples not probed after 90 s\n{}",
            common::tail(&demo.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    for region in ["us-east-1", "us-west-2"] {
        assert_eq!(
            layer(&m, "healthy-claude", region, "invoke"),
            Some(1.0),
            "healthy-claude {region} in the demo behind a proxy\n{}",
            m.text
        );
    }
    assert!(
        proxy.seen().is_empty(),
        "the demo's simulator traffic went to the proxy: {:?}",
        proxy.seen()
    );
    assert!(
        !demo.log_text().contains(PROXY_PASSWORD),
        "the proxy password appears in the demo's output"
    );
}

#[test]
fn base64_matches_the_rfc_4648_test_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
