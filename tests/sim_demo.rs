//! The demo: each target of `config/demo/exporter.toml`, probed layer by layer with the real SDK
//! against the simulator running `config/demo/scenario.toml` with the keys of
//! `config/demo/aws-config`, fails exactly where `config/demo/README.md` says it does.

mod sim_support;

use std::collections::HashMap;
use std::path::Path;

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use aws_sdk_sts::error::ProvideErrorMetadata;
use bedrock_access_exporter::sim::DEMO_SCENARIO;
use serde_json::Value;
use sim_support::serve_scenario;

fn demo_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/demo")
        .join(name);
    match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

/// profile name → (access key id, secret) from the demo's AWS shared config file.
fn profiles() -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    let mut current: Option<String> = None;
    let mut ak = String::new();
    for line in demo_file("aws-config").lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("[profile ")
            .and_then(|l| l.strip_suffix(']'))
        {
            current = Some(name.to_owned());
        } else if let Some((k, v)) = line.split_once('=') {
            match (k.trim(), &current) {
                ("aws_access_key_id", Some(_)) => ak = v.trim().to_owned(),
                ("aws_secret_access_key", Some(p)) => {
                    out.insert(p.clone(), (ak.clone(), v.trim().to_owned()));
                }
                _ => {}
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Every layer passed.
    Pass,
    /// (layer, AWS code or availability field=value, message fragment)
    Fail(&'static str, String, String),
}

async fn probe(
    url: &str,
    target: &Value,
    source_keys: (String, String),
    region: &str,
    model: &str,
) -> Outcome {
    let creds = Credentials::new(&source_keys.0, &source_keys.1, None, None, "demo");
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(region.to_owned()))
            .credentials_provider(creds)
            .endpoint_url(url)
            .build(),
    );
    if let Err(e) = sts.get_caller_identity().send().await {
        return Outcome::Fail(
            "credentials",
            e.code().unwrap_or_default().into(),
            e.message().unwrap_or_default().into(),
        );
    }
    let duration = target["session_duration"]
        .as_str()
        .and_then(|d| humantime::parse_duration(d).ok())
        .map_or(900, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
    let assumed = sts
        .assume_role()
        .role_arn(target["role_arn"].as_str().unwrap_or_default())
        .role_session_name("bedrock-access-exporter")
        .set_external_id(target["external_id"].as_str().map(str::to_owned))
        .duration_seconds(duration)
        .send()
        .await;
    let c = match assumed {
        Ok(o) => match o.credentials() {
            Some(c) => Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "r",
            ),
            None => panic!("no credentials"),
        },
        Err(e) => {
            return Outcome::Fail(
                "assume_role",
                e.code().unwrap_or_default().into(),
                e.message().unwrap_or_default().into(),
            );
        }
    };
    // model_access
    let bedrock = aws_sdk_bedrock::Client::from_conf(
        aws_sdk_bedrock::Config::builder()
            .behavior_version(aws_sdk_bedrock::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrock::config::Region::new(region.to_owned()))
            .credentials_provider(c.clone())
            .endpoint_url(url)
            .build(),
    );
    let mut base_model = model.to_owned();
    if model.starts_with("us.") {
        match bedrock
            .get_inference_profile()
            .inference_profile_identifier(model)
            .send()
            .await
        {
            Ok(p) => {
                if let Some(arn) = p.models().first().and_then(|m| m.model_arn()) {
                    base_model = arn.rsplit('/').next().unwrap_or(model).to_owned();
                }
            }
            Err(e) => {
                return Outcome::Fail(
                    "model_access",
                    e.code().unwrap_or_default().into(),
                    e.message().unwrap_or_default().into(),
                );
            }
        }
    }
    let mut model_access = None;
    match bedrock
        .get_foundation_model_availability()
        .model_id(&base_model)
        .send()
        .await
    {
        Ok(a) => {
            let agreement = a
                .agreement_availability()
                .map(|x| x.status().as_str().to_owned())
                .unwrap_or_default();
            if matches!(agreement.as_str(), "PENDING" | "ERROR") {
                model_access = Some(format!("agreement={agreement}"));
            } else if a.authorization_status().as_str() != "AUTHORIZED" {
                model_access = Some(format!(
                    "authorization={}",
                    a.authorization_status().as_str()
                ));
            } else if a.region_availability().as_str() != "AVAILABLE" {
                model_access = Some(format!("region={}", a.region_availability().as_str()));
            }
        }
        Err(e) => model_access = Some(e.code().unwrap_or_default().to_owned()),
    }
    // invoke
    let runtime = aws_sdk_bedrockruntime::Client::from_conf(
        aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new(
                region.to_owned(),
            ))
            .credentials_provider(c)
            .endpoint_url(url)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .build(),
    );
    let stream_err = if target["stream"].as_bool() == Some(true) {
        stream_error(&runtime, model).await
    } else {
        None
    };
    let invoke_err = if target["invoke"].as_str() == Some("invoke_model") {
        runtime
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .body(Blob::new(br#"{"inputText":"probe"}"#.to_vec()))
            .send()
            .await
            .err()
            .map(|e| {
                (
                    e.code().unwrap_or_default().to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                )
            })
    } else {
        let msg = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text("hi".into()))
            .build()
            .ok();
        runtime
            .converse()
            .model_id(model)
            .set_messages(msg.map(|m| vec![m]))
            .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
            .send()
            .await
            .err()
            .map(|e| {
                (
                    e.code().unwrap_or_default().to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                )
            })
    };
    match (model_access, invoke_err) {
        (None, None) => match stream_err {
            None => Outcome::Pass,
            Some((code, msg)) => Outcome::Fail("invoke_stream", code, msg),
        },
        (Some(m), Some((code, msg))) => {
            Outcome::Fail("model_access+invoke", format!("{m} / {code}"), msg)
        }
        (Some(m), None) => Outcome::Fail("model_access", m, String::new()),
        (None, Some((code, msg))) => Outcome::Fail("invoke", code, msg),
    }
}

