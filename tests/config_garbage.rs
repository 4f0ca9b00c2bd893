//! Whatever bytes end up in the configuration file (a truncated copy, an editor accident, the
//! wrong file), loading reports problems and never panics.

use std::path::Path;

use bedrock_access_exporter::config::{Format, load_str, load_with_env};
use proptest::prelude::*;

const GOOD_TOML: &str = include_str!("fixtures/config/good.toml");
const GOOD_YAML: &str = include_str!("fixtures/config/good.yaml");

fn check(text: &str, format: Format) {
    let path = Path::new("fuzz.conf");
    if let Err(e) = load_str(path, text, format, Vec::new()) {
        assert!(!e.problems.is_empty(), "an error without problems");
        for p in &e.problems {
            let shown = p.to_string();
            assert!(shown.starts_with("fuzz.conf"), "{shown}");
            assert!(!p.message.is_empty(), "{shown}");
        }
    }
}

/// Cuts `text` at a char boundary near `at` and splices `insert` in place of `len` bytes.
fn splice(text: &str, at: usize, len: usize, insert: &str) -> String {
    let mut start = at % (text.len() + 1);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}{}", &text[..start], insert, &text[end..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_never_panics_as_toml_or_yaml(text in any::<String>()) {
        check(&text, Format::Toml);
        check(&text, Format::Yaml);
    }

    #[test]
    fn a_damaged_copy_of_a_good_file_never_panics(
        at in 0usize..2000,
        len in 0usize..40,
        insert in "[\\[\\]{}=:,\"'#\\- \\na-z0-9]{0,12}",
    ) {
        check(&splice(GOOD_TOML, at, len, &insert), Format::Toml);
        check(&splice(GOOD_YAML, at, len, &insert), Format::Yaml);
    }

    #[test]
    fn random_bytes_in_the_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Err(e) = load_with_env(&path, Vec::new()) {
            prop_assert!(!e.problems.is_empty());
        }
    }
}

#[test]
fn deeply_nested_yaml_is_rejected_without_a_stack_overflow() {
    let text = format!("targets: {}{}", "[".repeat(5000), "]".repeat(5000));
    check(&text, Format::Yaml);
    let text = format!("targets = {}{}", "[".repeat(5000), "]".repeat(5000));
    check(&text, Format::Toml);
}
