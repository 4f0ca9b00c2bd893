//! Shared test support for the probe and classification tests: the AWS fixtures, a replay
//! server on 127.0.0.1 that answers each AWS operation with scripted verbatim responses and
//! records what it was asked, and explicit SDK configurations (no environment is read).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bedrock_access_exporter::config::{Config, Expect, InvokeMode, ProbeSettings, Source, Target};

/// One fixture file of `tests/fixtures/aws/`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Fixture {
    #[serde(skip)]
    pub name: String,
    pub service: String,
    pub operation: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub expect: Option<Expectation>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Expectation {
    pub layer: String,
    pub reason: String,
    pub class: String,
    pub error_code: Option<String>,
}

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws")
}

/// The fixture `tests/fixtures/aws/<name>.json`.
pub fn fixture(name: &str) -> Fixture {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut f: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    f.name = name.to_string();
    f
}

/// Every fixture, sorted by name.
pub fn all_fixtures() -> Vec<Fixture> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    names.iter().map(|n| fixture(n)).collect()
}

/// One scripted HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (a hanging endpoint).
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn from_fixture(name: &str) -> Reply {
        let f = fixture(name);
        Reply {
            status: f.status,
            headers: f.headers.into_iter().collect(),
            body: f.body,
            delay: None,
        }
    }

    pub fn hang(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }

    /// A GetFoundationModel success for `model`, ACTIVE with no lifecycle dates. No verbatim
    /// capture exists in the fixtures: the body follows the API reference's shape.
    pub fn foundation_model(model: &str) -> Reply {
        let body = serde_json::json!({"modelDetails": {
            "modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{model}"),
            "modelId": model,
            "providerName": "Anthropic",
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }});
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: None,
        }
    }

    /// A GetCallerIdentity success for `account`.
    pub fn caller_identity(account: &str) -> Reply {
        let mut r = Reply::from_fixture("credentials--ok--sts-getcalleridentity-user");
        r.body = r.body.replace("123456789012", account);
        r
    }
}

/// What the replay server was asked.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub path: String,
    pub body: String,
    /// The `Authorization` header as sent ("" without one).
    pub authorization: String,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Vec<Reply>>,
    seen: Vec<Seen>,
}

/// A replay server on 127.0.0.1:0.
#[derive(Clone)]
pub struct Replay {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// The AWS operation a request is for (query `Action` for STS, REST path for Bedrock).
fn operation_of(method: &Method, uri: &Uri, body: &str) -> String {
    let path = uri.path();
    if *method == Method::POST && path == "/" {
        for (k, v) in form_urlencoded::parse(body.as_bytes()) {
            if k == "Action" {
                return v.to_string();
            }
        }
        return "UnknownQuery".to_string();
    }
    if path.starts_with("/foundation-model-availability/") {
        return "GetFoundationModelAvailability".to_string();
    }
    if path.starts_with("/foundation-models/") {
        return "GetFoundationModel".to_string();
    }
    if path.starts_with("/inference-profiles/") {
        return "GetInferenceProfile".to_string();
    }
    if path.starts_with("/model/") {
        if path.ends_with("/converse-stream") {
            return "ConverseStream".to_string();
        }
        if path.ends_with("/invoke-with-response-stream") {
            return "InvokeModelWithResponseStream".to_string();
        }
        if path.ends_with("/converse") {
            return "Converse".to_string();
        }
        if path.ends_with("/invoke") {
            return "InvokeModel".to_string();
        }
    }
    format!("Unknown {method} {path}")
}

impl Replay {
    /// A server with nothing scripted: every operation answers 500 `Unscripted`.
    pub async fn start() -> Replay {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(state, method, uri, &headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Replay { addr, state }
    }

    /// A server that answers every layer's call with the healthy fixtures.
    pub async fn healthy() -> Replay {
        let r = Replay::start().await;
        r.script(
            "GetCallerIdentity",
            vec![Reply::from_fixture(
                "credentials--ok--sts-getcalleridentity-user",
            )],
        );
        r.script(
            "AssumeRole",
            vec![Reply::from_fixture("assume_role--ok--sts-assumerole")],
        );
        r.script(
            "GetFoundationModelAvailability",
            vec![Reply::from_fixture(
                "model_access--ok--availability-all-available",
            )],
        );
        r.script(
            "Converse",
            vec![Reply::from_fixture("invoke--ok--converse-max-tokens")],
        );
        r.script("GetFoundationModel", vec![Reply::foundation_model(MODEL)]);
        r
    }

    /// Answers `operation` with `replies` in order; the last one repeats.
    pub fn script(&self, operation: &str, replies: Vec<Reply>) {
        let mut s = self.state.lock().expect("replay state");
        s.scripts.insert(operation.to_string(), replies);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("replay state").seen.clone()
    }

    /// How many requests for `operation` arrived.
    pub fn count(&self, operation: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.operation == operation)
            .count()
    }

