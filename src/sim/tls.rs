//! The simulator over HTTPS (`simulate --tls`, `demo --tls`): the server's TLS configuration,
//! either a certificate authority made up at start (rcgen) with a server certificate it signs
//! for the loopback names, or the operator's own certificate and key files.
//!
//! A made-up CA exists only in this process and in the PEM file handed to the clients
//! (`AWS_CA_BUNDLE`, boto3's `verify`, blackbox's `ca_file`); its private key is never written
//! anywhere. The crypto provider is aws-lc, the one the SDK's rustls uses. Only HTTP/1.1 is
//! offered (ALPN), as the simulator's server speaks it; sessions are resumable, so a client
//! that reconnects can skip the full handshake, as it can with AWS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::server::ServerSessionMemoryCache;

/// Names the generated server certificate always covers: the loopback addresses and
/// `localhost`, and one host per service in the style of AWS's (`sts.localhost`,
/// `bedrock-runtime.localhost`, …) for per-service endpoint settings
/// (`AWS_ENDPOINT_URL_STS=https://sts.localhost:4566`, where the system resolves `*.localhost`
/// to loopback). A wildcard such as `*.localhost` would not do: TLS clients refuse a wildcard
/// directly above a top-level name.
pub const DEFAULT_NAMES: [&str; 7] = [
    "localhost",
    "127.0.0.1",
    "::1",
    "sts.localhost",
    "iam.localhost",
    "bedrock.localhost",
    "bedrock-runtime.localhost",
];

/// Extra names accepted for the generated certificate (`--tls.hostname`).
pub const MAX_EXTRA_NAMES: usize = 32;

/// TLS sessions the server remembers for resumption.
const SESSION_CACHE: usize = 4096;

/// Why the simulator cannot serve HTTPS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make up the simulator's certificate authority: {0}")]
    Generate(String),
    #[error("{name:?} cannot be a name of the simulator's certificate: {reason}")]
    Name { name: String, reason: String },
    #[error("at most {MAX_EXTRA_NAMES} extra host names")]
    TooManyNames,
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the TLS configuration is refused: {0}")]
    Config(String),
}

/// The simulator's TLS server side: what a listener wraps every accepted connection in.
#[derive(Clone)]
pub struct SimTls {
    acceptor: TlsAcceptor,
    ca_pem: Option<String>,
    names: Vec<String>,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls")
            .field("generated_ca", &self.ca_pem.is_some())
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl SimTls {
    /// A CA made up now, and a server certificate signed by it for [`DEFAULT_NAMES`] plus
    /// `extra_names` (DNS names or IP addresses).
    pub fn generate(extra_names: &[String]) -> Result<SimTls, TlsError> {
        if extra_names.len() > MAX_EXTRA_NAMES {
            return Err(TlsError::TooManyNames);
        }
        let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| n.to_string()).collect();
        for name in extra_names {
            let name = name.trim().to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(
            DnType::CommonName,
            "bedrock-access-exporter simulator CA (made up at start)",
        );
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(generate)?)
            .map_err(generate)?;
        let mut params = server_params(&names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "bedrock-access-exporter simulator");
        let key = KeyPair::generate().map_err(generate)?;
        let cert = params.signed_by(&key, &ca).map_err(generate)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(SimTls {
            acceptor: acceptor(vec![cert.der().clone()], key_der)?,
            ca_pem: Some(ca.pem()),
            names,
        })
    }

    /// The operator's certificate chain and private key (PEM files).
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<SimTls, TlsError> {
        let read = |path: &Path, reason: String| TlsError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(cert_file)
            .map_err(|e| read(cert_file, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| read(cert_file, e.to_string()))?;
        if chain.is_empty() {
            return Err(read(cert_file, "no PEM certificate in it".into()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key_file).map_err(|e| read(key_file, e.to_string()))?;
        Ok(SimTls {
            acceptor: acceptor(chain, key)?,
            ca_pem: None,
            names: Vec::new(),
        })
    }

    /// The made-up CA's certificate (PEM), which clients must trust; `None` for the
    /// operator's own certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The names the generated certificate covers (empty for the operator's own).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// Whether a failed handshake was the client's refusal: it sent a TLS alert (it does not
/// trust the certificate, the name does not match, no common protocol version…), as opposed
/// to a connection closed or garbled before the handshake finished.
pub(crate) fn refused_by_client(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
        .is_some_and(|e| matches!(e, tokio_rustls::rustls::Error::AlertReceived(_)))
}

/// A server certificate's parameters for `names`, each a DNS name or an IP address.
fn server_params(names: &[String]) -> Result<CertificateParams, TlsError> {
    for name in names {
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(TlsError::Name {
                name: name.clone(),
                reason: "not a DNS name or an IP address".into(),
            });
        }
    }
    let mut params = CertificateParams::new(names.to_vec()).map_err(|e| TlsError::Name {
        name: names.join(","),
        reason: e.to_string(),
    })?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_made_up_ca_covers_the_loopback_names_and_the_extra_ones() {
        let tls = match SimTls::generate(&["Bedrock.Example.Test".into(), "10.0.0.1".into()]) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert!(
            tls.ca_pem()
                .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
        );
        for n in ["localhost", "127.0.0.1", "bedrock.example.test", "10.0.0.1"] {
            assert!(tls.names().iter().any(|x| x == n), "{n}: {:?}", tls.names());
        }
    }

    #[test]
    fn a_name_that_is_neither_a_host_nor_an_address_is_refused() {
        let err = SimTls::generate(&["not a host".into()]).map(|_| ());
        assert!(matches!(err, Err(TlsError::Name { .. })), "{err:?}");
        let many: Vec<String> = (0..=MAX_EXTRA_NAMES)
            .map(|i| format!("h{i}.test"))
            .collect();
        assert!(matches!(
            SimTls::generate(&many).map(|_| ()),
            Err(TlsError::TooManyNames)
        ));
    }
}
