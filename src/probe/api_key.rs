//! A source that authenticates with an Amazon Bedrock API key: the key is read (from the
//! environment variable or file the configuration names) once per target and region per round,
//! in place of the `credentials` and `assume_role` layers, which do not apply to it (no STS
//! call, no series). The Bedrock layers then call with it as a bearer token.
//!
//! What the key tells without calling AWS:
//! * its kind, by AWS's two forms: a long-term key is `ABSK` + base64(`<alias>:<secret>`), the
//!   alias being `<IAM user>-at-<account>`; a short-term key is `bedrock-api-key-` + base64 of a
//!   SigV4 presigned URL for `bedrock:CallWithBearerToken` + `&Version=1` (what AWS's
//!   `aws-bedrock-token-generator` libraries produce);
//! * its expiry: a short-term key's presigned URL carries it (`X-Amz-Date` + `X-Amz-Expires`,
//!   at most 12 hours; the session that signed it may end sooner); a long-term key's is not in
//!   the key, so it is the configuration's `api_key_expires` (IAM's
//!   `ListServiceSpecificCredentials` would tell, but an API key cannot call IAM);
//! * its account (a long-term key's alias), used as the `account_id` label when the source has
//!   no `expected_account`.
//!
//! The expiry is exported as `bedrock_access_exporter_source_credentials_expiry_timestamp_seconds`
//! `{source, kind}`. AWS answers an expired key like any key it does not accept ("Authentication
//! failed: Please make sure your API Key is valid."): a refusal after the expiry the exporter
//! knows is reported as `expired_credentials`.
//!
//! The key is a secret: it is never logged, printed or exported; AWS messages are redacted of it.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::{GaugeVec, Opts, Registry};

use super::auth::Auth;
use super::aws::{local_failure, redact};
use super::bearer_key::CALL_WORD;
pub use super::bearer_key::{BearerKey, KeyKind, MAX_KEY_BYTES, SHORT_TERM_MAX};
use super::{Failure, GateOutcome, LayerResult, LayerStatus};
use crate::config::{ApiKey, ApiKeyFrom, Source, Target};
use crate::reason::{Layer, Reason};