/// ConverseStream read to its end: the AWS code and message of its failure, if any (before
/// the stream opened or as an exception event inside it).
async fn stream_error(
    runtime: &aws_sdk_bedrockruntime::Client,
    model: &str,
) -> Option<(String, String)> {
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".into()))
        .build()
        .ok();
    let sent = runtime
        .converse_stream()
        .model_id(model)
        .set_messages(msg.map(|m| vec![m]))
        .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
        .send()
        .await;
    let mut out = match sent {
        Ok(out) => out,
        Err(e) => {
            return Some((
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            ));
        }
    };
    loop {
        match out.stream.recv().await {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(("stream".to_owned(), format!("{e:?}"))),
        }
    }
}

/// target → (failing layer, signal, message fragment); absent = healthy.
fn expected() -> HashMap<&'static str, (&'static str, &'static str, &'static str)> {
    HashMap::from([
        (
            "untrusted-source",
            (
                "assume_role",
                "AccessDenied",
                "on resource: arn:aws:iam::222222222222:role/PartnerProbeRole",
            ),
        ),
        (
            "missing-external-id",
            (
                "assume_role",
                "AccessDenied",
                "on resource: arn:aws:iam::222222222222:role/BedrockProbeRole",
            ),
        ),
        (
            "caller-without-assumerole",
            (
                "assume_role",
                "AccessDenied",
                "because no identity-based policy allows the sts:AssumeRole action",
            ),
        ),
        (
            "session-too-long",
            (
                "assume_role",
                "ValidationError",
                "exceeds the MaxSessionDuration",
            ),
        ),
        (
            "role-without-invoke",
            (
                "invoke",
                "AccessDeniedException",
                "because no identity-based policy allows the bedrock:InvokeModel action",
            ),
        ),
        (
            "role-without-stream",
            (
                "invoke_stream",
                "AccessDeniedException",
                "because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action",
            ),
        ),
        (
            "identity-deny",
            (
                "invoke",
                "AccessDeniedException",
                "with an explicit deny in an identity-based policy",
            ),
        ),
        (
            "scp-deny",
            (
                "invoke",
                "AccessDeniedException",
                "with an explicit deny in a service control policy",
            ),
        ),
        (
            "sandbox-guardrail",
            (
                "invoke",
                "AccessDeniedException",
                "with an explicit deny in a service control policy",
            ),
        ),
        (
            "grant-missing",
            (
                "model_access+invoke",
                "authorization=NOT_AUTHORIZED / AccessDeniedException",
                "You don't have access to the model",
            ),
        ),
        (
            "grant-pending",
            (
                "model_access+invoke",
                "agreement=PENDING / AccessDeniedException",
                "Your AWS Marketplace subscription for this model is still being processed",
            ),
        ),
        (
            "marketplace-missing",
            (
                "model_access+invoke",
                "agreement=ERROR / AccessDeniedException",
                "AWS Marketplace subscription for this model cannot be completed",
            ),
        ),
        (
            "use-case-form-missing",
            (
                "invoke",
                "ResourceNotFoundException",
                "Model use case details have not been submitted",
            ),
        ),
        (
            "not-in-region",
            (
                "model_access+invoke",
                "region=NOT_AVAILABLE / ValidationException",
                "The provided model identifier is invalid.",
            ),
        ),
        (
            "profile-required",
            (
                "invoke",
                "ValidationException",
                "with on-demand throughput isn\u{2019}t supported",
            ),
        ),
        (
            "legacy-inactive",
            (
                "invoke",
                "ResourceNotFoundException",
                "marked by provider as Legacy",
            ),
        ),
        (
            "end-of-life",
            (
                "invoke",
                "ResourceNotFoundException",
                "reached the end of its life",
            ),
        ),
        (
            "not-offered",
            (
                "invoke",
                "AccessDeniedException",
                "mistral.mistral-large-2402-v1:0 is not available for this account",
            ),
        ),
    ])
}

