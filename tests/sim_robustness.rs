//! Robustness stories: whatever arrives on the simulator's socket — random bytes, signed
//! requests with bytes flipped, inserted or deleted in any part, broken framing — the answer is
//! an AWS-shaped error (or the HTTP layer's rejection / a closed connection for bytes that are
//! not HTTP), never a panic (`InternalFailure`), never a mutated request accepted, and the
//! simulator keeps answering valid signed requests correctly afterwards.
//!
//! Deterministic: every random choice comes from a seeded RNG, so a failure names its seed
//! and index and replays.

mod sim_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_access_exporter::sim::Simulator;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sim_support::serve_scenario;
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
access_keys = [{ id = "AKIAFUZZPROBER000001", secret = "fuzzSecret00000000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","bedrock:*"],"Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "Probe"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]
"#;

const AK: &str = "AKIAFUZZPROBER000001";
const SK: &str = "fuzzSecret00000000000000000000000000001";
const HAIKU_PATH: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";
const ROLE: &str = "arn:aws:iam::222222222222:role/Probe";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Harness: a served simulator, signed raw requests, a minimal HTTP/1.1 response reader
// ---------------------------------------------------------------------------------------------

async fn start() -> (SocketAddr, Simulator) {
    serve_scenario(SCENARIO, "sim_robustness scenario").await
}

/// One HTTP/1.1 request as parts, so that a mutation can target one of them.
#[derive(Clone, Debug)]
struct RawRequest {
    method: Vec<u8>,
    path: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl RawRequest {
    /// Serialized with a Content-Length that matches the body, so framing stays intact.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + self.body.len());
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.path);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (k, v) in &self.headers {
            out.extend_from_slice(k);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    fn header_index(&self, name: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Signs like the SDK does (aws-sigv4, host and content-type signed).
fn signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    creds: &Credentials,
    service: &str,
    time: SystemTime,
) -> RawRequest {
    let host = addr.to_string();
    let content_type = if path == "/" {
        "application/x-www-form-urlencoded; charset=utf-8"
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
        Err(e) => panic!("{e}"),
    };
    let url = format!("http://{host}{path}");
    let signable = match SignableRequest::new(
        method,
        url,
        base.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let instructions = match sign(signable, &params) {
        Ok(o) => o.into_parts().0,
        Err(e) => panic!("{e}"),
    };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = base
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    headers.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    RawRequest {
        method: method.as_bytes().to_vec(),
        path: path.as_bytes().to_vec(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug)]
enum ReadError {
    /// The server sent part of a response and closed, or sent something that is not HTTP.
    Broken(String),
    /// Nothing within the timeout.
    Timeout,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Broken(what) => write!(f, "broken answer: {what}"),
            ReadError::Timeout => write!(f, "no answer within the timeout"),
        }
    }
}

/// Reads one response from `s` (bytes left over stay in `buf`). `Ok(None)`: closed cleanly
/// before any byte of a response.
async fn read_response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Option<Resp>, ReadError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    macro_rules! fill {
        () => {{
            match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
                Err(_) => return Err(ReadError::Timeout),
                Ok(Err(_)) | Ok(Ok(0)) => false,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    true
                }
            }
        }};
    }
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if !fill!() {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(ReadError::Broken(format!(
                "closed inside a response head: {:?}",
                String::from_utf8_lossy(buf)
            )));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            ReadError::Broken(format!("not an HTTP/1.1 status line: {status_line:?}"))
        })?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    buf.drain(..head_end + 4);
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let body = if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill!() {
                    return Err(ReadError::Broken("closed inside a chunk size".into()));
                }
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| ReadError::Broken(format!("bad chunk size {size_text:?}")))?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill!() {
                    return Err(ReadError::Broken("closed inside a chunk".into()));
                }
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                break body;
            }
        }
    } else {
        let len = match get("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ReadError::Broken(format!("bad content-length {v:?}")))?,
            None => 0,
        };
        while buf.len() < len {
            if !fill!() {
                return Err(ReadError::Broken("closed inside a body".into()));
            }
        }
        buf.drain(..len).collect()
    };
    Ok(Some(Resp {
        status,
        headers,
        body,
    }))
}

