//! SigV4 and robustness stories: tampered or mis-scoped signatures, replayed and skewed
//! requests, garbage on the wire and injected faults all get AWS's answers (or a dropped
//! connection), and the simulator keeps serving.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_access_exporter::sim::{Simulator, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIAPROBEREXAMPLE001", secret = "proberSecret000000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "Probe"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]
[[models]]
id = "amazon.titan-text-express-v1"
provider = "Amazon"
regions = ["us-east-1"]
[[models]]
id = "meta.llama3-8b-instruct-v1:0"
provider = "Meta"
regions = ["us-east-1"]
[[models]]
id = "mistral.mistral-7b-instruct-v0:2"
provider = "Mistral AI"
regions = ["us-east-1"]

[[faults]]
service = "bedrock-runtime"
model = "amazon.titan-text-express-v1"
kind = "hang"
[[faults]]
service = "bedrock-runtime"
model = "meta.llama3-8b-instruct-v1:0"
kind = "reset"
[[faults]]
service = "bedrock-runtime"
model = "mistral.mistral-7b-instruct-v0:2"
kind = "malformed"
[[faults]]
service = "bedrock"
operation = "GetFoundationModelAvailability"
kind = "latency"
latency = "300ms"
"#;

const AK: &str = "AKIAPROBEREXAMPLE001";
const SK: &str = "proberSecret000000000000000000000000001";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

struct Harness {
    url: String,
    addr: std::net::SocketAddr,
    sim: Simulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<Result<(), bedrock_access_exporter::sim::SimError>>,
}

async fn start_with(text: &str) -> Harness {
    let sim = match Simulator::from_toml(text, "sim_sigv4 scenario") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve(sim.clone(), listener, async {
        let _ = rx.await;
    }));
    Harness {
        url: format!("http://{addr}"),
        addr,
        sim,
        stop: Some(tx),
        served,
    }
}

async fn start() -> Harness {
    start_with(SCENARIO).await
}

