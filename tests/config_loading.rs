//! Loading a configuration the way operators write it: defaults filled in, per-target overrides,
//! environment overrides, YAML as TOML, and files that are not configurations at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bedrock_access_exporter::config::{
    Config, ConfigError, Expect, Format, InvokeMode, ProbeSettings, Problem, Source, load_str,
    load_with_env,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn load(name: &str) -> Config {
    match load_with_env(&fixture(name), Vec::new()) {
        Ok(c) => c,
        Err(e) => panic!("{name} must be valid:\n{e}"),
    }
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(result: Result<Config, ConfigError>) -> Vec<Problem> {
    match result {
        Ok(_) => panic!("must be rejected"),
        Err(e) => e.problems,
    }
}

#[test]
fn a_minimal_file_gets_every_documented_default() {
    let config = load("minimal.toml");
    let expected = ProbeSettings {
        interval: Duration::from_secs(300),
        timeout: Duration::from_secs(30),
        concurrency: 8,
        invoke: InvokeMode::Converse,
        invoke_interval: Duration::from_secs(300),
        model_access: true,
        session_name: "bedrock-access-exporter".to_string(),
        session_duration: Duration::from_secs(900),
        max_tokens: 1,
        expect: Expect::Allow,
        stream: false,
        service_tier: None,
    };
    assert_eq!(config.defaults, expected);
    assert_eq!(config.targets[0].settings, expected);
    assert_eq!(config.targets[0].source, "default");
    assert_eq!(config.targets[0].role_arn, None);
    assert_eq!(
        config.sources,
        vec![Source {
            name: "default".to_string(),
            profile: None,
            expected_account: None,
        }]
    );
}

#[test]
fn a_target_that_probes_every_minute_invokes_every_minute_unless_told_otherwise() {
    let config = load("same-account-fast.toml");
    let s = &config.targets[0].settings;
    assert_eq!(s.interval, Duration::from_secs(60));
    assert_eq!(s.invoke_interval, Duration::from_secs(60));
    assert_eq!(config.defaults.interval, Duration::from_secs(300));
}

#[test]
fn targets_override_probe_defaults_key_by_key() {
    let config = load("overrides.toml");
    let by_name = |n: &str| {
        config
            .targets
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("target {n}"))
    };

    let inherits = &by_name("inherits-everything").settings;
    assert_eq!(inherits, &config.defaults);
    assert_eq!(inherits.interval, Duration::from_secs(600));
    assert_eq!(inherits.timeout, Duration::from_secs(20));
    assert_eq!(inherits.invoke_interval, Duration::from_secs(1800));
    assert_eq!(inherits.concurrency, 4);

    // The paid layer never runs more often than the probe: the inherited 30m invoke_interval
    // is stretched to the target's 1h interval.
    let hourly = &by_name("slow-hourly").settings;
    assert_eq!(hourly.interval, Duration::from_secs(3600));
    assert_eq!(hourly.invoke_interval, Duration::from_secs(3600));
    assert_eq!(hourly.timeout, Duration::from_secs(20));

    let guardrail = &by_name("guardrail-no-invoke").settings;
    assert_eq!(guardrail.invoke, InvokeMode::None);
    assert!(!guardrail.model_access);
    assert_eq!(guardrail.expect, Expect::Deny);
    assert_eq!(guardrail.max_tokens, 5);
    assert_eq!(guardrail.session_name, "guardrail-check");
    assert_eq!(guardrail.session_duration, Duration::from_secs(3600));
    assert_eq!(guardrail.timeout, Duration::from_secs(45));
    assert_eq!(guardrail.invoke_interval, Duration::from_secs(7200));
    assert_eq!(guardrail.interval, Duration::from_secs(600));
}

#[test]
fn an_environment_override_changes_the_interval_of_every_target_that_does_not_set_its_own() {
    let config = load_with_env(
        &fixture("overrides.toml"),
        env(&[("BEDROCK_EXPORTER__PROBE__INTERVAL", "15m")]),
    )
    .expect("valid");
    assert_eq!(config.defaults.interval, Duration::from_secs(900));
    assert_eq!(
        config.targets[0].settings.interval,
        Duration::from_secs(900)
    );
    assert_eq!(
        config.targets[1].settings.interval,
        Duration::from_secs(3600)
    );
}

