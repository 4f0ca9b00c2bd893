//! Every mistake an operator makes in a configuration file is reported with the file, the line,
//! the target and the field, and a file with several mistakes reports all of them at once.
//! One fixture per mistake lives in `tests/fixtures/config/bad-*.toml` (each is `good.toml`
//! with one change).

use std::path::{Path, PathBuf};

use bedrock_access_exporter::config::{ConfigError, Problem, load_with_env};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn problems_of(name: &str) -> Vec<Problem> {
    match load_with_env(&fixture(name), Vec::new()) {
        Ok(_) => panic!("{name} must be rejected"),
        Err(ConfigError { problems }) => problems,
    }
}

/// The single problem a one-mistake fixture must produce, checked field by field.
fn assert_only_problem(
    name: &str,
    line: Option<usize>,
    target: Option<&str>,
    field: &str,
    message_contains: &str,
) -> Problem {
    let problems = problems_of(name);
    assert_eq!(
        problems.len(),
        1,
        "{name}: expected one problem, got {problems:#?}"
    );
    let p = problems.into_iter().next().expect("one problem");
    assert_eq!(p.file, fixture(name), "{name}: file");
    assert_eq!(p.line, line, "{name}: line of {p}");
    assert_eq!(p.target.as_deref(), target, "{name}: target of {p}");
    assert_eq!(p.field, field, "{name}: field of {p}");
    assert!(
        p.message.contains(message_contains),
        "{name}: message {:?} should mention {message_contains:?}",
        p.message
    );
    p
}

#[test]
fn the_base_fixture_of_every_mistake_is_itself_valid() {
    let config = load_with_env(&fixture("good.toml"), Vec::new()).expect("good.toml is valid");
    assert_eq!(config.targets.len(), 2);
}

#[test]
fn a_typo_in_a_target_key_is_reported_with_a_suggestion() {
    assert_only_problem(
        "bad-unknown-key-in-target.toml",
        Some(24),
        Some("guardrail"),
        "targets[1].expcet",
        "did you mean \"expect\"",
    );
}

#[test]
fn a_typo_in_a_probe_key_is_reported_instead_of_silently_using_the_default() {
    assert_only_problem(
        "bad-unknown-key-in-probe.toml",
        Some(4),
        None,
        "probe.timout",
        "unknown key \"timout\"",
    );
}

#[test]
fn an_unknown_top_level_table_is_reported() {
    assert_only_problem(
        "bad-unknown-top-level-table.toml",
        Some(26),
        None,
        "logging",
        "unknown key \"logging\"",
    );
}

#[test]
fn a_second_target_with_the_same_name_points_back_at_the_first() {
    assert_only_problem(
        "bad-duplicate-target-name.toml",
        Some(20),
        Some("prod-inference"),
        "targets[1].name",
        "line 12",
    );
}

#[test]
fn a_target_naming_a_source_that_does_not_exist_is_rejected() {
    assert_only_problem(
        "bad-undefined-source.toml",
        Some(13),
        Some("prod-inference"),
        "targets[0].source",
        "\"platfrom\" is not defined",
    );
}

#[test]
fn a_role_arn_with_an_eleven_digit_account_is_rejected() {
    assert_only_problem(
        "bad-malformed-role-arn.toml",
        Some(14),
        Some("prod-inference"),
        "targets[0].role_arn",
        "not 12 digits",
    );
}

#[test]
fn a_user_arn_where_a_role_arn_belongs_is_rejected() {
    assert_only_problem(
        "bad-user-arn-instead-of-role.toml",
        Some(21),
        Some("guardrail"),
        "targets[1].role_arn",
        "not a role ARN",
    );
}

#[test]
fn an_expected_account_of_eleven_digits_is_rejected() {
    assert_only_problem(
        "bad-expected-account-not-12-digits.toml",
        Some(9),
        None,
        "sources[0].expected_account",
        "12 digits",
    );
}

#[test]
fn an_expected_account_written_as_a_number_asks_for_quotes() {
    assert_only_problem(
        "bad-expected-account-as-number.toml",
        Some(9),
        None,
        "sources[0].expected_account",
        "quoted string",
    );
}

