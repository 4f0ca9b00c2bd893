//! A platform team's estate for the fleet tests: a source account (111111111111) whose prober
//! may assume `bedrock-prober` in every member account and list the organization, member
//! accounts with that role, models in two regions, and an AWS Organization with OUs; plus the
//! AWS config file of the source and the simulator's counts.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

pub const SOURCE_ACCOUNT: &str = "111111111111";
pub const MODELS: [&str; 3] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-8b-instruct-v1:0",
];
pub const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];

/// Account number `i` of the estate.
pub fn account(i: usize) -> String {
    format!("{}", 200_000_000_000u64 + i as u64)
}

/// The AWS config file: the prober's key as the default profile.
pub fn write_aws_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("aws-config");
    std::fs::write(
        &p,
        "[default]\naws_access_key_id = AKIAFLEETPROBER00001\naws_secret_access_key = fleetProberSecret000000000000000000000001\nregion = us-east-1\n",
    )
    .expect("write aws config");
    p
}

/// Member accounts with the role (`with_role`), members without it (`without_role`), and an
/// organization section placing `org` accounts: (account index, OU id, state).
pub fn scenario(
    with_role: &[usize],
    without_role: &[usize],
    org: &[(usize, &str, &str)],
) -> String {
    let mut s = String::from("default_grant = \"granted\"\n");
    s.push_str(&format!("[[accounts]]\nid = \"{SOURCE_ACCOUNT}\"\n"));
    for i in with_role.iter().chain(without_role) {
        s.push_str(&format!("[[accounts]]\nid = \"{}\"\n", account(*i)));
    }
    s.push_str(&format!(
        "[[users]]\naccount = \"{SOURCE_ACCOUNT}\"\nname = \"fleet-prober\"\naccess_keys = [{{ id = \"AKIAFLEETPROBER00001\", secret = \"fleetProberSecret000000000000000000000001\" }}]\npolicies = ['{{\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":[\"sts:AssumeRole\",\"organizations:List*\"],\"Resource\":\"*\"}}]}}']\n"
    ));
    for i in with_role {
        s.push_str(&format!(
            "[[roles]]\naccount = \"{}\"\nname = \"bedrock-prober\"\ntrust_policy = '{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{SOURCE_ACCOUNT}:root\"}},\"Action\":\"sts:AssumeRole\"}}]}}'\npolicies = ['{{\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"bedrock:*\",\"Resource\":\"*\"}}]}}']\n",
            account(*i)
        ));
    }
    for (m, provider) in MODELS.iter().zip(["Anthropic", "Amazon", "Meta"]) {
        s.push_str(&format!(
            "[[models]]\nid = \"{m}\"\nprovider = \"{provider}\"\nregions = [\"us-east-1\", \"us-west-2\"]\n"
        ));
    }
    if !org.is_empty() {
        s.push_str(&format!(
            "[organization]\nid = \"o-fleet00001\"\nroot = \"r-fl01\"\nmanagement_account = \"{SOURCE_ACCOUNT}\"\n"
        ));
        for (ou, parent) in [
            ("ou-fl01-prod0001", "r-fl01"),
            ("ou-fl01-devs0001", "r-fl01"),
        ] {
            s.push_str(&format!(
                "[[organization.units]]\nid = \"{ou}\"\nname = \"{ou}\"\nparent = \"{parent}\"\n"
            ));
        }
        for (i, ou, state) in org {
            s.push_str(&format!(
                "[[organization.accounts]]\nid = \"{}\"\nparent = \"{ou}\"\nstate = \"{state}\"\n",
                account(*i)
            ));
        }
    }
    s
}

/// The simulator's counts file, once it has stopped.
pub fn counts(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the simulator wrote its counts");
    serde_json::from_str(&text).expect("counts are JSON")
}

/// Peak calls per second of `account` to the service family `family` (0 when none).
pub fn peak(counts: &Value, account: &str, family: &str) -> u64 {
    counts["accounts"][account][family]["peak_per_second"]
        .as_u64()
        .unwrap_or(0)
}
