//! The project's own checks of dashboards/ and prometheus/ (Grafana's schema check is
//! scripts/test.d/dashboards.sh; promtool's are scripts/test.d/rules.sh): stable uids, the
//! datasource and tuple variables, every metric and label a query names exists in the metrics
//! contract (docs/metrics.md, copied below), and the fix texts shown by dashboards and alerts
//! are the exporter's own (`Reason::fix()`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bedrock_access_exporter::reason::Reason;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn dashboard(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

const DASHBOARDS: [(&str, &str); 2] = [
    (
        "dashboards/bedrock-access-overview.json",
        "bedrock-access-overview",
    ),
    (
        "dashboards/bedrock-access-tuple.json",
        "bedrock-access-tuple",
    ),
];

/// The families of docs/metrics.md (histogram series suffixes included), `up`, and the
/// process collector's families the dashboards use.
const CONTRACT_METRICS: &[&str] = &[
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
    "bedrock_access_model_lifecycle_info",
    "bedrock_access_model_legacy_timestamp_seconds",
    "bedrock_access_model_public_extended_access_timestamp_seconds",
    "bedrock_access_model_end_of_life_timestamp_seconds",
    "bedrock_access_exporter_build_info",
    "bedrock_access_exporter_config_last_reload_successful",
    "bedrock_access_exporter_config_last_reload_success_timestamp_seconds",
    "bedrock_access_exporter_tuples",
    "bedrock_access_exporter_probes_in_flight",
    "bedrock_access_exporter_schedule_lag_seconds_bucket",
    "bedrock_access_exporter_schedule_lag_seconds_sum",
    "bedrock_access_exporter_schedule_lag_seconds_count",
    "bedrock_access_exporter_shard_info",
    "bedrock_access_exporter_discovery_success",
    "bedrock_access_exporter_discovery_failure_info",
    "bedrock_access_exporter_discovery_accounts",
    "bedrock_access_exporter_discovery_last_success_timestamp_seconds",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "up",
    // Beyond the contract, documented in docs/metrics.md: the expiry of sources' Bedrock API keys.
    "bedrock_access_exporter_source_credentials_expiry_timestamp_seconds",
];

/// Labels of the contract, Prometheus' target labels, and what the queries add themselves.
const KNOWN_LABELS: &[&str] = &[
    "target",
    "account_id",
    "role_name",
    "aws_region",
    "model_id",
    "layer",
    "reason",
    "class",
    "error_code",
    "result",
    "dimension",
    "status",
    "direction",
    "version",
    "revision",
    "le",
    "job",
    "instance",
    // made by label_join / label_replace in the dashboards
    "tuple",
    "fix",
    "disagreement",
];

/// Record names of prometheus/recording.yml.
fn recorded() -> BTreeSet<String> {
    read("prometheus/recording.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|s| s.trim().to_string())
        .collect()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Metric names of a PromQL expression: identifiers followed by `{`, `[`, whitespace/`)`/end
/// that are not functions, keywords, label names inside braces or string contents.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
    ];
    // aggregation operators may be followed by `by (...)` instead of `(`
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "limitk",
        "limit_ratio",
    ];
    let b = expr.as_bytes();
    let (mut i, mut depth, mut in_str, mut in_paren_list) = (0, 0, false, false);
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b')' => in_paren_list = false,
            _ => {}
        }
        if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') && (i == 0 || !is_ident(b[i - 1])) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = expr[i..].trim_start().bytes().next();
            let prev_dollar = start > 0 && b[start - 1] == b'$';
            if KEYWORDS.contains(&word) {
                // by (...), on (...): the list that follows holds label names
                in_paren_list = matches!(
                    word,
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                );
                continue;
            }
            if prev_dollar || in_paren_list || next == Some(b'(') || AGGREGATIONS.contains(&word) {
                continue;
            }
            // durations inside [5m] start with a digit, so never reach here
            out.push(word.to_string());
            continue;
        }
        i += 1;
    }
    out
}

