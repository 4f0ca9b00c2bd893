//! The two forms of an Amazon Bedrock API key and what each tells without calling AWS: a
//! long-term key is `ABSK` + base64(`<alias>:<secret>`), the alias being
//! `<IAM user>-at-<account>`; a short-term key is `bedrock-api-key-` + base64 of a SigV4
//! presigned URL for `bedrock:CallWithBearerToken` + `&Version=1` (what AWS's
//! `aws-bedrock-token-generator` libraries produce), whose query carries its region and expiry.
//! [`BearerKey`] holds a key as read; its `Debug` never shows the key.

use std::time::{Duration, SystemTime};

use base64::Engine as _;

/// Largest key file read: a short-term key with a session token is about 2 KiB.
pub const MAX_KEY_BYTES: u64 = 16 * 1024;
/// The longest a short-term key lives (AWS: 12 hours).
pub const SHORT_TERM_MAX: Duration = Duration::from_secs(12 * 3600);

const LONG_TERM_PREFIX: &str = "ABSK";
const SHORT_TERM_PREFIX: &str = "bedrock-api-key-";
const TOKEN_VERSION: &str = "&Version=1";

/// Which of AWS's two forms a key has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `ABSK…`: an IAM user's service-specific credential for Bedrock.
    LongTerm,
    /// `bedrock-api-key-…`: a presigned URL of some principal's credentials, at most 12 hours.
    ShortTerm,
    /// Neither form (or not read): AWS will say what it makes of it.
    Unknown,
}

/// The word of a Bedrock layer's call description that names an API key (`api_key=<kind>`).
pub(crate) const CALL_WORD: &str = "api_key=";

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "long_term",
            KeyKind::ShortTerm => "short_term",
            KeyKind::Unknown => "unknown",
        }
    }

    /// The kind of a key's text, by its prefix.
    pub fn of_key(key: &str) -> KeyKind {
        if key.starts_with(LONG_TERM_PREFIX) {
            KeyKind::LongTerm
        } else if key.starts_with(SHORT_TERM_PREFIX) {
            KeyKind::ShortTerm
        } else {
            KeyKind::Unknown
        }
    }

    /// The API key a layer's call description names (`… api_key=long_term`), if any.
    pub fn of_call(call: &str) -> Option<KeyKind> {
        let word = call
            .split_whitespace()
            .find_map(|w| w.strip_prefix(CALL_WORD))?;
        [KeyKind::LongTerm, KeyKind::ShortTerm, KeyKind::Unknown]
            .into_iter()
            .find(|k| k.as_str() == word)
    }

    /// How the source authenticates, in words (status page, `diagnose`).
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "Bedrock API key (long-term)",
            KeyKind::ShortTerm => "Bedrock API key (short-term)",
            KeyKind::Unknown => "Bedrock API key",
        }
    }
}

/// An API key as read for one round. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct BearerKey {
    token: String,
    pub kind: KeyKind,
    /// When the key expires, when known (see the module's documentation).
    pub expires: Option<SystemTime>,
    /// The account of a long-term key (its alias names it).
    pub account: Option<String>,
    /// The region a short-term key was generated for (its signature's scope).
    pub region: Option<String>,
}

impl std::fmt::Debug for BearerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerKey")
            .field("token", &"** redacted **")
            .field("kind", &self.kind)
            .field("expires", &self.expires)
            .finish()
    }
}

impl BearerKey {
    /// The key for the SDK's bearer scheme. The SDK is given no expiry: an expired key is still
    /// sent, so that AWS's answer to it is what the probe reports.
    pub fn token(&self) -> aws_smithy_runtime_api::client::identity::http::Token {
        aws_smithy_runtime_api::client::identity::http::Token::new(self.token.clone(), None)
    }

    /// The key's text, to redact it from messages.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// A key of `text` (tests).
    pub fn for_tests(text: &str) -> BearerKey {
        BearerKey::parse(text.to_string(), None)
    }

