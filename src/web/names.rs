//! The exporter-toolkit's names for TLS settings, mapped onto what rustls offers: protocol
//! versions, TLS 1.2 cipher suites, curves and client authentication policies; Go durations; and
//! the response headers the toolkit lets an operator set. A name rustls cannot honour is refused
//! with the reason, never silently dropped.

use std::time::Duration;

use rustls::SupportedCipherSuite;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::{cipher_suite, kx_group};

/// `client_auth_type`: the toolkit's five policies (Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified against a CA.
    RequireAnyClientCert,
    /// Verified against the client CA when given, not required.
    VerifyClientCertIfGiven,
    /// Required and verified against the client CA: the only policy that authenticates.
    RequireAndVerifyClientCert,
}

pub const CLIENT_AUTH_NAMES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

impl ClientAuth {
    /// The toolkit's spelling; `RequireClientCert` is its older name for `RequireAnyClientCert`.
    pub fn parse(s: &str) -> Result<ClientAuth, String> {
        Ok(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            other => {
                return Err(format!(
                    "unknown client_auth_type {other:?}; expected one of {CLIENT_AUTH_NAMES}"
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::NoClientCert => "NoClientCert",
            ClientAuth::RequestClientCert => "RequestClientCert",
            ClientAuth::RequireAnyClientCert => "RequireAnyClientCert",
            ClientAuth::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            ClientAuth::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }

    /// Whether a certificate is checked against the client CA (which must then be given).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Whether a client without a certificate is refused.
    pub fn requires(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// `min_version` / `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn parse(s: &str) -> Result<TlsVersion, String> {
        match s {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{s} is not supported: rustls speaks TLS 1.2 and TLS 1.3 only (use TLS12 or TLS13)"
            )),
            other => Err(format!(
                "unknown TLS version {other:?}; expected TLS12 or TLS13"
            )),
        }
    }

    pub fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// A TLS 1.2 cipher suite by its Go name (`crypto/tls` constants, as the toolkit spells them).
pub fn cipher_suite(name: &str) -> Result<SupportedCipherSuite, String> {
    Ok(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Err(format!(
                "{name} is a TLS 1.3 suite: cipher_suites lists TLS 1.2 suites only (TLS 1.3 \
                 suites are not configurable, as in the exporter toolkit); remove it"
            ));
        }
        "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => {
            return Err(format!(
                "{name} is not offered by rustls, which has only forward-secret AEAD suites for \
                 TLS 1.2: TLS_ECDHE_{{ECDSA,RSA}}_WITH_{{AES_128_GCM_SHA256,AES_256_GCM_SHA384,\
                 CHACHA20_POLY1305_SHA256}}"
            ));
        }
        other => return Err(format!("unknown cipher suite {other:?}")),
    })
}

/// A curve of `curve_preferences` by its Go name.
pub fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    Ok(match name {
        "X25519" => kx_group::X25519,
        "CurveP256" => kx_group::SECP256R1,
        "CurveP384" => kx_group::SECP384R1,
        "CurveP521" => {
            return Err(
                "CurveP521 is not offered by rustls; use X25519, CurveP256 or CurveP384".into(),
            );
        }
        other => {
            return Err(format!(
                "unknown curve {other:?}; expected X25519, CurveP256 or CurveP384"
            ));
        }
    })
}

/// The headers `http_server_config.headers` may set, with their only allowed values (`None`:
/// any value), as in the toolkit.
pub const HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// Checks a configured header; `Ok` carries the header name as the table spells it.
pub fn header(name: &str, value: &str) -> Result<&'static str, String> {
    let Some((known, allowed)) = HEADERS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "HTTP header {name:?} can not be configured; allowed: {}",
            names.join(", ")
        ));
    };
    if let Some(values) = allowed
        && !values.contains(&value)
    {
        return Err(format!(
            "invalid value {value:?} for {known}; expected one of {}",
            values.join(", ")
        ));
    }
    Ok(known)
}

/// A Go duration (`time.ParseDuration`): `0`, or numbers with units `ns`, `us`/`µs`, `ms`,
/// `s`, `m`, `h`, e.g. `1m30s`, `1.5s`, `100ms`.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 1s, 500ms, 1m30s");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_read_as_go_reads_them() {
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "1", "5 s", "-1s", "1d", "s", "1.2.3s"] {
            assert!(go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn what_rustls_cannot_do_is_refused_with_the_reason() {
        assert!(cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").is_ok());
        let e = cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA")
            .err()
            .unwrap_or_default();
        assert!(e.contains("not offered by rustls"), "{e}");
        let e = cipher_suite("TLS_AES_128_GCM_SHA256")
            .err()
            .unwrap_or_default();
        assert!(e.contains("TLS 1.3 suite"), "{e}");
        assert!(curve("CurveP521").is_err());
        let e = TlsVersion::parse("TLS11").err().unwrap_or_default();
        assert!(e.contains("TLS 1.2 and TLS 1.3 only"), "{e}");
        assert_eq!(
            ClientAuth::parse("RequireClientCert"),
            Ok(ClientAuth::RequireAnyClientCert)
        );
        assert!(ClientAuth::parse("requireandverifyclientcert").is_err());
    }

    #[test]
    fn only_the_toolkits_headers_and_values_are_allowed() {
        assert_eq!(header("X-Frame-Options", "deny"), Ok("X-Frame-Options"));
        assert!(header("X-Frame-Options", "allow-from x").is_err());
        assert!(header("X-Content-Type-Options", "sniff").is_err());
        assert!(header("Content-Security-Policy", "default-src 'self'").is_ok());
        assert!(header("Server", "x").is_err());
    }
}
