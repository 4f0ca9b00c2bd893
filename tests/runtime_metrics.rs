//! What `/metrics` shows after the probes users live through.

mod runtime_support;

use std::time::Duration;

use bedrock_access_exporter::config::{Expect, InvokeMode};
use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::reason::{Layer, Reason};
use runtime_support::*;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const OTHER_MODEL: &str = "amazon.titan-text-express-v1";

fn metrics_for(targets: Vec<bedrock_access_exporter::config::Target>) -> Metrics {
    let m = match Metrics::new() {
        Ok(m) => m,
        Err(e) => panic!("registry: {e}"),
    };
    m.apply_config(&config(targets));
    m
}

fn prod() -> bedrock_access_exporter::config::Target {
    target("prod", &["us-east-1"], &[MODEL], Duration::from_secs(300))
}

fn tuple_labels() -> [(&'static str, &'static str); 5] {
    [
        ("target", "prod"),
        ("account_id", "222222222222"),
        ("role_name", "bedrock-prober"),
        ("aws_region", "us-east-1"),
        ("model_id", MODEL),
    ]
}

#[test]
fn a_tuple_that_has_not_finished_a_probe_exports_no_series_yet() {
    let m = metrics_for(vec![prod()]);
    let text = m.render();
    assert!(samples(&text, "bedrock_access_probe_success", &[]).is_empty());
    assert_eq!(
        value(&text, "bedrock_access_exporter_tuples", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_exporter_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    assert_eq!(
        samples(
            &text,
            "bedrock_access_exporter_build_info",
            &[("version", "0.1.0")]
        )
        .len(),
        1
    );
}

#[test]
fn a_healthy_tuple_shows_every_layer_passing_with_all_its_labels() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(all_passed(&k, true));
    let text = m.render();
    assert_eq!(
        value(&text, "bedrock_access_probe_success", &tuple_labels()),
        Some(1.0)
    );
    // Every layer of a target without `stream`: the streaming layer is off and has no series.
    for layer in Layer::ALL {
        let want = (layer != Layer::InvokeStream).then_some(1.0);
        assert_eq!(
            value(
                &text,
                "bedrock_access_layer_success",
                &[("layer", layer.as_str())]
            ),
            want,
            "{layer}"
        );
    }
    assert!(samples(&text, "bedrock_access_failure_info", &[]).is_empty());
    assert_eq!(
        value(
            &text,
            "bedrock_access_probes_total",
            &[("result", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_invoke_tokens_total",
            &[("direction", "input")]
        ),
        Some(9.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_model_availability",
            &[("dimension", "authorization"), ("status", "AUTHORIZED")]
        ),
        Some(1.0)
    );
    let last = value(&text, "bedrock_access_last_success_timestamp_seconds", &[]);
    assert!(last.is_some_and(|t| t > 1.7e9), "{last:?}");
    assert!(value(&text, "bedrock_access_invoke_timestamp_seconds", &[]).is_some());
}

#[test]
fn a_role_trusting_the_wrong_account_fails_assume_role_and_later_layers_have_no_series() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            fail(
                Layer::AssumeRole,
                Reason::TrustPolicyDenied,
                Some("AccessDenied"),
            ),
        ],
    ));
    let text = m.render();
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(0.0));
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "assume_role")]
        ),
        Some(0.0)
    );
    assert!(
        samples(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "model_access")]
        )
        .is_empty()
    );
    assert!(
        samples(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        )
        .is_empty()
    );
    assert!(
        samples(
            &text,
            "bedrock_access_layer_duration_seconds",
            &[("layer", "invoke")]
        )
        .is_empty()
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_failure_info",
            &[
                ("layer", "assume_role"),
                ("reason", "trust_policy_denied"),
                ("class", "access"),
                ("error_code", "AccessDenied"),
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "bedrock_access_last_success_timestamp_seconds", &[]),
        Some(0.0)
    );
    assert!(samples(&text, "bedrock_access_model_availability", &[]).is_empty());
}

#[test]
fn when_a_fixed_trust_policy_lets_the_probe_through_the_old_failure_and_gated_absence_disappear() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            fail(
                Layer::AssumeRole,
                Reason::TrustPolicyDenied,
                Some("AccessDenied"),
            ),
        ],
    ));
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            fail(
                Layer::Invoke,
                Reason::ScpDenied,
                Some("AccessDeniedException"),
            ),
        ],
    ));
    let text = m.render();
    let infos = samples(&text, "bedrock_access_failure_info", &[]);
    assert_eq!(infos.len(), 1, "{infos:?}");
    assert!(infos[0].contains("reason=\"scp_denied\""));
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "assume_role")]
        ),
        Some(1.0)
    );
    // The counters keep the history.
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_failures_total",
            &[("layer", "assume_role"), ("reason", "trust_policy_denied")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_failures_total",
            &[("layer", "invoke"), ("reason", "scp_denied")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_probes_total",
            &[("result", "failure")]
        ),
        Some(2.0)
    );
    m.record(all_passed(&k, true));
    let text = m.render();
    assert!(samples(&text, "bedrock_access_failure_info", &[]).is_empty());
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(1.0));
}

