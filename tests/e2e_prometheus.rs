//! End to end with a real Prometheus (Debian's `prometheus` binary; `.ci/run` installs it): the
//! simulator runs the demo scenario, the exporter probes it, Prometheus scrapes the exporter every
//! second and evaluates the repository's rule files every second. Then:
//! - every query of both dashboards (panels and template variables) returns data;
//! - every recording rule returns data, every alert rule evaluates cleanly and every metric
//!   selector in it matches series (no misspelt names), and the alerts the demo triggers by
//!   itself are pending;
//! - after a scenario change that takes model access away from one healthy tuple, the
//!   access-regression alert goes pending for exactly that tuple, never for the tuples that never
//!   succeeded nor for the guardrail.
//!
//! Fails (does not skip) when `prometheus` is not installed.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exporter, Proc, Sim, free_port, http_get, repo, tail};
use serde_json::Value;

/// The tuple labels of an alert or series: (target, aws_region, model_id).
type TupleId = (String, String, String);

/// The repository's example `prometheus/scrape-config.yml`, made fast for the test: scrape and
/// evaluate every second, the `/probe` job every 5 s, the exporter at `exporter`, the rule
/// files from the repository. Each replacement must apply, so the test follows the example.
fn test_config(exporter: &str) -> String {
    let mut text = std::fs::read_to_string(repo("prometheus/scrape-config.yml"))
        .expect("read prometheus/scrape-config.yml");
    let rules_dir = format!("{}/", repo("prometheus").display());
    for (from, to) in [
        (
            "/usr/share/bedrock-access-exporter/prometheus/",
            rules_dir.as_str(),
        ),
        ("127.0.0.1:9819", exporter),
        ("scrape_interval: 30s", "scrape_interval: 1s"),
        ("evaluation_interval: 30s", "evaluation_interval: 1s"),
        ("scrape_interval: 15m", "scrape_interval: 5s"),
        ("scrape_timeout: 60s", "scrape_timeout: 5s"),
    ] {
        assert!(
            text.contains(from),
            "prometheus/scrape-config.yml no longer contains {from:?}"
        );
        text = text.replace(from, to);
    }
    text
}

struct Prometheus {
    proc: Proc,
    base: String,
}

