//! The one HTTP client of the process: every SDK client and the credential chain send their
//! requests through it, so connections to an endpoint are pooled and kept alive across calls,
//! probes and rounds, and TLS sessions are resumed when a new connection is needed.
//!
//! It is the SDK's own connector (`aws-smithy-http-client`: hyper 1.x, rustls with aws-lc),
//! built once with:
//! * **proxies** from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` (upper case first),
//!   exactly as the SDK's default client reads them;
//! * **trust roots**: the system's (the platform store, or `SSL_CERT_FILE` / `SSL_CERT_DIR`
//!   when set, which replace it) plus the certificates of `AWS_CA_BUNDLE`, else of the
//!   selected profile's `ca_bundle`: the variable wins over the profile, as in the other AWS
//!   SDKs and the CLI;
//! * **one connect timeout** ([`CONNECT_TIMEOUT`]) for the whole process.
//!
//! Why not the SDK's default client: it keeps one connection pool per distinct
//! (connect timeout, read timeout) pair it is asked for, and the probes used to ask for a
//! different connect timeout on every call (what was left of the budget), so every call opened
//! a new pool, a new connection and a new TLS handshake. [`ProcessHttpClient`] hands out the
//! same connector whatever the per-call settings say; each call's budget is its operation
//! timeout, which the SDK applies above the connector.
//!
//! Clients are kept process-wide, one per distinct set of extra certificates (normally exactly
//! one), so a reload keeps the warm connections.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Connect timeout of every connection the process opens (TCP, plus a proxy's CONNECT and the
/// TLS handshake): a black-holed endpoint must not eat a whole probe budget.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A CA bundle larger than this is refused (Mozilla's whole bundle is about 220 KB).
pub const MAX_CA_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// Distinct trust sets kept; beyond that the cache starts over (clients in use keep working).
const MAX_CLIENTS: usize = 8;

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// Why a CA bundle adds nothing to the trust roots.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("cannot read CA bundle {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA bundle {path} is larger than {MAX_CA_BUNDLE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("CA bundle {path} holds no usable PEM certificate")]
    NoCertificate { path: PathBuf },
}

/// The certificates of a CA bundle, each checked the way rustls will load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The usable certificates, as PEM blocks.
    pem: Vec<String>,
    /// Blocks that were skipped (not a certificate rustls accepts as a trust anchor).
    pub skipped: usize,
}

impl CaBundle {
    /// How many certificates the bundle adds.
    pub fn len(&self) -> usize {
        self.pem.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pem.is_empty()
    }

    /// Reads and checks `path` (PEM, possibly with comments or other sections between the
    /// certificates). At most [`MAX_CA_BUNDLE_BYTES`].
    pub fn read(path: &Path) -> Result<CaBundle, CaBundleError> {
        let read_err = |source| CaBundleError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_CA_BUNDLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_CA_BUNDLE_BYTES {
            return Err(CaBundleError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let bundle = CaBundle::parse(&String::from_utf8_lossy(&bytes));
        if bundle.is_empty() {
            return Err(CaBundleError::NoCertificate {
                path: path.to_path_buf(),
            });
        }
        Ok(bundle)
    }

    /// The certificate blocks of `text` that rustls accepts as trust anchors. The SDK's
    /// connector panics on a block it cannot load, so nothing unchecked may reach it.
    pub fn parse(text: &str) -> CaBundle {
        let mut bundle = CaBundle {
            pem: Vec::new(),
            skipped: 0,
        };
        let mut rest = text;
        while let Some(start) = rest.find(PEM_BEGIN) {
            let after = &rest[start..];
            let Some(end) = after.find(PEM_END) else {
                bundle.skipped += 1;
                break;
            };
            let block = &after[..end + PEM_END.len()];
            rest = &after[end + PEM_END.len()..];
            if usable_anchor(block) {
                bundle.pem.push(format!("{block}\n"));
            } else {
                bundle.skipped += 1;
            }
        }
        bundle
    }
}

/// Whether `block` is exactly one certificate that rustls takes as a trust anchor.
fn usable_anchor(block: &str) -> bool {
    let mut certs = CertificateDer::pem_slice_iter(block.as_bytes());
    let (Some(Ok(cert)), None) = (certs.next(), certs.next()) else {
        return false;
    };
    rustls::RootCertStore::empty().add(cert).is_ok()
}

/// Where the extra trust roots of a source come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundleSetting {
    /// `AWS_CA_BUNDLE`.
    Env(PathBuf),
    /// `ca_bundle` of the named profile.
    Profile { profile: String, path: PathBuf },
}

impl CaBundleSetting {
    pub fn path(&self) -> &Path {
        match self {
            CaBundleSetting::Env(path) | CaBundleSetting::Profile { path, .. } => path,
        }
    }
}

impl std::fmt::Display for CaBundleSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaBundleSetting::Env(path) => write!(f, "AWS_CA_BUNDLE={}", path.display()),
            CaBundleSetting::Profile { profile, path } => {
                write!(f, "ca_bundle={} (profile {profile})", path.display())
            }
        }
    }
}