#[test]
fn environment_overrides_reach_targets_by_index_or_by_name() {
    let config = load_with_env(
        &fixture("good.toml"),
        env(&[
            ("BEDROCK_EXPORTER__TARGETS__0__TIMEOUT", "10s"),
            ("BEDROCK_EXPORTER__TARGETS__GUARDRAIL__INVOKE", "none"),
            (
                "BEDROCK_EXPORTER__TARGETS__PROD_INFERENCE__REGIONS",
                "eu-west-1, eu-central-1",
            ),
            ("BEDROCK_EXPORTER__PROBE__CONCURRENCY", "2"),
            ("BEDROCK_EXPORTER__PROBE__MODEL_ACCESS", "false"),
            (
                "BEDROCK_EXPORTER__SOURCES__0__EXPECTED_ACCOUNT",
                "999999999999",
            ),
            // Not ours: ignored.
            ("PATH", "/usr/bin"),
            ("AWS_REGION", "us-east-1"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.targets[0].settings.timeout, Duration::from_secs(10));
    assert_eq!(config.targets[1].settings.invoke, InvokeMode::None);
    assert_eq!(config.targets[0].regions, vec!["eu-west-1", "eu-central-1"]);
    assert_eq!(config.defaults.concurrency, 2);
    assert!(!config.targets[1].settings.model_access);
    assert_eq!(
        config.sources[0].expected_account.as_deref(),
        Some("999999999999")
    );
}

#[test]
fn a_bad_environment_override_names_the_variable_instead_of_a_file_line() {
    let found = problems(load_with_env(
        &fixture("good.toml"),
        env(&[("BEDROCK_EXPORTER__PROBE__INTERVAL", "3s")]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].line, None,
        "the file's line 3 is not where 3s came from"
    );
    assert_eq!(found[0].field, "probe.interval");
    assert!(
        found[0]
            .message
            .contains("environment variable BEDROCK_EXPORTER__PROBE__INTERVAL"),
        "{}",
        found[0]
    );
}

#[test]
fn an_environment_override_for_a_target_that_does_not_exist_is_reported() {
    let found = problems(load_with_env(
        &fixture("good.toml"),
        env(&[
            ("BEDROCK_EXPORTER__TARGETS__7__TIMEOUT", "10s"),
            ("BEDROCK_EXPORTER__TARGETS__STAGING__TIMEOUT", "10s"),
        ]),
    ));
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "BEDROCK_EXPORTER__TARGETS__7__TIMEOUT",
            "BEDROCK_EXPORTER__TARGETS__STAGING__TIMEOUT"
        ]
    );
}

#[test]
fn an_environment_override_with_a_misspelt_key_is_an_unknown_key() {
    let found = problems(load_with_env(
        &fixture("good.toml"),
        env(&[("BEDROCK_EXPORTER__PROBE__INTERVALL", "1m")]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "probe.intervall");
    assert!(
        found[0].message.contains("did you mean \"interval\""),
        "{}",
        found[0]
    );
}

#[test]
fn the_yaml_file_means_exactly_what_the_toml_file_means() {
    let toml = load("good.toml");
    let yaml = load("good.yaml");
    assert_eq!(toml.defaults, yaml.defaults);
    assert_eq!(toml.sources, yaml.sources);
    assert_eq!(toml.targets, yaml.targets);
}

#[test]
fn the_documented_examples_are_valid_and_say_the_same_in_toml_and_yaml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let toml = load_with_env(&root.join("example.toml"), Vec::new())
        .unwrap_or_else(|e| panic!("example.toml:\n{e}"));
    let yaml = load_with_env(&root.join("example.yaml"), Vec::new())
        .unwrap_or_else(|e| panic!("example.yaml:\n{e}"));
    assert_eq!(toml.defaults, yaml.defaults);
    assert_eq!(toml.sources, yaml.sources);
    assert_eq!(toml.targets, yaml.targets);
    assert_eq!(toml.probe_endpoint, yaml.probe_endpoint);
    assert!(!toml.tuples().is_empty());
}

#[test]
fn a_missing_file_is_one_clear_problem() {
    let path = fixture("does-not-exist.toml");
    let found = problems(load_with_env(&path, Vec::new()));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].file, path);
    assert_eq!(found[0].line, None);
    assert!(found[0].message.contains("does not exist"), "{}", found[0]);
    assert_eq!(
        found[0].to_string(),
        format!("{}: the configuration file does not exist", path.display())
    );
}

#[test]
fn a_binary_file_given_by_mistake_is_a_problem_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        b"[probe]\ninterval = \"5m\"\n\xff\xfe\x00\x01garbage",
    )
    .expect("write");
    let found = problems(load_with_env(&path, Vec::new()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(3));
    assert!(found[0].message.contains("not UTF-8"), "{}", found[0]);
}

