//! InvokeModel bodies per provider, the router used in-process, and IAM's GetRole and
//! SimulatePrincipalPolicy for `diagnose`.

mod sim_support;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_access_exporter::sim::Simulator;
use serde_json::Value;
use sim_support::serve_scenario;

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIAPROBEREXAMPLE001", secret = "proberSecret000000000000000000000000001" }]
policies = ['''{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:GetFoundationModelAvailability","iam:GetRole","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}''']

[[users]]
account = "111111111111"
name = "nobody"
access_keys = [{ id = "AKIANOBODYEXAMPLE001", secret = "nobodySecret000000000000000000000000001" }]

[[roles]]
account = "111111111111"
name = "Probe"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]
[[models]]
id = "amazon.titan-text-express-v1"
provider = "Amazon"
regions = ["us-east-1"]
[[models]]
id = "amazon.nova-micro-v1:0"
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
[[models]]
id = "cohere.command-r-v1:0"
provider = "Cohere"
regions = ["us-east-1"]
[[models]]
id = "cohere.embed-english-v3"
provider = "Cohere"
regions = ["us-east-1"]
output_modalities = ["EMBEDDING"]
[[models]]
id = "amazon.titan-text-premier-v1:0"
provider = "Amazon"
regions = ["us-east-1"]
[[grants]]
account = "111111111111"
model = "amazon.titan-text-premier-v1:0"
status = "account_blocked"
[[models]]
id = "amazon.titan-embed-text-v2:0"
provider = "Amazon"
regions = ["us-east-1"]
output_modalities = ["EMBEDDING"]
"#;

async fn start() -> (String, Simulator) {
    let (addr, sim) = serve_scenario(SCENARIO, "sim_invoke").await;
    (format!("http://{addr}"), sim)
}

fn prober() -> Credentials {
    Credentials::new(
        "AKIAPROBEREXAMPLE001",
        "proberSecret000000000000000000000000001",
        None,
        None,
        "t",
    )
}

fn runtime(url: &str) -> aws_sdk_bedrockruntime::Client {
    use aws_sdk_bedrockruntime::config;
    aws_sdk_bedrockruntime::Client::from_conf(
        config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .credentials_provider(prober())
            .endpoint_url(url)
            .retry_config(config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test]
async fn each_provider_answers_invoke_model_in_its_own_body_shape() {
    let (url, _) = start().await;
    let rt = runtime(&url);
    let cases: [(&str, &str, &str); 8] = [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#,
            "/usage/output_tokens",
        ),
        (
            "amazon.titan-text-express-v1",
            r#"{"inputText":"hi","textGenerationConfig":{"maxTokenCount":1}}"#,
            "/results/0/tokenCount",
        ),
        (
            "amazon.nova-micro-v1:0",
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1}}"#,
            "/usage/outputTokens",
        ),
        (
            "meta.llama3-8b-instruct-v1:0",
            r#"{"prompt":"hi","max_gen_len":1}"#,
            "/generation_token_count",
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            r#"{"prompt":"<s>[INST] hi [/INST]","max_tokens":1}"#,
            "/outputs/0/text",
        ),
        (
            "cohere.command-r-v1:0",
            r#"{"prompt":"hi","max_tokens":1}"#,
            "/generations/0/text",
        ),
        (
            "cohere.embed-english-v3",
            r#"{"texts":["hi"],"input_type":"search_query"}"#,
            "/embeddings/0/0",
        ),
        (
            "amazon.titan-embed-text-v2:0",
            r#"{"inputText":"hi","dimensions":512}"#,
            "/embedding/511",
        ),
    ];
    for (model, body, pointer) in cases {
        let out = rt
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .body(Blob::new(body.as_bytes().to_vec()))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) => panic!("{model}: {:?}", e.into_service_error()),
        };
        assert_eq!(out.content_type(), "application/json");
        let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap_or(Value::Null);
        let field = v.pointer(pointer);
        assert!(field.is_some(), "{model}: {pointer} missing in {v}");
        if pointer.ends_with("token_count")
            || pointer.ends_with("tokens")
            || pointer.ends_with("Tokens")
            || pointer.ends_with("tokenCount")
        {
            assert_eq!(field, Some(&Value::from(1)), "{model}: one output token");
        }
    }
}

