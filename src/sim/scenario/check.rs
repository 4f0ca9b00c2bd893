//! Field checks the scenario's sections share: account ids, region names, and IAM policy lists
//! (each problem names its field, e.g. `users[0].policies[1]`).

use crate::sim::policy::Policy;

pub(super) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_region(s: &str) -> bool {
    // e.g. us-east-1, ap-southeast-2, us-gov-west-1, eu-central-2
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses every policy of a list; those that do not parse become problems of `field[j]`.
pub(super) fn policies(texts: &[String], field: &str, problems: &mut Vec<String>) -> Vec<Policy> {
    let mut out = Vec::new();
    for (j, s) in texts.iter().enumerate() {
        match Policy::parse(s) {
            Ok(pol) => out.push(pol),
            Err(e) => problems.push(format!("{field}[{j}]: {e}")),
        }
    }
    out
}