/// Reads the key of `source` from where the configuration says.
pub fn read(source: &str, key: &ApiKey) -> Result<BearerKey, Failure> {
    let text = match &key.from {
        ApiKeyFrom::Env(var) => match std::env::var_os(var) {
            None => {
                return Err(local_failure(
                    Reason::NoCredentials,
                    &format!(
                        "the environment variable {var} (api_key_env of source {source:?}) is not set"
                    ),
                ));
            }
            Some(v) => v.into_string().map_err(|_| {
                local_failure(
                    Reason::InvalidCredentials,
                    &format!(
                        "the environment variable {var} does not hold a Bedrock API key (not UTF-8)"
                    ),
                )
            })?,
        },
        ApiKeyFrom::File(path) => read_file(source, path)?,
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(local_failure(
            Reason::NoCredentials,
            &format!(
                "{} (the API key of source {source:?}) is empty",
                key.from.describe()
            ),
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(local_failure(
            Reason::InvalidCredentials,
            &format!(
                "{} does not hold a Bedrock API key (it has spaces or characters a header cannot carry)",
                key.from.describe()
            ),
        ));
    }
    Ok(BearerKey::parse(text.to_string(), key.expires))
}

fn read_file(source: &str, path: &std::path::Path) -> Result<String, Failure> {
    use std::io::Read as _;
    let fail = |why: String| {
        local_failure(
            Reason::NoCredentials,
            &format!(
                "the API key file {} of source {source:?} {why}",
                path.display()
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("does not exist".into()),
        std::io::ErrorKind::PermissionDenied => fail("cannot be read: permission denied".into()),
        _ => fail(format!("cannot be read: {e}")),
    })?;
    let mut text = String::new();
    let read = file
        .take(MAX_KEY_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot be read as text: {e}")))?;
    if u64::try_from(read).unwrap_or(u64::MAX) > MAX_KEY_BYTES {
        return Err(fail(format!(
            "is larger than {MAX_KEY_BYTES} bytes: it is not a key"
        )));
    }
    Ok(text)
}

/// The gate of a target whose source has an API key: no layer, the key (or why it cannot be
/// read), and the account label (`expected_account`, else a long-term key's account).
pub(crate) fn gate(source: &Source, key: &ApiKey) -> GateOutcome {
    let read = read(&source.name, key);
    record_expiry(&source.name, read.as_ref().ok());
    let account_id = source
        .expected_account
        .clone()
        .or_else(|| read.as_ref().ok().and_then(|k| k.account.clone()))
        .unwrap_or_default();
    match read {
        Ok(k) => GateOutcome {
            layers: Vec::new(),
            credentials: Some(Auth::Bearer(k)),
            account_id,
            key_failure: None,
        },
        Err(f) => GateOutcome {
            layers: Vec::new(),
            credentials: None,
            account_id,
            key_failure: Some(f),
        },
    }
}

/// The Bedrock layers of a probe whose key could not be read: each enabled one fails with the
/// reading's failure (the paid ones only when this probe runs them).
pub(crate) fn unread_layers(
    source: &Source,
    key: &ApiKey,
    target: &Target,
    model: &str,
    run_invoke: bool,
    failure: &Failure,
) -> Vec<LayerResult> {
    let s = &target.settings;
    let call = format!(
        "read the Bedrock API key from {} source={} {CALL_WORD}{}",
        key.from.describe(),
        source.name,
        KeyKind::Unknown.as_str()
    );
    [
        (Layer::ModelAccess, s.model_access),
        (
            Layer::Invoke,
            run_invoke && s.invoke != crate::config::InvokeMode::None,
        ),
        (Layer::InvokeStream, run_invoke && s.streams(model)),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(layer, _)| LayerResult {
        layer,
        status: LayerStatus::Failed(failure.clone()),
        duration: Duration::ZERO,
        call: call.clone(),
    })
    .collect()
}

/// After the Bedrock layers called with `key`: each call names the source and the key's kind,
/// every message is redacted of the key, and a refusal of a key the exporter knows has expired
/// is `expired_credentials`.
pub(crate) fn annotate(layers: &mut [LayerResult], source: &str, key: &BearerKey, region: &str) {
    for l in layers.iter_mut().filter(|l| l.layer != Layer::Credentials) {
        l.call = format!(
            "{} source={source} {CALL_WORD}{}",
            l.call,
            key.kind.as_str()
        );
        if let LayerStatus::Failed(f) = &mut l.status {
            f.message = redact(&f.message, &[key.secret()]);
            refine(f, key, region, SystemTime::now());
        }
    }
}

/// `invalid_credentials` of a key past its known expiry → `expired_credentials`; a short-term
/// key refused in another region than its own says so.
fn refine(f: &mut Failure, key: &BearerKey, region: &str, now: SystemTime) {
    if !matches!(
        f.reason,
        Reason::InvalidCredentials | Reason::ExpiredCredentials
    ) {
        return;
    }
    if let Some(expired) = key.expires.filter(|e| *e <= now) {
        let by = match key.kind {
            KeyKind::ShortTerm => "its presigned URL",
            _ => "api_key_expires",
        };
        f.reason = Reason::ExpiredCredentials;
        f.message.push_str(&format!(
            " (the {} expired at {}, per {by})",
            key.kind.describe(),
            humantime::format_rfc3339_seconds(expired)
        ));
        return;
    }
    if let Some(own) = key.region.as_deref().filter(|r| *r != region) {
        f.message.push_str(&format!(
            " (this short-term key was generated for {own}; it is accepted in that region only)"
        ));
    }
}

/// The expiry gauge: (source → kind exported) beside the family, to drop a source's series.
struct Expiries {
    gauge: GaugeVec,
    exported: Mutex<HashMap<String, KeyKind>>,
}

static EXPIRIES: LazyLock<Option<Expiries>> = LazyLock::new(|| {
    let gauge = GaugeVec::new(
        Opts::new(
            "bedrock_access_exporter_source_credentials_expiry_timestamp_seconds",
            "Unix time a source's Bedrock API key expires, as the last probe round read it (a short-term key's presigned URL; a long-term key's api_key_expires). Absent when unknown.",
        ),
        &["source", "kind"],
    )
    .ok()?;
    Some(Expiries {
        gauge,
        exported: Mutex::new(HashMap::new()),
    })
});

/// Registers the expiry gauge into the exporter's registry.
pub fn register(registry: &Registry) -> Result<(), prometheus::Error> {
    match EXPIRIES.as_ref() {
        Some(e) => registry.register(Box::new(e.gauge.clone())),
        None => Ok(()),
    }
}

fn record_expiry(source: &str, key: Option<&BearerKey>) {
    let Some(e) = EXPIRIES.as_ref() else { return };
    let mut exported = match e.exported.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(old) = exported.remove(source) {
        let _ = e.gauge.remove_label_values(&[source, old.as_str()]);
    }
    let Some((key, at)) = key.and_then(|k| Some((k, k.expires?))) else {
        return;
    };
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    e.gauge
        .with_label_values(&[source, key.kind.as_str()])
        .set(secs);
    exported.insert(source.to_string(), key.kind);
}

/// Drops the expiry series of every source not in `keep` (a reload removed it, or it no
/// longer has an API key).
pub fn retain(keep: &[&str]) {
    let Some(e) = EXPIRIES.as_ref() else { return };
    let mut exported = match e.exported.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    exported.retain(|source, kind| {
        let stays = keep.contains(&source.as_str());
        if !stays {
            let _ = e
                .gauge
                .remove_label_values(&[source.as_str(), kind.as_str()]);
        }
        stays
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(reason: Reason) -> Failure {
        local_failure(
            reason,
            "Authentication failed: Please make sure your API Key is valid.",
        )
    }

    #[test]
    fn a_refusal_after_the_known_expiry_is_an_expired_key_and_before_it_stays_invalid() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut k = BearerKey::for_tests("ABSKeA==");
        k.expires = Some(now - Duration::from_secs(60));
        let mut f = refused(Reason::InvalidCredentials);
        refine(&mut f, &k, "us-east-1", now);
        assert_eq!(f.reason, Reason::ExpiredCredentials);
        assert!(f.message.contains("api_key_expires"), "{}", f.message);
        k.expires = Some(now + Duration::from_secs(60));
        let mut f = refused(Reason::InvalidCredentials);
        refine(&mut f, &k, "us-east-1", now);
        assert_eq!(f.reason, Reason::InvalidCredentials);
        // Other reasons are what AWS said.
        k.expires = Some(now - Duration::from_secs(60));
        let mut f = refused(Reason::ScpDenied);
        refine(&mut f, &k, "us-east-1", now);
        assert_eq!(f.reason, Reason::ScpDenied);
    }

    #[test]
    fn a_short_term_key_refused_in_another_region_says_which_region_it_is_for() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut k = BearerKey::for_tests("bedrock-api-key-x");
        k.region = Some("us-west-2".into());
        let mut f = refused(Reason::InvalidCredentials);
        refine(&mut f, &k, "us-east-1", now);
        assert!(
            f.message.contains("generated for us-west-2"),
            "{}",
            f.message
        );
    }
}
