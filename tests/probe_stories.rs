//! Probe stories: what an operator sees when each layer breaks, told against a replay server
//! that answers with verbatim AWS responses and records every call it receives.

#[path = "probe_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use bedrock_access_exporter::config::InvokeMode;
use bedrock_access_exporter::probe::{LayerStatus, ProbeReport, Prober};
use bedrock_access_exporter::reason::{Layer, Reason};
use support::{MODEL, ROLE_ARN, Replay, Reply};

fn reasons(report: &ProbeReport) -> Vec<(Layer, Option<Reason>)> {
    report
        .layers
        .iter()
        .map(|l| match &l.status {
            LayerStatus::Passed => (l.layer, None),
            LayerStatus::Failed(f) => (l.layer, Some(f.reason)),
        })
        .collect()
}

async fn probe_once(
    replay: &Replay,
    target: &bedrock_access_exporter::config::Target,
) -> ProbeReport {
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let round = prober.new_round();
    prober.probe(target, "us-east-1", MODEL, &round, true).await
}

#[tokio::test]
async fn a_healthy_cross_account_tuple_passes_all_four_layers_and_counts_its_tokens() {
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, None),
        ]
    );
    assert_eq!(report.account_id, "210987654321");
    assert_eq!(report.role_name, "BedrockProbeRole");
    assert_eq!(report.tokens, Some((8, 1)));
    assert!(report.invoke_ran);
    let availability = report.availability.clone().expect("availability read");
    assert_eq!(availability.authorization, "AUTHORIZED");
    assert_eq!(availability.agreement, "AVAILABLE");
    assert!(report.layers[1].call.starts_with("sts:AssumeRole arn:aws:iam::210987654321:role/BedrockProbeRole session=bedrock-access-exporter duration=900s"), "{}", report.layers[1].call);
    assert!(
        report.layers[3].call.contains("Converse"),
        "{}",
        report.layers[3].call
    );
    // Converse asked for one output token.
    let converse = replay
        .seen()
        .into_iter()
        .find(|s| s.operation == "Converse")
        .expect("converse");
    assert!(
        converse.body.contains("\"maxTokens\":1"),
        "{}",
        converse.body
    );
}

#[tokio::test]
async fn a_role_that_trusts_the_wrong_account_fails_assume_role_and_bedrock_is_never_called() {
    let replay = Replay::healthy().await;
    replay.script(
        "AssumeRole",
        vec![Reply::from_fixture(
            "assume_role--assume_role_denied--cross-account-raw",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, Some(Reason::AssumeRoleDenied))
        ]
    );
    let LayerStatus::Failed(failure) = &report.layers[1].status else {
        panic!("assume_role passed");
    };
    assert_eq!(failure.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(failure.http_status, Some(403));
    assert_eq!(
        failure.request_id.as_deref(),
        Some("fa2bundlksjdlfjs0uw9ue9")
    );
    assert_eq!(replay.bedrock_calls(), 0, "{:?}", replay.seen());
    assert!(!report.invoke_ran);
    assert_eq!(
        report.account_id, "210987654321",
        "account from the role ARN"
    );
}

#[tokio::test]
async fn the_external_id_is_sent_to_sts_but_never_shown_in_the_report_or_the_logs() {
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || LogSink(sink.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let replay = Replay::healthy().await;
    let mut denied = Reply::from_fixture("assume_role--assume_role_denied--iam-user-caller");
    // AWS echoing the external id must not leak it either.
    denied.body = denied
        .body
        .replace("AmazonOrders", "AmazonOrders ext-very-secret-42");
    replay.script("AssumeRole", vec![denied]);
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;

    let assume = replay
        .seen()
        .into_iter()
        .find(|s| s.operation == "AssumeRole")
        .expect("assume");
    assert!(
        assume.body.contains("ExternalId=ext-very-secret-42"),
        "{}",
        assume.body
    );
    let shown = format!("{report:?}");
    assert!(!shown.contains("ext-very-secret-42"), "{shown}");
    assert!(shown.contains("external_id=set"), "{shown}");

    let logged = String::from_utf8_lossy(&logs.lock().expect("logs")).to_string();
    assert!(logged.contains("assume_role_denied"), "{logged}");
    assert!(
        logged.contains("a198086a-624f-57ca-8d24-3965e1ae1146"),
        "request id logged: {logged}"
    );
    assert!(logged.contains("aws_region=us-east-1"), "{logged}");
    assert!(logged.contains("target=prod"), "{logged}");
    assert!(logged.contains("layer=assume_role"), "{logged}");
    assert!(logged.contains("error_code=AccessDenied"), "{logged}");
    assert!(!logged.contains("ext-very-secret-42"), "{logged}");
    assert!(!logged.contains("source-secret-key"), "{logged}");
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn with_invoke_off_the_probe_has_no_invoke_layer_and_costs_nothing() {
    let replay = Replay::healthy().await;
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.invoke = InvokeMode::None;
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, None)
        ]
    );
    assert!(!report.invoke_ran);
    assert_eq!(report.tokens, None);
    assert_eq!(replay.count("Converse") + replay.count("InvokeModel"), 0);
}

