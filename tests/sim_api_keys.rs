//! A source that authenticates with an Amazon Bedrock API key, end to end: the exporter's
//! configuration loader and prober (the real AWS SDK's bearer scheme) against the simulator,
//! which checks long-term keys against its IAM users and short-term keys as SigV4 presigned
//! `CallWithBearerToken` URLs. The stories an operator lives through: a working key of each
//! kind, each kind expired, a deleted or deactivated key, a key whose principal may not call
//! `bedrock:CallWithBearerToken`, an SCP that blocks one token type only, a key file that is
//! missing or rotated.

#[path = "sim_support/mod.rs"]
mod sim_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bedrock_access_exporter::config::{self, Format};
use bedrock_access_exporter::probe::{LayerStatus, ProbeReport, Prober};
use bedrock_access_exporter::reason::{Layer, Reason};
use bedrock_access_exporter::sim::api_keys::{Signer, long_term_key, short_term_key};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const ALLOW_BEDROCK: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}"#;

fn scenario() -> String {
    let allow = format!("'''{ALLOW_BEDROCK}'''");
    format!(
        r#"
[[accounts]]
id = "111111111111"
name = "keys"

[[accounts]]
id = "555555555555"
name = "lab"
organization = "o-demo12345"
management_account = "999988887777"
scp_ids = ["p-nokeys01"]
scps = ['''{{"Statement":[{{"Effect":"Deny","Action":"bedrock:CallWithBearerToken","Resource":"*","Condition":{{"StringEquals":{{"bedrock:bearerTokenType":"LONG_TERM"}}}}}}]}}''']

[[users]]
account = "111111111111"
name = "BedrockAPIKey-ok"
policies = [{allow}]
bedrock_api_keys = [{{ secret = "okSecret1" }}, {{ secret = "lapsedSecret", expires = "2020-01-01T00:00:00Z" }}]

[[users]]
account = "111111111111"
name = "BedrockAPIKey-off"
policies = [{allow}]
bedrock_api_keys = [{{ secret = "offSecret", status = "Inactive" }}]

[[users]]
account = "111111111111"
name = "BedrockAPIKey-nobearer"
policies = ['''{{"Statement":[{{"Effect":"Allow","NotAction":"bedrock:CallWithBearerToken","Resource":"*"}}]}}''']
bedrock_api_keys = [{{ secret = "noBearerSecret" }}]

[[users]]
account = "111111111111"
name = "BedrockAPIKey-revoked"
policies = [{allow}, '''{{"Statement":[{{"Effect":"Deny","Action":"bedrock:CallWithBearerToken","Resource":"*"}}]}}''']
bedrock_api_keys = [{{ secret = "revokedSecret" }}]

[[users]]
account = "111111111111"
name = "token-minter"
access_keys = [{{ id = "AKIAKEYSMINTER000001", secret = "minterSecret0000000000000000000000000001" }}]
policies = [{allow}]

[[users]]
account = "555555555555"
name = "BedrockAPIKey-lab"
policies = [{allow}]
bedrock_api_keys = [{{ secret = "labSecret" }}]

[[users]]
account = "555555555555"
name = "lab-minter"
access_keys = [{{ id = "AKIALABMINTER0000001", secret = "labMinterSecret000000000000000000000001" }}]
policies = [{allow}]

[[models]]
id = "{MODEL}"
provider = "Anthropic"
regions = ["us-east-1", "us-west-2"]
"#
    )
}

fn minter(account: &str) -> Signer<'static> {
    if account == "555555555555" {
        Signer {
            access_key: "AKIALABMINTER0000001",
            secret: "labMinterSecret000000000000000000000001",
            session_token: None,
        }
    } else {
        Signer {
            access_key: "AKIAKEYSMINTER000001",
            secret: "minterSecret0000000000000000000000000001",
            session_token: None,
        }
    }
}

/// A short-term key of `account`'s minter for us-east-1, signed `age` ago for 12 hours.
fn short_key(account: &str, age: Duration) -> String {
    let signed = SystemTime::now() - age;
    match short_term_key(
        &minter(account),
        "us-east-1",
        signed,
        Duration::from_secs(43_200),
    ) {
        Ok(k) => k,
        Err(e) => panic!("minting: {e}"),
    }
}

