//! A configuration cannot hurt the daemon: every number, duration, list and name has an upper
//! bound that validation reports with the file, line, target and field like every other
//! mistake; a YAML file is checked for nesting and alias expansion before anything builds a
//! tree from it; the file must be a regular file of bounded size. One fixture per mistake in
//! `tests/fixtures/config/` (each is `good.toml` with one change), generated texts for the
//! sizes no fixture should have.

use std::path::{Path, PathBuf};

use bedrock_access_exporter::config::limits::{
    MAX_DEPTH, MAX_FILE_BYTES, MAX_TARGETS, MAX_TUPLES, MAX_YAML_NODES,
};
use bedrock_access_exporter::config::{
    ConfigError, Format, Problem, load, load_str, load_with_env,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn problems(result: Result<bedrock_access_exporter::config::Config, ConfigError>) -> Vec<Problem> {
    match result {
        Ok(_) => panic!("must be rejected"),
        Err(ConfigError { problems }) => problems,
    }
}

/// The one problem of fixture `name`, checked field by field.
fn only_problem(
    name: &str,
    line: Option<usize>,
    target: Option<&str>,
    field: &str,
    message_contains: &str,
) {
    let found = problems(load_with_env(&fixture(name), Vec::new()));
    assert_eq!(found.len(), 1, "{name}: {found:#?}");
    let p = &found[0];
    assert_eq!(p.file, fixture(name), "{name}: file");
    assert_eq!(p.line, line, "{name}: line of {p}");
    assert_eq!(p.target.as_deref(), target, "{name}: target of {p}");
    assert_eq!(p.field, field, "{name}: field of {p}");
    assert!(p.message.contains(message_contains), "{name}: {p}");
}

#[test]
fn a_concurrency_of_i64_max_is_refused_instead_of_crashing_the_scheduler() {
    only_problem(
        "bad-concurrency-too-large.toml",
        Some(5),
        None,
        "probe.concurrency",
        "9223372036854775807 is above the maximum of 1024",
    );
}

#[test]
fn max_tokens_far_above_a_probes_need_is_refused() {
    only_problem(
        "bad-max-tokens-too-large.toml",
        Some(25),
        Some("guardrail"),
        "targets[1].max_tokens",
        "above the maximum of 4096",
    );
}

#[test]
fn durations_have_upper_bounds() {
    only_problem(
        "bad-interval-too-long.toml",
        Some(3),
        None,
        "probe.interval",
        "2days is above the maximum of 1day",
    );
    only_problem(
        "bad-timeout-too-long.toml",
        Some(26),
        Some("guardrail"),
        "targets[1].timeout",
        "2h is above the maximum of 10m",
    );
    only_problem(
        "bad-invoke-interval-too-long.toml",
        Some(5),
        None,
        "probe.invoke_interval",
        "above the maximum of 7days",
    );
}

#[test]
fn a_target_listing_more_regions_than_allowed_is_refused_at_the_list() {
    only_problem(
        "bad-too-many-regions.toml",
        Some(22),
        Some("guardrail"),
        "targets[1].regions",
        "lists 80 values, more than the maximum of 64",
    );
}

#[test]
fn a_right_to_left_override_in_a_target_name_is_refused() {
    only_problem(
        "bad-target-name-bidi.toml",
        Some(20),
        None,
        "targets[1].name",
        "bidirectional formatting character (U+202E)",
    );
}

#[test]
fn a_zero_width_space_in_a_source_name_is_refused() {
    let found = problems(load_with_env(
        &fixture("bad-source-name-zero-width.toml"),
        Vec::new(),
    ));
    let p = found
        .iter()
        .find(|p| p.field == "sources[0].name")
        .unwrap_or_else(|| panic!("no problem at sources[0].name: {found:#?}"));
    assert_eq!(p.line, Some(7));
    assert!(p.message.contains("zero-width character (U+200B)"), "{p}");
}

#[test]
fn a_name_longer_than_a_label_should_be_is_refused() {
    only_problem(
        "bad-target-name-too-long.toml",
        Some(20),
        None,
        "targets[1].name",
        "is 200 characters long; names have at most 128",
    );
}

#[test]
fn an_endpoint_that_would_refuse_every_probe_is_refused() {
    only_problem(
        "bad-probe-endpoint-in-flight-zero.toml",
        Some(7),
        None,
        "probe_endpoint.max_in_flight",
        "must be at least 1",
    );
    let text = "[probe_endpoint]\nmax_in_flight = 100000\n[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m\"]\n";
    let p = problems(load_str(
        Path::new("e.toml"),
        text,
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].field, "probe_endpoint.max_in_flight");
    assert!(
        p[0].message.contains("above the maximum of 256"),
        "{}",
        p[0]
    );
    let ok = load_str(
        Path::new("e.toml"),
        &text.replace("100000", "3"),
        Format::Toml,
        Vec::new(),
    )
    .expect("3 requests at once is fine");
    assert_eq!(ok.probe_endpoint.max_in_flight, 3);
}

#[test]
fn an_environment_override_beyond_a_bound_names_the_variable() {
    let env = vec![(
        "BEDROCK_EXPORTER__PROBE__CONCURRENCY".to_string(),
        "18446744073709551615".to_string(),
    )];
    let p = problems(load_with_env(&fixture("good.toml"), env));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].field, "probe.concurrency");
    assert!(
        p[0].message
            .contains("(set by environment variable BEDROCK_EXPORTER__PROBE__CONCURRENCY)"),
        "{}",
        p[0]
    );
}

