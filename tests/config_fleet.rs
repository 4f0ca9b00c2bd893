//! Targets that probe one role in many accounts: `role_name` with `accounts = [...]` expands
//! into one tuple per account × region × model, each with its account's role; mistakes name
//! the file, line, target and field (the bad account itself), and `accounts_from` is checked
//! before anything runs.

use std::path::Path;

use bedrock_access_exporter::config::{Config, ConfigError, Format, Problem, load_str};

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str(Path::new("/etc/fleet.toml"), text, Format::Toml, Vec::new())
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Ok(_) => panic!("must be rejected:\n{text}"),
        Err(e) => e.problems,
    }
}

const FLEET: &str = r#"
[[targets]]
name = "fleet"
role_name = "bedrock-prober"
role_path = "/platform/"
external_id = "fleet-external-id"
accounts = ["222222222222", "333333333333", "444444444444"]
regions = ["us-east-1", "eu-west-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]

[[targets]]
name = "solo"
role_arn = "arn:aws:iam::555555555555:role/bedrock-prober"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

#[test]
fn a_many_account_target_expands_to_each_accounts_role() {
    let c = load(FLEET).expect("valid");
    let tuples = c.tuples();
    assert_eq!(tuples.len(), 3 * 2 + 1);
    let fleet: Vec<_> = tuples.iter().filter(|(k, _)| k.target == "fleet").collect();
    for (key, member) in &fleet {
        assert_eq!(
            member.role_arn.as_deref(),
            Some(format!("arn:aws:iam::{}:role/platform/bedrock-prober", key.account).as_str())
        );
        assert_eq!(member.external_id.as_deref(), Some("fleet-external-id"));
    }
    let accounts: std::collections::BTreeSet<&str> =
        fleet.iter().map(|(k, _)| k.account.as_str()).collect();
    assert_eq!(accounts.len(), 3);
    // A target with one role keeps keys without an account.
    let solo = tuples
        .iter()
        .find(|(k, _)| k.target == "solo")
        .expect("solo");
    assert_eq!(solo.0.account, "");
    // check-config names every account, never the external id.
    let described = c.describe_tuples();
    assert!(
        described.contains("account_id=333333333333 role_name=bedrock-prober"),
        "{described}"
    );
    assert!(!described.contains("fleet-external-id"));
}

#[test]
fn a_bad_account_is_named_with_its_line_target_and_field() {
    let text = FLEET.replace("\"333333333333\"", "\"33333333333\"");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, Some(7));
    assert_eq!(p[0].target.as_deref(), Some("fleet"));
    assert_eq!(p[0].field, "targets[0].accounts[1]");
    assert!(p[0].message.contains("\"33333333333\""), "{}", p[0]);
    let twice = FLEET.replace("\"444444444444\"", "\"222222222222\"");
    let p = problems(&twice);
    assert_eq!(p[0].field, "targets[0].accounts[2]");
    assert!(p[0].message.contains("listed twice"), "{}", p[0]);
}

#[test]
fn a_role_name_needs_accounts_and_a_role_arn_takes_none() {
    let no_accounts = FLEET.replace(
        "accounts = [\"222222222222\", \"333333333333\", \"444444444444\"]\n",
        "",
    );
    let p = problems(&no_accounts);
    assert!(
        p.iter()
            .any(|p| p.field == "targets[0].role_name" && p.message.contains("accounts")),
        "{p:#?}"
    );
    let both = FLEET.replace(
        "name = \"solo\"\n",
        "name = \"solo\"\naccounts = [\"666666666666\"]\n",
    );
    let p = problems(&both);
    assert!(p.iter().any(|p| p.field == "targets[1].accounts"), "{p:#?}");
    let bad_name = FLEET.replace(
        "role_name = \"bedrock-prober\"",
        "role_name = \"bedrock prober\"",
    );
    let p = problems(&bad_name);
    assert_eq!(p[0].field, "targets[0].role_name");
}