impl Harness {
    fn sts(&self, creds: Credentials) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(creds)
                .endpoint_url(&self.url)
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    }

    fn runtime(&self, creds: Credentials, timeout: Duration) -> aws_sdk_bedrockruntime::Client {
        use aws_sdk_bedrockruntime::config;
        aws_sdk_bedrockruntime::Client::from_conf(
            config::Builder::new()
                .behavior_version(config::BehaviorVersion::latest())
                .region(config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .endpoint_url(&self.url)
                .retry_config(config::retry::RetryConfig::disabled())
                .timeout_config(
                    config::timeout::TimeoutConfig::builder()
                        .operation_timeout(timeout)
                        .build(),
                )
                .build(),
        )
    }

    async fn still_serving(&self) {
        let r = self
            .sts(Credentials::new(AK, SK, None, None, "t"))
            .get_caller_identity()
            .send()
            .await;
        assert!(
            r.as_ref()
                .is_ok_and(|o| o.account() == Some("111111111111")),
            "the simulator must keep serving: {r:?}"
        );
    }

    async fn assume(&self) -> Credentials {
        let out = self
            .sts(Credentials::new(AK, SK, None, None, "t"))
            .assume_role()
            .role_arn("arn:aws:iam::222222222222:role/Probe")
            .role_session_name("probe")
            .send()
            .await;
        let Some(c) = out.ok().and_then(|o| o.credentials().cloned()) else {
            panic!("assume role must work")
        };
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "a",
        )
    }

    /// A raw request signed with aws-sigv4 as the SDK would, then optionally spoiled.
    #[allow(clippy::too_many_arguments)]
    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: &str,
        creds: &Credentials,
        region: &str,
        service: &str,
        time: SystemTime,
        spoil: impl Fn(&mut Vec<(String, String)>),
    ) -> (u16, Vec<(String, String)>, String) {
        let url = format!("{}{path}", self.url);
        let content_type = if path == "/" {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        let base = [("content-type", content_type)];
        let identity: Identity = creds.clone().into();
        let params = match aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
        {
            Ok(p) => p.into(),
            Err(e) => panic!("{e}"),
        };
        let signable = match SignableRequest::new(
            method,
            url.clone(),
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
        let mut headers: Vec<(String, String)> = base
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        headers.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        spoil(&mut headers);
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client for loopback");
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut req = client.request(method, &url);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let resp = match req.body(body.to_owned()).send().await {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let status = resp.status().as_u16();
        let hs = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = resp.text().await.unwrap_or_default();
        (status, hs, text)
    }
}

const GCI: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn user() -> Credentials {
    Credentials::new(AK, SK, None, None, "t")
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn flip_signature(hs: &mut [(String, String)]) {
    for (k, v) in hs.iter_mut() {
        if k == "authorization" {
            let last = v.pop();
            v.push(if last == Some('0') { '1' } else { '0' });
        }
    }
}

#[tokio::test]
async fn correctly_signed_raw_request_is_accepted() {
    let h = start().await;
    let (status, hs, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-east-1",
            "sts",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Account>111111111111</Account>"));
    assert!(header(&hs, "x-amzn-requestid").is_some());
}

#[tokio::test]
async fn tampered_signature_gets_signature_does_not_match_and_the_server_keeps_serving() {
    let h = start().await;
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-east-1",
            "sts",
            SystemTime::now(),
            |hs: &mut Vec<(String, String)>| flip_signature(hs),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    assert!(
        body.contains("<Message>The request signature we calculated does not match"),
        "{body}"
    );

    let path = format!("/model/{}/converse", HAIKU.replace(':', "%3A"));
    let role = h.assume().await;
    let (status, hs, body) = h
        .raw(
            "POST",
            &path,
            "{}",
            &role,
            "us-east-1",
            "bedrock",
            SystemTime::now(),
            |hs: &mut Vec<(String, String)>| flip_signature(hs),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        header(&hs, "x-amzn-errortype"),
        Some(
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        )
    );
    assert!(
        body.starts_with("{\"message\":\"The request signature we calculated"),
        "{body}"
    );
    h.still_serving().await;
}

#[tokio::test]
async fn body_changed_after_signing_no_longer_matches() {
    let h = start().await;
    let (status, _, _) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-east-1",
            "sts",
            SystemTime::now(),
            |hs| {
                hs.push(("x-amz-content-sha256".into(), "0".repeat(64)));
            },
        )
        .await;
    // An unsigned extra header changes nothing; a claimed-but-wrong hash that is signed would.
    assert_eq!(status, 200);
    let identity: Identity = user().into();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client for loopback");
    // Sign one body, send another.
    let url = format!("{}/", h.url);
    let params = match aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
    {
        Ok(p) => p.into(),
        Err(e) => panic!("{e}"),
    };
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let Ok(signable) = SignableRequest::new(
        "POST",
        url.clone(),
        ct.iter().copied(),
        SignableBody::Bytes(GCI.as_bytes()),
    ) else {
        panic!("signable")
    };
    let Ok(out) = sign(signable, &params) else {
        panic!("sign")
    };
    let mut req = client.post(&url).header("content-type", ct[0].1);
    for (k, v) in out.into_parts().0.headers() {
        req = req.header(k, v);
    }
    let resp = req
        .body("Action=AssumeRole&Version=2011-06-15")
        .send()
        .await;
    let (status, text) = match resp {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 403);
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
}

#[tokio::test]
async fn credential_scoped_to_a_region_that_does_not_exist_is_refused() {
    let h = start().await;
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-nowhere-9",
            "sts",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    assert!(
        body.contains("<Message>Credential should be scoped to a valid region, not &apos;us-nowhere-9&apos;. </Message>"),
        "{body}"
    );
}

#[tokio::test]
async fn bedrock_call_signed_for_the_sts_service_is_refused() {
    let h = start().await;
    let role = h.assume().await;
    let path = format!(
        "/foundation-model-availability/{}",
        HAIKU.replace(':', "%3A")
    );
    let (status, _, body) = h
        .raw(
            "GET",
            &path,
            "",
            &role,
            "us-east-1",
            "sts",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "{\"message\":\"Credential should be scoped to correct service: 'bedrock'. \"}"
    );
}

/// The three times of a skew answer ("… <sent> is now earlier than <limit> (<now> - N min.)"),
/// checked against the signing time and the simulator's clock: `<sent>` is the `X-Amz-Date`
/// that was signed, `<now>` the clock of the answer (within a few seconds of this test's), and
/// `<limit>` exactly `window` away from it, all in the `X-Amz-Date` form (`20261130T101500Z`).
fn assert_skew_times(message: &str, signed: SystemTime, window_minutes: i64, ahead: bool) {
    let stamps: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            w.len() == 16 && w.as_bytes()[8] == b'T' && w.ends_with('Z') && w.starts_with("20")
        })
        .collect();
    let [sent, limit, now] = stamps.as_slice() else {
        panic!("three timestamps expected in {message:?}")
    };
    let parse = |s: &str| match chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ") {
        Ok(t) => t.and_utc(),
        Err(e) => panic!("{s}: {e}"),
    };
    let signed: chrono::DateTime<chrono::Utc> = signed.into();
    assert_eq!(*sent, signed.format("%Y%m%dT%H%M%SZ").to_string());
    let drift = (parse(now) - chrono::Utc::now()).num_seconds().abs();
    assert!(drift <= 5, "the answer's now is {now}, {drift}s away");
    let window = chrono::TimeDelta::minutes(window_minutes);
    let expected_limit = if ahead {
        parse(now) + window
    } else {
        parse(now) - window
    };
    assert_eq!(parse(limit), expected_limit, "{message}");
}