#[tokio::test]
async fn invoke_body_missing_the_provider_fields_is_a_malformed_input() {
    let (url, _) = start().await;
    let r = runtime(&url)
        .invoke_model()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .content_type("application/json")
        .body(Blob::new(br#"{"max_tokens":1,"messages":[]}"#.to_vec()))
        .send()
        .await;
    let e = match r {
        Ok(o) => panic!("{o:?}"),
        Err(e) => e,
    };
    use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(
        e.message(),
        Some(
            "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
        )
    );
}

async fn iam_call(url: &str, creds: &Credentials, body: &str) -> (u16, String) {
    let identity: Identity = creds.clone().into();
    let params = match aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
    {
        Ok(p) => p.into(),
        Err(e) => panic!("{e}"),
    };
    let target = format!("{url}/");
    let ct = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let Ok(signable) = SignableRequest::new(
        "POST",
        target.clone(),
        ct.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    ) else {
        panic!("signable")
    };
    let Ok(out) = sign(signable, &params) else {
        panic!("sign")
    };
    let mut req = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client for loopback")
        .post(&target)
        .header(ct[0].0, ct[0].1);
    for (k, v) in out.into_parts().0.headers() {
        req = req.header(k, v);
    }
    match req.body(body.to_owned()).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn diagnose_reads_the_trust_policy_and_simulates_the_role_policy() {
    let (url, _) = start().await;
    let (status, body) = iam_call(
        &url,
        &prober(),
        "Action=GetRole&Version=2010-05-08&RoleName=Probe",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Arn>arn:aws:iam::111111111111:role/Probe</Arn>"),
        "{body}"
    );
    assert!(
        body.contains("<AssumeRolePolicyDocument>%7B%22Statement%22"),
        "{body}"
    );
    assert!(body.contains("xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\""));

    let (status, body) = iam_call(
        &url,
        &prober(),
        "Action=GetRole&Version=2010-05-08&RoleName=Nope",
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("<Code>NoSuchEntity</Code>"), "{body}");

    let sim = "Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2FProbe\
&ActionNames.member.1=bedrock%3AInvokeModel\
&ResourceArns.member.1=arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0\
&ResourceArns.member.2=arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fmeta.llama3-8b-instruct-v1%3A0";
    let (status, body) = iam_call(&url, &prober(), sim).await;
    assert_eq!(status, 200, "{body}");
    let decisions: Vec<&str> = body
        .split("<EvalDecision>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .collect();
    assert_eq!(decisions, ["allowed", "implicitDeny"], "{body}");

    let nobody = Credentials::new(
        "AKIANOBODYEXAMPLE001",
        "nobodySecret000000000000000000000000001",
        None,
        None,
        "t",
    );
    let (status, body) = iam_call(
        &url,
        &nobody,
        "Action=GetRole&Version=2010-05-08&RoleName=Probe",
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("User: arn:aws:iam::111111111111:user/nobody is not authorized to perform: iam:GetRole on resource: arn:aws:iam::111111111111:role/Probe because no identity-based policy allows the iam:GetRole action"),
        "{body}"
    );
}

#[tokio::test]
async fn router_answers_in_process_without_a_socket() {
    use hyper::service::Service as _;
    let (_, sim) = start().await;
    let svc = hyper_util::service::TowerToHyperService::new(sim.router());
    let req = match http::Request::builder()
        .method("POST")
        .uri("/")
        .body(axum::body::Body::from(
            "Action=GetCallerIdentity&Version=2011-06-15",
        )) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let resp = match svc.call(req).await {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(resp.status(), 403);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("<Code>MissingAuthenticationToken</Code>"),
        "{text}"
    );
}

#[tokio::test]
async fn blocked_account_looks_authorized_on_the_control_plane_but_invocation_is_not_allowed() {
    let (url, _) = start().await;
    use aws_sdk_bedrock::config;
    let bedrock = aws_sdk_bedrock::Client::from_conf(
        config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .credentials_provider(prober())
            .endpoint_url(&url)
            .build(),
    );
    let model = "amazon.titan-text-premier-v1:0";
    let a = match bedrock
        .get_foundation_model_availability()
        .model_id(model)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) => panic!("{:?}", e.into_service_error()),
    };
    assert_eq!(a.authorization_status().as_str(), "AUTHORIZED");
    assert_eq!(a.entitlement_availability().as_str(), "AVAILABLE");
    let r = runtime(&url)
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .body(Blob::new(br#"{"inputText":"hi"}"#.to_vec()))
        .send()
        .await;
    use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
    let e = match r {
        Ok(o) => panic!("{o:?}"),
        Err(e) => e,
    };
    assert_eq!(
        (e.code(), e.message()),
        (Some("ValidationException"), Some("Operation not allowed"))
    );
}
