//! The `--web.config.file` model, in the Prometheus exporter-toolkit format (the file
//! node_exporter and blackbox_exporter read): `tls_server_config`, `http_server_config`,
//! `basic_auth_users` and `rate_limit`. Reading is strict like the toolkit's (an unknown key is an
//! error), and every problem names the file, the line and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::SupportedCipherSuite;
use rustls::crypto::SupportedKxGroup;

use super::fields::{Fields, scalar};
pub use super::fields::{Problem, WebConfigError};
use super::names::{self, ClientAuth, TlsVersion};
use super::yaml;

/// Largest web configuration, certificate or key file read (bytes).
pub const MAX_FILE: u64 = 1024 * 1024;

/// PEM text from a file or inline in the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl std::fmt::Debug for PemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemSource::File(p) => write!(f, "File({})", p.display()),
            // An inline key is a secret.
            PemSource::Inline(_) => f.write_str("Inline(<set>)"),
        }
    }
}

/// Where a PEM setting came from, for the messages about its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pem {
    pub source: PemSource,
    pub field: &'static str,
    pub line: usize,
}

/// `tls_server_config`, when TLS is on.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    /// `client_allowed_sans`: DNS names, IP addresses or URIs, matched exactly.
    pub allowed_sans: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// Empty: rustls' TLS 1.2 suites.
    pub cipher_suites: Vec<SupportedCipherSuite>,
    pub prefer_server_cipher_suites: bool,
    /// Empty: rustls' default groups.
    pub curves: Vec<&'static dyn SupportedKxGroup>,
}

/// `rate_limit`: a token bucket of `burst` requests, refilled one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

/// A `basic_auth_users` entry: the user and the bcrypt hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub hash: String,
    pub cost: u32,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({}, cost {})", self.name, self.cost)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// `http_server_config.http2`: accepted for compatibility; this server speaks HTTP/1.1.
    pub http2: bool,
    pub headers: Vec<(&'static str, String)>,
    pub users: Vec<User>,
    pub rate_limit: Option<RateLimit>,
}

/// Reads a file of at most [`MAX_FILE`] bytes.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_FILE / 1024
        )));
    }
    Ok(buf)
}

/// Reads and checks `path`; file names inside are relative to its directory.
pub fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
    let bytes = read_bounded(path)
        .map_err(|e| Problem::new(None, "", format!("cannot read the file: {e}")).in_file(path))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Problem::new(None, "", "not UTF-8 text").in_file(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir).map_err(|p| p.in_file(path))
}

/// Parses the text of a web configuration file.
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, Problem> {
    let root = yaml::parse(text).map_err(|e| Problem::new(Some(e.line), "", e.message))?;
    let Some(root) = root else {
        return Ok(WebConfig {
            http2: true,
            ..WebConfig::default()
        });
    };
    let top = Fields::of(&root, "")?;
    top.only(&[
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
        "rate_limit",
    ])?;
    let mut cfg = WebConfig {
        http2: true,
        ..WebConfig::default()
    };
    if let Some(tls) = top.child("tls_server_config")? {
        cfg.tls = tls_settings(&tls, dir)?;
    }
    if let Some(http) = top.child("http_server_config")? {
        http.only(&["http2", "headers"])?;
        cfg.http2 = http.bool("http2")?.unwrap_or(true);
        if let Some(h) = http.child("headers")? {
            cfg.headers = headers(&h)?;
        }
    }
    if let Some(users) = top.child("basic_auth_users")? {
        cfg.users = basic_auth_users(&users)?;
    }
    if let Some(rate) = top.child("rate_limit")? {
        cfg.rate_limit = rate_limit(&rate)?;
    }
    Ok(cfg)
}