#[tokio::test]
async fn between_invoke_intervals_the_paid_layer_is_skipped_and_its_last_result_stands() {
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let report = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), false)
        .await;
    assert_eq!(report.layers.len(), 3);
    assert!(!report.invoke_ran);
    assert_eq!(replay.count("Converse"), 0);
}

#[tokio::test]
async fn the_streaming_layer_is_paid_too_it_runs_with_invoke_and_reads_a_refusal_like_invoke() {
    let replay = Replay::healthy().await;
    replay.script(
        "ConverseStream",
        vec![Reply::from_fixture(
            "invoke--model_access_not_granted--dont-have-access-conversestream",
        )],
    );
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.stream = true;
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    // Between invoke intervals: neither paid layer runs.
    let skipped = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), false)
        .await;
    assert_eq!(skipped.layers.len(), 3);
    assert_eq!(replay.count("Converse") + replay.count("ConverseStream"), 0);
    // Due: both run; the streaming refusal is the same reason invoke would report.
    let report = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, None),
            (Layer::InvokeStream, Some(Reason::ModelAccessNotGranted)),
        ]
    );
    assert_eq!(replay.count("ConverseStream"), 1);
    let stream = &report.layers[4];
    assert!(
        stream.call.starts_with(&format!(
            "bedrock-runtime:ConverseStream {MODEL} region=us-east-1 maxTokens=1"
        )),
        "{}",
        stream.call
    );
    // Tokens are those of the plain invocation (the refused stream used none).
    assert_eq!(report.tokens, Some((8, 1)));
}

#[tokio::test]
async fn with_model_access_off_only_the_invocation_judges_the_model() {
    let replay = Replay::healthy().await;
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.model_access = false;
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::Invoke, None)
        ]
    );
    assert_eq!(replay.count("GetFoundationModelAvailability"), 0);
    assert_eq!(report.availability, None);
}

#[tokio::test]
async fn a_model_access_grant_missing_is_reported_while_invoke_still_runs_as_ground_truth() {
    let replay = Replay::healthy().await;
    replay.script(
        "GetFoundationModelAvailability",
        vec![Reply::from_fixture(
            "model_access--model_access_not_granted--availability-not-authorized",
        )],
    );
    replay.script(
        "Converse",
        vec![Reply::from_fixture(
            "invoke--model_access_not_granted--dont-have-access-invokemodel",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, Some(Reason::ModelAccessNotGranted)),
            (Layer::Invoke, Some(Reason::ModelAccessNotGranted)),
        ]
    );
    assert_eq!(
        report.availability.map(|a| a.authorization).as_deref(),
        Some("NOT_AUTHORIZED")
    );
}

#[tokio::test]
async fn an_activation_in_progress_is_pending_on_both_layers_not_a_missing_permission() {
    let replay = Replay::healthy().await;
    replay.script(
        "GetFoundationModelAvailability",
        vec![Reply::from_fixture(
            "model_access--model_access_pending--availability-pending",
        )],
    );
    replay.script(
        "Converse",
        vec![Reply::from_fixture(
            "invoke--model_access_pending--mp-agreement-being-created",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, Some(Reason::ModelAccessPending)),
            (Layer::Invoke, Some(Reason::ModelAccessPending)),
        ]
    );
}

