//! The credential paths of Kubernetes in the simulator, as the clients that use them see the
//! wire: the real `aws-sdk-sts` calls AssumeRoleWithWebIdentity unsigned with a service account
//! token (IRSA) and gets STS's answers and errors; the EKS Pod Identity Agent's
//! `GET /v1/credentials` answers a token with the JSON the SDK's container provider reads, or
//! refuses it with the agent's status and text. The scenario is `tests/fixtures/k8s/`.

mod sim_support;

use std::net::SocketAddr;

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use bedrock_access_exporter::sim::Scenario;
use bedrock_access_exporter::sim::tokens::{
    IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, ServiceAccountToken,
};
use sim_support::serve_scenario;

const SCENARIO: &str = include_str!("fixtures/k8s/scenario.toml");
const IRSA_ROLE: &str = "arn:aws:iam::111111111111:role/ExporterIrsa";
const NS: &str = "monitoring";
const SA: &str = "bedrock-access-exporter";

fn scenario() -> Scenario {
    match Scenario::parse(SCENARIO, "k8s") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn mint(t: ServiceAccountToken, cluster: &str) -> String {
    match t.mint(&scenario(), cluster) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn irsa_token() -> ServiceAccountToken {
    ServiceAccountToken::new(NS, SA, IRSA_AUDIENCE)
}

/// An STS client without any credentials: AssumeRoleWithWebIdentity needs none.
fn anonymous_sts(addr: SocketAddr) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

fn sts_with(addr: SocketAddr, creds: Credentials) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

#[tokio::test]
async fn an_irsa_token_becomes_the_role_s_session_as_sts_answers_it() {
    let (addr, _sim) = serve_scenario(SCENARIO, "k8s").await;
    let out = anonymous_sts(addr)
        .assume_role_with_web_identity()
        .role_arn(IRSA_ROLE)
        .role_session_name("exporter")
        .web_identity_token(mint(irsa_token(), "probe"))
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ),
    };
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("system:serviceaccount:monitoring:bedrock-access-exporter")
    );
    assert_eq!(out.audience(), Some(IRSA_AUDIENCE));
    assert_eq!(
        out.provider(),
        Some(
            "arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
        )
    );
    let user = out.assumed_role_user();
    assert_eq!(
        user.map(|u| u.arn()),
        Some("arn:aws:sts::111111111111:assumed-role/ExporterIrsa/exporter")
    );
    assert!(user.is_some_and(|u| u.assumed_role_id().starts_with("AROA")));
    let Some(c) = out.credentials() else {
        panic!("no credentials")
    };
    assert!(c.access_key_id().starts_with("ASIA"));
    let in_an_hour = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() + 3600);
    assert!((c.expiration().secs() - in_an_hour.secs()).abs() < 5);

    // The session acts as the role.
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "test",
    );
    let who = sts_with(addr, creds).get_caller_identity().send().await;
    let who = match who {
        Ok(w) => w,
        Err(e) => panic!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ),
    };
    assert_eq!(who.account(), Some("111111111111"));
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::111111111111:assumed-role/ExporterIrsa/exporter")
    );
}

/// STS's answer: (HTTP status, code, message).
type Answer = (u16, &'static str, &'static str);

/// (status, code, message) of a refused AssumeRoleWithWebIdentity.
async fn refused(
    addr: SocketAddr,
    role: &str,
    token: &str,
    duration: Option<i32>,
) -> (u16, String, String) {
    let out = anonymous_sts(addr)
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("exporter")
        .web_identity_token(token)
        .set_duration_seconds(duration)
        .send()
        .await;
    match out {
        Ok(_) => panic!("{role}: the token must be refused"),
        Err(SdkError::ServiceError(e)) => (
            e.raw().status().as_u16(),
            e.err().code().unwrap_or_default().to_string(),
            e.err().message().unwrap_or_default().to_string(),
        ),
        Err(e) => panic!("not an AWS answer: {e:?}"),
    }
}

