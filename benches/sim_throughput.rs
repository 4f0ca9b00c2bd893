//! Simulator throughput on one core: the simulator serves on a tokio `current_thread` runtime in
//! its own thread; another thread pre-signs a realistic mix of requests with aws-sigv4
//! (GetCallerIdentity, AssumeRole, GetFoundationModelAvailability, Converse) and fires them
//! over keep-alive HTTP/1.1 connections (raw socket writes), then prints requests/second and
//! latency percentiles, for the mix and for each operation alone.
//!
//! `cargo bench --bench sim_throughput` (release). Knobs: `SIM_BENCH_REQUESTS` (default
//! 100000), `SIM_BENCH_CONNECTIONS` (default 16), `SIM_BENCH_WIDE_CONNECTIONS` (default 64: the
//! mix is measured again over that many connections, as a busy server sees; one request in
//! flight per connection either way, never pipelined).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_access_exporter::sim::{Simulator, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIABENCHPROBER00001", secret = "benchSecret0000000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/*"}]}']

[[roles]]
account = "222222222222"
name = "BedrockProbeRole"
max_session_duration = 3600
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"bench-ext"}}}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:GetFoundationModelAvailability"],"Resource":"*"},{"Effect":"Deny","Action":"bedrock:*","Resource":"arn:aws:bedrock:*::foundation-model/meta.*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1", "us-west-2"]
[[models]]
id = "amazon.nova-lite-v1:0"
provider = "Amazon"
regions = ["us-east-1"]
[[models]]
id = "meta.llama3-8b-instruct-v1:0"
provider = "Meta"
regions = ["us-east-1"]
"#;

const AK: &str = "AKIABENCHPROBER00001";
const SK: &str = "benchSecret0000000000000000000000000001";
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetCallerIdentity,
    AssumeRole,
    Availability,
    Converse,
}

const OPS: [Op; 4] = [
    Op::GetCallerIdentity,
    Op::AssumeRole,
    Op::Availability,
    Op::Converse,
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("sim_throughput: {what}");
    std::process::exit(1)
}