#[tokio::test]
async fn an_account_aws_refuses_fails_invoke_although_the_control_plane_says_authorized() {
    let replay = Replay::healthy().await;
    replay.script(
        "Converse",
        vec![Reply::from_fixture(
            "invoke--account_not_authorized--not-available-for-this-account",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, Some(Reason::AccountNotAuthorized)),
        ]
    );
    assert_eq!(
        report.availability.map(|a| a.authorization).as_deref(),
        Some("AUTHORIZED")
    );
}

#[tokio::test]
async fn a_host_clock_that_is_off_fails_credentials_with_clock_skew_not_with_bad_keys() {
    let replay = Replay::healthy().await;
    replay.script(
        "GetCallerIdentity",
        vec![Reply::from_fixture(
            "credentials--clock_skew--sts-not-yet-current",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![(Layer::Credentials, Some(Reason::ClockSkew))]
    );
    assert_eq!(
        Reason::ClockSkew.fix(),
        "synchronise this host's clock (NTP/chrony); SigV4 signs with the local time"
    );
    assert_eq!(replay.count("AssumeRole"), 0, "the gate stops the probe");
    assert_eq!(replay.bedrock_calls(), 0);
}

#[tokio::test]
async fn a_model_failing_on_bedrocks_side_is_service_unavailable_not_unknown() {
    let replay = Replay::healthy().await;
    replay.script(
        "Converse",
        vec![Reply::from_fixture(
            "invoke--service_unavailable--model-error-tooluse",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report)[3],
        (Layer::Invoke, Some(Reason::ServiceUnavailable))
    );
    let LayerStatus::Failed(failure) = &report.layers[3].status else {
        panic!("invoke passed: {report:?}");
    };
    assert_eq!(failure.http_status, Some(424));
    assert_eq!(failure.error_code.as_deref(), Some("ModelErrorException"));
}

#[tokio::test]
async fn credentials_of_another_account_than_configured_fail_before_any_role_is_assumed() {
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], Some("111111111111"));
    let prober = support::prober(&config, &replay.url());
    let report = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    assert_eq!(
        reasons(&report),
        vec![(Layer::Credentials, Some(Reason::SourceAccountMismatch))]
    );
    assert_eq!(replay.count("AssumeRole"), 0);
    assert_eq!(replay.bedrock_calls(), 0);
}

#[tokio::test]
async fn a_same_account_target_has_no_assume_role_layer_and_reports_the_callers_account() {
    let replay = Replay::healthy().await;
    let target = support::target("local", None);
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, None)
        ]
    );
    assert_eq!(report.account_id, "123456789012");
    assert_eq!(report.role_name, "");
    assert_eq!(replay.count("AssumeRole"), 0);
}

#[tokio::test]
async fn a_source_without_any_credentials_fails_with_no_credentials() {
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let bare = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(replay.url())
        .build();
    let prober = Prober::with_sdk_config(&config, HashMap::from([("default".to_string(), bare)]));
    let report = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    assert_eq!(
        reasons(&report),
        vec![(Layer::Credentials, Some(Reason::NoCredentials))]
    );
    assert!(replay.seen().is_empty());

    let unconfigured = Prober::with_sdk_config(&config, HashMap::new());
    let report = unconfigured
        .probe(&target, "us-east-1", MODEL, &unconfigured.new_round(), true)
        .await;
    assert_eq!(
        reasons(&report),
        vec![(Layer::Credentials, Some(Reason::NoCredentials))]
    );
}