#[test]
fn a_yaml_file_whose_top_level_is_a_list_is_rejected() {
    let found = problems(load_str(
        Path::new("c.yaml"),
        "- name: a\n- name: b\n",
        Format::Yaml,
        Vec::new(),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn targets_written_as_a_single_table_are_rejected() {
    let found = problems(load_str(
        Path::new("c.toml"),
        "[targets]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n",
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "targets");
    assert_eq!(found[0].line, Some(1));
}

#[test]
fn duplicate_regions_would_export_the_same_series_twice_and_are_rejected() {
    let found = problems(load_str(
        Path::new("c.toml"),
        "[[targets]]\nname = \"a\"\nregions = [\"us-east-1\", \"us-east-1\"]\nmodels = [\"m\"]\n",
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "targets[0].regions[1]");
    assert!(found[0].message.contains("listed twice"), "{}", found[0]);
}

#[test]
fn check_config_lists_each_tuple_with_its_account_and_role_but_never_the_external_id() {
    let config = load("good.toml");
    let text = config.describe_tuples();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), config.tuples().len());
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        "target=prod-inference source=platform account_id=222222222222 role_name=bedrock-prober \
         aws_region=us-east-1 model_id=anthropic.claude-3-5-sonnet-20240620-v1:0 invoke=converse \
         model_access=on stream=off expect=allow external_id=<set>"
    );
    assert!(lines[4].starts_with("target=guardrail source=default account_id=333333333333"));
    assert!(lines[4].ends_with("expect=deny"), "{}", lines[4]);
    assert!(!text.contains("ext-123"), "external id leaked:\n{text}");
}

#[test]
fn a_same_account_target_shows_the_expected_account_of_its_source_or_a_placeholder() {
    let text = load("minimal.toml").describe_tuples();
    assert!(
        text.contains("account_id=<source-account> role_name=\"\""),
        "{text}"
    );
}

#[test]
fn a_probe_timeout_longer_than_the_probe_interval_is_reported_once_not_per_target() {
    let text = "[probe]\ninterval = \"1m\"\ntimeout = \"2m\"\n\n[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n\n[[targets]]\nname = \"b\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n";
    let found = problems(load_str(
        Path::new("c.toml"),
        text,
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "probe.timeout");
    assert_eq!(found[0].line, Some(3));
    assert_eq!(found[0].target, None);
}

#[test]
fn sources_without_a_default_still_let_targets_use_the_default_chain() {
    let text = "[[sources]]\nname = \"ci\"\nprofile = \"ci\"\n\n[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n";
    let config = load_str(Path::new("c.toml"), text, Format::Toml, Vec::new()).expect("valid");
    let a = config.target("a").expect("target a");
    assert_eq!(a.source, "default");
    assert!(
        config
            .source("default")
            .is_some_and(|s| s.profile.is_none())
    );
    assert_eq!(
        config.source("ci").and_then(|s| s.profile.as_deref()),
        Some("ci")
    );
    assert!(config.target("b").is_none());
}

#[test]
fn an_unused_default_source_is_not_invented_when_sources_are_given() {
    let text = "[[sources]]\nname = \"ci\"\n\n[[targets]]\nname = \"a\"\nsource = \"ci\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n";
    let config = load_str(Path::new("c.toml"), text, Format::Toml, Vec::new()).expect("valid");
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["ci"]);
}

#[test]
fn load_reads_the_process_environment_and_accepts_a_good_file() {
    // The test process sets no BEDROCK_EXPORTER__ variables; this checks `load` is wired to
    // the same loader as `load_with_env`.
    let config = bedrock_access_exporter::config::load(&fixture("good.toml")).expect("valid");
    assert_eq!(config, load("good.toml"));
}

#[test]
fn an_environment_override_works_the_same_for_a_yaml_file() {
    let config = load_with_env(
        &fixture("good.yaml"),
        env(&[("bedrock_exporter__targets__guardrail__expect", "allow")]),
    )
    .expect("valid");
    assert_eq!(
        config.target("guardrail").map(|t| t.settings.expect),
        Some(Expect::Allow)
    );
}

#[test]
fn debug_printing_a_configuration_never_shows_the_external_id() {
    let config = load("good.toml");
    assert_eq!(config.targets[0].external_id.as_deref(), Some("ext-123"));
    let printed = format!("{config:?}");
    assert!(
        !printed.contains("ext-123"),
        "external id leaked: {printed}"
    );
    assert!(
        printed.contains("external_id: Some(\"<set>\")"),
        "{printed}"
    );
}

#[test]
fn stream_in_probe_is_inherited_and_a_target_that_never_invokes_simply_does_not_stream() {
    let text = r#"
[probe]
stream = true

[[targets]]
name = "chat"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-embed-text-v2:0"]

[[targets]]
name = "control-plane-only"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
invoke = "none"

[[targets]]
name = "no-stream"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
stream = false
"#;
    let config = match load_str(Path::new("c.toml"), text, Format::Toml, Vec::new()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let streams = |target: &str, model: &str| {
        config
            .target(target)
            .is_some_and(|t| t.settings.streams(model))
    };
    assert!(config.defaults.stream);
    assert!(streams("chat", "anthropic.claude-3-haiku-20240307-v1:0"));
    assert!(
        !streams("chat", "amazon.titan-embed-text-v2:0"),
        "an embedding model answers no stream"
    );
    assert!(!streams(
        "control-plane-only",
        "anthropic.claude-3-haiku-20240307-v1:0"
    ));
    assert!(!streams(
        "no-stream",
        "anthropic.claude-3-haiku-20240307-v1:0"
    ));

    // The same key through the environment.
    let env = vec![(
        "BEDROCK_EXPORTER__TARGETS__NO_STREAM__STREAM".to_string(),
        "true".to_string(),
    )];
    let config = match load_str(Path::new("c.toml"), text, Format::Toml, env) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert!(
        config
            .target("no-stream")
            .is_some_and(|t| t.settings.streams("anthropic.claude-3-haiku-20240307-v1:0"))
    );
}