fn headers(h: &Fields<'_>) -> Result<Vec<(&'static str, String)>, Problem> {
    let mut out = Vec::new();
    for e in h.entries {
        let field = h.field(&e.key);
        let value = scalar(&e.value, &field)?.unwrap_or_default();
        let name =
            names::header(&e.key, &value).map_err(|m| Problem::new(Some(e.line), &field, m))?;
        if value.is_empty() {
            continue;
        }
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(Problem::new(
                Some(e.line),
                field,
                "not a valid header value (control characters)",
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn basic_auth_users(users: &Fields<'_>) -> Result<Vec<User>, Problem> {
    let mut out = Vec::new();
    for e in users.entries {
        let field = users.field(&e.key);
        if e.key.is_empty() || e.key.contains(':') || e.key.chars().any(char::is_control) {
            return Err(Problem::new(
                Some(e.line),
                field,
                "a user name must be non-empty, without ':' or control characters (basic auth \
                 splits user and password at the first ':')",
            ));
        }
        let hash = scalar(&e.value, &field)?.unwrap_or_default();
        let parts: bcrypt::HashParts = hash.parse().map_err(|err| {
            Problem::new(
                Some(e.line),
                &field,
                format!(
                    "not a bcrypt hash ({err}); write one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                ),
            )
        })?;
        out.push(User {
            name: e.key.clone(),
            hash,
            cost: parts.get_cost(),
        });
    }
    Ok(out)
}

fn rate_limit(rate: &Fields<'_>) -> Result<Option<RateLimit>, Problem> {
    rate.only(&["interval", "burst"])?;
    let interval = match rate.string("interval")? {
        Some((s, line)) => names::go_duration(&s)
            .map_err(|m| Problem::new(Some(line), rate.field("interval"), m))?,
        None => Duration::ZERO,
    };
    let burst = match rate.string("burst")? {
        Some((s, line)) => s.parse::<u32>().map_err(|_| {
            Problem::new(
                Some(line),
                rate.field("burst"),
                format!("expected a whole number of requests, got {s:?}"),
            )
        })?,
        None => 0,
    };
    if interval.is_zero() {
        return Ok(None);
    }
    if burst == 0 {
        return Err(Problem::new(
            rate.line_of("burst").or(Some(rate.line)),
            rate.field("burst"),
            "must be at least 1 when an interval is set (0 would refuse every request)",
        ));
    }
    Ok(Some(RateLimit { interval, burst }))
}

const TLS_KEYS: [&str; 13] = [
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
];

fn tls_settings(t: &Fields<'_>, dir: &Path) -> Result<Option<TlsSettings>, Problem> {
    t.only(&TLS_KEYS)?;
    let cert = pem(t, "cert", "cert_file", dir)?;
    let key = pem(t, "key", "key_file", dir)?;
    let client_ca = pem(t, "client_ca", "client_ca_file", dir)?;
    let auth = t.string("client_auth_type")?;
    // As the toolkit: TLS is on when any of these is set; min_version alone does not turn it on.
    if cert.is_none() && key.is_none() && client_ca.is_none() && auth.is_none() {
        return Ok(None);
    }
    let client_auth = match &auth {
        Some((s, line)) => ClientAuth::parse(s)
            .map_err(|m| Problem::new(Some(*line), t.field("client_auth_type"), m))?,
        None => ClientAuth::NoClientCert,
    };
    let Some(cert) = cert else {
        return Err(t.missing(
            "cert_file",
            "TLS is configured: cert_file (or cert) is required",
        ));
    };
    let Some(key) = key else {
        return Err(t.missing(
            "key_file",
            "TLS is configured: key_file (or key) is required",
        ));
    };
    let auth_line = auth.as_ref().map(|a| a.1).or(Some(t.line));
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(Problem::new(
            auth_line,
            t.field("client_auth_type"),
            "a client CA is configured but client_auth_type is NoClientCert; set \
             RequireAndVerifyClientCert (or remove the CA)",
        ));
    }
    if client_auth.verifies() && client_ca.is_none() {
        return Err(Problem::new(
            auth_line,
            t.field("client_auth_type"),
            format!(
                "{} verifies client certificates: client_ca_file (or client_ca) is required",
                client_auth.name()
            ),
        ));
    }
    let allowed_sans = t.each("client_allowed_sans", |s| {
        if s.contains('@') && !s.contains(':') {
            Err("e-mail SANs are not matched by this exporter; list DNS names, IP addresses or URIs".into())
        } else {
            Ok(s.to_string())
        }
    })?;
    if !allowed_sans.is_empty() && !client_auth.requires() {
        return Err(Problem::new(
            t.line_of("client_allowed_sans"),
            t.field("client_allowed_sans"),
            "requires client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert \
             (otherwise a client may send no certificate to match)",
        ));
    }
    let version = |key: &str, default: TlsVersion| -> Result<TlsVersion, Problem> {
        match t.string(key)? {
            Some((s, line)) => {
                TlsVersion::parse(&s).map_err(|m| Problem::new(Some(line), t.field(key), m))
            }
            None => Ok(default),
        }
    };
    let min_version = version("min_version", TlsVersion::Tls12)?;
    let max_version = version("max_version", TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(Problem::new(
            t.line_of("min_version"),
            t.field("min_version"),
            "is above max_version",
        ));
    }
    let cipher_suites = t.each("cipher_suites", names::cipher_suite)?;
    let curves = t.each("curve_preferences", names::curve)?;
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        allowed_sans,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: t.bool("prefer_server_cipher_suites")?.unwrap_or(true),
        curves,
    }))
}

/// `inline` or `file` (relative to the configuration's directory), not both.
fn pem(
    t: &Fields<'_>,
    inline: &'static str,
    file: &'static str,
    dir: &Path,
) -> Result<Option<Pem>, Problem> {
    let text = t.string(inline)?.filter(|(s, _)| !s.is_empty());
    let path = t.string(file)?.filter(|(s, _)| !s.is_empty());
    match (text, path) {
        (Some((_, line)), Some(_)) => Err(Problem::new(
            Some(line),
            t.field(inline),
            format!("give {inline} or {file}, not both"),
        )),
        (Some((s, line)), None) => Ok(Some(Pem {
            source: PemSource::Inline(s),
            field: inline,
            line,
        })),
        (None, Some((p, line))) => Ok(Some(Pem {
            source: PemSource::File(dir.join(p)),
            field: file,
            line,
        })),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