#[test]
fn a_target_removed_at_reload_loses_every_series_and_the_others_keep_theirs() {
    let staging = target(
        "staging",
        &["us-west-2"],
        &[OTHER_MODEL],
        Duration::from_secs(300),
    );
    let m = metrics_for(vec![prod(), staging.clone()]);
    m.record(report(
        &key("prod", "us-east-1", MODEL),
        vec![
            pass(Layer::Credentials),
            fail(
                Layer::AssumeRole,
                Reason::AssumeRoleDenied,
                Some("AccessDenied"),
            ),
        ],
    ));
    m.record(all_passed(&key("staging", "us-west-2", OTHER_MODEL), true));
    m.apply_config(&config(vec![staging]));
    let text = m.render();
    assert!(
        !text.contains("target=\"prod\""),
        "prod series remain:\n{text}"
    );
    assert_eq!(
        value(
            &text,
            "bedrock_access_probe_success",
            &[("target", "staging")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "bedrock_access_exporter_tuples", &[]),
        Some(1.0)
    );
    // A late report of the removed tuple does not bring it back.
    m.record(all_passed(&key("prod", "us-east-1", MODEL), true));
    assert!(!m.render().contains("target=\"prod\""));
}

#[test]
fn a_guardrail_target_succeeds_when_an_scp_keeps_the_role_away_from_the_model() {
    let mut guard = prod();
    guard.settings.expect = Expect::Deny;
    let m = metrics_for(vec![guard]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            fail(
                Layer::Invoke,
                Reason::ScpDenied,
                Some("AccessDeniedException"),
            ),
        ],
    ));
    let text = m.render();
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(1.0));
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        ),
        Some(0.0),
        "raw outcome still visible"
    );
    // If the guardrail breaks (the invocation goes through) the probe fails.
    m.record(all_passed(&k, true));
    assert_eq!(
        value(&m.render(), "bedrock_access_probe_success", &[]),
        Some(0.0)
    );
    // A throttled probe proves nothing.
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            fail(
                Layer::Invoke,
                Reason::Throttled,
                Some("ThrottlingException"),
            ),
        ],
    ));
    assert_eq!(
        value(&m.render(), "bedrock_access_probe_success", &[]),
        Some(0.0)
    );
}

#[test]
fn between_paid_invocations_the_last_invoke_result_stands_and_counts() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            fail(
                Layer::Invoke,
                Reason::ModelAccessNotGranted,
                Some("AccessDeniedException"),
            ),
        ],
    ));
    // Next round: the free layers pass, invoke is not due.
    m.record(all_passed(&k, false));
    let text = m.render();
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        ),
        Some(0.0)
    );
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(0.0));
    assert_eq!(
        samples(&text, "bedrock_access_failure_info", &[("layer", "invoke")]).len(),
        1
    );
    // The standing failure is not counted twice.
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_failures_total",
            &[("layer", "invoke"), ("reason", "model_access_not_granted")]
        ),
        Some(1.0)
    );
    // When credentials break, nothing after them stands.
    m.record(report(
        &k,
        vec![fail(
            Layer::Credentials,
            Reason::ExpiredCredentials,
            Some("ExpiredToken"),
        )],
    ));
    let text = m.render();
    assert!(
        samples(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        )
        .is_empty()
    );
}