#[tokio::test]
async fn every_refused_token_gets_sts_s_own_code_status_and_text() {
    let (addr, _sim) = serve_scenario(SCENARIO, "k8s").await;
    let forged = mint(
        irsa_token().claiming_issuer(
            "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        ),
        "elsewhere",
    );
    let cases: Vec<(&str, String, &str, Answer)> = vec![
        (
            "a token file that holds no JWT",
            "not-a-jwt".into(),
            IRSA_ROLE,
            (
                400,
                "InvalidIdentityToken",
                "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
            ),
        ),
        (
            "a cluster whose issuer the account did not register",
            mint(irsa_token(), "elsewhere"),
            IRSA_ROLE,
            (
                400,
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account for https://oidc.eks.eu-west-1.amazonaws.com/id/0THERC1USTER00000000000000000000",
            ),
        ),
        (
            "a token signed with another key than its issuer's",
            forged,
            IRSA_ROLE,
            (
                400,
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
            ),
        ),
        (
            "a token projected for another audience",
            mint(ServiceAccountToken::new(NS, SA, "vault"), "probe"),
            IRSA_ROLE,
            (400, "InvalidIdentityToken", "Incorrect token audience"),
        ),
        (
            "another service account than the trust policy's sub",
            mint(
                ServiceAccountToken::new("default", SA, IRSA_AUDIENCE),
                "probe",
            ),
            IRSA_ROLE,
            (
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
        ),
        (
            "a role that does not exist (a typo in the annotation)",
            mint(irsa_token(), "probe"),
            "arn:aws:iam::111111111111:role/ExporterIrsaa",
            (
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
        ),
        (
            "a role that trusts EKS Pod Identity, not the OIDC provider",
            mint(irsa_token(), "probe"),
            "arn:aws:iam::111111111111:role/ExporterPodIdentity",
            (
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
        ),
    ];
    for (story, token, role, (status, code, message)) in cases {
        let got = refused(addr, role, &token, None).await;
        assert_eq!(
            got,
            (status, code.to_string(), message.to_string()),
            "{story}"
        );
    }

    // Expired: AWS's text names both times (seconds since the epoch).
    let expired = mint(irsa_token().expires_in(-30), "probe");
    let (status, code, message) = refused(addr, IRSA_ROLE, &expired, None).await;
    assert_eq!((status, code.as_str()), (400, "ExpiredTokenException"));
    let Some(exp) = scenario_exp(&expired) else {
        panic!("exp")
    };
    assert!(
        message.starts_with("Token expired: current date/time ")
            && message.ends_with(&format!(" must be before the expiration date/time {exp}")),
        "{message}"
    );

    // Longer than the role allows (its default maximum is an hour).
    let (status, code, message) =
        refused(addr, IRSA_ROLE, &mint(irsa_token(), "probe"), Some(7200)).await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    );
}

fn scenario_exp(token: &str) -> Option<i64> {
    bedrock_access_exporter::sim::oidc::peek(token)
        .ok()
        .map(|c| c.exp)
}

/// GET /v1/credentials with `authorization` (none when `None`): status, content type, body.
async fn agent(addr: SocketAddr, authorization: Option<&str>) -> (u16, String, String) {
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let mut req = client.get(format!("http://{addr}/v1/credentials"));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_pod_identity_agent_hands_out_the_associated_role_s_credentials() {
    let (addr, _sim) = serve_scenario(SCENARIO, "k8s").await;
    let token = mint(
        ServiceAccountToken::new(NS, SA, POD_IDENTITY_AUDIENCE),
        "probe",
    );
    let (status, ctype, body) = agent(addr, Some(&token)).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/json"),
        "{body}"
    );
    let v: serde_json::Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {body}"),
    };
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "AccessKeyId",
            "AccountId",
            "Expiration",
            "SecretAccessKey",
            "Token"
        ]
    );
    assert_eq!(v["AccountId"], "111111111111");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let expiration = match chrono::DateTime::parse_from_rfc3339(&s("Expiration")) {
        Ok(t) => t.timestamp(),
        Err(e) => panic!("{e}"),
    };
    let in_six_hours = chrono::Utc::now().timestamp() + 6 * 3600;
    assert!((expiration - in_six_hours).abs() < 5);

    let creds = Credentials::new(
        s("AccessKeyId"),
        s("SecretAccessKey"),
        Some(s("Token")),
        None,
        "t",
    );
    let who = sts_with(addr, creds).get_caller_identity().send().await;
    let arn = who
        .ok()
        .and_then(|w| w.arn().map(str::to_string))
        .unwrap_or_default();
    assert!(
        arn.starts_with("arn:aws:sts::111111111111:assumed-role/ExporterPodIdentity/eks-probe-"),
        "{arn}"
    );
}