/// Label names used in `{...}` matchers and in by/on/without lists.
fn label_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let body = &rest[open + 1..open + close];
        let mut in_str = false;
        let mut word = String::new();
        for ch in body.chars() {
            if ch == '"' {
                in_str = !in_str;
                continue;
            }
            if in_str {
                continue;
            }
            if ch.is_ascii_alphanumeric() || ch == '_' {
                word.push(ch);
            } else {
                if !word.is_empty() && matches!(ch, '=' | '!') {
                    out.push(word.clone());
                }
                word.clear();
            }
        }
        rest = &rest[open + close + 1..];
    }
    for kw in ["by (", "on (", "without (", "ignoring ("] {
        let mut rest = expr;
        while let Some(p) = rest.find(kw) {
            let after = &rest[p + kw.len()..];
            let end = after.find(')').unwrap_or(after.len());
            out.extend(
                after[..end]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            );
            rest = &after[end..];
        }
    }
    out
}

fn panel_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().cloned().unwrap_or_default() {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            out.push((
                p["title"].as_str().unwrap_or_default().to_string(),
                t["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    for v in d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if v["type"] == "query" {
            let q = v["query"].as_str().unwrap_or_default();
            // label_values(selector, label): check the selector
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.rsplit_once(','))
                .map(|(s, _)| s.to_string())
                .unwrap_or_default();
            out.push((format!("variable {}", v["name"]), inner));
        }
    }
    out
}

#[test]
fn each_dashboard_keeps_its_stable_uid_and_a_unique_title() {
    let mut titles = BTreeSet::new();
    for (path, uid) in DASHBOARDS {
        let d = dashboard(path);
        assert_eq!(
            d["uid"], uid,
            "{path}: uid changed (links and provisioning use it)"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{path}: old schemaVersion"
        );
        assert!(titles.insert(d["title"].as_str().unwrap_or_default().to_string()));
    }
}

#[test]
fn every_panel_and_variable_queries_the_datasource_variable_not_a_fixed_datasource() {
    for (path, _) in DASHBOARDS {
        let d = dashboard(path);
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        let ds = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{path}: no datasource variable"));
        assert_eq!(ds["type"], "datasource");
        assert_eq!(ds["query"], "prometheus");
        let mut ids = BTreeSet::new();
        for p in d["panels"].as_array().expect("panels") {
            assert!(
                ids.insert(p["id"].as_u64().expect("panel id")),
                "{path}: duplicate panel id"
            );
            let g = &p["gridPos"];
            let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
            assert!(
                x + w <= 24,
                "{path}: panel {} overflows the grid",
                p["title"]
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{path}: panel {}",
                p["title"]
            );
            for t in p["targets"].as_array().expect("targets") {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{path}: {}",
                    p["title"]
                );
            }
        }
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{path}: variable {}",
                v["name"]
            );
        }
    }
}

#[test]
fn both_dashboards_filter_by_target_account_region_model_and_layer() {
    for (path, _) in DASHBOARDS {
        let d = dashboard(path);
        let names: BTreeSet<String> = d["templating"]["list"]
            .as_array()
            .expect("templating.list")
            .iter()
            .map(|v| v["name"].as_str().unwrap_or_default().to_string())
            .collect();
        for want in [
            "datasource",
            "target",
            "account",
            "region",
            "model",
            "layer",
        ] {
            assert!(names.contains(want), "{path}: no `{want}` variable");
        }
        // and the per-tuple queries use them
        let exprs = panel_exprs(&d);
        for var in ["$target", "$account", "$region", "$model", "$layer"] {
            assert!(
                exprs.iter().any(|(_, e)| e.contains(var)),
                "{path}: no query uses {var}"
            );
        }
        for (title, e) in &exprs {
            if e.contains("bedrock_access_probe_success") && !title.starts_with("variable") {
                assert!(
                    e.contains("$target"),
                    "{path}: {title}: per-tuple query ignores $target: {e}"
                );
            }
        }
    }
}