fn targets_text(targets: usize, regions: usize, models: usize) -> String {
    let regions: Vec<String> = (0..regions)
        .map(|i| format!("\"u{}-east-{}\"", (b'a' + (i / 10) as u8) as char, i % 10))
        .collect();
    let models: Vec<String> = (0..models).map(|i| format!("\"m.model-{i}\"")).collect();
    let mut s = String::new();
    for t in 0..targets {
        s.push_str(&format!(
            "[[targets]]\nname = \"t{t}\"\nregions = [{}]\nmodels = [{}]\n",
            regions.join(", "),
            models.join(", ")
        ));
    }
    s
}

#[test]
fn more_targets_than_allowed_are_refused_once_without_reading_each() {
    let text = targets_text(MAX_TARGETS + 1, 1, 1);
    let p = problems(load_str(
        Path::new("many.toml"),
        &text,
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{:#?}", &p[..p.len().min(3)]);
    assert_eq!(p[0].field, "targets");
    assert!(
        p[0].message.contains("more than the maximum of 5000"),
        "{}",
        p[0]
    );
}

#[test]
fn targets_that_expand_into_too_many_tuples_are_refused() {
    // 60 targets × 10 regions × 100 models = 60,000 tuples.
    let text = targets_text(60, 10, 100);
    const { assert!(60 * 10 * 100 > MAX_TUPLES) };
    let p = problems(load_str(
        Path::new("wide.toml"),
        &text,
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{:#?}", &p[..p.len().min(3)]);
    assert_eq!(p[0].field, "targets");
    assert!(p[0].message.contains("60000"), "{}", p[0]);
    // Well below the bound is fine.
    let text = targets_text(6, 10, 100);
    let c =
        load_str(Path::new("wide.toml"), &text, Format::Toml, Vec::new()).expect("6,000 tuples");
    assert_eq!(c.tuples().len(), 6000);
}

#[test]
fn a_yaml_alias_bomb_is_refused_at_the_line_that_crosses_the_limit() {
    let p = problems(load_with_env(
        &fixture("bad-yaml-alias-bomb.yaml"),
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, Some(7), "{}", p[0]);
    assert!(
        p[0].message
            .contains(&format!("more than {MAX_YAML_NODES} nodes")),
        "{}",
        p[0]
    );
}

#[test]
fn deeply_nested_yaml_is_refused_at_the_first_level_too_many() {
    let p = problems(load_with_env(
        &fixture("bad-yaml-depth-bomb.yaml"),
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, Some(5), "{}", p[0]);
    assert!(
        p[0].message
            .contains(&format!("more than {MAX_DEPTH} levels")),
        "{}",
        p[0]
    );
    // Nested maps, indented as an editor would.
    let mut maps = String::new();
    for i in 0..200 {
        maps.push_str(&" ".repeat(i));
        maps.push_str("k:\n");
    }
    let p = problems(load_str(
        Path::new("maps.yaml"),
        &maps,
        Format::Yaml,
        Vec::new(),
    ));
    assert_eq!(p[0].line, Some(MAX_DEPTH + 1), "{}", p[0]);
}

#[test]
fn deeply_nested_toml_is_refused_with_its_line() {
    let text = format!(
        "[probe]\ninterval = \"5m\"\nx = {}1{}\n",
        "[".repeat(40),
        "]".repeat(40)
    );
    let p = problems(load_str(
        Path::new("deep.toml"),
        &text,
        Format::Toml,
        Vec::new(),
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, Some(3), "{}", p[0]);
    assert!(p[0].message.contains("levels deep"), "{}", p[0]);
}

#[test]
fn a_file_larger_than_the_bound_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.toml");
    let mut text = String::from("# padding\n");
    while text.len() <= MAX_FILE_BYTES {
        text.push_str(&"#".repeat(1023));
        text.push('\n');
    }
    std::fs::write(&path, &text).expect("write");
    let p = problems(load_with_env(&path, Vec::new()));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].message.contains("larger than 4 MiB"), "{}", p[0]);
    let p = problems(load_str(&path, &text, Format::Yaml, Vec::new()));
    assert!(p[0].message.contains("larger than 4 MiB"), "{}", p[0]);
}

#[test]
fn only_a_regular_file_is_read_as_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = problems(load(dir.path()));
    assert!(
        p[0].message.contains("is a directory, not a regular file"),
        "{}",
        p[0]
    );
    let p = problems(load(Path::new("/dev/zero")));
    assert!(p[0].message.contains("is a device"), "{}", p[0]);
    let fifo = dir.path().join("config.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let p = problems(load(&fifo));
    assert!(p[0].message.contains("a FIFO (named pipe)"), "{}", p[0]);
    // Through a symbolic link too.
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&fifo, &link).expect("symlink");
    let p = problems(load(&link));
    assert!(p[0].message.contains("a FIFO (named pipe)"), "{}", p[0]);
}