#[test]
fn discovery_settings_are_checked_before_anything_runs() {
    let text = r#"
[[targets]]
name = "org"
role_name = "bedrock-prober"
accounts_from = { organization = true, ous = ["ou-ab12-prod0001", "prod"], exclude = ["1234"], refresh = "5s", role_arn = "arn:aws:iam::111111111111:role/org-reader" }
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;
    let p = problems(text);
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"targets[0].accounts_from.ous[1]"),
        "{p:#?}"
    );
    assert!(
        fields.contains(&"targets[0].accounts_from.exclude[0]"),
        "{p:#?}"
    );
    assert!(
        fields.contains(&"targets[0].accounts_from.refresh"),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .all(|p| p.line == Some(5) && p.target.as_deref() == Some("org"))
    );
    let good = text
        .replace(", \"prod\"", "")
        .replace("exclude = [\"1234\"]", "exclude = [\"999999999999\"]")
        .replace("\"5s\"", "\"1h\"");
    let c = load(&good).expect("valid");
    let (t, d) = c.discovering().next().expect("one discovering target");
    assert_eq!(t.name, "org");
    assert_eq!(d.ous, ["ou-ab12-prod0001"]);
    assert_eq!(d.refresh, std::time::Duration::from_secs(3600));
    assert!(c.tuples().is_empty(), "no accounts until discovery answers");
}

#[test]
fn limits_are_read_and_checked() {
    let text = format!("[limits]\nsts_per_second = 50\nbedrock_per_second = 2.5\n{FLEET}");
    let c = load(&text).expect("valid");
    assert_eq!(c.limits.sts_per_second, 50.0);
    assert_eq!(c.limits.bedrock_per_second, 2.5);
    let p = problems(&format!(
        "[limits]\nbedrock_per_second = 0\nburst = 3\n{FLEET}"
    ));
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"limits.bedrock_per_second"), "{p:#?}");
    assert!(fields.contains(&"limits.burst"), "{p:#?}");
}

/// A many-account target written with 1,000 accounts, 5 regions and 11 models.
fn wide(accounts: usize) -> String {
    let accounts: Vec<String> = (0..accounts)
        .map(|i| format!("\"{:012}\"", 200_000_000_000u64 + i as u64))
        .collect();
    let models: Vec<String> = (0..11).map(|i| format!("\"vendor.model-{i}\"")).collect();
    format!(
        "[[targets]]\nname = \"wide\"\nrole_name = \"prober\"\naccounts = [{}]\nregions = [\"us-east-1\", \"us-east-2\", \"us-west-2\", \"eu-west-1\", \"eu-central-1\"]\nmodels = [{}]\n",
        accounts.join(", "),
        models.join(", ")
    )
}

#[test]
fn written_accounts_count_toward_the_tuple_bound() {
    // 1,000 accounts × 5 regions × 11 models = 55,000 tuples: one target, but over 50,000.
    let p = problems(&wide(1_000));
    assert!(
        p.iter().any(|p| p.field == "targets"
            && p.message.contains("55000")
            && p.message.contains("50000")),
        "{p:?}"
    );
    // 900 accounts (49,500 tuples) are within it.
    let c = load(&wide(900)).expect("within the bound");
    assert_eq!(c.tuple_count(), 49_500);
}

#[test]
fn discovered_accounts_are_cut_to_the_tuple_bound() {
    let text = r#"
[[targets]]
name = "fixed"
role_arn = "arn:aws:iam::555555555555:role/bedrock-prober"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-express-v1"]

[[targets]]
name = "org"
role_name = "bedrock-prober"
accounts_from = { organization = true }
regions = ["us-east-1", "eu-west-1"]
models = ["m.a-v1", "m.b-v1", "m.c-v1", "m.d-v1", "m.e-v1"]
"#;
    let c = load(text).expect("valid");
    // Discovery lists 6,000 accounts: 60,000 tuples of 10 each would pass the bound; the 2
    // tuples of "fixed" come first, so 4,999 accounts (49,990 tuples) are kept.
    let found: Vec<String> = (0..6_000)
        .map(|i| format!("{:012}", 300_000_000_000u64 + i as u64))
        .collect();
    let resolved = c.with_discovered(|name| (name == "org").then(|| found.clone()));
    assert_eq!(resolved.tuple_count(), 49_992);
    let org = resolved.target("org").expect("org");
    let kept = &org.fleet().expect("fleet").accounts;
    assert_eq!(kept.len(), 4_999);
    assert_eq!(kept[..], found[..4_999]);
    // A list within the bound is kept whole.
    let few = c.with_discovered(|name| (name == "org").then(|| found[..10].to_vec()));
    assert_eq!(few.tuple_count(), 2 + 100);
}
