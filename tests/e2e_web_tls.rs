//! TLS on the exporter's own port, through the real binary and curl (OpenSSL): the operator
//! turns on `tls_server_config` and Prometheus must trust the CA; mutual TLS lets in the right
//! client certificate and keeps out none or a wrong one, as each of the toolkit's five
//! `client_auth_type`s says; a rotated certificate is served without a restart; and a web
//! configuration that cannot work stops the daemon at start with the file, line and field.

mod common;
mod web_support;

use std::process::Command;
use std::time::{Duration, Instant};

use web_support::{Pki, Web, curl};

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).expect("write web config");
}

/// The exporter serving TLS with the test CA's certificate (`web.yml` in a directory of its
/// own), ready over TLS; with that CA's path for curl.
fn start_tls() -> (tempfile::TempDir, Pki, std::path::PathBuf, Web, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path());
    let web_yml = dir.path().join("web.yml");
    write(&web_yml, &pki.tls_config(""));
    let web = Web::start(dir.path(), Some(&web_yml), &[]);
    let ca = pki.ca.display().to_string();
    web.wait_until("ready over TLS", || {
        curl(&["--cacert", &ca], &web.https("/-/ready")).code == 200
    });
    (dir, pki, web_yml, web, ca)
}

#[test]
fn with_tls_on_prometheus_trusting_the_ca_scrapes_and_plain_http_gets_nothing() {
    let (_dir, pki, web_yml, web, ca) = start_tls();

    let m = curl(&["--cacert", &ca], &web.https("/metrics"));
    assert_eq!(m.code, 200, "{m:?}");
    assert!(
        m.body.contains("bedrock_access_exporter_build_info"),
        "{}",
        m.body
    );
    for path in ["/", "/api/v1/status", "/-/healthy"] {
        assert_eq!(
            curl(&["--cacert", &ca], &web.https(path)).code,
            200,
            "{path}"
        );
    }
    // HTTP/1.1 is what ALPN offers, whatever the client would prefer.
    let h2 = curl(&["--cacert", &ca, "--http2"], &web.https("/-/healthy"));
    assert!(h2.headers.starts_with("HTTP/1.1 200"), "{h2:?}");

    // Without the CA the certificate is not trusted; plain HTTP gets no HTTP answer.
    let untrusted = curl(&[], &web.https("/metrics"));
    assert_eq!((untrusted.code, untrusted.exit), (0, 60), "{untrusted:?}");
    let plain = curl(&[], &web.http("/metrics"));
    assert_eq!(
        plain.code, 0,
        "plain HTTP answered on a TLS port: {plain:?}"
    );

    // TLS 1.2 and 1.3 by default; min_version TLS13 refuses a TLS 1.2-only client.
    let tls12 = curl(
        &["--cacert", &ca, "--tls-max", "1.2"],
        &web.https("/-/healthy"),
    );
    assert_eq!(tls12.code, 200, "{tls12:?}");
    write(&web_yml, &pki.tls_config("  min_version: TLS13\n"));
    let refused = curl(
        &["--cacert", &ca, "--tls-max", "1.2"],
        &web.https("/-/healthy"),
    );
    assert_eq!(
        refused.code, 0,
        "TLS 1.2 accepted with min_version TLS13: {refused:?}"
    );
    assert_eq!(curl(&["--cacert", &ca], &web.https("/-/healthy")).code, 200);
}

/// The outcome of one handshake: the HTTP status, 0 for a refused handshake.
fn status_with(pki: &Pki, web: &Web, client: Option<(&std::path::Path, &std::path::Path)>) -> u16 {
    let ca = pki.ca.display().to_string();
    let mut args = vec!["--cacert".to_string(), ca];
    if let Some((cert, key)) = client {
        args.extend([
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            key.display().to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&args, &web.https("/metrics")).code
}

#[test]
fn mutual_tls_lets_in_the_right_client_certificate_and_keeps_out_none_or_a_wrong_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path());
    let web_yml = dir.path().join("web.yml");
    let policy = |auth: &str, extra: &str| {
        pki.tls_config(&format!(
            "  client_auth_type: {auth}\n  client_ca_file: {}\n{extra}",
            pki.ca.display()
        ))
    };
    write(&web_yml, &policy("RequireAndVerifyClientCert", ""));
    let web = Web::start(dir.path(), Some(&web_yml), &[]);
    let right = Some((pki.client_cert.as_path(), pki.client_key.as_path()));
    let other = Some((
        pki.other_client_cert.as_path(),
        pki.other_client_key.as_path(),
    ));
    let stranger = Some((pki.stranger_cert.as_path(), pki.stranger_key.as_path()));
    web.wait_until("ready over mutual TLS", || {
        status_with(&pki, &web, right) == 200
    });

    // (policy, extra lines, none, right, stranger's): each applied by rewriting the file, no
    // restart.
    let table: [(&str, &str, u16, u16, u16); 5] = [
        ("RequireAndVerifyClientCert", "", 0, 200, 0),
        ("VerifyClientCertIfGiven", "", 200, 200, 0),
        ("RequireAnyClientCert", "", 0, 200, 200),
        ("RequestClientCert", "", 200, 200, 200),
        ("NoClientCert", "", 200, 200, 200),
    ];
    for (auth, extra, none, good, bad) in table {
        let text = if auth == "NoClientCert" {
            pki.tls_config("")
        } else {
            policy(auth, extra)
        };
        write(&web_yml, &text);
        let got = (
            status_with(&pki, &web, None),
            status_with(&pki, &web, right),
            status_with(&pki, &web, stranger),
        );
        assert_eq!(
            got,
            (none, good, bad),
            "{auth}: (no certificate, the CA's client, a stranger's)\n{}",
            common::tail(&web.log(), 20)
        );
    }

    // client_allowed_sans: a certificate from the right CA with another name is refused too.
    write(
        &web_yml,
        &policy(
            "RequireAndVerifyClientCert",
            "  client_allowed_sans: [prometheus.example]\n",
        ),
    );
    assert_eq!(status_with(&pki, &web, right), 200);
    assert_eq!(
        status_with(&pki, &web, other),
        0,
        "grafana.example is not allowed"
    );
}