#[tokio::test]
async fn several_tuples_of_a_round_share_one_assume_role_per_target_and_region() {
    let replay = Replay::healthy().await;
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.regions = vec!["us-east-1".into(), "us-west-2".into()];
    target.models = vec![
        MODEL.into(),
        "amazon.nova-lite-v1:0".into(),
        "meta.llama3-8b-instruct-v1:0".into(),
    ];
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());

    let round = prober.new_round();
    let probes = config
        .tuples()
        .into_iter()
        .map(|(key, t)| {
            let (prober, round) = (&prober, &round);
            async move {
                prober
                    .probe(t, &key.aws_region, &key.model_id, round, true)
                    .await
            }
        })
        .collect::<Vec<_>>();
    let reports = futures::future::join_all(probes).await;
    assert_eq!(reports.len(), 6);
    assert!(
        reports
            .iter()
            .all(|r| r.layers.len() == 4 && reasons(r).iter().all(|(_, f)| f.is_none()))
    );
    assert_eq!(replay.count("AssumeRole"), 2, "one per region");
    assert_eq!(
        replay.count("GetCallerIdentity"),
        2,
        "one per source and region"
    );
    assert_eq!(replay.count("Converse"), 6);

    // The next round assumes afresh: the point is to notice when the trust breaks.
    replay.script(
        "AssumeRole",
        vec![Reply::from_fixture(
            "assume_role--assume_role_denied--short-form-legacy",
        )],
    );
    let round = prober.new_round();
    let mut next = Vec::new();
    for (key, t) in config.tuples() {
        next.push(
            prober
                .probe(t, &key.aws_region, &key.model_id, &round, true)
                .await,
        );
    }
    assert_eq!(replay.count("AssumeRole"), 4);
    for r in &next {
        assert_eq!(
            reasons(r),
            vec![
                (Layer::Credentials, None),
                (Layer::AssumeRole, Some(Reason::AssumeRoleDenied))
            ],
            "every tuple of the round reports the shared failure"
        );
    }
    assert_eq!(
        replay.count("Converse"),
        6,
        "no Bedrock call after the failed trust"
    );
}

#[tokio::test]
async fn an_endpoint_that_hangs_makes_the_layer_time_out_within_the_probe_budget() {
    let replay = Replay::healthy().await;
    replay.script(
        "Converse",
        vec![Reply::from_fixture("invoke--ok--converse-max-tokens").hang(Duration::from_secs(30))],
    );
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let report = probe_once(&replay, &target).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, None),
            (Layer::ModelAccess, None),
            (Layer::Invoke, Some(Reason::Timeout)),
        ]
    );
}

#[tokio::test]
async fn a_hanging_sts_times_out_assume_role_and_stops_the_probe() {
    let replay = Replay::healthy().await;
    replay.script(
        "AssumeRole",
        vec![Reply::from_fixture("assume_role--ok--sts-assumerole").hang(Duration::from_secs(30))],
    );
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let report = probe_once(&replay, &target).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        reasons(&report),
        vec![
            (Layer::Credentials, None),
            (Layer::AssumeRole, Some(Reason::Timeout))
        ]
    );
    assert_eq!(replay.bedrock_calls(), 0);
}

#[tokio::test]
async fn when_nothing_listens_at_the_endpoint_the_credentials_layer_reports_a_network_error() {
    let url = support::closed_url().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &url);
    let report = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    assert_eq!(
        reasons(&report),
        vec![(Layer::Credentials, Some(Reason::NetworkError))]
    );
    let LayerStatus::Failed(f) = &report.layers[0].status else {
        panic!("passed");
    };
    assert_eq!(f.error_code, None);
    assert!(!f.message.contains("source-secret-key"));
}