#[test]
fn a_region_without_its_number_is_not_a_region() {
    assert_only_problem(
        "bad-region-name.toml",
        Some(16),
        Some("prod-inference"),
        "targets[0].regions[1]",
        "\"us-west\" is not an AWS region name",
    );
}

#[test]
fn a_target_with_no_models_would_probe_nothing() {
    assert_only_problem(
        "bad-empty-models.toml",
        Some(23),
        Some("guardrail"),
        "targets[1].models",
        "is empty",
    );
}

#[test]
fn a_target_with_no_regions_would_probe_nothing() {
    assert_only_problem(
        "bad-empty-regions.toml",
        Some(22),
        Some("guardrail"),
        "targets[1].regions",
        "is empty",
    );
}

#[test]
fn a_target_without_a_regions_key_is_located_at_its_block() {
    assert_only_problem(
        "bad-missing-regions.toml",
        Some(19),
        Some("guardrail"),
        "targets[1].regions",
        "missing",
    );
}

#[test]
fn a_target_without_a_name_is_located_at_its_block() {
    assert_only_problem(
        "bad-missing-target-name.toml",
        Some(19),
        None,
        "targets[1].name",
        "missing",
    );
}

#[test]
fn an_interval_below_ten_seconds_is_rejected() {
    assert_only_problem(
        "bad-interval-below-minimum.toml",
        Some(3),
        None,
        "probe.interval",
        "below the minimum of 10s",
    );
}

#[test]
fn a_target_probing_every_20s_with_the_inherited_30s_timeout_is_rejected() {
    assert_only_problem(
        "bad-timeout-longer-than-interval.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].interval",
        "timeout 30s is longer than interval 20s",
    );
}

#[test]
fn concurrency_zero_would_never_probe() {
    assert_only_problem(
        "bad-concurrency-zero.toml",
        Some(4),
        None,
        "probe.concurrency",
        "at least 1",
    );
}

#[test]
fn concurrency_written_as_a_word_is_not_a_number() {
    assert_only_problem(
        "bad-concurrency-not-a-number.toml",
        Some(4),
        None,
        "probe.concurrency",
        "not a whole number",
    );
}

#[test]
fn a_session_duration_below_assume_roles_minimum_is_rejected() {
    assert_only_problem(
        "bad-session-duration-too-short.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].session_duration",
        "15m to 12h",
    );
}

#[test]
fn a_session_duration_above_twelve_hours_is_rejected() {
    assert_only_problem(
        "bad-session-duration-too-long.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].session_duration",
        "15m to 12h",
    );
}

#[test]
fn max_tokens_zero_cannot_invoke_anything() {
    assert_only_problem(
        "bad-max-tokens-zero.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].max_tokens",
        "at least 1",
    );
}

#[test]
fn an_invoke_mode_that_does_not_exist_lists_the_valid_ones() {
    assert_only_problem(
        "bad-invoke-mode.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].invoke",
        "converse | invoke_model | none",
    );
}

#[test]
fn streaming_on_a_target_that_never_invokes_is_a_contradiction() {
    assert_only_problem(
        "bad-stream-without-invocation.toml",
        Some(26),
        Some("guardrail"),
        "targets[1].stream",
        "invoke = \"none\" turns every paid layer off",
    );
}

#[test]
fn a_service_tier_the_probe_cannot_ask_for_lists_the_valid_ones() {
    assert_only_problem(
        "bad-service-tier.toml",
        Some(24),
        Some("guardrail"),
        "targets[1].service_tier",
        "default | priority | flex",
    );
}

#[test]
fn an_expect_value_other_than_allow_or_deny_is_rejected() {
    assert_only_problem(
        "bad-expect-value.toml",
        Some(24),
        Some("guardrail"),
        "targets[1].expect",
        "allow | deny",
    );
}

#[test]
fn an_interval_in_words_is_not_a_duration() {
    assert_only_problem(
        "bad-unparsable-duration.toml",
        Some(3),
        None,
        "probe.interval",
        "is not a duration",
    );
}

#[test]
fn an_interval_without_a_unit_is_ambiguous() {
    assert_only_problem(
        "bad-duration-without-unit.toml",
        Some(3),
        None,
        "probe.interval",
        "without a unit",
    );
}

