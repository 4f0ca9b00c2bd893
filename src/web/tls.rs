//! `tls_server_config` → a rustls `ServerConfig` on the aws-lc-rs provider: the certificate and
//! key (from files or inline), the protocol versions, TLS 1.2 suites and curves, and the client
//! certificate policy — webpki verification against the client CA, "any certificate" for the
//! toolkit's unverified policies, and `client_allowed_sans` on top. HTTP/1.1 is the only
//! application protocol offered (ALPN).

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite,
};

use super::file::{Pem, PemSource, Problem, TlsSettings, read_bounded};
use super::names::{ClientAuth, TlsVersion};

/// Builds the server configuration, reading the certificate, key and CA files now.
pub fn server_config(t: &TlsSettings) -> Result<Arc<ServerConfig>, Problem> {
    let provider = Arc::new(provider(t));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| (t.min_version..=t.max_version).contains(v))
            .map(TlsVersion::rustls)
            .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| {
            Problem::new(
                None,
                "tls_server_config.cipher_suites",
                format!("no usable cipher suite for the TLS versions allowed: {e}"),
            )
        })?;
    let verifier = client_verifier(t, &provider)?;
    let chain = certificates(&t.cert)?;
    let key = private_key(&t.key)?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            problem(
                &t.key,
                format!(
                    "cannot be used with the certificate in {}: {e}",
                    t.cert.field
                ),
            )
        })?;
    config.ignore_client_order = t.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// aws-lc-rs with the configured TLS 1.2 suites (TLS 1.3's stay, as in Go) and curves.
fn provider(t: &TlsSettings) -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .collect();
        for s in &t.cipher_suites {
            if !suites.contains(s) {
                suites.push(*s);
            }
        }
        provider.cipher_suites = suites;
    }
    if !t.curves.is_empty() {
        provider.kx_groups = t.curves.clone();
    }
    provider
}

fn client_verifier(
    t: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Problem> {
    let algorithms = provider.signature_verification_algorithms;
    let base: Arc<dyn ClientCertVerifier> = match t.client_auth {
        ClientAuth::NoClientCert => return Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => Arc::new(AnyCert {
            mandatory: t.client_auth.requires(),
            algorithms,
        }),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let Some(ca) = &t.client_ca else {
                return Err(Problem::new(
                    None,
                    "tls_server_config.client_ca_file",
                    "required to verify client certificates",
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| problem(ca, format!("not a usable CA certificate: {e}")))?;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            if !t.client_auth.requires() {
                builder = builder.allow_unauthenticated();
            }
            builder
                .build()
                .map_err(|e| problem(ca, format!("cannot verify clients with it: {e}")))?
        }
    };
    if t.allowed_sans.is_empty() {
        return Ok(base);
    }
    Ok(Arc::new(AllowedSans {
        inner: base,
        allowed: t.allowed_sans.clone(),
    }))
}

fn problem(pem: &Pem, message: String) -> Problem {
    let what = match &pem.source {
        PemSource::File(p) => format!("{}: {message}", p.display()),
        PemSource::Inline(_) => message,
    };
    Problem::new(
        Some(pem.line),
        format!("tls_server_config.{}", pem.field),
        what,
    )
}

fn pem_bytes(pem: &Pem) -> Result<Vec<u8>, Problem> {
    match &pem.source {
        PemSource::File(path) => {
            read_bounded(path).map_err(|e| problem(pem, format!("cannot read the file: {e}")))
        }
        PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
    }
}

/// Every certificate of a PEM file or text (at least one).
pub fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let bytes = pem_bytes(pem)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(pem, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(problem(pem, "no PEM certificate found".into()));
    }
    Ok(certs)
}

fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, Problem> {
    let bytes = pem_bytes(pem)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        problem(
            pem,
            "no PEM private key found (PKCS#8, PKCS#1 or SEC1)".into(),
        )
    })
}

/// The toolkit's `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked for
/// (and required by the latter) but not checked against any CA. Its handshake signature is still
/// verified, so the client holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after `inner` accepted the certificate, one of its subject alternative
/// names must be in the list (DNS names compared without case, IP addresses and URIs exactly).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl AllowedSans {
    fn matches(&self, end_entity: &CertificateDer<'_>) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|want| match want.parse::<IpAddr>() {
                Ok(ip) => cert
                    .verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
                    .is_ok(),
                Err(_) => {
                    cert.valid_dns_names().any(|n| n.eq_ignore_ascii_case(want))
                        || cert.valid_uri_names().any(|u| u == want)
                }
            })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.matches(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
