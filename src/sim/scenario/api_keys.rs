//! A user's `bedrock_api_keys`: long-term Amazon Bedrock API keys, the IAM service-specific
//! credentials of service `bedrock.amazonaws.com`: a secret, an optional expiry (AWS's
//! `CredentialAgeDays`; none: the key never expires) and a status (`Active`, `Inactive`). The
//! key a client sends is `ABSK` + base64(`<user>-at-<account>:<secret>`), as
//! [`crate::sim::api_keys::long_term_key`] writes it.

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BedrockApiKeyDef {
    secret: String,
    /// RFC 3339; absent: the key never expires.
    #[serde(default)]
    expires: Option<String>,
    /// `Active` (default) or `Inactive` (UpdateServiceSpecificCredential).
    #[serde(default)]
    status: Option<String>,
}

/// One long-term Bedrock API key of a user.
#[derive(Debug, Clone)]
pub struct BedrockApiKey {
    pub secret: String,
    pub expires: Option<DateTime<Utc>>,
    pub active: bool,
}

/// Checks and compiles `users[user].bedrock_api_keys` (AWS allows two per user).
pub(super) fn compile(
    user: usize,
    defs: &[BedrockApiKeyDef],
    problems: &mut Vec<String>,
) -> Vec<BedrockApiKey> {
    if defs.len() > 2 {
        problems.push(format!(
            "users[{user}].bedrock_api_keys: {} keys; IAM allows two per user and service",
            defs.len()
        ));
    }
    let mut out = Vec::new();
    for (j, d) in defs.iter().enumerate() {
        let field = format!("users[{user}].bedrock_api_keys[{j}]");
        if d.secret.is_empty() || !d.secret.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            problems.push(format!(
                "{field}.secret: empty, or not printable characters without ':'"
            ));
        }
        let expires = match d.expires.as_deref().map(DateTime::parse_from_rfc3339) {
            None => None,
            Some(Ok(t)) => Some(t.with_timezone(&Utc)),
            Some(Err(e)) => {
                problems.push(format!("{field}.expires: not an RFC 3339 time: {e}"));
                None
            }
        };
        let active = match d.status.as_deref() {
            None | Some("Active") => true,
            Some("Inactive") => false,
            Some(other) => {
                problems.push(format!(
                    "{field}.status: `{other}` is not Active or Inactive"
                ));
                true
            }
        };
        out.push(BedrockApiKey {
            secret: d.secret.clone(),
            expires,
            active,
        });
    }
    out
}