#[tokio::test]
async fn request_signed_ten_minutes_ago_is_an_expired_signature() {
    // STS allows 15 minutes of skew: a request signed 10 minutes ago still goes through, one
    // signed 20 minutes ago (or ahead) is refused with STS's 403 and its 15-minute window.
    let h = start().await;
    let ten_ago = SystemTime::now() - Duration::from_secs(600);
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-east-1",
            "sts",
            ten_ago,
            |_| {},
        )
        .await;
    assert_eq!(status, 200, "STS's window is 15 minutes: {body}");
    let then = SystemTime::now() - Duration::from_secs(1200);
    let (status, _, body) = h
        .raw("POST", "/", GCI, &user(), "us-east-1", "sts", then, |_| {})
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    assert!(body.contains("<Message>Signature expired: "), "{body}");
    assert!(body.contains(" - 15 min.)</Message>"), "{body}");
    let message = body
        .split("<Message>")
        .nth(1)
        .and_then(|m| m.split("</Message>").next())
        .unwrap_or_default();
    assert_skew_times(message, then, 15, false);
    let later = SystemTime::now() + Duration::from_secs(1200);
    let (status, _, body) = h
        .raw("POST", "/", GCI, &user(), "us-east-1", "sts", later, |_| {})
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("Signature not yet current: "), "{body}");
    assert!(body.contains(" + 15 min.)</Message>"), "{body}");

    // Bedrock (runtime and control plane alike) allows 5 minutes and answers 403
    // InvalidSignatureException, as AWS does.
    let role = h.assume().await;
    let path = format!("/model/{}/converse", HAIKU.replace(':', "%3A"));
    let (status, hs, body) = h
        .raw(
            "POST",
            &path,
            "{}",
            &role,
            "us-east-1",
            "bedrock",
            ten_ago,
            |_| {},
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        header(&hs, "x-amzn-errortype"),
        Some(
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        )
    );
    assert!(
        body.starts_with("{\"message\":\"Signature expired: ") && body.ends_with(" - 5 min.)\"}"),
        "{body}"
    );
    let message = body
        .trim_start_matches("{\"message\":\"")
        .trim_end_matches("\"}");
    assert_skew_times(message, ten_ago, 5, false);
    let ahead = SystemTime::now() + Duration::from_secs(600);
    let (status, _, body) = h
        .raw(
            "GET",
            "/foundation-model-availability/anthropic.claude-3-haiku-20240307-v1%3A0",
            "",
            &role,
            "us-east-1",
            "bedrock",
            ahead,
            |_| {},
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.starts_with("{\"message\":\"Signature not yet current: ")
            && body.ends_with(" + 5 min.)\"}"),
        "{body}"
    );
    let message = body
        .trim_start_matches("{\"message\":\"")
        .trim_end_matches("\"}");
    assert_skew_times(message, ahead, 5, true);
}

