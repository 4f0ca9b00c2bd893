//! The extra trust roots of a source, as the other AWS SDKs and the CLI take them:
//! `AWS_CA_BUNDLE`, else `ca_bundle` in the selected profile (the variable wins over the
//! profile). The bundle's certificates are added to the system's trust roots (the platform
//! store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, which replace it), never instead of
//! them. Every certificate is checked the way rustls will load it before it reaches the SDK's
//! connector, which would panic on one it cannot parse.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A CA bundle larger than this is refused (Mozilla's whole bundle is about 220 KB).
pub const MAX_CA_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

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
    pub(super) pem: Vec<String>,
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