#[test]
fn a_file_without_targets_is_rejected() {
    assert_only_problem("bad-no-targets.toml", None, None, "targets", "no targets");
}

#[test]
fn a_second_source_with_the_same_name_is_rejected() {
    assert_only_problem(
        "bad-duplicate-source.toml",
        Some(12),
        None,
        "sources[1].name",
        "line 7",
    );
}

#[test]
fn a_model_id_of_only_spaces_is_rejected() {
    assert_only_problem(
        "bad-whitespace-model-id.toml",
        Some(23),
        Some("guardrail"),
        "targets[1].models[1]",
        "empty",
    );
}

#[test]
fn an_external_id_with_forbidden_characters_is_rejected_without_echoing_it() {
    let p = assert_only_problem(
        "bad-external-id-charset.toml",
        Some(15),
        Some("prod-inference"),
        "targets[0].external_id",
        "character AWS does not allow",
    );
    let shown = p.to_string();
    assert!(!shown.contains("secret"), "the external id leaked: {shown}");
}

#[test]
fn an_external_id_of_one_character_is_rejected_without_echoing_it() {
    let p = assert_only_problem(
        "bad-external-id-too-short.toml",
        Some(15),
        Some("prod-inference"),
        "targets[0].external_id",
        "too short",
    );
    assert!(!p.message.contains("\"x\""), "the external id leaked: {p}");
}

#[test]
fn an_external_id_on_a_same_account_target_is_never_sent_and_rejected() {
    assert_only_problem(
        "bad-external-id-without-role.toml",
        Some(15),
        Some("prod-inference"),
        "targets[0].external_id",
        "role_arn is not",
    );
}

#[test]
fn a_session_name_with_spaces_is_rejected_as_sts_would() {
    assert_only_problem(
        "bad-session-name.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].session_name",
        "letters, digits",
    );
}

#[test]
fn an_unclosed_toml_array_is_a_syntax_error_with_a_line() {
    let problems = problems_of("bad-syntax-unclosed-array.toml");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert!(p.message.contains("TOML syntax error"), "{p}");
    let line = p.line.expect("a syntax error has a line");
    assert!(
        (16..=17).contains(&line),
        "line {line} is not near the unclosed array: {p}"
    );
}

#[test]
fn a_yaml_syntax_error_is_reported_with_its_line() {
    let problems = problems_of("bad-yaml-syntax.yaml");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].message.contains("YAML syntax error"),
        "{}",
        problems[0]
    );
    assert_eq!(problems[0].line, Some(7), "{}", problems[0]);
}

#[test]
fn yaml_mistakes_are_located_inside_their_sequence_item() {
    let problems = problems_of("bad-yaml-two-mistakes.yaml");
    let found: Vec<(Option<usize>, Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.line, p.target.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some(19), Some("prod-inference"), "targets[0].models[1]"),
            (Some(22), Some("guardrail"), "targets[1].role_arn"),
        ]
    );
}

#[test]
fn a_file_with_five_mistakes_reports_all_five_in_file_order() {
    let problems = problems_of("bad-five-mistakes.toml");
    let found: Vec<(Option<usize>, Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.line, p.target.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some(3), None, "probe.interval"),
            (Some(8), None, "sources[0].profil"),
            (Some(14), Some("prod-inference"), "targets[0].role_arn"),
            (Some(16), Some("prod-inference"), "targets[0].regions[1]"),
            (Some(20), Some("prod-inference"), "targets[1].name"),
        ]
    );
}

#[test]
fn the_error_lists_every_problem_one_per_line_in_file_line_target_field_form() {
    let err =
        load_with_env(&fixture("bad-five-mistakes.toml"), Vec::new()).expect_err("five mistakes");
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let file = fixture("bad-five-mistakes.toml").display().to_string();
    assert_eq!(
        lines[0],
        format!("{file}:3: probe.interval: 5s is below the minimum of 10s")
    );
    assert!(
        lines[2].starts_with(&format!(
            "{file}:14: target \"prod-inference\": targets[0].role_arn: "
        )),
        "{}",
        lines[2]
    );
}