/// The configuration of one source `keys` whose key is in `key_file`, and one target probing
/// it (streaming on), plus `extra` lines for the source.
fn configuration(dir: &Path, key_file: &str, extra: &str) -> config::Config {
    configuration_of("keys", dir, key_file, extra)
}

/// [`configuration`] with the source called `source`.
fn configuration_of(source: &str, dir: &Path, key_file: &str, extra: &str) -> config::Config {
    let text = format!(
        r#"
[probe]
timeout = "10s"
stream = true

[[sources]]
name = "{source}"
api_key_file = "{key_file}"
{extra}

[[targets]]
name = "with-a-key"
source = "{source}"
regions = ["us-east-1"]
models = ["{MODEL}"]
"#
    );
    let path = dir.join("exporter.toml");
    match config::load_str(&path, &text, Format::Toml, Vec::new()) {
        Ok(c) => c,
        Err(e) => panic!("the test configuration must load:\n{e}"),
    }
}

/// Probes the configuration's one tuple against the simulator at `addr`.
async fn probe(config: &config::Config, addr: SocketAddr) -> ProbeReport {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .build();
    let source = config.targets[0].source.clone();
    let prober = Prober::with_sdk_config(config, [(source, sdk)].into());
    let target = &config.targets[0];
    prober
        .probe(target, "us-east-1", MODEL, &prober.new_round(), true)
        .await
}

/// Writes `key` to `dir/key` and probes with it.
async fn probe_key(key: &str, extra: &str) -> ProbeReport {
    let (addr, _sim) = sim_support::serve_scenario(&scenario(), "api-keys").await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("key"), key).expect("write key");
    probe(&configuration(dir.path(), "key", extra), addr).await
}

/// (layer, None = passed / Some(reason)) of every layer of the report, in order.
fn outcome(r: &ProbeReport) -> Vec<(Layer, Option<Reason>)> {
    r.layers
        .iter()
        .map(|l| match &l.status {
            LayerStatus::Passed => (l.layer, None),
            LayerStatus::Failed(f) => (l.layer, Some(f.reason)),
        })
        .collect()
}

fn all(reason: Option<Reason>) -> Vec<(Layer, Option<Reason>)> {
    vec![
        (Layer::ModelAccess, reason),
        (Layer::Invoke, reason),
        (Layer::InvokeStream, reason),
    ]
}