/// What a response to hostile input may be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The HTTP layer refused bytes that are not a valid request (no request id, 4xx).
    HttpRejected(u16),
    /// The simulator answered with AWS's error shape: status and error code.
    AwsError(u16, String),
    /// The simulator accepted the request (only legitimate when the request is still valid).
    Success(u16),
}

/// Checks that `r` is AWS-shaped (or the HTTP layer's plain rejection); never a 5xx.
fn classify(r: &Resp) -> Result<Outcome, String> {
    if r.status >= 500 {
        return Err(format!(
            "server error {} (a panic answers InternalFailure): {}",
            r.status,
            r.text()
        ));
    }
    let Some(_request_id) = r.header("x-amzn-requestid") else {
        // Not from the simulator's handler: hyper refusing a request it cannot parse.
        if (400..500).contains(&r.status) && r.body.is_empty() {
            return Ok(Outcome::HttpRejected(r.status));
        }
        return Err(format!(
            "answer without x-amzn-RequestId: {} {:?}",
            r.status,
            r.text()
        ));
    };
    let content_type = r.header("content-type").unwrap_or_default();
    let text = r.text();
    if content_type.starts_with("text/xml") {
        if r.status < 300 {
            return if text.contains("Response xmlns=\"https://") && text.contains("<RequestId>") {
                Ok(Outcome::Success(r.status))
            } else {
                Err(format!("XML success without a Response element: {text}"))
            };
        }
        let between = |open: &str, close: &str| {
            text.split_once(open)
                .and_then(|(_, rest)| rest.split_once(close))
                .map(|(inner, _)| inner.to_owned())
        };
        let ok_shape = text.starts_with("<ErrorResponse xmlns=\"https://")
            && between("<Type>", "</Type>").is_some()
            && between("<Message>", "</Message>").is_some()
            && between("<RequestId>", "</RequestId>").is_some();
        match between("<Code>", "</Code>") {
            Some(code) if ok_shape && !code.is_empty() => Ok(Outcome::AwsError(r.status, code)),
            _ => Err(format!("not an STS ErrorResponse: {text}")),
        }
    } else if content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("JSON body does not parse ({e}): {text}"))?;
        if r.status < 300 {
            return if v.is_object() {
                Ok(Outcome::Success(r.status))
            } else {
                Err(format!("JSON success is not an object: {text}"))
            };
        }
        let code = r
            .header("x-amzn-errortype")
            .and_then(|t| t.split(':').next())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("REST-JSON error without x-amzn-ErrorType: {text}"))?;
        if !(v["message"].is_string() || v["Message"].is_string()) {
            return Err(format!("REST-JSON error without a message: {text}"));
        }
        Ok(Outcome::AwsError(r.status, code.to_owned()))
    } else {
        Err(format!(
            "unexpected content-type {content_type:?}: {} {text}",
            r.status
        ))
    }
}

async fn send_once(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}"),
    };
    if let Err(e) = s.write_all(bytes).await {
        panic!("write: {e}");
    }
    let mut buf = Vec::new();
    match read_response(&mut s, &mut buf, IO_TIMEOUT).await {
        Ok(Some(r)) => r,
        Ok(None) => panic!("connection closed without an answer to a well-formed request"),
        Err(e) => panic!("no answer to a well-formed request: {e}"),
    }
}

fn user() -> Credentials {
    Credentials::new(AK, SK, None, None, "fuzz")
}

