//! Every AWS fixture, replayed verbatim over HTTP to the real AWS SDK for Rust, must come out of
//! the probe's error handling with the layer, reason, class and error code the fixture expects;
//! every success must parse.

#[path = "probe_support/mod.rs"]
mod support;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_access_exporter::config::InvokeMode;
use bedrock_access_exporter::probe::aws::{
    bedrock_client, failure_from_sdk, runtime_client, sts_client,
};
use bedrock_access_exporter::probe::{Failure, LayerStatus};
use bedrock_access_exporter::reason::{Layer, classify_availability, error_code_label};
use support::{Fixture, Replay, Reply, fixture};

fn creds() -> Credentials {
    Credentials::new("AKIDTEST", "test-secret", None, None, "test")
}

fn layer_named(name: &str) -> Layer {
    match name {
        "credentials" => Layer::Credentials,
        "assume_role" => Layer::AssumeRole,
        "model_access" => Layer::ModelAccess,
        "invoke" => Layer::Invoke,
        other => panic!("unknown layer {other}"),
    }
}

fn user_message() -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("Hi".to_string()))
        .build()
        .expect("message")
}

/// What one direct SDK call of the fixture's operation produced.
enum Outcome {
    Ok,
    Failed(Failure),
}

/// Calls the fixture's own operation with the real SDK client against a server replaying it.
async fn call_directly(f: &Fixture) -> Outcome {
    let replay = Replay::start().await;
    replay.script(&f.operation, vec![Reply::from_fixture(&f.name)]);
    let sdk = support::sdk_config(&replay.url());
    let budget = Duration::from_secs(10);
    let region = "us-east-1";
    let failed = match f.operation.as_str() {
        "GetCallerIdentity" => {
            let r = sts_client(&sdk, region, creds(), budget)
                .get_caller_identity()
                .send()
                .await;
            match r {
                Ok(out) => {
                    assert_eq!(out.account(), Some("123456789012"), "{}", f.name);
                    return Outcome::Ok;
                }
                Err(e) => failure_from_sdk(Layer::Credentials, &e, &[]),
            }
        }
        "AssumeRole" => {
            let r = sts_client(&sdk, region, creds(), budget)
                .assume_role()
                .role_arn(support::ROLE_ARN)
                .role_session_name("bedrock-access-exporter")
                .send()
                .await;
            match r {
                Ok(out) => {
                    let c = out.credentials().expect("credentials");
                    assert_eq!(c.access_key_id(), "ASIAIOSFODNN7EXAMPLE", "{}", f.name);
                    return Outcome::Ok;
                }
                Err(e) => failure_from_sdk(Layer::AssumeRole, &e, &[]),
            }
        }
        "GetFoundationModelAvailability" => {
            let r = bedrock_client(&sdk, region, creds(), budget)
                .get_foundation_model_availability()
                .model_id(support::MODEL)
                .send()
                .await;
            match r {
                Ok(out) => {
                    let agreement = out
                        .agreement_availability()
                        .map(|a| a.status().as_str())
                        .unwrap_or("");
                    return match classify_availability(
                        agreement,
                        out.authorization_status().as_str(),
                        out.entitlement_availability().as_str(),
                        out.region_availability().as_str(),
                    ) {
                        None => Outcome::Ok,
                        Some(reason) => Outcome::Failed(Failure {
                            reason,
                            error_code: None,
                            http_status: None,
                            request_id: None,
                            message: String::new(),
                        }),
                    };
                }
                Err(e) => failure_from_sdk(Layer::ModelAccess, &e, &[]),
            }
        }
        "Converse" => {
            let r = runtime_client(&sdk, region, creds(), budget)
                .converse()
                .model_id(support::MODEL)
                .messages(user_message())
                .send()
                .await;
            match r {
                Ok(out) => {
                    let usage = out.usage().expect("usage");
                    assert_eq!((usage.input_tokens(), usage.output_tokens()), (8, 1));
                    return Outcome::Ok;
                }
                Err(e) => failure_from_sdk(Layer::Invoke, &e, &[]),
            }
        }
        "ConverseStream" => {
            let r = runtime_client(&sdk, region, creds(), budget)
                .converse_stream()
                .model_id(support::MODEL)
                .messages(user_message())
                .send()
                .await;
            match r {
                Ok(_) => return Outcome::Ok,
                Err(e) => failure_from_sdk(Layer::Invoke, &e, &[]),
            }
        }
        "InvokeModel" => {
            let r = runtime_client(&sdk, region, creds(), budget)
                .invoke_model()
                .model_id(support::MODEL)
                .content_type("application/json")
                .body(Blob::new(b"{}".to_vec()))
                .send()
                .await;
            match r {
                Ok(_) => return Outcome::Ok,
                Err(e) => failure_from_sdk(Layer::Invoke, &e, &[]),
            }
        }
        other => panic!("{}: unknown operation {other}", f.name),
    };
    Outcome::Failed(failed)
}

/// Runs the fixture through the whole probe pipeline: every other call healthy, the fixture's
/// operation answered with the fixture. Returns the failure of the fixture's layer.
async fn through_the_prober(f: &Fixture, layer: Layer) -> Option<Failure> {
    let replay = Replay::healthy().await;
    // The prober invokes with Converse or InvokeModel; a ConverseStream body is the same body.
    let op = if f.operation == "ConverseStream" {
        "Converse"
    } else {
        f.operation.as_str()
    };
    replay.script(op, vec![Reply::from_fixture(&f.name)]);
    let role = (layer != Layer::Credentials).then_some(support::ROLE_ARN);
    let mut target = support::target("fixture", role);
    if op == "InvokeModel" {
        target.settings.invoke = InvokeMode::InvokeModel;
    }
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let round = prober.new_round();
    let report = prober
        .probe(&target, "us-east-1", support::MODEL, &round, true)
        .await;
    let result = report
        .layers
        .iter()
        .find(|l| l.layer == layer)
        .unwrap_or_else(|| panic!("{}: layer {layer} absent: {report:?}", f.name));
    match &result.status {
        LayerStatus::Passed => None,
        LayerStatus::Failed(failure) => Some(failure.clone()),
    }
}