#[tokio::test]
async fn request_without_authorization_or_with_half_of_it_is_refused() {
    let h = start().await;
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &user(),
            "us-east-1",
            "sts",
            SystemTime::now(),
            |hs| {
                hs.retain(|(k, _)| k != "authorization");
            },
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
    let (status, hs, body) = h
        .raw(
            "GET",
            "/foundation-models",
            "",
            &user(),
            "us-east-1",
            "bedrock",
            SystemTime::now(),
            |hs| {
                for (k, v) in hs.iter_mut() {
                    if k == "authorization" {
                        *v = v.split(", ").next().unwrap_or_default().to_owned();
                    }
                }
            },
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        header(&hs, "x-amzn-errortype").and_then(|t| t.split(':').next()),
        Some("IncompleteSignatureException")
    );
    assert!(body.contains("requires 'Signature' parameter"), "{body}");
}

#[tokio::test]
async fn session_credentials_without_their_token_are_an_invalid_token() {
    let h = start().await;
    let role = h.assume().await;
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            GCI,
            &role,
            "us-east-1",
            "sts",
            SystemTime::now(),
            |hs| {
                hs.retain(|(k, _)| k != "x-amz-security-token");
            },
        )
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("<Code>InvalidClientTokenId</Code>"), "{body}");
}