/// Assumes the probe role with a raw signed request and reads the session from the XML.
async fn session(addr: SocketAddr) -> Credentials {
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=fuzz",
        ROLE.replace(':', "%3A").replace('/', "%2F")
    );
    let req = signed(addr, "POST", "/", &body, &user(), "sts", SystemTime::now());
    let r = send_once(addr, &req.to_bytes()).await;
    let text = r.text();
    assert_eq!(r.status, 200, "AssumeRole: {text}");
    let field = |name: &str| {
        text.split_once(&format!("<{name}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
            .map(|(v, _)| v.to_owned())
            .unwrap_or_default()
    };
    Credentials::new(
        field("AccessKeyId"),
        field("SecretAccessKey"),
        Some(field("SessionToken")),
        None,
        "fuzz-session",
    )
}

/// The realistic requests every mutation starts from.
fn base_requests(addr: SocketAddr, session: &Credentials) -> Vec<RawRequest> {
    let now = SystemTime::now();
    let converse = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1}}"#;
    let anthropic = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#;
    let assume = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=fuzz&DurationSeconds=900",
        ROLE.replace(':', "%3A").replace('/', "%2F")
    );
    vec![
        signed(
            addr,
            "POST",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15",
            &user(),
            "sts",
            now,
        ),
        signed(addr, "POST", "/", &assume, &user(), "sts", now),
        signed(
            addr,
            "GET",
            &format!("/foundation-model-availability/{HAIKU_PATH}"),
            "",
            session,
            "bedrock",
            now,
        ),
        signed(
            addr,
            "GET",
            "/foundation-models?byOutputModality=TEXT",
            "",
            session,
            "bedrock",
            now,
        ),
        signed(
            addr,
            "POST",
            &format!("/model/{HAIKU_PATH}/converse"),
            converse,
            session,
            "bedrock",
            now,
        ),
        signed(
            addr,
            "POST",
            &format!("/model/{HAIKU_PATH}/invoke"),
            anthropic,
            session,
            "bedrock",
            now,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Method,
    Path,
    HeaderName,
    HeaderValue,
    Body,
    Signature,
    CredentialScope,
    AmzDate,
    SessionToken,
}

const PARTS: [Part; 9] = [
    Part::Method,
    Part::Path,
    Part::HeaderName,
    Part::HeaderValue,
    Part::Body,
    Part::Signature,
    Part::CredentialScope,
    Part::AmzDate,
    Part::SessionToken,
];

/// A random byte that keeps the request's line structure (no CR, no LF).
fn random_byte(rng: &mut StdRng) -> u8 {
    loop {
        let b: u8 = if rng.random_bool(0.5) {
            rng.random_range(0x20..0x7f)
        } else {
            rng.random()
        };
        if b != b'\r' && b != b'\n' {
            return b;
        }
    }
}

/// Flips a bit, inserts or deletes a byte inside `v[lo..hi]`, 1 to 3 times.
fn mutate_range(rng: &mut StdRng, v: &mut Vec<u8>, lo: usize, mut hi: usize) {
    for _ in 0..rng.random_range(1..=3) {
        let op = rng.random_range(0..3);
        if hi <= lo || op == 1 {
            let at = rng.random_range(lo..=hi);
            v.insert(at, random_byte(rng));
            hi += 1;
        } else if op == 0 {
            let at = rng.random_range(lo..hi);
            let mut b = v[at] ^ (1 << rng.random_range(0..8));
            if b == b'\r' || b == b'\n' {
                b ^= 0x20;
            }
            v[at] = b;
        } else {
            let at = rng.random_range(lo..hi);
            v.remove(at);
            hi -= 1;
        }
    }
}

/// Mutates one part of `req`; returns the part and whether the request still means the same
/// thing (then the simulator may accept it).
fn mutate(rng: &mut StdRng, req: &mut RawRequest) -> (Part, bool) {
    let part = PARTS[rng.random_range(0..PARTS.len())];
    let before = req.clone();
    let auth = req.header_index("authorization");
    match part {
        Part::Method => {
            let n = req.method.len();
            mutate_range(rng, &mut req.method, 0, n);
        }
        Part::Path => {
            let n = req.path.len();
            mutate_range(rng, &mut req.path, 0, n);
        }
        Part::HeaderName => {
            let i = rng.random_range(0..req.headers.len());
            let n = req.headers[i].0.len();
            mutate_range(rng, &mut req.headers[i].0, 0, n);
        }
        Part::HeaderValue => {
            let i = rng.random_range(0..req.headers.len());
            let n = req.headers[i].1.len();
            mutate_range(rng, &mut req.headers[i].1, 0, n);
        }
        Part::Body => {
            let n = req.body.len();
            mutate_range(rng, &mut req.body, 0, n);
        }
        Part::Signature | Part::CredentialScope => {
            if let Some(i) = auth {
                let v = &mut req.headers[i].1;
                let (marker, end_marker): (&[u8], &[u8]) = if part == Part::Signature {
                    (b"Signature=", b"\x00")
                } else {
                    (b"Credential=", b",")
                };
                if let Some(at) = find(v, marker) {
                    let lo = at + marker.len();
                    let hi = find(&v[lo..], end_marker).map_or(v.len(), |e| lo + e);
                    mutate_range(rng, v, lo, hi);
                }
            }
        }
        Part::AmzDate | Part::SessionToken => {
            let name = if part == Part::AmzDate {
                "x-amz-date"
            } else {
                "x-amz-security-token"
            };
            let i = req
                .header_index(name)
                .or(auth)
                .unwrap_or(req.headers.len() - 1);
            let n = req.headers[i].1.len();
            mutate_range(rng, &mut req.headers[i].1, 0, n);
        }
    }
    // Header names are case-insensitive: a case flip in a name changes nothing. A `#fragment`
    // is not part of a request target: the HTTP layer (http::Uri) drops it before routing.
    let without_fragment = |p: &[u8]| p.split(|b| *b == b'#').next().map(<[u8]>::to_vec);
    let same = req.method == before.method
        && without_fragment(&req.path) == without_fragment(&before.path)
        && req.body == before.body
        && req.headers.len() == before.headers.len()
        && req
            .headers
            .iter()
            .zip(&before.headers)
            .all(|((k, v), (k0, v0))| k.eq_ignore_ascii_case(k0) && v == v0);
    (part, same)
}

// ---------------------------------------------------------------------------------------------
// Stories
// ---------------------------------------------------------------------------------------------

/// Asserts the simulator still answers valid signed requests correctly.
async fn still_answers_correctly(addr: SocketAddr) {
    let req = signed(
        addr,
        "POST",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &user(),
        "sts",
        SystemTime::now(),
    );
    let r = send_once(addr, &req.to_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("<Arn>arn:aws:iam::111111111111:user/prober</Arn>"),
        "{}",
        r.text()
    );
    let s = session(addr).await;
    let body = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1}}"#;
    let req = signed(
        addr,
        "POST",
        &format!("/model/{HAIKU_PATH}/converse"),
        body,
        &s,
        "bedrock",
        SystemTime::now(),
    );
    let r = send_once(addr, &req.to_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    assert_eq!(v["usage"]["outputTokens"], 1, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_byte_strings_are_refused_or_dropped_and_the_simulator_keeps_serving() {
    let (addr, _sim) = start().await;
    const N: usize = 10_000;
    const WORKERS: usize = 32;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        tasks.spawn(async move {
            let seed = 0x5eed_0000 + w as u64;
            let mut rng = StdRng::seed_from_u64(seed);
            let mut counts = [0usize; 3]; // closed, HTTP-rejected, AWS error
            for i in (w..N).step_by(WORKERS) {
                let len = rng.random_range(1..600);
                let mut junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                // A third pure noise; a third after a plausible request line; a third after a
                // whole (unsigned) header block, so the noise reaches the handler as a body.
                let half_close = match i % 3 {
                    0 => true,
                    1 => {
                        let mut v = b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n".to_vec();
                        v.append(&mut junk);
                        junk = v;
                        true
                    }
                    _ => {
                        let path = if rng.random_bool(0.5) {
                            "/".to_owned()
                        } else {
                            format!("/model/{HAIKU_PATH}/converse")
                        };
                        let mut v = format!(
                            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n",
                            junk.len()
                        )
                        .into_bytes();
                        v.append(&mut junk);
                        junk = v;
                        false
                    }
                };
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    return Err(format!("seed {seed} #{i}: the listener stopped accepting"));
                };
                // The server may refuse and close before everything is written: that is fine.
                let _ = s.write_all(&junk).await;
                if half_close {
                    let _ = s.shutdown().await;
                }
                let mut buf = Vec::new();
                match read_response(&mut s, &mut buf, IO_TIMEOUT).await {
                    Ok(None) => counts[0] += 1,
                    Ok(Some(r)) => match classify(&r) {
                        Ok(Outcome::HttpRejected(_)) => counts[1] += 1,
                        Ok(Outcome::AwsError(..)) => counts[2] += 1,
                        Ok(Outcome::Success(_)) => {
                            return Err(format!("seed {seed} #{i}: garbage was accepted"));
                        }
                        Err(e) => return Err(format!("seed {seed} #{i}: {e}")),
                    },
                    Err(e) => return Err(format!("seed {seed} #{i}: {e}")),
                }
            }
            Ok(counts)
        });
    }
    let mut totals = [0usize; 3];
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(c)) => (0..3).for_each(|k| totals[k] += c[k]),
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("worker: {e}"),
        }
    }
    println!(
        "random bytes: {} closed, {} refused by HTTP, {} AWS errors",
        totals[0], totals[1], totals[2]
    );
    assert_eq!(totals.iter().sum::<usize>(), N);
    // The framed third reached the simulator and got AWS's MissingAuthenticationToken.
    assert!(totals[2] >= N / 4, "{totals:?}");
    still_answers_correctly(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mutated_signed_requests_are_never_accepted_and_always_get_aws_errors() {
    let (addr, _sim) = start().await;
    let s = session(addr).await;
    let bases = Arc::new(base_requests(addr, &s));
    // Every base request is valid as sent.
    for b in bases.iter() {
        let r = send_once(addr, &b.to_bytes()).await;
        assert_eq!(
            classify(&r),
            Ok(Outcome::Success(200)),
            "{} {}",
            String::from_utf8_lossy(&b.path),
            r.text()
        );
    }
    const N: usize = 10_000;
    const WORKERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let bases = Arc::clone(&bases);
        tasks.spawn(async move {
            let seed = 0xfa11_0000 + w as u64;
            let mut rng = StdRng::seed_from_u64(seed);
            let mut conn: Option<(TcpStream, Vec<u8>)> = None;
            let mut outcomes: Vec<(Part, Outcome)> = Vec::new();
            for i in (w..N).step_by(WORKERS) {
                let mut req = bases[i % bases.len()].clone();
                let (part, same) = mutate(&mut rng, &mut req);
                let bytes = req.to_bytes();
                let (mut s, mut buf) = match conn.take() {
                    Some(c) => c,
                    None => match TcpStream::connect(addr).await {
                        Ok(s) => (s, Vec::new()),
                        Err(e) => return Err(format!("seed {seed} #{i}: connect: {e}")),
                    },
                };
                let _ = s.write_all(&bytes).await;
                let r = match read_response(&mut s, &mut buf, IO_TIMEOUT).await {
                    Ok(Some(r)) => r,
                    Ok(None) => {
                        return Err(format!(
                            "seed {seed} #{i}: closed without answering a framed request ({part:?})\n{}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "seed {seed} #{i}: {e} ({part:?})\n{}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                };
                let outcome = classify(&r).map_err(|e| {
                    format!(
                        "seed {seed} #{i} ({part:?}): {e}\n{}",
                        String::from_utf8_lossy(&bytes)
                    )
                })?;
                if matches!(outcome, Outcome::Success(_)) && !same {
                    return Err(format!(
                        "seed {seed} #{i}: a request mutated in its {part:?} was accepted:\n{}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
                let keep = !matches!(outcome, Outcome::HttpRejected(_))
                    && !r
                        .header("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
                if keep {
                    conn = Some((s, buf));
                }
                outcomes.push((part, outcome));
            }
            Ok(outcomes)
        });
    }
    let mut all: Vec<(Part, Outcome)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(o)) => all.extend(o),
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("worker: {e}"),
        }
    }
    assert_eq!(all.len(), N);
    let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, o) in &all {
        let key = match o {
            Outcome::HttpRejected(s) => format!("http-{s}"),
            Outcome::AwsError(s, c) => format!("{s} {c}"),
            Outcome::Success(s) => format!("{s} (unchanged meaning)"),
        };
        *codes.entry(key).or_default() += 1;
    }
    println!("mutated signed requests: {codes:#?}");
    let aws = all
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::AwsError(..)))
        .count();
    assert!(
        aws >= N / 2,
        "most mutations must reach the simulator: {codes:?}"
    );
    // Signature mutations are caught by the signature check or its syntax check (or, for a
    // control byte in the header, by the HTTP layer).
    for (part, o) in &all {
        if *part == Part::Signature {
            assert!(
                matches!(o, Outcome::AwsError(_, c) if c.contains("Signature"))
                    || matches!(o, Outcome::HttpRejected(400)),
                "{o:?}"
            );
        }
    }
    still_answers_correctly(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_with_broken_framing_never_crash_the_simulator() {
    let (addr, _sim) = start().await;
    let s = session(addr).await;
    let bases = Arc::new(base_requests(addr, &s));
    const N: usize = 2_000;
    const WORKERS: usize = 32;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let bases = Arc::clone(&bases);
        tasks.spawn(async move {
            let seed = 0xf4a3_0000 + w as u64;
            let mut rng = StdRng::seed_from_u64(seed);
            let mut waiting = 0usize;
            for i in (w..N).step_by(WORKERS) {
                // Any byte anywhere, CR, LF and Content-Length digits included.
                let mut bytes = bases[i % bases.len()].to_bytes();
                for _ in 0..rng.random_range(1..=3) {
                    let at = rng.random_range(0..bytes.len());
                    match rng.random_range(0..3) {
                        0 => bytes[at] ^= 1 << rng.random_range(0..8),
                        1 => bytes.insert(at, rng.random()),
                        _ => {
                            bytes.remove(at);
                        }
                    }
                }
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    return Err(format!("seed {seed} #{i}: the listener stopped accepting"));
                };
                let _ = s.write_all(&bytes).await;
                let mut buf = Vec::new();
                match read_response(&mut s, &mut buf, Duration::from_millis(1500)).await {
                    // A request cut short (Content-Length too big, head not ended): the server
                    // waits for the rest, as any HTTP server does.
                    Err(ReadError::Timeout) => waiting += 1,
                    Ok(None) => {}
                    Ok(Some(r)) => {
                        if let Err(e) = classify(&r) {
                            return Err(format!(
                                "seed {seed} #{i}: {e}\n{}",
                                String::from_utf8_lossy(&bytes)
                            ));
                        }
                    }
                    Err(e) => return Err(format!("seed {seed} #{i}: {e}")),
                }
            }
            Ok(waiting)
        });
    }
    let mut waiting = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(n)) => waiting += n,
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("worker: {e}"),
        }
    }
    println!("broken framing: {waiting} of {N} left the server waiting for more bytes");
    assert!(waiting < N / 10, "{waiting}");
    still_answers_correctly(addr).await;
}

