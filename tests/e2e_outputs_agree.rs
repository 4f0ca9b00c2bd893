//! The three places an operator reads a failure tell the same story. Every demo story runs
//! through the status API (`/api/v1/status`, the background probes), the debug trace behind the
//! status page's link (`/probe?target=…&debug=true`) and `diagnose --output=json`; for every
//! tuple the three must show the same state of each layer, and for every failing layer the same
//! reason and the same one-line fix (the status page prints the fix of the first failing layer).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Exporter, Sim, repo};
use serde_json::Value;

/// (target, region, model).
type Key = (String, String, String);

/// What one output says about one tuple.
#[derive(Debug, Default, Clone, PartialEq)]
struct Told {
    /// Layer name → state (`pass`, `fail`, `not_reached`, `off`), in order.
    states: Vec<(String, String)>,
    /// Failing layer → reason.
    reasons: BTreeMap<String, String>,
    /// Failing layer → one-line fix (the status API: the first failing layer's only).
    fixes: BTreeMap<String, String>,
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn key_of(t: &Value) -> Key {
    (
        str_of(&t["target"]),
        str_of(&t["aws_region"]),
        str_of(&t["model_id"]),
    )
}

/// The status API once every tuple has a background result.
fn status_api(exporter: &Exporter) -> BTreeMap<Key, Told> {
    let start = Instant::now();
    let v = loop {
        let (status, body) = exporter.get("/api/v1/status");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("status JSON");
        if v["summary"]["pending"] == 0 && v["summary"]["tuples"].as_u64() > Some(0) {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "tuples still pending after 90 s: {}\n{}",
            v["summary"],
            common::tail(&exporter.proc.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut out = BTreeMap::new();
    for t in v["tuples"].as_array().expect("tuples") {
        let mut told = Told::default();
        for l in t["layers"].as_array().expect("layers") {
            let layer = str_of(&l["layer"]);
            told.states.push((layer.clone(), str_of(&l["state"])));
            if l["state"] == "fail" {
                told.reasons.insert(layer, str_of(&l["reason"]));
            }
        }
        if let (Some(layer), Some(fix)) = (t["failed_layer"].as_str(), t["fix"].as_str()) {
            told.fixes.insert(layer.to_string(), fix.to_string());
        }
        out.insert(key_of(t), told);
    }
    out
}

/// Reads the debug trace of `target`: per `== region R / model M` section, the layer lines
/// (`[ok ]`, `[ X ]`, `[ - ] … not reached` / `off`) and the failed layers' reason and fix.
fn parse_trace(target: &str, trace: &str) -> BTreeMap<Key, Told> {
    let mut out: BTreeMap<Key, Told> = BTreeMap::new();
    let mut key: Option<Key> = None;
    let mut failed: Option<String> = None;
    for line in trace.lines() {
        if let Some(rest) = line.strip_prefix("== region ") {
            let (region, model) = rest.split_once(" / model ").expect("section header");
            let k = (target.to_string(), region.to_string(), model.to_string());
            out.insert(k.clone(), Told::default());
            key = Some(k);
            failed = None;
            continue;
        }
        let Some(told) = key.as_ref().and_then(|k| out.get_mut(k)) else {
            continue;
        };
        let text = line.trim_start();
        let mark = ["[ok ]", "[ X ]", "[ - ]"]
            .into_iter()
            .find_map(|m| text.strip_prefix(m).map(|rest| (m, rest.trim_start())));
        if let Some((mark, rest)) = mark {
            let (layer, after) = rest.split_once(' ').unwrap_or((rest, ""));
            let after = after.trim_start();
            let state = match mark {
                "[ok ]" => "pass",
                "[ X ]" => "fail",
                _ if after.starts_with("not reached") => "not_reached",
                _ if after.starts_with("off") => "off",
                _ => panic!("unreadable layer line {line:?} in\n{trace}"),
            };
            told.states.push((layer.to_string(), state.to_string()));
            failed = (state == "fail").then(|| layer.to_string());
        } else if let (Some(layer), Some(rest)) = (&failed, text.strip_prefix("reason: ")) {
            let reason = rest.split_once(" (class").map_or(rest, |(r, _)| r);
            told.reasons.insert(layer.clone(), reason.to_string());
        } else if let (Some(layer), Some(fix)) = (&failed, text.strip_prefix("fix: ")) {
            told.fixes.insert(layer.clone(), fix.to_string());
        }
    }
    out
}

/// `diagnose --output=json` over every demo tuple.
fn diagnose(sim: &Sim, dir: &std::path::Path) -> BTreeMap<Key, Told> {
    let empty = dir.join("empty-credentials");
    std::fs::write(&empty, "").expect("write empty credentials");
    let mut cmd = Command::new(BIN);
    cmd.arg(format!(
        "--config.file={}",
        repo("config/demo/exporter.toml").display()
    ))
    .arg("diagnose")
    .arg("--output=json")
    .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", sim.url())
        .env("AWS_CONFIG_FILE", repo("config/demo/aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .output()
        .expect("run diagnose");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the demo has failing tuples: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("diagnose JSON: {e}\n{stdout}"));
    let mut told_by_key = BTreeMap::new();
    for t in v["tuples"].as_array().expect("tuples") {
        let mut told = Told::default();
        for l in t["layers"].as_array().expect("diagnose JSON has layers") {
            let layer = str_of(&l["layer"]);
            told.states.push((layer.clone(), str_of(&l["state"])));
            if l["state"] == "fail" {
                told.reasons.insert(layer.clone(), str_of(&l["reason"]));
                told.fixes.insert(layer, str_of(&l["fix"]));
            }
        }
        told_by_key.insert(key_of(t), told);
    }
    told_by_key
}

#[test]
fn the_status_page_the_debug_trace_and_diagnose_tell_every_demo_story_the_same_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let exporter = Exporter::start_demo(dir.path(), &sim);

    let page = status_api(&exporter);
    let mut trace = BTreeMap::new();
    let targets: std::collections::BTreeSet<&String> = page.keys().map(|k| &k.0).collect();
    for target in targets {
        let (status, text) = exporter.get(&format!("/probe?target={target}&debug=true"));
        assert_eq!(status, 200, "{target}: {text}");
        trace.extend(parse_trace(target, &text));
    }
    let diagnosed = diagnose(&sim, dir.path());

    assert!(page.len() >= 22, "every demo tuple: {:?}", page.keys());
    assert_eq!(
        page.keys().collect::<Vec<_>>(),
        trace.keys().collect::<Vec<_>>(),
        "the debug traces cover the status page's tuples"
    );
    assert_eq!(
        page.keys().collect::<Vec<_>>(),
        diagnosed.keys().collect::<Vec<_>>(),
        "diagnose covers the status page's tuples"
    );

    let mut wrong = Vec::new();
    let mut failing_layers = 0;
    for (key, on_page) in &page {
        let (in_trace, in_diagnose) = (&trace[key], &diagnosed[key]);
        let name = format!("{} {} {}", key.0, key.1, key.2);
        if on_page.states != in_trace.states || on_page.states != in_diagnose.states {
            wrong.push(format!(
                "{name}: layer states differ\n  page     {:?}\n  trace    {:?}\n  diagnose {:?}",
                on_page.states, in_trace.states, in_diagnose.states
            ));
        }
        if on_page.reasons != in_trace.reasons || on_page.reasons != in_diagnose.reasons {
            wrong.push(format!(
                "{name}: reasons differ\n  page     {:?}\n  trace    {:?}\n  diagnose {:?}",
                on_page.reasons, in_trace.reasons, in_diagnose.reasons
            ));
        }
        if in_trace.fixes != in_diagnose.fixes {
            wrong.push(format!(
                "{name}: one-line fixes differ\n  trace    {:?}\n  diagnose {:?}",
                in_trace.fixes, in_diagnose.fixes
            ));
        }
        for (layer, fix) in &on_page.fixes {
            if in_trace.fixes.get(layer) != Some(fix) {
                wrong.push(format!(
                    "{name}: the status page's fix of {layer} differs\n  page     {fix:?}\n  trace    {:?}",
                    in_trace.fixes.get(layer)
                ));
            }
        }
        failing_layers += in_trace.reasons.len();
    }
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The comparison is about real stories: failures with their facts filled in.
    assert!(failing_layers >= 15, "only {failing_layers} failing layers");
    let profile = &trace[&(
        "profile-required".to_string(),
        "us-east-1".to_string(),
        "anthropic.claude-3-7-sonnet-20250219-v1:0".to_string(),
    )];
    assert_eq!(
        profile.fixes.get("invoke").map(String::as_str),
        Some(
            "use the inference profile id us.anthropic.claude-3-7-sonnet-20250219-v1:0 instead of the bare model id"
        )
    );
}