#[tokio::test]
async fn the_pod_identity_agent_refuses_a_wrong_or_missing_token_as_the_agent_does() {
    let (addr, _sim) = serve_scenario(SCENARIO, "k8s").await;
    let pod = |ns: &str, sa: &str| ServiceAccountToken::new(ns, sa, POD_IDENTITY_AUDIENCE);
    let text = "text/plain; charset=utf-8";
    for (story, auth, status, body) in [
        ("no token", None, 400, "Service account token cannot be empty\n".to_string()),
        ("an empty token file", Some(String::new()), 400, "Service account token cannot be empty\n".into()),
        (
            "not a JWT",
            Some("not-a-jwt".to_string()),
            400,
            "Service account token cannot be parsed: token is malformed: token contains an invalid number of segments\n".into(),
        ),
        (
            "an expired token",
            Some(mint(pod(NS, SA).expires_in(-30), "probe")),
            400,
            "Service account token failed basic claim validations: token has invalid claims: token is expired\n".into(),
        ),
    ] {
        let got = agent(addr, auth.as_deref()).await;
        assert_eq!(got, (status, text.to_string(), body), "{story}");
    }

    // EKS Auth's refusals, passed on by the agent: `[request id]: (Code): message, fault: client`.
    for (story, token, status, code) in [
        (
            "the IRSA token instead of the Pod Identity one",
            mint(irsa_token(), "probe"),
            400,
            "InvalidTokenException",
        ),
        (
            "a forged token",
            mint(
                pod(NS, SA).claiming_issuer(
                    "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
                ),
                "elsewhere",
            ),
            400,
            "InvalidTokenException",
        ),
        (
            "a service account without an association",
            mint(pod(NS, "grafana"), "probe"),
            404,
            "ResourceNotFoundException",
        ),
        (
            "an association whose role does not trust pods.eks.amazonaws.com",
            mint(pod(NS, "untrusted"), "probe"),
            400,
            "AccessDeniedException",
        ),
    ] {
        let (got_status, ctype, body) = agent(addr, Some(&token)).await;
        assert_eq!(
            (got_status, ctype.as_str()),
            (status, text),
            "{story}: {body}"
        );
        assert!(
            body.starts_with('[')
                && body.contains(&format!("]: ({code}): "))
                && body.ends_with(", fault: client\n"),
            "{story}: {body}"
        );
        assert!(
            !body.contains(&token),
            "{story}: the token must not be echoed"
        );
    }
}

#[tokio::test]
async fn a_fault_on_assume_role_with_web_identity_throttles_it_like_any_sts_call() {
    let text = format!(
        "{SCENARIO}\n[[faults]]\nservice = \"sts\"\noperation = \"AssumeRoleWithWebIdentity\"\naccount = \"111111111111\"\nkind = \"throttle\"\n"
    );
    let (addr, _sim) = serve_scenario(&text, "k8s-throttled").await;
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .assume_role_with_web_identity()
        .role_arn(IRSA_ROLE)
        .role_session_name("exporter")
        .web_identity_token(mint(irsa_token(), "probe"))
        .send()
        .await;
    match out {
        Err(SdkError::ServiceError(e)) => {
            assert_eq!(e.raw().status().as_u16(), 400);
            assert_eq!(e.err().code(), Some("Throttling"));
            assert_eq!(e.err().message(), Some("Rate exceeded"));
        }
        other => panic!("expected STS's throttling answer: {other:?}"),
    }
}
