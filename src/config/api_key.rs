//! A source that authenticates with an Amazon Bedrock API key (a bearer token) instead of AWS
//! credentials: where the key is read (`api_key_env` or `api_key_file`, never the key itself),
//! the long-term key's expiry (`api_key_expires`), and the rule that a target of such a source
//! assumes no role.
//!
//! The key's value never passes through here: the configuration names where it is, the prober
//! reads it. A key written into the file (`api_key`, or a key's text as `api_key_env` /
//! `api_key_file`) is refused without echoing it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use config::{Map, Value};

use super::ctx::Ctx;
use super::locate::join;
use super::values::get_string;

/// The keys of a `[[sources]]` entry this file reads.
pub const KEYS: [&str; 4] = ["api_key", "api_key_env", "api_key_file", "api_key_expires"];

/// Where a source's API key is read.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiKeyFrom {
    /// An environment variable of the exporter's process (e.g. `AWS_BEARER_TOKEN_BEDROCK`).
    Env(String),
    /// A file (absolute, or relative to the configuration file's directory); read at every
    /// probe round, so a rotated key is used without a reload.
    File(PathBuf),
}

impl fmt::Debug for ApiKeyFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiKeyFrom::Env(v) => write!(f, "env:{v}"),
            ApiKeyFrom::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl ApiKeyFrom {
    /// Where the key is, in words for call descriptions and messages (`$VAR`, a path).
    pub fn describe(&self) -> String {
        match self {
            ApiKeyFrom::Env(v) => format!("${v}"),
            ApiKeyFrom::File(p) => p.display().to_string(),
        }
    }
}

/// A source's Amazon Bedrock API key: where it is read, and the long-term key's expiry when
/// configured (a long-term key does not carry its expiry; a short-term one does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub from: ApiKeyFrom,
    /// `api_key_expires`: when the long-term key expires (its `CredentialAgeDays`).
    pub expires: Option<SystemTime>,
}

/// The prefixes of AWS's key forms: a long-term key (`ABSK…`) and a short-term token
/// (`bedrock-api-key-…`). A value that starts with one is a key, not a name or a path.
const KEY_PREFIXES: [&str; 2] = ["ABSK", "bedrock-api-key-"];

fn looks_like_a_key(s: &str) -> bool {
    KEY_PREFIXES.iter().any(|p| s.trim().starts_with(p))
}

const NO_LITERAL: &str = "never write the API key into the configuration file: put it in an \
     environment variable of the exporter (api_key_env = \"AWS_BEARER_TOKEN_BEDROCK\") or in a \
     file only the exporter may read (api_key_file = \"/etc/bedrock-access-exporter/bedrock-api-key\")";

/// Reads the API key settings of the `[[sources]]` entry `t` at `path` (relative files are
/// resolved against `config_dir`). `None` when the source has none, or they are wrong (reported).
pub fn read(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    config_dir: &Path,
) -> Option<ApiKey> {
    if t.contains_key("api_key") {
        ctx.report(&join(path, "api_key"), None, NO_LITERAL);
    }
    let env = t
        .get("api_key_env")
        .and_then(|v| env_name(ctx, v, &join(path, "api_key_env")));
    let file = t
        .get("api_key_file")
        .and_then(|v| file_path(ctx, v, &join(path, "api_key_file"), config_dir));
    let expires = t
        .get("api_key_expires")
        .and_then(|v| expiry(ctx, v, &join(path, "api_key_expires")));
    let named = t.contains_key("api_key_env") || t.contains_key("api_key_file");
    if t.contains_key("api_key_env") && t.contains_key("api_key_file") {
        ctx.report(
            &join(path, "api_key_file"),
            None,
            "api_key_env is set too: read the key from one place (an environment variable or a file)",
        );
        return None;
    }
    if t.contains_key("api_key_expires") && !named {
        ctx.report(
            &join(path, "api_key_expires"),
            None,
            "is set but the source has no API key (api_key_env or api_key_file)",
        );
    }
    let from = match (env, file) {
        (Some(v), None) => ApiKeyFrom::Env(v),
        (None, Some(p)) => ApiKeyFrom::File(p),
        _ => return None,
    };
    Some(ApiKey { from, expires })
}

