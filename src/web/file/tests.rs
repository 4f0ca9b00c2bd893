//! Reading web configuration files: what the toolkit accepts is accepted, and every mistake is
//! reported at its line and field.

use super::*;

fn ok(text: &str) -> WebConfig {
    match parse(text, Path::new("/etc/exporter")) {
        Ok(c) => c,
        Err(p) => panic!("refused: {p:?}\n{text}"),
    }
}

fn problem(text: &str) -> Problem {
    match parse(text, Path::new("/etc/exporter")) {
        Ok(c) => panic!("accepted: {c:?}\n{text}"),
        Err(p) => p,
    }
}

const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

#[test]
fn the_toolkits_sample_file_is_read_with_paths_relative_to_it() {
    let cfg = ok(&format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
         min_version: TLS13\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  \
         curve_preferences: [X25519, CurveP256]\n\
         http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    \
         Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n\
         basic_auth_users:\n  alice: '{HASH}'\n\
         rate_limit:\n  interval: 1s\n  burst: 10\n"
    ));
    let Some(tls) = cfg.tls else {
        panic!("TLS is on")
    };
    assert_eq!(
        tls.cert.source,
        PemSource::File(PathBuf::from("/etc/exporter/server.crt"))
    );
    assert_eq!(
        tls.key.source,
        PemSource::File(PathBuf::from("/abs/server.key"))
    );
    assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert_eq!(tls.max_version, TlsVersion::Tls13);
    assert_eq!(tls.cipher_suites.len(), 1);
    assert_eq!(tls.curves.len(), 2);
    assert!(!cfg.http2);
    assert_eq!(
        cfg.headers,
        vec![
            ("X-Frame-Options", "deny".to_string()),
            ("Strict-Transport-Security", "max-age=31536000".to_string())
        ]
    );
    assert_eq!(cfg.users.len(), 1);
    assert_eq!(cfg.users[0].cost, 10);
    assert_eq!(
        cfg.rate_limit,
        Some(RateLimit {
            interval: Duration::from_secs(1),
            burst: 10
        })
    );
}

#[test]
fn an_empty_file_or_min_version_alone_means_plain_http_without_auth() {
    let cfg = ok("# nothing yet\n");
    assert!(cfg.tls.is_none() && cfg.users.is_empty() && cfg.rate_limit.is_none());
    assert!(
        ok("tls_server_config:\n  min_version: TLS13\n")
            .tls
            .is_none()
    );
    assert!(ok("rate_limit:\n  interval: 0\n").rate_limit.is_none());
}

#[test]
fn every_mistake_names_its_line_and_field() {
    let cases: [(&str, usize, &str, &str); 14] = [
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
            4,
            "tls_server_config.client_auth_type",
            "unknown client_auth_type",
        ),
        (
            "tls_server_config:\n  cert_file: a\n",
            1,
            "tls_server_config.key_file",
            "key_file (or key) is required",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  cert: inline\n  key_file: b\n",
            3,
            "tls_server_config.cert",
            "not both",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
            1,
            "tls_server_config.client_auth_type",
            "NoClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
            4,
            "tls_server_config.client_auth_type",
            "client_ca_file (or client_ca) is required",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
            4,
            "tls_server_config.min_version",
            "TLS 1.2 and TLS 1.3 only",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n",
            6,
            "tls_server_config.cipher_suites[1]",
            "not offered by rustls",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca\n  client_allowed_sans: [a.example]\n",
            6,
            "tls_server_config.client_allowed_sans",
            "requires client_auth_type",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  chipher_suites: []\n",
            4,
            "tls_server_config.chipher_suites",
            "unknown field",
        ),
        (
            "http_server_config:\n  headers:\n    Server: me\n",
            3,
            "http_server_config.headers.Server",
            "can not be configured",
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            2,
            "basic_auth_users.alice",
            "not a bcrypt hash",
        ),
        (
            "rate_limit:\n  interval: 1\n  burst: 1\n",
            2,
            "rate_limit.interval",
            "invalid duration",
        ),
        (
            "rate_limit:\n  interval: 1s\n",
            1,
            "rate_limit.burst",
            "at least 1",
        ),
        (
            "tls_config:\n  cert_file: a\n",
            1,
            "tls_config",
            "unknown field",
        ),
    ];
    for (text, line, field, words) in cases {
        let p = problem(text);
        assert_eq!(p.line, Some(line), "{p:?}\n{text}");
        assert_eq!(p.field, field, "{p:?}\n{text}");
        assert!(p.message.contains(words), "{p:?} lacks {words:?}\n{text}");
    }
}

#[test]
fn the_error_names_the_file_line_and_field_and_never_an_inline_key() {
    let p = problem("tls_server_config:\n  cert: x\n  key: SECRET-KEY\n  max_version: TLS99\n");
    let e = p.in_file(Path::new("/etc/web.yml"));
    let text = e.to_string();
    assert!(
        text.starts_with("/etc/web.yml:4: tls_server_config.max_version: unknown TLS version"),
        "{text}"
    );
    assert!(!text.contains("SECRET-KEY"), "{text}");
    let cfg = ok("tls_server_config:\n  cert: x\n  key: SECRET-KEY\n");
    assert!(!format!("{cfg:?}").contains("SECRET-KEY"));
}

#[test]
fn a_user_name_with_a_colon_could_never_log_in_and_is_refused() {
    let p = problem(&format!("basic_auth_users:\n  'a:b': '{HASH}'\n"));
    assert_eq!(p.field, "basic_auth_users.a:b");
}

#[test]
fn syntax_errors_carry_a_line() {
    let p = problem("basic_auth_users:\n  alice: [unterminated\n");
    assert!(p.line.is_some(), "{p:?}");
    assert!(p.message.starts_with("YAML syntax error"), "{p:?}");
}