fn messages(r: &ProbeReport) -> String {
    r.layers
        .iter()
        .filter_map(|l| match &l.status {
            LayerStatus::Failed(f) => Some(format!("{}: {} | {}", l.layer, f.message, l.call)),
            LayerStatus::Passed => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_long_term_key_probes_model_access_invocation_and_streaming_with_no_sts_layer() {
    let key = long_term_key("BedrockAPIKey-ok", "111111111111", "okSecret1");
    let r = probe_key(&key, "").await;
    assert_eq!(outcome(&r), all(None), "{}", messages(&r));
    // The account label is the key's own (its alias names it); no role.
    assert_eq!(
        (r.account_id.as_str(), r.role_name.as_str()),
        ("111111111111", "")
    );
    for l in &r.layers {
        assert!(
            l.call.ends_with("source=keys api_key=long_term"),
            "{}",
            l.call
        );
        assert!(!l.call.contains("ABSK"), "{}", l.call);
    }
    assert!(
        r.tokens.is_some_and(|(i, o)| i > 0 && o > 0),
        "{:?}",
        r.tokens
    );
}

#[tokio::test]
async fn a_short_term_key_signed_by_a_user_s_access_key_works_like_aws_s_token_generator_s() {
    let key = short_key("111111111111", Duration::ZERO);
    let r = probe_key(&key, "").await;
    assert_eq!(outcome(&r), all(None), "{}", messages(&r));
    assert!(
        r.layers[0].call.ends_with("api_key=short_term"),
        "{}",
        r.layers[0].call
    );
    // No expected_account and no account in a short-term key: the label stays empty.
    assert_eq!(r.account_id, "");
}

#[tokio::test]
async fn an_expired_short_term_key_is_expired_credentials_by_the_expiry_in_its_presigned_url() {
    let key = short_key("111111111111", Duration::from_secs(13 * 3600));
    let r = probe_key(&key, "").await;
    assert_eq!(
        outcome(&r),
        all(Some(Reason::ExpiredCredentials)),
        "{}",
        messages(&r)
    );
    let m = messages(&r);
    assert!(
        m.contains("Authentication failed: Please make sure your API Key is valid."),
        "{m}"
    );
    assert!(m.contains("per its presigned URL"), "{m}");
}

#[tokio::test]
async fn an_expired_long_term_key_is_expired_with_api_key_expires_and_invalid_without_it() {
    let key = long_term_key("BedrockAPIKey-ok", "111111111111", "lapsedSecret");
    let r = probe_key(&key, "api_key_expires = \"2020-01-01\"").await;
    assert_eq!(
        outcome(&r),
        all(Some(Reason::ExpiredCredentials)),
        "{}",
        messages(&r)
    );
    assert!(
        messages(&r).contains("per api_key_expires"),
        "{}",
        messages(&r)
    );
    // AWS's answer alone does not say the key expired.
    let r = probe_key(&key, "").await;
    assert_eq!(outcome(&r), all(Some(Reason::InvalidCredentials)));
}

#[tokio::test]
async fn a_deleted_or_deactivated_key_is_invalid_credentials_and_a_foreign_string_a_bad_format() {
    for key in [
        long_term_key("BedrockAPIKey-ok", "111111111111", "deletedSecret"),
        long_term_key("BedrockAPIKey-gone", "111111111111", "okSecret1"),
        long_term_key("BedrockAPIKey-off", "111111111111", "offSecret"),
        format!("{}x", short_key("111111111111", Duration::ZERO)),
    ] {
        let r = probe_key(&key, "").await;
        assert_eq!(
            outcome(&r),
            all(Some(Reason::InvalidCredentials)),
            "{}",
            messages(&r)
        );
        assert!(
            messages(&r).contains("Please make sure your API Key is valid."),
            "{}",
            messages(&r)
        );
    }
    let r = probe_key("sk-not-a-bedrock-key", "").await;
    assert_eq!(outcome(&r), all(Some(Reason::InvalidCredentials)));
    assert!(
        messages(&r).contains("Invalid API Key format"),
        "{}",
        messages(&r)
    );
    assert!(r.layers[0].call.ends_with("api_key=unknown"));
}

#[tokio::test]
async fn a_key_whose_principal_may_not_call_with_a_bearer_token_is_refused_before_its_action() {
    let key = long_term_key("BedrockAPIKey-nobearer", "111111111111", "noBearerSecret");
    let r = probe_key(&key, "").await;
    assert_eq!(outcome(&r), all(Some(Reason::BedrockNotPermitted)));
    assert!(
        messages(&r).contains("is not authorized to perform: bedrock:CallWithBearerToken on resource: * because no identity-based policy allows"),
        "{}",
        messages(&r)
    );
    let key = long_term_key("BedrockAPIKey-revoked", "111111111111", "revokedSecret");
    let r = probe_key(&key, "").await;
    assert_eq!(outcome(&r), all(Some(Reason::ExplicitDeny)));
}

#[tokio::test]
async fn an_scp_that_denies_long_term_keys_blocks_them_and_lets_short_term_ones_through() {
    let long = long_term_key("BedrockAPIKey-lab", "555555555555", "labSecret");
    let r = probe_key(&long, "expected_account = \"555555555555\"").await;
    assert_eq!(
        outcome(&r),
        all(Some(Reason::ScpDenied)),
        "{}",
        messages(&r)
    );
    let m = messages(&r);
    assert!(
        m.contains("bedrock:CallWithBearerToken on resource: * with an explicit deny in a service control policy: arn:aws:organizations::999988887777:policy/o-demo12345/service_control_policy/p-nokeys01"),
        "{m}"
    );
    assert_eq!(r.account_id, "555555555555");
    let short = short_key("555555555555", Duration::ZERO);
    let r = probe_key(&short, "expected_account = \"555555555555\"").await;
    assert_eq!(outcome(&r), all(None), "{}", messages(&r));
}

#[tokio::test]
async fn a_key_file_that_is_missing_fails_the_bedrock_layers_and_a_rotated_one_is_read_again() {
    let (addr, _sim) = sim_support::serve_scenario(&scenario(), "api-keys").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = configuration(dir.path(), "rotating.key", "");
    let r = probe(&config, addr).await;
    assert_eq!(outcome(&r), all(Some(Reason::NoCredentials)));
    assert!(
        messages(&r).contains("rotating.key of source \"keys\" does not exist"),
        "{}",
        messages(&r)
    );
    let path = dir.path().join("rotating.key");
    std::fs::write(
        &path,
        long_term_key("BedrockAPIKey-ok", "111111111111", "deletedSecret"),
    )
    .expect("write");
    assert_eq!(
        outcome(&probe(&config, addr).await),
        all(Some(Reason::InvalidCredentials))
    );
    // The key is rotated in place: the next round reads the new one, no reload.
    std::fs::write(
        &path,
        long_term_key("BedrockAPIKey-ok", "111111111111", "okSecret1"),
    )
    .expect("write");
    assert_eq!(outcome(&probe(&config, addr).await), all(None));
}

#[tokio::test]
async fn the_key_s_expiry_is_exported_for_its_source_and_kind() {
    let (addr, _sim) = sim_support::serve_scenario(&scenario(), "api-keys").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = short_key("111111111111", Duration::from_secs(3600));
    std::fs::write(dir.path().join("key"), &key).expect("write key");
    // Its own source name: the gauge is the process's, and the other tests probe too.
    let config = configuration_of("expiring", dir.path(), "key", "");
    let metrics = bedrock_access_exporter::metrics::Metrics::new().expect("registry");
    let r = probe(&config, addr).await;
    assert_eq!(outcome(&r), all(None), "{}", messages(&r));
    let text = metrics.exposition().to_text();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("bedrock_access_exporter_source_credentials_expiry_timestamp_seconds{")
                && l.contains("source=\"expiring\"")
        })
        .unwrap_or_else(|| panic!("no expiry series:\n{text}"));
    assert!(line.contains("kind=\"short_term\""), "{line}");
    let value: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let want = SystemTime::now() + Duration::from_secs(11 * 3600);
    let want = want
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    assert!((value - want).abs() < 120.0, "{value} vs {want}");
    assert!(
        !text.contains("bedrock-api-key-"),
        "the key itself is never exported"
    );
}

/// `AWS_BEARER_TOKEN_BEDROCK` as the SDK's environment gives it to every Bedrock client.
#[derive(Debug)]
struct BearerFromEnvironment(String);

impl aws_types::service_config::LoadServiceConfig for BearerFromEnvironment {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_BEARER_TOKEN").then(|| self.0.clone())
    }
}