#[tokio::test]
async fn throttling_that_persists_is_retried_then_reported_as_throttled_not_as_access() {
    let replay = Replay::healthy().await;
    replay.script(
        "Converse",
        vec![Reply::from_fixture("invoke--throttled--too-many-tokens")],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(
        reasons(&report)[3],
        (Layer::Invoke, Some(Reason::Throttled))
    );
    assert_eq!(replay.count("Converse"), 3, "limited retries with backoff");
}

#[tokio::test]
async fn throttling_that_clears_on_retry_passes() {
    let replay = Replay::healthy().await;
    replay.script(
        "Converse",
        vec![
            Reply::from_fixture("invoke--throttled--too-many-tokens"),
            Reply::from_fixture("invoke--ok--converse-max-tokens"),
        ],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert_eq!(reasons(&report)[3], (Layer::Invoke, None));
    assert_eq!(replay.count("Converse"), 2);
}

#[tokio::test]
async fn an_inference_profile_is_resolved_to_its_model_in_the_tuples_region() {
    let replay = Replay::healthy().await;
    let profile = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let body = serde_json::json!({
        "inferenceProfileName": "US Anthropic Claude 3.5 Haiku",
        "inferenceProfileArn": format!("arn:aws:bedrock:us-east-1:210987654321:inference-profile/{profile}"),
        "inferenceProfileId": profile,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
        "models": [
            {"modelArn": "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0-west"},
            {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"}
        ]
    });
    replay.script(
        "GetInferenceProfile",
        vec![Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string(),
            delay: None,
        }],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let report = prober
        .probe(&target, "us-east-1", profile, &prober.new_round(), true)
        .await;
    assert_eq!(reasons(&report)[2], (Layer::ModelAccess, None));
    let availability = replay
        .seen()
        .into_iter()
        .find(|s| s.operation == "GetFoundationModelAvailability")
        .expect("availability asked");
    assert_eq!(
        availability.path,
        "/foundation-model-availability/anthropic.claude-3-5-haiku-20241022-v1%3A0"
    );
    let converse = replay
        .seen()
        .into_iter()
        .find(|s| s.operation == "Converse")
        .expect("converse");
    assert!(
        converse.path.contains("us.anthropic"),
        "invoked through the profile: {}",
        converse.path
    );
}

#[tokio::test]
async fn invoke_model_mode_sends_the_anthropic_messages_body_and_counts_its_usage() {
    let replay = Replay::healthy().await;
    replay.script(
        "InvokeModel",
        vec![Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"max_tokens","usage":{"input_tokens":9,"output_tokens":1}}"#.into(),
            delay: None,
        }],
    );
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.settings.invoke = InvokeMode::InvokeModel;
    let report = probe_once(&replay, &target).await;
    assert_eq!(reasons(&report)[3], (Layer::Invoke, None));
    assert_eq!(report.tokens, Some((9, 1)));
    let invoked = replay
        .seen()
        .into_iter()
        .find(|s| s.operation == "InvokeModel")
        .expect("invoke");
    assert!(
        invoked
            .body
            .contains("\"anthropic_version\":\"bedrock-2023-05-31\""),
        "{}",
        invoked.body
    );
    assert_eq!(replay.count("Converse"), 0);
}

#[tokio::test]
async fn an_embedding_model_is_invoked_with_invoke_model_even_in_converse_mode() {
    let replay = Replay::healthy().await;
    replay.script(
        "InvokeModel",
        vec![Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"embedding":[0.1,0.2],"inputTextTokenCount":2}"#.into(),
            delay: None,
        }],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let model = "amazon.titan-embed-text-v2:0";
    let report = prober
        .probe(&target, "us-east-1", model, &prober.new_round(), true)
        .await;
    assert_eq!(reasons(&report)[3], (Layer::Invoke, None));
    assert_eq!(report.tokens, Some((2, 0)));
    assert_eq!(replay.count("Converse"), 0);
    assert_eq!(replay.count("InvokeModel"), 1);
}

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[tokio::test]
async fn the_scheduler_can_spawn_probes_of_a_shared_prober_and_round() {
    assert_send_sync::<Prober>();
    assert_send_sync::<bedrock_access_exporter::probe::Round>();
    let replay = Replay::healthy().await;
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = Arc::new(support::prober(&config, &replay.url()));
    let round = Arc::new(prober.new_round());
    let probe = {
        let (prober, round, target) = (prober.clone(), round.clone(), target.clone());
        async move {
            prober
                .probe(&target, "us-east-1", MODEL, &round, true)
                .await
        }
    };
    assert_send(&probe);
    let report = tokio::spawn(probe).await.expect("probe task");
    assert_eq!(report.layers.len(), 4);
}