/// The name of an environment variable: `[A-Za-z_][A-Za-z0-9_]*`, at most 256 bytes.
fn env_name(ctx: &mut Ctx<'_>, v: &Value, path: &str) -> Option<String> {
    let s = get_string(ctx, v, path, None)?;
    if looks_like_a_key(&s) {
        ctx.report(
            path,
            None,
            format!("holds an API key, not the name of a variable: {NO_LITERAL}"),
        );
        return None;
    }
    let mut chars = s.chars();
    let ok = s.len() <= 256
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        ctx.report(
            path,
            None,
            "is not the name of an environment variable (letters, digits and _, not starting with a digit)",
        );
        return None;
    }
    Some(s)
}

fn file_path(ctx: &mut Ctx<'_>, v: &Value, path: &str, config_dir: &Path) -> Option<PathBuf> {
    let s = get_string(ctx, v, path, None)?;
    if looks_like_a_key(&s) {
        ctx.report(
            path,
            None,
            format!("holds an API key, not a path: {NO_LITERAL}"),
        );
        return None;
    }
    if s.trim().is_empty() {
        ctx.report(
            path,
            None,
            "is empty: give the path of the file that holds the key",
        );
        return None;
    }
    let p = PathBuf::from(s);
    Some(if p.is_absolute() {
        p
    } else {
        config_dir.join(p)
    })
}

/// `api_key_expires`: an RFC 3339 time (`2026-12-31T00:00:00Z`) or a date (`2026-12-31`,
/// midnight UTC).
fn expiry(ctx: &mut Ctx<'_>, v: &Value, path: &str) -> Option<SystemTime> {
    let s = get_string(ctx, v, path, None)?;
    let s = s.trim();
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    match humantime::parse_rfc3339_weak(&full) {
        Ok(t) => Some(t),
        Err(_) => {
            ctx.report(
                path,
                None,
                format!(
                    "{s:?} is not a date (2026-12-31) or an RFC 3339 time (2026-12-31T00:00:00Z)"
                ),
            );
            None
        }
    }
}

/// A target whose source authenticates with an API key assumes no role: the key calls Bedrock
/// as its own IAM identity.
pub fn check_target(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    target: Option<&str>,
    source: Option<&str>,
    key_sources: &[&str],
) {
    let Some(source) = source.filter(|s| key_sources.contains(s)) else {
        return;
    };
    // Every way of naming a role to assume (one role, or one per account of a fleet).
    for key in ["role_arn", "role_name", "accounts", "accounts_from"] {
        if !t.contains_key(key) {
            continue;
        }
        ctx.report(
            &join(path, key),
            target,
            format!(
                "source {source:?} authenticates with a Bedrock API key, which calls Bedrock as \
                 the key's own IAM identity and cannot assume a role: remove {key} (the key's \
                 account is probed), or probe from a source with AWS credentials"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_aws_keys_are_recognised_and_names_are_not() {
        assert!(looks_like_a_key("ABSKQmVkcm9ja0FQSUtleS1"));
        assert!(looks_like_a_key(
            " bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"
        ));
        assert!(!looks_like_a_key("AWS_BEARER_TOKEN_BEDROCK"));
        assert!(!looks_like_a_key(
            "/etc/bedrock-access-exporter/bedrock-api-key"
        ));
    }

    #[test]
    fn where_a_key_is_read_is_described_without_the_key() {
        assert_eq!(
            ApiKeyFrom::Env("AWS_BEARER_TOKEN_BEDROCK".into()).describe(),
            "$AWS_BEARER_TOKEN_BEDROCK"
        );
        assert_eq!(
            format!("{:?}", ApiKeyFrom::File("/run/key".into())),
            "file:/run/key"
        );
    }
}