#[tokio::test]
async fn a_bearer_token_in_the_environment_does_not_turn_a_sigv4_source_into_a_key_source() {
    let (addr, _sim) = sim_support::serve_scenario(&scenario(), "api-keys").await;
    let text = format!(
        "[[targets]]\nname = \"sigv4\"\nregions = [\"us-east-1\"]\nmodels = [\"{MODEL}\"]\n"
    );
    let config = match config::load_str(Path::new("t.toml"), &text, Format::Toml, Vec::new()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let refused = long_term_key("BedrockAPIKey-ok", "111111111111", "deletedSecret");
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .service_config(BearerFromEnvironment(refused))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    "AKIAKEYSMINTER000001",
                    "minterSecret0000000000000000000000000001",
                    None,
                    None,
                    "test",
                ),
            ),
        )
        .build();
    let prober = Prober::with_sdk_config(&config, [("default".to_string(), sdk)].into());
    let r = prober
        .probe(
            &config.targets[0],
            "us-east-1",
            MODEL,
            &prober.new_round(),
            true,
        )
        .await;
    // SigV4 as token-minter: credentials, then the Bedrock layers, none with the key.
    assert_eq!(
        outcome(&r),
        vec![
            (Layer::Credentials, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, None)
        ],
        "{}",
        messages(&r)
    );
}