    /// What the key's text tells (kind, expiry, account, region); `configured` is
    /// `api_key_expires`.
    pub fn parse(token: String, configured: Option<SystemTime>) -> BearerKey {
        let kind = KeyKind::of_key(&token);
        let mut key = BearerKey {
            kind,
            expires: None,
            account: None,
            region: None,
            token,
        };
        match kind {
            KeyKind::LongTerm => {
                key.account = long_term_account(&key.token);
                key.expires = configured;
            }
            KeyKind::ShortTerm => {
                if let Some(p) = presigned(&key.token) {
                    key.expires = p.expires;
                    key.region = p.region;
                }
            }
            KeyKind::Unknown => key.expires = configured,
        }
        key
    }
}

fn b64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim_end_matches('\n'))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The account in a long-term key's alias (`<user>-at-<account>:<secret>`).
fn long_term_account(token: &str) -> Option<String> {
    let decoded = b64(token.strip_prefix(LONG_TERM_PREFIX)?)?;
    let (alias, _secret) = decoded.split_once(':')?;
    let account = alias.rsplit_once("-at-")?.1;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_string())
}

/// What a short-term key's presigned URL says.
struct Presigned {
    expires: Option<SystemTime>,
    region: Option<String>,
}

fn presigned(token: &str) -> Option<Presigned> {
    let url = b64(token.strip_prefix(SHORT_TERM_PREFIX)?)?;
    let url = url.strip_suffix(TOKEN_VERSION).unwrap_or(&url);
    let query = url.split_once('?')?.1;
    let (mut date, mut seconds, mut region) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "X-Amz-Date" => date = parse_amz_date(&v),
            "X-Amz-Expires" => seconds = v.parse::<u64>().ok(),
            "X-Amz-Credential" => region = v.split('/').nth(2).map(str::to_string),
            _ => {}
        }
    }
    let expires = match (date, seconds) {
        (Some(d), Some(s)) => d.checked_add(Duration::from_secs(s)),
        _ => None,
    };
    Some(Presigned { expires, region })
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64e(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn a_long_term_key_names_its_account_and_takes_the_configured_expiry() {
        let key = format!(
            "ABSK{}",
            b64e("BedrockAPIKey-bn4g-at-992382708377:c2VjcmV0")
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let k = BearerKey::parse(key, Some(at));
        assert_eq!(k.kind, KeyKind::LongTerm);
        assert_eq!(k.account.as_deref(), Some("992382708377"));
        assert_eq!(k.expires, Some(at));
        assert!(!format!("{k:?}").contains("ABSK"));
    }

    #[test]
    fn a_short_term_key_carries_its_expiry_and_region_in_its_presigned_url() {
        let url = "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-west-2%2Fbedrock%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=43200&X-Amz-SignedHeaders=host&X-Amz-Signature=00&Version=1";
        let k = BearerKey::parse(format!("bedrock-api-key-{}", b64e(url)), None);
        assert_eq!(k.kind, KeyKind::ShortTerm);
        assert_eq!(k.region.as_deref(), Some("us-west-2"));
        let want = parse_amz_date("20260101T120000Z");
        assert_eq!(k.expires, want);
        // Garbage after the prefix: the kind stands, nothing else is known.
        let k = BearerKey::parse("bedrock-api-key-@@@".into(), None);
        assert_eq!((k.kind, k.expires), (KeyKind::ShortTerm, None));
    }

    #[test]
    fn the_call_description_names_the_key_kind_and_nothing_else_reads_as_it() {
        let call =
            "bedrock-runtime:Converse m region=us-east-1 maxTokens=1 source=k api_key=short_term";
        assert_eq!(KeyKind::of_call(call), Some(KeyKind::ShortTerm));
        assert_eq!(KeyKind::of_call("bedrock-runtime:Converse m"), None);
        assert_eq!(KeyKind::of_call("x api_key=forever"), None);
    }
}
