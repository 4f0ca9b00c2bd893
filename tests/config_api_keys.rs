//! An operator configuring a source with a Bedrock API key: the key is read from an environment
//! variable or a file, never written into the configuration; a key pasted where its name or
//! path belongs is refused without being echoed; a target of such a source assumes no role;
//! `api_key_expires` must be a date; `check-config` lists the tuple as `auth=api_key`.

use std::path::Path;

use bedrock_access_exporter::config::{ApiKeyFrom, ConfigError, Format, Problem, load_str};

const TARGET: &str = r#"
[[targets]]
name = "with-a-key"
source = "keys"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

/// A long-term key's shape (a made-up one).
const KEY: &str = "ABSKQmVkcm9ja0FQSUtleS1vay1hdC0xMTExMTExMTExMTE6c2VjcmV0";

fn load(
    source: &str,
    target: &str,
) -> Result<bedrock_access_exporter::config::Config, ConfigError> {
    let text = format!("[[sources]]\nname = \"keys\"\n{source}\n{target}");
    load_str(
        Path::new("/etc/bedrock-access-exporter/config.toml"),
        &text,
        Format::Toml,
        Vec::new(),
    )
}

fn problems(source: &str, target: &str) -> Vec<Problem> {
    match load(source, target) {
        Ok(_) => panic!("must be rejected:\n{source}\n{target}"),
        Err(e) => e.problems,
    }
}

fn only(source: &str, target: &str, field_ends: &str, says: &str) -> Problem {
    let ps = problems(source, target);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let p = ps.into_iter().next().expect("one");
    assert!(p.field.ends_with(field_ends), "field {:?}: {p}", p.field);
    assert!(p.message.contains(says), "{p}");
    assert!(
        !p.message.contains(KEY) && !p.to_string().contains(KEY),
        "the key echoed: {p}"
    );
    p
}

#[test]
fn a_key_read_from_a_variable_or_a_file_next_to_the_configuration_is_accepted() {
    let c = load("api_key_env = \"AWS_BEARER_TOKEN_BEDROCK\"", TARGET).expect("valid");
    let key = c
        .sources
        .iter()
        .find(|s| s.name == "keys")
        .and_then(|s| s.api_key.clone());
    assert_eq!(
        key.map(|k| k.from),
        Some(ApiKeyFrom::Env("AWS_BEARER_TOKEN_BEDROCK".into()))
    );
    let c = load(
        "api_key_file = \"keys/bedrock.key\"\napi_key_expires = \"2026-12-31\"",
        TARGET,
    )
    .expect("valid");
    let key = c
        .sources
        .iter()
        .find(|s| s.name == "keys")
        .and_then(|s| s.api_key.clone())
        .expect("a key");
    assert_eq!(
        key.from,
        ApiKeyFrom::File("/etc/bedrock-access-exporter/keys/bedrock.key".into())
    );
    assert_eq!(
        key.expires,
        humantime::parse_rfc3339("2026-12-31T00:00:00Z").ok()
    );
    assert!(
        c.describe_tuples().contains(" auth=api_key"),
        "{}",
        c.describe_tuples()
    );
}

#[test]
fn a_key_written_into_the_configuration_is_refused_and_never_echoed() {
    only(
        &format!("api_key = \"{KEY}\""),
        TARGET,
        "api_key",
        "never write the API key",
    );
    only(
        &format!("api_key_env = \"{KEY}\""),
        TARGET,
        "api_key_env",
        "holds an API key, not the name of a variable",
    );
    only(
        "api_key_file = \"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg==\"",
        TARGET,
        "api_key_file",
        "holds an API key, not a path",
    );
}

#[test]
fn a_target_of_a_key_source_may_not_assume_a_role() {
    let target = TARGET.replace(
        "source = \"keys\"",
        "source = \"keys\"\nrole_arn = \"arn:aws:iam::222222222222:role/BedrockProbeRole\"",
    );
    let p = only(
        "api_key_env = \"AWS_BEARER_TOKEN_BEDROCK\"",
        &target,
        "role_arn",
        "cannot assume a role",
    );
    assert_eq!(p.target.as_deref(), Some("with-a-key"));
}

#[test]
fn one_place_for_the_key_a_real_date_and_no_expiry_without_a_key() {
    only(
        "api_key_env = \"K\"\napi_key_file = \"/run/key\"",
        TARGET,
        "api_key_file",
        "read the key from one place",
    );
    only(
        "api_key_env = \"K\"\napi_key_expires = \"next year\"",
        TARGET,
        "api_key_expires",
        "is not a date",
    );
    only(
        "api_key_expires = \"2026-12-31\"",
        TARGET,
        "api_key_expires",
        "has no API key",
    );
    only(
        "api_key_env = \"1BAD-NAME\"",
        TARGET,
        "api_key_env",
        "not the name of an environment variable",
    );
}