#[test]
fn a_rotated_certificate_is_served_from_the_next_connection_without_a_restart() {
    let (dir, pki, _web_yml, web, old_ca) = start_tls();
    let pid = web.proc.child.id();

    // The renewal comes from a new CA, so which certificate is served shows in who trusts it.
    let new_ca = web_support::Ca::new("the renewed CA");
    let (cert, key) = new_ca.leaf("localhost", &["localhost", "127.0.0.1"], false);
    let new_ca_file = dir.path().join("new-ca.pem");
    write(&new_ca_file, &new_ca.pem);
    // Written in place, certificate first: in between, cert and key do not match, and the
    // server keeps the old pair until both are there.
    write(&pki.server_cert, &cert);
    write(&pki.server_key, &key);

    let new_ca = new_ca_file.display().to_string();
    let renewed = curl(&["--cacert", &new_ca], &web.https("/metrics"));
    assert_eq!(
        renewed.code,
        200,
        "{renewed:?}\n{}",
        common::tail(&web.log(), 20)
    );
    let old = curl(&["--cacert", &old_ca], &web.https("/metrics"));
    assert_eq!(
        (old.code, old.exit),
        (0, 60),
        "the old certificate is still served: {old:?}"
    );
    assert_eq!(web.proc.child.id(), pid);
    assert!(web.log().contains("web configuration reloaded"));
}

#[test]
fn a_broken_change_is_logged_and_the_last_good_configuration_keeps_serving() {
    let (_dir, pki, web_yml, web, ca) = start_tls();
    write(&web_yml, &pki.tls_config("  client_auth_type: Sometimes\n"));
    assert_eq!(curl(&["--cacert", &ca], &web.https("/metrics")).code, 200);
    let log = web.log();
    assert!(
        log.contains("does not load") && log.contains("tls_server_config.client_auth_type"),
        "{}",
        common::tail(&log, 20)
    );
}

/// Runs the binary with `args` and returns (exit code, stderr); it must exit within 20 s.
fn run_to_exit(args: &[String]) -> (Option<i32>, String) {
    let mut child = Command::new(common::BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read as _;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("still running after 20 s: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_web_configuration_that_cannot_work_stops_the_daemon_and_the_demo_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path());
    let config = common::repo("config/demo/exporter.toml")
        .display()
        .to_string();
    let cases = [
        (
            "bad-auth.yml",
            pki.tls_config("  client_auth_type: RequireAndVerifyClientCert\n"),
            ":4: tls_server_config.client_auth_type: ",
            "RequireAndVerifyClientCert verifies client certificates: client_ca_file (or client_ca) is required",
        ),
        (
            "missing-cert.yml",
            "tls_server_config:\n  cert_file: nowhere.pem\n  key_file: nowhere-key.pem\n".into(),
            ":2: tls_server_config.cert_file: ",
            "nowhere.pem: cannot read the file",
        ),
        (
            "mismatch.yml",
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                pki.server_cert.display(),
                pki.client_key.display()
            ),
            ":3: tls_server_config.key_file: ",
            "cannot be used with the certificate in cert_file",
        ),
        (
            "bad-hash.yml",
            "basic_auth_users:\n  prometheus: plaintext\n".into(),
            ":2: basic_auth_users.prometheus: ",
            "not a bcrypt hash",
        ),
    ];
    for (name, text, want, words) in cases {
        let path = dir.path().join(name);
        write(&path, &text);
        let web_flag = format!("--web.config.file={}", path.display());
        for subcommand in [None, Some("demo")] {
            let mut args = vec![
                format!("--config.file={config}"),
                "--web.listen-address=127.0.0.1:0".into(),
                web_flag.clone(),
            ];
            args.extend(subcommand.map(str::to_string));
            let (code, err) = run_to_exit(&args);
            assert!(
                code.is_some_and(|c| c != 0),
                "{name} {subcommand:?}: exit {code:?}\n{err}"
            );
            let expected = format!("{}{want}", path.display());
            assert!(
                err.contains(&expected),
                "{name} {subcommand:?}: wanted {expected:?} in:\n{err}"
            );
            assert!(
                err.contains(words),
                "{name} {subcommand:?}: wanted {words:?} in:\n{err}"
            );
        }
    }
}