fn check(f: &Fixture, how: &str, failure: &Failure, problems: &mut Vec<String>) {
    let Some(expect) = &f.expect else {
        problems.push(format!("{} ({how}): a success failed: {failure:?}", f.name));
        return;
    };
    let got = (
        failure.reason.as_str(),
        failure.reason.class().as_str(),
        failure.error_code.clone(),
    );
    let want = (
        expect.reason.as_str(),
        expect.class.as_str(),
        expect.error_code.clone(),
    );
    if got != want {
        problems.push(format!(
            "{} ({how}): got {got:?}, want {want:?} (message {:?})",
            f.name, failure.message
        ));
    }
    if let Some(code) = &expect.error_code {
        assert_eq!(error_code_label(Some(code)), code, "{}", f.name);
    }
}

#[tokio::test]
async fn every_aws_fixture_is_classified_as_its_file_says_through_the_real_sdk() {
    let fixtures = support::all_fixtures();
    assert_eq!(fixtures.len(), 58, "the developer set has 58 files");
    let mut problems = Vec::new();
    for f in &fixtures {
        match (call_directly(f).await, &f.expect) {
            (Outcome::Ok, None) => {}
            (Outcome::Ok, Some(_)) => problems.push(format!("{}: parsed as a success", f.name)),
            (Outcome::Failed(failure), _) => check(f, "direct SDK call", &failure, &mut problems),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn every_aws_fixture_fails_its_own_layer_in_a_full_probe_with_the_evidence_kept() {
    let mut problems = Vec::new();
    for f in support::all_fixtures() {
        let layer = match &f.expect {
            Some(e) => layer_named(&e.layer),
            None => layer_named(f.name.split("--").next().unwrap_or("")),
        };
        match (through_the_prober(&f, layer).await, &f.expect) {
            (None, None) => {}
            (None, Some(_)) => problems.push(format!("{}: layer passed", f.name)),
            (Some(failure), expect) => {
                check(&f, "full probe", &failure, &mut problems);
                if expect.as_ref().is_some_and(|e| e.error_code.is_some()) {
                    let want_id = f.headers.get("x-amzn-RequestId").cloned();
                    if failure.request_id != want_id {
                        problems.push(format!(
                            "{}: request id {:?}, want {want_id:?}",
                            f.name, failure.request_id
                        ));
                    }
                    if failure.http_status != Some(f.status) {
                        problems.push(format!(
                            "{}: status {:?}, want {}",
                            f.name, failure.http_status, f.status
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs the fixture of an invoke failure as the answer to the streaming twin of its operation
/// (ConverseStream, or InvokeModelWithResponseStream for an InvokeModel fixture), before any
/// stream opens, in a full probe with `stream = true`. Returns the invoke_stream layer's failure.
async fn through_the_streaming_layer(f: &Fixture) -> Option<Failure> {
    let replay = Replay::healthy().await;
    let streaming = if f.operation == "InvokeModel" {
        "InvokeModelWithResponseStream"
    } else {
        "ConverseStream"
    };
    replay.script(streaming, vec![Reply::from_fixture(&f.name)]);
    let mut target = support::target("fixture", Some(support::ROLE_ARN));
    target.settings.stream = true;
    if f.operation == "InvokeModel" {
        target.settings.invoke = InvokeMode::InvokeModel;
    }
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let round = prober.new_round();
    let report = prober
        .probe(&target, "us-east-1", support::MODEL, &round, true)
        .await;
    let result = report
        .layers
        .iter()
        .find(|l| l.layer == Layer::InvokeStream)
        .unwrap_or_else(|| panic!("{}: invoke_stream absent: {report:?}", f.name));
    assert!(
        replay.count(streaming) >= 1,
        "{}: {streaming} was never called",
        f.name
    );
    match &result.status {
        LayerStatus::Passed => None,
        LayerStatus::Failed(failure) => Some(failure.clone()),
    }
}

#[tokio::test]
async fn every_invoke_failure_aws_answers_before_a_stream_opens_fails_invoke_stream_alike() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for f in support::all_fixtures() {
        if f.expect.as_ref().is_none_or(|e| e.layer != "invoke") {
            continue;
        }
        checked += 1;
        match through_the_streaming_layer(&f).await {
            None => problems.push(format!("{}: invoke_stream passed", f.name)),
            Some(failure) => {
                check(&f, "streaming layer", &failure, &mut problems);
                let want_id = f.headers.get("x-amzn-RequestId").cloned();
                if failure.request_id != want_id || failure.http_status != Some(f.status) {
                    problems.push(format!(
                        "{}: evidence {:?} {:?}, want {want_id:?} {}",
                        f.name, failure.request_id, failure.http_status, f.status
                    ));
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} invoke fixtures");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn a_marketplace_agreement_in_error_surfaces_aws_error_message() {
    let f = fixture("model_access--marketplace_subscription_required--availability-error");
    let failure = through_the_prober(&f, Layer::ModelAccess)
        .await
        .expect("model_access fails");
    assert!(
        failure.message.contains("aws-marketplace:Subscribe"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("agreement=ERROR"),
        "{}",
        failure.message
    );
}