    /// How many Bedrock (control plane or runtime) requests arrived.
    pub fn bedrock_calls(&self) -> usize {
        self.seen().iter().filter(|s| s.path != "/").count()
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    request_headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).to_string();
    let operation = operation_of(&method, &uri, &body);
    let authorization = request_headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let reply = {
        let mut s = state.lock().expect("replay state");
        s.seen.push(Seen {
            operation: operation.clone(),
            path: uri.path().to_string(),
            body: body.clone(),
            authorization,
        });
        match s.scripts.get_mut(&operation) {
            Some(list) if list.len() > 1 => Some(list.remove(0)),
            Some(list) => list.first().cloned(),
            None => None,
        }
    };
    let Some(reply) = reply else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Unscripted operation {operation}"),
        )
            .into_response();
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, headers, reply.body).into_response()
}

/// Explicit source SDK configuration pointing every service at `url` (no environment).
pub fn sdk_config(url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDSOURCETEST",
            "source-secret-key",
            None,
            None,
            "test",
        )))
        .build()
}

/// A URL on 127.0.0.1 where nothing listens.
pub async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

pub fn settings() -> ProbeSettings {
    ProbeSettings {
        interval: Duration::from_secs(300),
        timeout: Duration::from_secs(10),
        concurrency: 8,
        invoke: InvokeMode::Converse,
        invoke_interval: Duration::from_secs(300),
        model_access: true,
        session_name: "bedrock-access-exporter".to_string(),
        session_duration: Duration::from_secs(900),
        max_tokens: 1,
        expect: Expect::Allow,
        stream: false,
        service_tier: None,
    }
}

pub const ROLE_ARN: &str = "arn:aws:iam::210987654321:role/BedrockProbeRole";
pub const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

pub fn target(name: &str, role_arn: Option<&str>) -> Target {
    Target {
        name: name.to_string(),
        source: "default".to_string(),
        role_arn: role_arn.map(str::to_string),
        external_id: Some("ext-very-secret-42".to_string()),
        regions: vec!["us-east-1".to_string()],
        models: vec![MODEL.to_string()],
        settings: settings(),
        accounts: Default::default(),
    }
}

pub fn config(targets: Vec<Target>, expected_account: Option<&str>) -> Config {
    Config {
        path: "test.toml".into(),
        defaults: settings(),
        sources: vec![Source {
            name: "default".to_string(),
            profile: None,
            expected_account: expected_account.map(str::to_string),
            api_key: None,
        }],
        targets,
        limits: Default::default(),
        probe_endpoint: Default::default(),
    }
}

/// A prober whose "default" source talks to `url`.
pub fn prober(config: &Config, url: &str) -> bedrock_access_exporter::probe::Prober {
    let mut sdk = HashMap::new();
    sdk.insert("default".to_string(), sdk_config(url));
    bedrock_access_exporter::probe::Prober::with_sdk_config(config, sdk)
}

/// Endpoint URLs per SDK service id ("STS", "Bedrock", "Bedrock Runtime"), as
/// `AWS_ENDPOINT_URL_<SERVICE>` would give them: one host per service, as in AWS.
#[derive(Debug)]
struct ServiceEndpoints(Vec<(String, String)>);

impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        self.0
            .iter()
            .find(|(service, _)| service == key.service_id())
            .map(|(_, url)| url.clone())
    }
}

/// Explicit source SDK configuration with one endpoint per service and the source's access
/// key `key_id` and `secret` (no environment).
pub fn sdk_config_per_service(
    endpoints: &[(&str, String)],
    key_id: &str,
    secret: &str,
) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .service_config(ServiceEndpoints(
            endpoints
                .iter()
                .map(|(s, u)| (s.to_string(), u.clone()))
                .collect(),
        ))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key_id.to_string(),
            secret.to_string(),
            None,
            None,
            "test",
        )))
        .build()
}
