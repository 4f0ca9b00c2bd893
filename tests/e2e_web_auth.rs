//! Basic auth, response headers and the rate limit of the web configuration, through the real
//! binary: Prometheus with the right password scrapes, everyone else gets a 401 with
//! `WWW-Authenticate` on every endpoint; `/-/healthy` may be opened to load balancers with
//! `--web.healthy-without-auth`; the configured headers are on every answer; beyond the rate
//! limit comes 429; and `demo` hands its web configuration to its daemon.

mod common;
mod web_support;

use std::time::{Duration, Instant};

use web_support::{Web, bcrypt_hash, curl};

fn auth_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "basic_auth_users:\n  prometheus: '{}'\n  grafana: '{}'\n{extra}",
            bcrypt_hash("scrape-me"),
            bcrypt_hash("look-at-me")
        ),
    )
    .expect("write web config");
    path
}

#[test]
fn only_the_right_user_and_password_get_through_and_everyone_else_gets_a_401_challenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web_yml = auth_config(dir.path(), "");
    let web = Web::start(dir.path(), Some(&web_yml), &[]);
    let right = ["--user", "prometheus:scrape-me"];
    web.wait_until("ready", || curl(&right, &web.http("/-/ready")).code == 200);

    for path in [
        "/metrics",
        "/",
        "/api/v1/status",
        "/probe?target=healthy-claude&region=us-east-1",
        "/-/healthy",
        "/-/ready",
    ] {
        let ok = curl(&right, &web.http(path));
        assert_eq!(ok.code, 200, "{path}: {ok:?}");
        for wrong in [
            vec![],
            vec!["--user", "prometheus:Scrape-me"],
            vec!["--user", "prometheus:"],
            vec!["--user", "nobody:scrape-me"],
            vec!["--user", "grafana:scrape-me"],
        ] {
            let denied = curl(&wrong, &web.http(path));
            assert_eq!(denied.code, 401, "{path} {wrong:?}: {denied:?}");
            assert!(
                denied
                    .headers
                    .to_ascii_lowercase()
                    .contains("www-authenticate: basic realm=\"bedrock-access-exporter\""),
                "{path} {wrong:?}: {}",
                denied.headers
            );
            assert!(
                !denied.body.contains("bedrock_access_exporter"),
                "{path}: {}",
                denied.body
            );
        }
    }
    let reload = curl(
        &["--user", "grafana:look-at-me", "-X", "POST"],
        &web.http("/-/reload"),
    );
    assert_eq!(reload.code, 200, "{reload:?}");
    assert_eq!(curl(&["-X", "POST"], &web.http("/-/reload")).code, 401);
    // No password ever reaches the log.
    let log = web.log();
    assert!(!log.contains("scrape-me") && !log.contains("look-at-me"));
}

#[test]
fn healthy_without_auth_opens_only_the_health_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web_yml = auth_config(dir.path(), "");
    let web = Web::start(dir.path(), Some(&web_yml), &["--web.healthy-without-auth"]);
    web.wait_until("healthy", || curl(&[], &web.http("/-/healthy")).code == 200);
    for path in ["/metrics", "/-/ready", "/", "/-/healthy/"] {
        assert_eq!(curl(&[], &web.http(path)).code, 401, "{path}");
    }
}

#[test]
fn configured_headers_come_on_every_answer_and_beyond_the_rate_limit_comes_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web_yml = auth_config(
        dir.path(),
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    \
         Content-Security-Policy: \"default-src 'self'\"\n\
         rate_limit:\n  interval: 1h\n  burst: 3\n",
    );
    let web = Web::start(dir.path(), Some(&web_yml), &[]);
    let right = ["--user", "prometheus:scrape-me"];
    // The readiness wait spends tokens too: count what is left from the answers.
    let mut answers = Vec::new();
    let start = Instant::now();
    while answers
        .last()
        .is_none_or(|c: &web_support::Curl| c.code != 429)
    {
        assert!(start.elapsed() < Duration::from_secs(30), "{answers:?}");
        answers.push(curl(&right, &web.http("/metrics")));
        if answers.last().is_some_and(|c| c.code == 0) {
            answers.pop();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let codes: Vec<u16> = answers.iter().map(|c| c.code).collect();
    assert_eq!(codes, [200, 200, 200, 429], "a burst of 3, then 429");
    for a in &answers {
        let h = a.headers.to_ascii_lowercase();
        assert!(h.contains("x-frame-options: deny"), "{h}");
        assert!(h.contains("x-content-type-options: nosniff"), "{h}");
        assert!(
            h.contains("content-security-policy: default-src 'self'"),
            "{h}"
        );
    }
    // The limit comes before authentication, as in the exporter toolkit.
    assert_eq!(curl(&[], &web.http("/metrics")).code, 429);
    // Lifting the limit applies without a restart.
    std::fs::write(
        &web_yml,
        std::fs::read_to_string(&web_yml)
            .expect("read")
            .replace("interval: 1h", "interval: 0"),
    )
    .expect("rewrite");
    assert_eq!(curl(&right, &web.http("/metrics")).code, 200);
}

#[test]
fn demo_hands_its_web_configuration_to_the_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web_yml = auth_config(dir.path(), "");
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let demo = common::spawn(
        dir.path(),
        "demo",
        &[
            "demo".into(),
            format!("--web.listen-address={addr}"),
            format!("--web.config.file={}", web_yml.display()),
        ],
        &[],
    );
    common::wait_listening(addr.parse().expect("addr"), Duration::from_secs(30));
    let url = format!("http://{addr}/metrics");
    let start = Instant::now();
    while curl(&["--user", "prometheus:scrape-me"], &url).code != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            common::tail(&demo.log_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl(&[], &url).code, 401);
}