#[test]
fn between_paid_invocations_the_last_streaming_result_stands_and_turning_stream_off_drops_it() {
    let mut t = prod();
    t.settings.stream = true;
    let m = metrics_for(vec![t.clone()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            pass(Layer::ModelAccess),
            pass(Layer::Invoke),
            fail(
                Layer::InvokeStream,
                Reason::BedrockNotPermitted,
                Some("AccessDeniedException"),
            ),
        ],
    ));
    // Next round: the free layers pass, the paid ones are not due.
    m.record(all_passed(&k, false));
    let text = m.render();
    for (layer, want) in [("invoke", 1.0), ("invoke_stream", 0.0)] {
        assert_eq!(
            value(&text, "bedrock_access_layer_success", &[("layer", layer)]),
            Some(want),
            "{layer}"
        );
    }
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(0.0));
    let info = samples(
        &text,
        "bedrock_access_failure_info",
        &[("layer", "invoke_stream")],
    );
    assert_eq!(info.len(), 1, "{text}");
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_failures_total",
            &[
                ("layer", "invoke_stream"),
                ("reason", "bedrock_not_permitted")
            ]
        ),
        Some(1.0),
        "the standing failure is not counted twice"
    );

    // A reload that turns streaming off drops its series at once.
    t.settings.stream = false;
    m.apply_config(&config(vec![t]));
    let text = m.render();
    for family in [
        "bedrock_access_layer_success",
        "bedrock_access_layer_duration_seconds",
        "bedrock_access_failure_info",
    ] {
        assert!(
            samples(&text, family, &[("layer", "invoke_stream")]).is_empty(),
            "{family}: {text}"
        );
    }
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(1.0));
}

#[test]
fn a_target_with_invoke_turned_off_has_no_invoke_series() {
    let mut t = prod();
    t.settings.invoke = InvokeMode::None;
    let m = metrics_for(vec![t]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(all_passed(&k, false));
    let text = m.render();
    assert!(
        samples(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        )
        .is_empty()
    );
    assert!(samples(&text, "bedrock_access_invoke_timestamp_seconds", &[]).is_empty());
    assert_eq!(value(&text, "bedrock_access_probe_success", &[]), Some(1.0));
}

#[test]
fn a_model_whose_access_becomes_pending_shows_only_the_current_status() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(all_passed(&k, true));
    let mut r = report(
        &k,
        vec![
            pass(Layer::Credentials),
            pass(Layer::AssumeRole),
            fail(Layer::ModelAccess, Reason::ModelAccessPending, None),
        ],
    );
    if let Some(a) = r.availability.as_mut() {
        a.authorization = "PENDING".into();
    }
    m.record(r);
    let text = m.render();
    let auth = samples(
        &text,
        "bedrock_access_model_availability",
        &[("dimension", "authorization")],
    );
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert!(auth[0].contains("status=\"PENDING\""));
    assert_eq!(
        value(
            &text,
            "bedrock_access_failure_info",
            &[("layer", "model_access"), ("error_code", "")]
        ),
        Some(1.0)
    );
}

#[test]
fn an_error_code_that_is_not_a_plain_name_is_exported_as_other() {
    let m = metrics_for(vec![prod()]);
    let k = key("prod", "us-east-1", MODEL);
    m.record(report(
        &k,
        vec![fail(
            Layer::Credentials,
            Reason::Unknown,
            Some("<html>Bad Gateway</html>"),
        )],
    ));
    let text = m.render();
    assert_eq!(
        value(
            &text,
            "bedrock_access_failure_info",
            &[("error_code", "other")]
        ),
        Some(1.0)
    );
    assert!(!text.contains("Bad Gateway"));
    assert!(
        !text.contains("not authorized"),
        "AWS messages never become labels"
    );
}

#[test]
fn a_label_value_with_quotes_is_escaped_in_the_exposition() {
    let t = target(
        "we\"ird",
        &["us-east-1"],
        &[MODEL],
        Duration::from_secs(300),
    );
    let m = metrics_for(vec![t]);
    m.record(all_passed(&key("we\"ird", "us-east-1", MODEL), true));
    let text = m.render();
    assert!(text.contains("target=\"we\\\"ird\""), "{text}");
}

#[test]
fn every_family_has_help_saying_it_comes_from_the_background_probe() {
    let m = metrics_for(vec![prod()]);
    m.record(all_passed(&key("prod", "us-east-1", MODEL), true));
    let text = m.render();
    for name in [
        "bedrock_access_probe_success",
        "bedrock_access_layer_success",
        "bedrock_access_layer_duration_seconds",
        "bedrock_access_failure_info",
        "bedrock_access_probe_timestamp_seconds",
        "bedrock_access_last_success_timestamp_seconds",
        "bedrock_access_probes_total",
        "bedrock_access_layer_failures_total",
        "bedrock_access_model_availability",
        "bedrock_access_invoke_tokens_total",
        "bedrock_access_invoke_timestamp_seconds",
    ] {
        let help = text
            .lines()
            .find(|l| l.starts_with(&format!("# HELP {name} ")));
        assert!(
            help.is_some_and(|h| h.contains("background probe")),
            "{name}: {help:?}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("# TYPE {name} ")))
                .count(),
            1,
            "{name}"
        );
    }
}