#[tokio::test]
async fn garbage_bytes_and_garbage_bodies_never_take_the_server_down() {
    let h = start().await;
    for junk in [
        &b"\x00\x01\x02\xff\xfe garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 \xff\xff\r\nContent-Length: 3\r\n\r\nabc",
    ] {
        if let Ok(mut s) = tokio::net::TcpStream::connect(h.addr).await {
            let _ = s.write_all(junk).await;
            let mut buf = vec![0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
        }
    }
    // A signed request whose body is not a query string at all, and one for a route that
    // does not exist: AWS error shapes, not crashes.
    let (status, _, body) = h
        .raw(
            "POST",
            "/",
            "\u{1}\u{2}%%%&&==",
            &user(),
            "us-east-1",
            "sts",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    let (status, hs, _) = h
        .raw(
            "POST",
            "/model/%FF%FE/converse",
            "{",
            &user(),
            "us-east-1",
            "bedrock",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 400);
    assert!(header(&hs, "x-amzn-errortype").is_some());
    let (status, _, _) = h
        .raw(
            "DELETE",
            "/nothing/here",
            "",
            &user(),
            "us-east-1",
            "bedrock",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 404);
    let role = h.assume().await;
    let path = format!("/model/{}/converse", HAIKU.replace(':', "%3A"));
    let (status, hs, body) = h
        .raw(
            "POST",
            &path,
            "{not json",
            &role,
            "us-east-1",
            "bedrock",
            SystemTime::now(),
            |_| {},
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        header(&hs, "x-amzn-errortype").and_then(|t| t.split(':').next()),
        Some("ValidationException")
    );
    h.still_serving().await;
}

fn converse_request(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
) -> aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder {
    use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".into()))
        .build();
    client
        .converse()
        .model_id(model)
        .set_messages(msg.ok().map(|m| vec![m]))
}

#[tokio::test]
async fn hanging_model_is_cut_by_the_client_timeout_and_others_still_answer() {
    let h = start().await;
    let role = h.assume().await;
    let rt = h.runtime(role.clone(), Duration::from_millis(400));
    let started = std::time::Instant::now();
    let r = converse_request(&rt, "amazon.titan-text-express-v1")
        .send()
        .await;
    let err = match r {
        Ok(o) => panic!("a hanging call cannot succeed: {o:?}"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            aws_sdk_bedrockruntime::error::SdkError::TimeoutError(_)
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let ok = converse_request(&rt, HAIKU).send().await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn reset_connection_and_malformed_body_reach_the_sdk_without_an_aws_error_code() {
    let h = start().await;
    let role = h.assume().await;
    let rt = h.runtime(role, Duration::from_secs(5));
    let r = converse_request(&rt, "meta.llama3-8b-instruct-v1:0")
        .send()
        .await;
    match r {
        Ok(o) => panic!("a dropped connection cannot succeed: {o:?}"),
        Err(e) => {
            assert!(e.code().is_none(), "{e:?}");
            assert!(
                matches!(
                    e,
                    aws_sdk_bedrockruntime::error::SdkError::DispatchFailure(_)
                        | aws_sdk_bedrockruntime::error::SdkError::ResponseError(_)
                ),
                "{e:?}"
            );
        }
    }
    let r = converse_request(&rt, "mistral.mistral-7b-instruct-v0:2")
        .send()
        .await;
    match r {
        Ok(o) => panic!("a truncated body cannot parse: {o:?}"),
        Err(e) => {
            assert!(e.code().is_none(), "{e:?}");
            assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(200));
        }
    }
    h.still_serving().await;
}

#[tokio::test]
async fn added_latency_delays_the_availability_call() {
    let h = start().await;
    let role = h.assume().await;
    use aws_sdk_bedrock::config;
    let client = aws_sdk_bedrock::Client::from_conf(
        config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .credentials_provider(role)
            .endpoint_url(&h.url)
            .build(),
    );
    let started = std::time::Instant::now();
    let r = client
        .get_foundation_model_availability()
        .model_id(HAIKU)
        .send()
        .await;
    assert!(r.is_ok(), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn reload_swaps_the_scenario_but_keeps_issued_sessions_and_rejects_a_bad_file() {
    let h = start().await;
    let role = h.assume().await;
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("scenario.toml");
    // The role loses its Bedrock permissions.
    let revoked = SCENARIO.replace(
        r#"policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}']"#,
        "",
    );
    assert_ne!(revoked, SCENARIO);
    if let Err(e) = std::fs::write(&path, &revoked) {
        panic!("{e}");
    }
    if let Err(e) = h.sim.reload(&path) {
        panic!("{e}");
    }
    let rt = h.runtime(role.clone(), Duration::from_secs(5));
    let r = converse_request(&rt, HAIKU).send().await;
    let e = match r {
        Ok(o) => panic!("permission was revoked: {o:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(e.message().is_some_and(|m| {
        m.contains("because no identity-based policy allows the bedrock:InvokeModel action")
    }));

    if let Err(e) = std::fs::write(&path, "[[accounts]]\nid = 1\n") {
        panic!("{e}");
    }
    assert!(h.sim.reload(&path).is_err());
    // Still the revoked scenario, and the session still authenticates.
    let r = converse_request(&rt, HAIKU).send().await;
    assert_eq!(
        r.err().and_then(|e| e.code().map(str::to_owned)).as_deref(),
        Some("AccessDeniedException")
    );
}

#[tokio::test]
async fn shutdown_stops_the_server_even_with_a_request_hanging() {
    let mut h = start().await;
    let role = h.assume().await;
    let rt = h.runtime(role, Duration::from_secs(30));
    let hung = tokio::spawn(async move {
        converse_request(&rt, "amazon.titan-text-express-v1")
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(stop) = h.stop.take() {
        let _ = stop.send(());
    }
    let done = tokio::time::timeout(Duration::from_secs(8), &mut h.served).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "serve must return after shutdown: {done:?}"
    );
    let r = tokio::time::timeout(Duration::from_secs(8), hung).await;
    assert!(
        matches!(r, Ok(Ok(Err(_)))),
        "the hung client sees an error: {r:?}"
    );
}

#[tokio::test]
async fn sts_fault_and_timeout_config_compile_for_sts_too() {
    // STS throttling fault answers with the query protocol's Throttling code.
    let text = format!(
        "{SCENARIO}\n[[faults]]\nservice = \"sts\"\noperation = \"GetCallerIdentity\"\nkind = \"throttle\"\n"
    );
    let h = start_with(&text).await;
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(user())
            .endpoint_url(&h.url)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build(),
    );
    let r = client.get_caller_identity().send().await;
    let e = match r {
        Ok(o) => panic!("throttled: {o:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code(), Some("Throttling"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
}