/// One signed request, serialized.
fn signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    creds: &Credentials,
    service: &str,
    time: SystemTime,
) -> Vec<u8> {
    let host = addr.to_string();
    let content_type = if path == "/" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let base = [("host", host.as_str()), ("content-type", content_type)];
    let identity: Identity = creds.clone().into();
    let params = match aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
    {
        Ok(p) => p.into(),
        Err(e) => fail(e),
    };
    let signable = match SignableRequest::new(
        method,
        format!("http://{host}{path}"),
        base.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    ) {
        Ok(s) => s,
        Err(e) => fail(e),
    };
    let instructions = match sign(signable, &params) {
        Ok(o) => o.into_parts().0,
        Err(e) => fail(e),
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in base.iter().copied().chain(instructions.headers()) {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

fn request(addr: SocketAddr, op: Op, user: &Credentials, session: &Credentials) -> Vec<u8> {
    let now = SystemTime::now();
    match op {
        Op::GetCallerIdentity => signed(
            addr,
            "POST",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15",
            user,
            "sts",
            now,
        ),
        Op::AssumeRole => signed(
            addr,
            "POST",
            "/",
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FBedrockProbeRole&RoleSessionName=bedrock-probe&ExternalId=bench-ext&DurationSeconds=900",
            user,
            "sts",
            now,
        ),
        Op::Availability => signed(
            addr,
            "GET",
            &format!("/foundation-model-availability/{MODEL}"),
            "",
            session,
            "bedrock",
            now,
        ),
        Op::Converse => signed(
            addr,
            "POST",
            &format!("/model/{MODEL}/converse"),
            r#"{"messages":[{"role":"user","content":[{"text":"Say hi."}]}],"inferenceConfig":{"maxTokens":1}}"#,
            session,
            "bedrock",
            now,
        ),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response; returns (status, body).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = &buf[..head_end];
    let status = head
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u16>().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    for line in head.split(|b| *b == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            len = std::str::from_utf8(&line[15..])
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    while buf.len() < head_end + 4 + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end + 4..head_end + 4 + len].to_vec();
    buf.drain(..head_end + 4 + len);
    Ok((status, body))
}

/// On-CPU time of the simulator's thread so far (Linux `schedstat`), when readable.
fn server_cpu(task: &Option<std::path::PathBuf>) -> Option<Duration> {
    let path = task.as_ref()?.join("schedstat");
    let text = std::fs::read_to_string(path).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Stats {
    requests: usize,
    /// On-CPU time of the simulator thread during the run.
    server_cpu: Option<Duration>,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Fires `requests` over `connections` keep-alive connections, one request in flight each.
async fn fire(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    task: &Option<std::path::PathBuf>,
) -> Stats {
    let cpu0 = server_cpu(task);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let requests = Arc::clone(&requests);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut s = match TcpStream::connect(addr).await {
                Ok(s) => s,
                Err(e) => fail(format!("connect: {e}")),
            };
            let _ = s.set_nodelay(true);
            let mut buf = Vec::with_capacity(16384);
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                let t0 = Instant::now();
                if let Err(e) = s.write_all(req).await {
                    fail(format!("write: {e}"));
                }
                match read_response(&mut s, &mut buf).await {
                    Ok((200, _)) => {}
                    Ok((status, body)) => {
                        if errors == 0 {
                            eprintln!(
                                "unexpected answer {status}: {}",
                                String::from_utf8_lossy(&body)
                            );
                        }
                        errors += 1;
                    }
                    Err(e) => fail(format!("read: {e}")),
                }
                latencies.push(t0.elapsed());
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::with_capacity(requests.len());
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(e) => fail(e),
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = match (cpu0, server_cpu(task)) {
        (Some(a), Some(b)) => b.checked_sub(a),
        _ => None,
    };
    latencies.sort_unstable();
    Stats {
        requests: requests.len(),
        server_cpu,
        errors,
        elapsed,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(label: &str, s: &Stats) {
    let rps = s.requests as f64 / s.elapsed.as_secs_f64();
    // Server CPU per request, and the rate one fully busy core would sustain at that cost.
    let cpu = match s.server_cpu {
        Some(c) if !c.is_zero() => format!(
            "   server CPU {:>5.1} µs/req = {:>6.0} req/s per busy core ({:>3.0} % of wall)",
            c.as_secs_f64() * 1e6 / s.requests as f64,
            s.requests as f64 / c.as_secs_f64(),
            c.as_secs_f64() / s.elapsed.as_secs_f64() * 100.0
        ),
        _ => String::new(),
    };
    println!(
        "{label:<32} {:>8} req in {:>6.2} s = {:>9.0} req/s   p50 {:>7.1} µs   p99 {:>7.1} µs   errors {}{cpu}",
        s.requests,
        s.elapsed.as_secs_f64(),
        rps,
        percentile(&s.latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&s.latencies, 0.99).as_secs_f64() * 1e6,
        s.errors
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let n = env_usize("SIM_BENCH_REQUESTS", 100_000);
    let connections = env_usize("SIM_BENCH_CONNECTIONS", 16);
    let wide = env_usize("SIM_BENCH_WIDE_CONNECTIONS", 64);

    let sim = match Simulator::from_toml(SCENARIO, "sim_throughput scenario") {
        Ok(s) => s,
        Err(e) => fail(e),
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Named, so that `perf report --comm sim-server` shows the simulator's core alone.
    let server = std::thread::Builder::new()
        .name("sim-server".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => fail(e),
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => fail(e),
                };
                // `/proc/thread-self` → `<pid>/task/<tid>`: the client reads this thread's
                // on-CPU time from there.
                let task = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .map(|t| std::path::Path::new("/proc").join(t));
                let _ = addr_tx.send((listener.local_addr(), task));
                if let Err(e) = serve(sim, listener, async {
                    let _ = stop_rx.await;
                })
                .await
                {
                    fail(e);
                }
            });
        });
    let (addr, task) = match addr_rx.recv() {
        Ok((Ok(a), task)) => (a, task),
        _ => fail("the simulator did not start"),
    };

    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(e),
    };
    rt.block_on(async move {
        let user = Credentials::new(AK, SK, None, None, "bench");
        // One session for the Bedrock calls, from a real AssumeRole.
        let mut s = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => fail(e),
        };
        let dummy = user.clone();
        let _ = s
            .write_all(&request(addr, Op::AssumeRole, &user, &dummy))
            .await;
        let mut buf = Vec::new();
        let (status, body) = match read_response(&mut s, &mut buf).await {
            Ok(r) => r,
            Err(e) => fail(e),
        };
        let text = String::from_utf8_lossy(&body).into_owned();
        if status != 200 {
            fail(format!("AssumeRole failed: {text}"));
        }
        let field = |name: &str| {
            text.split_once(&format!("<{name}>"))
                .and_then(|(_, r)| r.split_once(&format!("</{name}>")))
                .map(|(v, _)| v.to_owned())
                .unwrap_or_default()
        };
        let session = Credentials::new(
            field("AccessKeyId"),
            field("SecretAccessKey"),
            Some(field("SessionToken")),
            None,
            "bench-session",
        );

        println!(
            "simulator on one core (tokio current_thread), client on another; {connections} keep-alive connections, {n} pre-signed requests per run"
        );
        let t = Instant::now();
        let mix: Vec<Vec<u8>> = (0..n)
            .map(|i| request(addr, OPS[i % OPS.len()], &user, &session))
            .collect();
        println!(
            "pre-signed {n} requests in {:.2} s (client side, not measured below)",
            t.elapsed().as_secs_f64()
        );
        let mix = Arc::new(mix);
        // Warm-up: connections, allocator, caches.
        let warm: Arc<Vec<Vec<u8>>> = Arc::new(mix.iter().take(n / 20).cloned().collect());
        let _ = fire(addr, warm, connections, &task).await;

        let stats = fire(addr, Arc::clone(&mix), connections, &task).await;
        report("mix (GCI, AssumeRole, GFMA, Converse)", &stats);
        for op in OPS {
            let reqs: Arc<Vec<Vec<u8>>> = Arc::new(
                (0..n / 4)
                    .map(|_| request(addr, op, &user, &session))
                    .collect(),
            );
            let stats = fire(addr, reqs, connections, &task).await;
            report(&format!("{op:?} only"), &stats);
        }
        let one: Arc<Vec<Vec<u8>>> = Arc::new(
            (0..n / 10)
                .map(|i| request(addr, OPS[i % OPS.len()], &user, &session))
                .collect(),
        );
        let stats = fire(addr, one, 1, &task).await;
        report("mix, 1 connection (latency)", &stats);
        if wide != connections {
            let again: Arc<Vec<Vec<u8>>> = Arc::new(
                (0..n)
                    .map(|i| request(addr, OPS[i % OPS.len()], &user, &session))
                    .collect(),
            );
            let stats = fire(addr, again, wide, &task).await;
            report(&format!("mix, {wide} connections"), &stats);
        }
    });
    let _ = stop_tx.send(());
    if let Ok(server) = server {
        let _ = server.join();
    }
}
