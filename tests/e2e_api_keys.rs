//! Sources that authenticate with Amazon Bedrock API keys, through the daemon's and
//! `diagnose`'s public surface against the simulator: an operator looking at the status page,
//! `/api/v1/status`, `/metrics`, the debug trace and `diagnose` sees the STS layers as not
//! applicable (no series, no call), the Bedrock layers probed with the key, each key's kind,
//! its expiry as a gauge, and for a failing key a fix that says what to do with the key.

#[path = "api_key_support/mod.rs"]
mod api_key_support;
mod common;

use serde_json::Value;

use api_key_support::{MODEL, start};

fn status_tuple<'a>(status: &'a Value, target: &str) -> &'a Value {
    status["tuples"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["target"] == target)
        .unwrap_or_else(|| panic!("no tuple of {target} in {status}"))
}

fn layer_states(t: &Value) -> Vec<(String, String, Option<String>)> {
    t["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["layer"].as_str().unwrap_or_default().to_string(),
                l["state"].as_str().unwrap_or_default().to_string(),
                l["reason"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn want(states: [(&str, &str, Option<&str>); 4]) -> Vec<(String, String, Option<String>)> {
    states
        .iter()
        .map(|(l, s, r)| (l.to_string(), s.to_string(), r.map(str::to_string)))
        .chain(std::iter::once((
            "invoke_stream".to_string(),
            "off".to_string(),
            None,
        )))
        .collect()
}

#[test]
fn key_sources_show_the_sts_layers_as_not_applicable_their_kind_expiry_and_a_fix_for_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let story = start(dir.path());
    let (code, body) = story.exporter.get("/api/v1/status");
    assert_eq!(code, 200, "{body}");
    let status: Value = serde_json::from_str(&body).expect("status JSON");

    let na = |l: &'static str| (l, "not_applicable", None);
    let cases = [
        ("key-healthy", None, None),
        ("short-key-healthy", None, None),
        (
            "key-expired",
            Some("expired_credentials"),
            Some("generate a new long-term key"),
        ),
        (
            "key-scp-denied",
            Some("scp_denied"),
            Some("bedrock:CallWithBearerToken"),
        ),
    ];
    for (target, reason, fix) in cases {
        let t = status_tuple(&status, target);
        let bedrock = if reason.is_some() { "fail" } else { "pass" };
        assert_eq!(
            layer_states(t),
            want([
                na("credentials"),
                na("assume_role"),
                // A key AWS refuses, or an SCP on CallWithBearerToken, fails every call.
                ("model_access", bedrock, reason),
                ("invoke", bedrock, reason),
            ]),
            "{target}: {t}"
        );
        assert_eq!(t["reason"].as_str(), reason, "{target}");
        if let Some(fix) = fix {
            let row_fix = t["fix"].as_str().unwrap_or_default();
            assert!(row_fix.contains(fix), "{target}: fix {row_fix:?}");
        }
        let kind = if target.starts_with("short") {
            "short_term"
        } else {
            "long_term"
        };
        let invoke_call = t["layers"][3]["call"].as_str().unwrap_or_default();
        assert!(
            invoke_call.contains(&format!("api_key={kind}")),
            "{target}: {invoke_call}"
        );
    }
    // The SCP denies bedrock:CallWithBearerToken for long-term keys in the key's own account.
    let lab = status_tuple(&status, "key-scp-denied");
    let message = lab["layers"][3]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bedrock:CallWithBearerToken")
            && message.contains("service control policy"),
        "{message}"
    );
    assert_eq!(
        lab["account_id"], "555555555555",
        "the key's own account: {lab}"
    );

    // The page marks the STS cells "n/a".
    let (_, page) = story.exporter.get("/");
    assert!(
        page.matches(r#"data-state="not_applicable""#).count() >= 8,
        "two n/a cells per key tuple:\n{page}"
    );

    // /metrics: no series of the STS layers for a key source, the Bedrock layers probed, and
    // each key's expiry where known (configured for long-term keys, from the presigned URL of
    // the short-term key).
    let m = story.exporter.scrape();
    for target in [
        "key-healthy",
        "key-expired",
        "key-scp-denied",
        "short-key-healthy",
    ] {
        for layer in ["credentials", "assume_role"] {
            assert!(
                m.find(
                    "bedrock_access_layer_success",
                    &[("target", target), ("layer", layer)]
                )
                .is_empty(),
                "{target} has a {layer} series"
            );
        }
        assert_eq!(
            m.find(
                "bedrock_access_layer_success",
                &[("target", target), ("layer", "invoke")]
            )
            .len(),
            1,
            "{target}: one invoke series"
        );
    }
    let expiry = "bedrock_access_exporter_source_credentials_expiry_timestamp_seconds";
    assert_eq!(
        m.value(expiry, &[("source", "key-long"), ("kind", "long_term")]),
        Some(4_070_908_800.0),
        "2099-01-01"
    );
    assert_eq!(
        m.value(expiry, &[("source", "key-lapsed"), ("kind", "long_term")]),
        Some(1_577_836_800.0),
        "2020-01-01"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let short = m
        .value(expiry, &[("source", "key-short"), ("kind", "short_term")])
        .unwrap_or_default();
    assert!(
        short > now + 11.0 * 3600.0 && short <= now + 12.0 * 3600.0,
        "the short-term key expires 12 h after it was signed: {short} vs now {now}"
    );
    assert!(
        m.find(expiry, &[("source", "key-lab")]).is_empty(),
        "a long-term key without api_key_expires has no known expiry"
    );

    // The debug trace says why the STS layers made no call.
    let (_, trace) = story.exporter.get("/probe?target=key-expired&debug=true");
    assert!(
        trace.contains(
            "credentials   not applicable: the source authenticates with a Bedrock API key"
        ) && trace.contains("assume_role   not applicable"),
        "{trace}"
    );
}

#[test]
fn diagnose_marks_the_sts_steps_not_applicable_for_a_key_and_names_its_kind_and_where_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let story = start(dir.path());
    let (code, stdout, stderr) = api_key_support::diagnose(&story, "json");
    assert_eq!(code, Some(1), "two tuples fail:\n{stdout}\n{stderr}");
    let d: Value = serde_json::from_str(&stdout).expect("diagnose JSON");
    let tuples = d["tuples"].as_array().cloned().unwrap_or_default();
    assert_eq!(tuples.len(), 4, "{stdout}");
    for t in &tuples {
        let target = t["target"].as_str().unwrap_or_default();
        assert_eq!(t["model_id"], MODEL);
        let steps: Vec<(&str, &str)> = t["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["step"].as_str().unwrap_or(""),
                    s["status"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            &steps[..3],
            &[
                ("account_boundary", "not_applicable"),
                ("trust_policy", "not_applicable"),
                ("role_assumption", "not_applicable"),
            ],
            "{target}: {steps:?}"
        );
        let title = t["steps"][0]["title"].as_str().unwrap_or_default();
        let (kind, place) = match target {
            "short-key-healthy" => ("Bedrock API key (short-term)", "short.key"),
            "key-scp-denied" => ("Bedrock API key (long-term)", "$LAB_BEDROCK_API_KEY"),
            _ => ("Bedrock API key (long-term)", ".key"),
        };
        assert!(
            title.contains(kind) && title.contains(place),
            "{target}: {title}"
        );
        assert_eq!(t["layers"][0]["state"], "not_applicable", "{target}");
        assert_eq!(t["layers"][1]["state"], "not_applicable", "{target}");
    }
    let expired = tuples
        .iter()
        .find(|t| t["target"] == "key-expired")
        .expect("key-expired");
    assert_eq!(expired["reason"], "expired_credentials", "{expired}");
    let scp = tuples
        .iter()
        .find(|t| t["target"] == "key-scp-denied")
        .expect("key-scp-denied");
    assert_eq!(scp["reason"], "scp_denied", "{scp}");

    let (_, text, _) = api_key_support::diagnose(&story, "text");
    assert!(
        text.contains("○ 1. Account boundary: source \"key-short\" authenticates with a Bedrock API key (short-term)")
            && text.contains("(not applicable)"),
        "{text}"
    );
}