#[tokio::test]
async fn every_demo_target_fails_in_the_layer_and_for_the_reason_the_readme_promises() {
    let (addr, _) = serve_scenario(DEMO_SCENARIO, "demo").await;
    let url = format!("http://{addr}");

    let config: Value = match toml::from_str::<toml::Value>(&demo_file("exporter.toml"))
        .map(serde_json::to_value)
    {
        Ok(Ok(v)) => v,
        other => panic!("exporter.toml: {other:?}"),
    };
    assert_eq!(config["probe"]["interval"], "10s");
    assert_eq!(config["probe"]["timeout"], "5s");
    let profiles = profiles();
    let sources: HashMap<String, String> = config["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_owned(),
                s["profile"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let readme = demo_file("README.md");
    let expected = expected();
    let mut healthy = 0;
    let targets = config["targets"].as_array().cloned().unwrap_or_default();
    assert!(targets.len() >= 19, "the demo covers every failure story");
    for t in &targets {
        let name = t["name"].as_str().unwrap_or_default();
        assert!(
            readme.contains(&format!("`{name}`")),
            "README must explain target {name}"
        );
        let profile = sources
            .get(t["source"].as_str().unwrap_or_default())
            .cloned()
            .unwrap_or_default();
        let Some(keys) = profiles.get(&profile).cloned() else {
            panic!("{name}: profile {profile} missing from aws-config")
        };
        for region in t["regions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            for model in t["models"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let got = probe(&url, t, keys.clone(), region, model).await;
                match expected.get(name) {
                    None => {
                        assert_eq!(
                            got,
                            Outcome::Pass,
                            "{name} {region} {model} should be healthy"
                        );
                        healthy += 1;
                    }
                    Some((layer, signal, fragment)) => match &got {
                        Outcome::Fail(l, s, m) => {
                            assert_eq!(
                                (*l, s.as_str()),
                                (*layer, *signal),
                                "{name} {region} {model}: {m}"
                            );
                            assert!(m.contains(fragment), "{name}: `{m}` lacks `{fragment}`");
                        }
                        Outcome::Pass => panic!("{name} {region} {model} should fail in {layer}"),
                    },
                }
            }
        }
    }
    assert_eq!(
        healthy, 4,
        "healthy-claude (2 regions), healthy-profile, healthy-embeddings"
    );
}