#[tokio::test]
async fn when_sts_hangs_every_concurrent_tuple_of_the_target_times_out_on_one_shared_call() {
    let replay = Replay::healthy().await;
    replay.script(
        "AssumeRole",
        vec![Reply::from_fixture("assume_role--ok--sts-assumerole").hang(Duration::from_secs(30))],
    );
    let mut target = support::target("prod", Some(ROLE_ARN));
    target.models = vec![
        MODEL.into(),
        "amazon.nova-lite-v1:0".into(),
        "meta.llama3-8b-instruct-v1:0".into(),
    ];
    target.settings.timeout = Duration::from_secs(1);
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let round = prober.new_round();
    let started = std::time::Instant::now();
    let reports = futures::future::join_all(config.tuples().into_iter().map(|(key, t)| {
        let (prober, round) = (&prober, &round);
        async move {
            prober
                .probe(t, &key.aws_region, &key.model_id, round, true)
                .await
        }
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    for r in &reports {
        assert_eq!(
            reasons(r),
            vec![
                (Layer::Credentials, None),
                (Layer::AssumeRole, Some(Reason::Timeout))
            ]
        );
    }
    assert_eq!(replay.count("AssumeRole"), 1);
    assert_eq!(replay.bedrock_calls(), 0);
}

/// A GetFoundationModel answer for MODEL, Legacy with its three dates (shaped after the API
/// reference: no verbatim capture of this operation is among the fixtures).
fn legacy_model_reply() -> Reply {
    let mut reply = Reply::foundation_model(MODEL);
    reply.body = reply.body.replace(
        r#""modelLifecycle":{"status":"ACTIVE"}"#,
        r#""modelLifecycle":{"status":"LEGACY","legacyTime":"2026-03-01T00:00:00Z","publicExtendedAccessTime":"2026-09-01T00:00:00.000Z","endOfLifeTime":"2027-01-15T00:00:00+00:00"}"#,
    );
    assert!(reply.body.contains("LEGACY"), "{}", reply.body);
    reply
}

#[tokio::test]
async fn a_legacy_model_s_dates_are_read_once_and_shared_by_every_later_probe() {
    let replay = Replay::healthy().await;
    replay.script("GetFoundationModel", vec![legacy_model_reply()]);
    let target = support::target("prod", Some(ROLE_ARN));
    let config = support::config(vec![target.clone()], None);
    let prober = support::prober(&config, &replay.url());
    let first = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    let second = prober
        .probe(&target, "us-east-1", MODEL, &prober.new_round(), true)
        .await;
    let at = |secs: u64| Some(std::time::UNIX_EPOCH + Duration::from_secs(secs));
    for report in [&first, &second] {
        let lifecycle = report.lifecycle.clone().expect("lifecycle known");
        assert_eq!(lifecycle.status, "LEGACY");
        assert_eq!(lifecycle.legacy, at(1_772_323_200));
        assert_eq!(lifecycle.public_extended_access, at(1_788_220_800));
        assert_eq!(lifecycle.end_of_life, at(1_799_971_200));
    }
    // Once per hour per region and model, not once per probe.
    assert_eq!(replay.count("GetFoundationModel"), 1);
    let seen = replay.seen();
    let read = seen
        .iter()
        .find(|s| s.operation == "GetFoundationModel")
        .expect("read");
    assert_eq!(
        read.path,
        format!("/foundation-models/{}", MODEL.replace(':', "%3A"))
    );
}

#[tokio::test]
async fn a_role_that_may_not_read_the_model_s_lifecycle_still_passes_every_layer() {
    let replay = Replay::healthy().await;
    // An AccessDeniedException, as for any Bedrock action the role lacks.
    replay.script(
        "GetFoundationModel",
        vec![Reply::from_fixture(
            "invoke--bedrock_not_permitted--invokemodel-implicit-deny",
        )],
    );
    let target = support::target("prod", Some(ROLE_ARN));
    let report = probe_once(&replay, &target).await;
    assert!(
        reasons(&report).iter().all(|(_, reason)| reason.is_none()),
        "{:?}",
        reasons(&report)
    );
    assert_eq!(report.lifecycle, None);
    assert_eq!(
        replay.count("GetFoundationModel"),
        1,
        "a refusal is not retried"
    );
}