#[test]
fn every_metric_and_label_a_dashboard_or_rule_names_is_in_the_metrics_contract() {
    let records = recorded();
    assert!(records.len() >= 3, "recording rules not found: {records:?}");
    let known = |m: &str| CONTRACT_METRICS.contains(&m) || records.contains(m);
    let mut all = Vec::new();
    for (path, _) in DASHBOARDS {
        for (title, e) in panel_exprs(&dashboard(path)) {
            all.push((format!("{path}: {title}"), e));
        }
    }
    for file in ["prometheus/alerts.yml", "prometheus/recording.yml"] {
        // expr: | blocks: the indented lines after `expr:`
        let text = read(file);
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            if let Some(rest) = l.trim_start().strip_prefix("expr:") {
                let indent = l.len() - l.trim_start().len();
                let mut e = rest.trim().trim_start_matches('|').to_string();
                while let Some(n) = lines.peek() {
                    if n.trim().is_empty() || n.len() - n.trim_start().len() > indent {
                        e.push('\n');
                        e.push_str(n);
                        lines.next();
                    } else {
                        break;
                    }
                }
                all.push((file.to_string(), e));
            }
        }
    }
    assert!(all.len() > 30, "too few expressions found: {}", all.len());
    let mut seen = BTreeSet::new();
    for (where_, e) in &all {
        let names = metric_names(e);
        assert!(!names.is_empty(), "{where_}: no metric in {e}");
        for m in names {
            assert!(
                known(&m),
                "{where_}: `{m}` is not a metric of the contract: {e}"
            );
            seen.insert(m);
        }
        for l in label_names(e) {
            assert!(
                KNOWN_LABELS.contains(&l.as_str()),
                "{where_}: unknown label `{l}` in {e}"
            );
        }
    }
    // the dashboards and rules cover the per-tuple families
    for m in &CONTRACT_METRICS[..11] {
        assert!(seen.contains(*m), "no dashboard or rule shows {m}");
    }
}

#[test]
fn the_fix_texts_of_dashboards_and_alerts_are_the_exporters_own() {
    let table: Value =
        serde_json::from_str(&read("prometheus/reasons.json")).expect("reasons.json");
    let rows = table.as_array().expect("array");
    assert_eq!(rows.len(), Reason::ALL.len(), "reasons.json misses reasons");
    for (row, reason) in rows.iter().zip(Reason::ALL) {
        assert_eq!(row["reason"], reason.as_str());
        assert_eq!(row["class"], reason.class().as_str(), "{reason}");
        assert_eq!(
            row["fix"],
            reason.fix(),
            "{reason}: fix text differs from src/reason.rs; update prometheus/reasons.json and run \
             prometheus/generate.py and dashboards/generate.py"
        );
    }
    let alerts = read("prometheus/alerts.yml");
    for reason in Reason::ALL {
        let branch = format!(
            "eq $labels.reason \"{}\" -}}}} {}",
            reason.as_str(),
            reason.fix()
        );
        assert!(alerts.contains(&branch), "alerts.yml: no fix for {reason}");
    }
    for (path, _) in DASHBOARDS {
        let d = dashboard(path);
        let mappings: Vec<&Value> = d["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| {
                p["fieldConfig"]["overrides"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter(|o| o["matcher"]["options"] == "fix")
            .flat_map(|o| o["properties"].as_array().into_iter().flatten())
            .filter(|p| p["id"] == "mappings")
            .collect();
        assert!(!mappings.is_empty(), "{path}: no fix column");
        for m in mappings {
            let options = &m["value"][0]["options"];
            for reason in Reason::ALL {
                assert_eq!(
                    options[reason.as_str()]["text"],
                    reason.fix(),
                    "{path}: {reason}"
                );
            }
        }
    }
}

#[test]
fn the_metric_scan_skips_functions_keywords_labels_and_strings() {
    let e = r#"label_replace(bedrock_access_failure_info{layer=~"$layer"} and on (job, target) (bedrock_access_probe_success == 0), "fix", "$1", "reason", "(.*)")"#;
    assert_eq!(
        metric_names(e),
        vec![
            "bedrock_access_failure_info",
            "bedrock_access_probe_success"
        ]
    );
    assert_eq!(label_names(e), vec!["layer", "job", "target"]);
    assert_eq!(
        metric_names(
            "sum by (direction) (increase(bedrock_access_invoke_tokens_total[5m])) * 3600"
        ),
        vec!["bedrock_access_invoke_tokens_total"]
    );
    assert_eq!(
        metric_names("bedrock_access_probe_succes"),
        vec!["bedrock_access_probe_succes"]
    );
}