#[tokio::test]
async fn request_replayed_byte_for_byte_after_its_session_expired_gets_expired_token() {
    let (addr, sim) = start().await;
    let s = session(addr).await;
    let gci = signed(
        addr,
        "POST",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &s,
        "sts",
        SystemTime::now(),
    )
    .to_bytes();
    let availability = signed(
        addr,
        "GET",
        &format!("/foundation-model-availability/{HAIKU_PATH}"),
        "",
        &s,
        "bedrock",
        SystemTime::now(),
    )
    .to_bytes();
    assert_eq!(send_once(addr, &gci).await.status, 200);
    assert_eq!(send_once(addr, &availability).await.status, 200);
    sim.expire_sessions();
    let r = send_once(addr, &gci).await;
    assert_eq!(
        classify(&r),
        Ok(Outcome::AwsError(403, "ExpiredToken".into()))
    );
    assert!(
        r.text()
            .contains("<Message>The security token included in the request is expired</Message>"),
        "{}",
        r.text()
    );
    let r = send_once(addr, &availability).await;
    assert_eq!(
        classify(&r),
        Ok(Outcome::AwsError(403, "ExpiredTokenException".into()))
    );
    assert_eq!(
        r.text(),
        "{\"message\":\"The security token included in the request is expired\"}"
    );
}