#[test]
fn a_failed_reload_is_visible_and_a_later_good_one_clears_it() {
    let m = metrics_for(vec![prod()]);
    m.reload_result(false);
    assert_eq!(
        value(
            &m.render(),
            "bedrock_access_exporter_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
    m.apply_config(&config(vec![prod()]));
    let text = m.render();
    assert_eq!(
        value(
            &text,
            "bedrock_access_exporter_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    assert!(
        value(
            &text,
            "bedrock_access_exporter_config_last_reload_success_timestamp_seconds",
            &[]
        )
        .is_some_and(|t| t > 1.7e9)
    );
}

/// `prod` with four tuples: two regions, two models.
fn prod_in_two_regions_with_two_models() -> Metrics {
    let regions = ["us-east-1", "us-west-2"];
    metrics_for(vec![target(
        "prod",
        &regions,
        &[MODEL, OTHER_MODEL],
        Duration::from_secs(300),
    )])
}

#[test]
fn a_scrape_in_progress_shows_one_instant_while_probes_keep_finishing() {
    let m = prod_in_two_regions_with_two_models();
    let keys = [
        key("prod", "us-east-1", MODEL),
        key("prod", "us-east-1", OTHER_MODEL),
        key("prod", "us-west-2", MODEL),
        key("prod", "us-west-2", OTHER_MODEL),
    ];
    for k in &keys {
        m.record(all_passed(k, true));
    }
    // A scrape starts; its body is written in small chunks while every tuple's next probe
    // fails at assume_role.
    let mut chunks = m.exposition().into_chunks(256);
    let mut first: Vec<u8> = chunks.next().map(|c| c.to_vec()).unwrap_or_default();
    for k in &keys {
        m.record(report(
            k,
            vec![
                pass(Layer::Credentials),
                fail(Layer::AssumeRole, Reason::TrustPolicyDenied, None),
            ],
        ));
    }
    for c in chunks {
        first.extend_from_slice(&c);
    }
    let during = String::from_utf8(first).unwrap_or_default();
    assert_eq!(
        samples(&during, "bedrock_access_probe_success", &[]).len(),
        4
    );
    assert!(
        samples(&during, "bedrock_access_probe_success", &[])
            .iter()
            .all(|l| l.ends_with(" 1")),
        "{during}"
    );
    assert!(samples(&during, "bedrock_access_failure_info", &[]).is_empty());
    assert_eq!(
        samples(
            &during,
            "bedrock_access_probes_total",
            &[("result", "failure")]
        )
        .iter()
        .filter(|l| l.ends_with(" 0"))
        .count(),
        4
    );
    // The next scrape shows the new probes, every family of every tuple.
    let after = m.render();
    assert!(
        samples(&after, "bedrock_access_probe_success", &[])
            .iter()
            .all(|l| l.ends_with(" 0")),
        "{after}"
    );
    assert_eq!(
        samples(
            &after,
            "bedrock_access_failure_info",
            &[("reason", "trust_policy_denied")]
        )
        .len(),
        4
    );
}

#[test]
fn the_exposition_is_the_same_text_whatever_size_its_chunks_are_written_in() {
    let m = prod_in_two_regions_with_two_models();
    m.record(all_passed(&key("prod", "us-east-1", MODEL), true));
    m.record(report(
        &key("prod", "us-west-2", OTHER_MODEL),
        vec![
            pass(Layer::Credentials),
            fail(Layer::AssumeRole, Reason::TrustPolicyDenied, None),
        ],
    ));
    // The per-tuple families (the process's own metrics ahead of them change between scrapes).
    fn tuples(text: &str) -> &str {
        text.find("# HELP bedrock_access_probe_success")
            .map_or("", |i| &text[i..])
    }
    let whole = m.render();
    assert!(tuples(&whole).len() > 1000, "{whole}");
    for size in [1, 7, 256, 4096, 1 << 20] {
        let text: Vec<u8> = m.exposition().into_chunks(size).flatten().collect();
        let text = String::from_utf8(text).unwrap_or_default();
        assert!(tuples(&text) == tuples(&whole), "chunks of {size}: {text}");
    }
    // Every family has its header once, before its samples.
    for family in [
        "bedrock_access_layer_success",
        "bedrock_access_probes_total",
    ] {
        let header = format!("# TYPE {family} ");
        assert_eq!(whole.matches(&header).count(), 1);
        let first = whole.find(&format!("\n{family}{{")).unwrap_or(0);
        assert!(whole.find(&header).unwrap_or(usize::MAX) < first, "{whole}");
    }
}