/// The CA bundle setting for a source using `profile` (`None`: `AWS_PROFILE`, else
/// `default`): `AWS_CA_BUNDLE` if set and not empty, else the profile's `ca_bundle`. The
/// profile files are those of the SDK (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, or
/// `~/.aws/`).
pub async fn ca_bundle_setting(profile: Option<&str>) -> Option<CaBundleSetting> {
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        return Some(CaBundleSetting::Env(PathBuf::from(path)));
    }
    let profiles = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        profile.map(|p| std::borrow::Cow::Owned(p.to_string())),
    )
    .await
    .ok()?;
    let path = profiles.get("ca_bundle").filter(|p| !p.trim().is_empty())?;
    Some(CaBundleSetting::Profile {
        profile: profiles.selected_profile().to_string(),
        path: PathBuf::from(path.trim()),
    })
}

/// The process's HTTP client for a source using `profile`: with the extra trust roots of its
/// CA bundle setting (see [`ca_bundle_setting`]). A bundle that cannot be used is logged and
/// the system roots alone apply (TLS to an endpoint it should vouch for then fails, and the
/// probes say `network_error`).
pub async fn client_for_profile(profile: Option<&str>) -> SharedHttpClient {
    let Some(setting) = ca_bundle_setting(profile).await else {
        return shared_client(None);
    };
    match CaBundle::read(setting.path()) {
        Ok(bundle) => {
            tracing::info!(
                ca_bundle = %setting,
                certificates = bundle.len(),
                skipped = bundle.skipped,
                "trusting the CA bundle's certificates in addition to the system roots"
            );
            shared_client(Some(&bundle))
        }
        Err(err) => {
            tracing::error!(ca_bundle = %setting, error = %err, "CA bundle not used; only the system roots are trusted");
            shared_client(None)
        }
    }
}

static CLIENTS: LazyLock<Mutex<HashMap<Vec<String>, SharedHttpClient>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The process-wide client trusting the system roots plus `extra` (built on first use).
pub fn shared_client(extra: Option<&CaBundle>) -> SharedHttpClient {
    let key: Vec<String> = extra.map(|b| b.pem.clone()).unwrap_or_default();
    let mut clients = match CLIENTS.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(client) = clients.get(&key) {
        return client.clone();
    }
    if clients.len() >= MAX_CLIENTS {
        clients.clear();
    }
    let client = SharedHttpClient::new(ProcessHttpClient::new(&key));
    clients.insert(key, client.clone());
    client
}

/// An [`HttpClient`] with one connector (one connection pool) for every request, whatever
/// timeouts a call's configuration carries.
#[derive(Debug)]
pub struct ProcessHttpClient {
    connector: SharedHttpConnector,
}

impl ProcessHttpClient {
    /// Builds the connector: system roots plus the `extra_pem` certificates (each already
    /// checked by [`CaBundle::parse`]), proxies from the environment, [`CONNECT_TIMEOUT`].
    fn new(extra_pem: &[String]) -> ProcessHttpClient {
        let mut trust = TrustStore::default();
        for pem in extra_pem {
            trust.add_pem_certificate(pem.as_bytes());
        }
        let tls_context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .unwrap_or_default();
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build();
        let connector: Connector = Connector::builder()
            .connector_settings(settings)
            .proxy_config(ProxyConfig::from_env())
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(tls_context)
            .build();
        ProcessHttpClient {
            connector: SharedHttpConnector::new(connector),
        }
    }
}

impl HttpClient for ProcessHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector.clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new(
            "hyper",
            Some(std::borrow::Cow::Borrowed("1.x")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_a_certificate_adds_nothing_and_does_not_reach_the_tls_layer() {
        let text = format!(
            "# comment\n{PEM_BEGIN}\nbm90IGEgY2VydGlmaWNhdGU=\n{PEM_END}\n{PEM_BEGIN}\n!!!\n{PEM_END}\n{PEM_BEGIN}\ntruncated"
        );
        let bundle = CaBundle::parse(&text);
        assert!(bundle.is_empty());
        assert_eq!(bundle.skipped, 3);
    }

    #[test]
    fn a_missing_bundle_file_is_an_error_naming_it() {
        let err = CaBundle::read(Path::new("/nonexistent/bundle.pem"));
        let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(text.contains("/nonexistent/bundle.pem"), "{text}");
    }
}