#[tokio::test]
async fn credential_scope_dated_another_day_than_the_request_is_a_signature_mismatch() {
    let (addr, _sim) = start().await;
    let mut req = signed(
        addr,
        "POST",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &user(),
        "sts",
        SystemTime::now(),
    );
    let Some(i) = req.header_index("authorization") else {
        panic!("signed request without authorization")
    };
    let auth = String::from_utf8_lossy(&req.headers[i].1).into_owned();
    let Some(date) = auth
        .split_once("Credential=")
        .and_then(|(_, r)| r.split('/').nth(1))
        .map(str::to_owned)
    else {
        panic!("no scope date in {auth}")
    };
    let other = if date.ends_with('1') {
        format!("{}2", &date[..7])
    } else {
        format!("{}1", &date[..7])
    };
    req.headers[i].1 = auth
        .replace(&format!("/{date}/"), &format!("/{other}/"))
        .into_bytes();
    let r = send_once(addr, &req.to_bytes()).await;
    assert_eq!(
        classify(&r),
        Ok(Outcome::AwsError(403, "SignatureDoesNotMatch".into()))
    );
    assert!(
        r.text().contains(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: &apos;{other}&apos; != &apos;{date}&apos;"
        )),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn session_key_presented_with_another_sessions_token_is_an_invalid_token() {
    let (addr, _sim) = start().await;
    let first = session(addr).await;
    let second = session(addr).await;
    let mixed = Credentials::new(
        first.access_key_id(),
        first.secret_access_key(),
        second.session_token().map(str::to_owned),
        None,
        "mixed",
    );
    let sts = signed(
        addr,
        "POST",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &mixed,
        "sts",
        SystemTime::now(),
    );
    let r = send_once(addr, &sts.to_bytes()).await;
    assert_eq!(
        classify(&r),
        Ok(Outcome::AwsError(403, "InvalidClientTokenId".into())),
        "{}",
        r.text()
    );
    let bedrock = signed(
        addr,
        "GET",
        "/foundation-models",
        "",
        &mixed,
        "bedrock",
        SystemTime::now(),
    );
    let r = send_once(addr, &bedrock.to_bytes()).await;
    assert_eq!(
        classify(&r),
        Ok(Outcome::AwsError(403, "UnrecognizedClientException".into())),
        "{}",
        r.text()
    );
    // Each session with its own token still works.
    let ok = signed(
        addr,
        "GET",
        "/foundation-models",
        "",
        &second,
        "bedrock",
        SystemTime::now(),
    );
    assert_eq!(send_once(addr, &ok.to_bytes()).await.status, 200);
}