impl Prometheus {
    fn start(dir: &Path, exporter: &str) -> Prometheus {
        let version = Command::new("prometheus")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            matches!(version, Ok(s) if s.success()),
            "the `prometheus` binary is required (Debian package prometheus; ./scripts/install-test-deps installs it)"
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, test_config(exporter)).expect("write prometheus.yml");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn prometheus");
        let prom = Prometheus {
            proc: Proc { child, log },
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while http_get(&format!("{}/-/ready", prom.base)).0 != 200 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prometheus not ready after 60 s:\n{}",
                tail(&prom.proc.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        prom
    }

    /// GET an API path with query parameters; panics unless Prometheus answers `success`.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let (status, body) = http_get(&format!("{}{}?{}", self.base, path, query));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert!(
            status == 200 && v["status"] == "success",
            "prometheus {path} {params:?}: HTTP {status}: {body}"
        );
        v["data"].clone()
    }

    /// An instant query's result vector.
    fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", expr)]);
        match &data["result"] {
            Value::Array(a) => a.clone(),
            // scalar results ([time, value]) count as one
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    }

    /// Active alerts (pending or firing) named `name`.
    fn alerts(&self, name: &str) -> Vec<Value> {
        let data = self.api("/api/v1/alerts", &[]);
        data["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .collect()
    }

    /// The `target` label of every active alert `name`.
    fn alert_targets(&self, name: &str) -> BTreeSet<String> {
        self.alerts(name)
            .iter()
            .map(|a| {
                a["labels"]["target"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&Prometheus) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < limit,
                "{what}: not reached after {limit:?}\n--- prometheus log ---\n{}",
                tail(&self.proc.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// `target region model: layer reason (state)` of an alert, for failure messages.
fn brief(alert: &Value) -> String {
    let l = &alert["labels"];
    let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
    format!(
        "{} {} {}: {} {} ({})",
        s("target"),
        s("aws_region"),
        s("model_id"),
        s("layer"),
        s("reason"),
        alert["state"].as_str().unwrap_or_default()
    )
}

fn tuple_of(labels: &Value) -> TupleId {
    let s = |k: &str| labels[k].as_str().unwrap_or_default().to_string();
    (s("target"), s("aws_region"), s("model_id"))
}

/// Grafana's template variables and built-in intervals, replaced by what Grafana would send
/// with "All" selected (`allValue` is `.*` in both dashboards).
fn substitute(expr: &str) -> String {
    let mut out = expr.to_string();
    for (var, value) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "5m"),
        ("$datasource", "prometheus"),
        ("$target", ".*"),
        ("$account", ".*"),
        ("$region", ".*"),
        ("$model", ".*"),
        ("$layer", ".*"),
        ("$job", ".*"),
    ] {
        out = out.replace(var, value);
    }
    out
}

/// (dashboard file, panel title, expr) of a panel target.
type PanelQuery = (String, String, String);
/// (dashboard file, label_values query) of a template variable.
type VariableQuery = (String, String);

/// Every panel target and template-variable query of both dashboards.
fn dashboard_queries() -> (Vec<PanelQuery>, Vec<VariableQuery>) {
    let mut panels = Vec::new();
    let mut variables = Vec::new();
    for file in [
        "dashboards/bedrock-access-overview.json",
        "dashboards/bedrock-access-tuple.json",
    ] {
        let text = std::fs::read_to_string(repo(file)).expect("read dashboard");
        let d: Value = serde_json::from_str(&text).expect("dashboard is JSON");
        for p in d["panels"].as_array().expect("panels") {
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                let expr = t["expr"].as_str().expect("target has expr");
                panels.push((
                    file.to_string(),
                    p["title"].as_str().unwrap_or_default().to_string(),
                    expr.to_string(),
                ));
            }
        }
        for v in d["templating"]["list"].as_array().expect("templating") {
            if v["type"] == "query" {
                variables.push((
                    file.to_string(),
                    v["query"].as_str().expect("string query").to_string(),
                ));
            }
        }
    }
    (panels, variables)
}

/// Metric selectors (`name` or `name{...}`) of a PromQL expression: identifiers of the
/// exporter's families, recording rules and `up`, with their label matchers if any.
fn selectors(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        let starts = (c.is_ascii_alphabetic() || c == '_')
            && (i == 0 || !((b[i - 1] as char).is_ascii_alphanumeric() || b[i - 1] == b'_'))
            && (i == 0 || b[i - 1] != b'"' && b[i - 1] != b'$');
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len()
            && ((b[j] as char).is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':')
        {
            j += 1;
        }
        let name = &expr[i..j];
        let is_metric = name.starts_with("bedrock_access") || name == "up";
        if is_metric && b.get(j) != Some(&b'(') {
            let mut end = j;
            if b.get(j) == Some(&b'{') {
                end = expr[j..].find('}').map(|k| j + k + 1).unwrap_or(j);
            }
            out.push(expr[i..end].to_string());
            i = end;
        } else {
            i = j;
        }
    }
    out
}

/// A many-account target whose accounts come from AWS Organizations.
const DISCOVERING_TARGET: &str = r#"
[[targets]]
name = "organization-members"
source = "platform"
role_name = "BedrockProbeRole"
external_id = "demo-external-id"
accounts_from = { organization = true }
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

#[test]
fn a_real_prometheus_evaluates_every_dashboard_query_and_rule_and_flags_a_broken_healthy_tuple() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let scenario = d.join("scenario.toml");
    std::fs::copy(repo("config/demo/scenario.toml"), &scenario).expect("copy scenario");
    let config = d.join("exporter.toml");
    std::fs::copy(repo("config/demo/exporter.toml"), &config).expect("copy exporter config");
    // Plus a target discovering its accounts from AWS Organizations, which the demo scenario
    // does not run: its discovery fails, so the discovery alert's series exist.
    let mut text = std::fs::read_to_string(&config).expect("read exporter config");
    text.push_str(DISCOVERING_TARGET);
    std::fs::write(&config, text).expect("write exporter config");
    let aws_config = d.join("aws-config");
    std::fs::copy(repo("config/demo/aws-config"), &aws_config).expect("copy aws-config");
    for key in [
        "api-key-healthy.key",
        "api-key-expired.key",
        "api-key-lab.key",
    ] {
        std::fs::copy(repo(&format!("config/demo/{key}")), d.join(key)).expect("copy key file");
    }

    let sim = Sim::start(d, &scenario);
    let exporter = Exporter::start(d, &config, &aws_config, &sim.url());
    let prom = Prometheus::start(d, &exporter.addr.to_string());

    // Every rule file loaded.
    let groups = prom.api("/api/v1/rules", &[]);
    let rules: Vec<Value> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    let alerting = rules.iter().filter(|r| r["type"] == "alerting").count();
    let recording = rules.iter().filter(|r| r["type"] == "recording").count();
    assert!(
        alerting >= 6 && recording >= 1,
        "rule files not loaded: {groups}"
    );

    // Data: every tuple probed at least twice (the interval estimate needs two probes), tokens
    // counted twice (rate needs two samples), the recording rules evaluated.
    let tuples = exporter
        .scrape()
        .value("bedrock_access_exporter_tuples", &[])
        .expect("tuples gauge");
    prom.wait_until(
        Duration::from_secs(90),
        "every tuple probed twice and every recording rule evaluated",
        |p| {
            let probed = p.query(
                r#"count(changes(bedrock_access_probe_timestamp_seconds{job="bedrock-access-exporter"}[5m]) > 0)"#,
            );
            let all = probed
                .first()
                .and_then(|s| s["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok())
                == Some(tuples);
            all && !p
                .query("bedrock_access:probe_interval_seconds:avg6h")
                .is_empty()
                && !p.query("bedrock_access:tuple_failing:by_class").is_empty()
                && !p
                    .query("bedrock_access:invoke_tokens:rate5m > 0")
                    .is_empty()
        },
    );

    // The example's /probe multi-target job: one Prometheus target per configured target name,
    // probed through the exporter, labelled with the target name as instance.
    prom.wait_until(
        Duration::from_secs(30),
        "the /probe job scraped both of its targets",
        |p| p.query(r#"up{job="bedrock-access-probe"} == 1"#).len() == 2,
    );
    let probed: BTreeSet<(String, String)> = prom
        .query(r#"bedrock_access_probe_success{job="bedrock-access-probe"}"#)
        .iter()
        .map(|s| {
            let l = &s["metric"];
            (
                l["instance"].as_str().unwrap_or_default().to_string(),
                l["aws_region"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        probed,
        BTreeSet::from([
            ("healthy-claude".to_string(), "us-east-1".to_string()),
            ("healthy-claude".to_string(), "us-west-2".to_string()),
            ("scp-deny".to_string(), "us-east-1".to_string()),
        ]),
        "the /probe job's series"
    );

    // Every dashboard query returns data.
    let (panels, variables) = dashboard_queries();
    assert!(
        panels.len() >= 20,
        "too few panel queries: {}",
        panels.len()
    );
    let mut empty = Vec::new();
    for (file, title, expr) in &panels {
        let q = substitute(expr);
        if prom.query(&q).is_empty() {
            empty.push(format!("{file}: panel {title:?}: {q}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
    for (file, query) in &variables {
        let q = substitute(query);
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{file}: variable query is not label_values(...): {q}"));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("{file}: label_values without a label: {q}"));
        let values = prom.api(
            &format!("/api/v1/label/{}/values", label.trim()),
            &[("match[]", selector.trim())],
        );
        assert!(
            values.as_array().is_some_and(|a| !a.is_empty()),
            "{file}: variable query {q} has no values"
        );
    }

    // Every recording rule returns data; every alert rule is healthy and each of its metric
    // selectors matches series.
    prom.wait_until(Duration::from_secs(10), "rules evaluated", |p| {
        let g = p.api("/api/v1/rules", &[]);
        g["groups"].as_array().is_some_and(|gs| {
            gs.iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .all(|r| r["lastEvaluation"].as_str() != Some("0001-01-01T00:00:00Z"))
        })
    });
    let groups = prom.api("/api/v1/rules", &[]);
    for r in groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
    {
        let name = r["name"].as_str().unwrap_or_default();
        let expr = r["query"].as_str().unwrap_or_default();
        assert_eq!(r["health"], "ok", "rule {name} unhealthy: {r}");
        if r["type"] == "recording" {
            assert!(
                !prom.query(expr).is_empty(),
                "recording rule {name} is empty"
            );
        } else {
            // evaluates without error (the API asserts success)
            prom.query(expr);
            let sels = selectors(expr);
            assert!(!sels.is_empty(), "no metric selector found in {name}");
            for s in sels {
                assert!(
                    !prom.query(&s).is_empty(),
                    "alert {name}: selector {s} matches no series (misspelt?)"
                );
            }
        }
    }

    // What the demo triggers by itself: configuration errors, a pending grant (transient), and
    // access failures of tuples that never succeeded (info). No regression, and the guardrail
    // (expect = "deny", its SCP deny holds) nowhere.
    prom.wait_until(
        Duration::from_secs(10),
        "the demo's own alerts pending",
        |p| {
            !p.alerts("BedrockAccessConfigurationError").is_empty()
                && !p.alerts("BedrockAccessProbeInconclusive").is_empty()
                && !p.alerts("BedrockAccessNeverGranted").is_empty()
        },
    );
    let config_errors = prom.alert_targets("BedrockAccessConfigurationError");
    for t in [
        "session-too-long",
        "not-in-region",
        "profile-required",
        "end-of-life",
    ] {
        assert!(
            config_errors.contains(t),
            "{t} not among configuration errors {config_errors:?}"
        );
    }
    let inconclusive = prom.alert_targets("BedrockAccessProbeInconclusive");
    assert!(inconclusive.contains("grant-pending"), "{inconclusive:?}");
    // The control plane says yes, the runtime no: the account AWS does not offer the model to;
    // never the activation still pending.
    prom.wait_until(
        Duration::from_secs(10),
        "the control-plane disagreement pending",
        |p| {
            p.alert_targets("BedrockAccessControlPlaneDisagrees")
                .contains("not-offered")
        },
    );
    let disagree = prom.alert_targets("BedrockAccessControlPlaneDisagrees");
    assert!(!disagree.contains("grant-pending"), "{disagree:?}");
    let early: Vec<String> = prom
        .alerts("BedrockAccessRegression")
        .iter()
        .map(brief)
        .collect();
    assert!(
        early.is_empty(),
        "regression alerts before anything changed (tuples that never succeeded?): {early:#?}"
    );
    let never: Vec<Value> = prom.alerts("BedrockAccessNeverGranted");
    assert!(
        never
            .iter()
            .all(|a| a["labels"]["target"] != "sandbox-guardrail"
                && !a["labels"]["target"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("healthy-")),
        "guardrail or healthy tuple alerted: {never:?}"
    );
    assert!(prom.alerts("BedrockAccessGuardrailBreached").is_empty());
    assert!(prom.alerts("BedrockAccessExporterDown").is_empty());

    // The change: ml-prod loses access to Claude 3 Haiku in us-west-2 only. healthy-claude's
    // us-west-2 tuple passed until now; its us-east-1 tuple keeps passing.
    let broken = (
        "healthy-claude".to_string(),
        "us-west-2".to_string(),
        "anthropic.claude-3-haiku-20240307-v1:0".to_string(),
    );
    let mut text = std::fs::read_to_string(&scenario).expect("read scenario copy");
    text.push_str(
        "\n[[grants]]\naccount = \"222222222222\"\nregion = \"us-west-2\"\n\
         model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nstatus = \"not_granted\"\n",
    );
    std::fs::write(&scenario, text).expect("write scenario copy");
    sim.proc.signal("HUP");

    prom.wait_until(
        Duration::from_secs(60),
        "BedrockAccessRegression pending for the broken tuple",
        |p| {
            p.alerts("BedrockAccessRegression")
                .iter()
                .any(|a| tuple_of(&a["labels"]) == broken)
        },
    );
    // One more probe interval: the set must not grow beyond the broken tuple.
    std::thread::sleep(Duration::from_secs(11));
    let regressions = prom.alerts("BedrockAccessRegression");
    let tuples_alerted: BTreeSet<TupleId> =
        regressions.iter().map(|a| tuple_of(&a["labels"])).collect();
    assert_eq!(
        tuples_alerted,
        BTreeSet::from([broken.clone()]),
        "regression alerts for other tuples than the broken one: {:#?}",
        regressions.iter().map(brief).collect::<Vec<_>>()
    );
    for a in &regressions {
        assert!(
            a["state"] == "pending" || a["state"] == "firing",
            "unexpected state: {a}"
        );
        assert_eq!(a["labels"]["class"], "access");
        assert_eq!(a["labels"]["reason"], "model_access_not_granted", "{a}");
        let fix = a["annotations"]["fix"].as_str().unwrap_or_default();
        assert!(
            fix.starts_with(
                "enable or request access to this model in the target account and this region"
            ),
            "fix annotation: {fix:?}"
        );
        let description = a["annotations"]["description"].as_str().unwrap_or_default();
        assert!(
            !description.contains("error code )"),
            "an empty error_code must not be printed: {description:?}"
        );
        let summary = a["annotations"]["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("healthy-claude us-west-2"),
            "summary: {summary:?}"
        );
    }
    drop(prom);
    drop(exporter);
    drop(sim);
}

#[test]
fn the_selector_scan_finds_every_metric_name_of_an_alert_expression() {
    let expr = r#"(bedrock_access_failure_info{class="access"} and on (job) (bedrock_access_probe_success == 0)) and on (job) (max_over_time(bedrock_access_probe_success[1d]) == 1 or up{job="x"} == 0) > 3 * last_over_time(bedrock_access:probe_interval_seconds:avg6h[1w])"#;
    assert_eq!(
        selectors(expr),
        vec![
            r#"bedrock_access_failure_info{class="access"}"#,
            "bedrock_access_probe_success",
            "bedrock_access_probe_success",
            r#"up{job="x"}"#,
            "bedrock_access:probe_interval_seconds:avg6h",
        ]
    );
}
