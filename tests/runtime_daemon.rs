//! The daemon in-process, driven by real signals to this test process: SIGHUP reloads (a bad
//! file keeps the running configuration), SIGTERM stops gracefully and closes the listener.
//! Kept alone in its own test binary, since signals are process-wide.

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use bedrock_access_exporter::app::ProberFactory;
use bedrock_access_exporter::config::Config;
use bedrock_access_exporter::daemon::{DaemonError, DaemonOptions, run_with};
use runtime_support::*;

fn factory() -> ProberFactory<FakeProber> {
    Arc::new(|_c: Arc<Config>| Box::pin(async { scripted() }))
}

fn signal_self(sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(std::process::id().to_string())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{sig}");
}

async fn free_port() -> u16 {
    match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => match l.local_addr() {
            Ok(a) => a.port(),
            Err(e) => panic!("{e}"),
        },
        Err(e) => panic!("{e}"),
    }
}

async fn get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.unwrap_or_default()))
}

/// Polls `url` until `done` holds for its body, for up to ten seconds.
async fn until(url: &str, what: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let mut last = None;
    for _ in 0..200 {
        if let Some((status, body)) = get(url).await {
            if done(status, &body) {
                return body;
            }
            last = Some((status, body));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: last answer {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_good_file_keeps_the_old_one_on_a_bad_file_and_sigterm_stops_cleanly() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("config.txt");
    let write = |text: &str| {
        if let Err(e) = std::fs::write(&path, text) {
            panic!("{e}");
        }
    };
    write("staging us-east-1 amazon.titan-text-express-v1\n");
    let port = free_port().await;
    let base = format!("http://127.0.0.1:{port}");
    let opts = DaemonOptions {
        config_file: path.clone(),
        listen_address: format!("127.0.0.1:{port}"),
        shard: Default::default(),
    };
    let daemon = tokio::spawn(run_with(opts, load_lines, factory()));

    until(&format!("{base}/-/ready"), "ready", |s, _| s == 200).await;
    let metrics = format!("{base}/metrics");
    until(&metrics, "one tuple", |_, b| {
        value(b, "bedrock_access_exporter_tuples", &[]) == Some(1.0)
    })
    .await;

    write(
        "staging us-east-1 amazon.titan-text-express-v1\nprod us-east-1 amazon.titan-text-express-v1\n",
    );
    signal_self("HUP");
    until(&metrics, "two tuples after SIGHUP", |_, b| {
        value(b, "bedrock_access_exporter_tuples", &[]) == Some(2.0)
    })
    .await;

    write("bad targets[0].regions empty\n");
    signal_self("HUP");
    let body = until(&metrics, "reload marked failed", |_, b| {
        value(
            b,
            "bedrock_access_exporter_config_last_reload_successful",
            &[],
        ) == Some(0.0)
    })
    .await;
    assert_eq!(
        value(&body, "bedrock_access_exporter_tuples", &[]),
        Some(2.0)
    );
    assert_eq!(
        get(&format!("{base}/probe?target=prod")).await.map(|r| r.0),
        Some(200),
        "the running configuration stays"
    );

    signal_self("TERM");
    let ended = tokio::time::timeout(Duration::from_secs(10), daemon).await;
    match ended {
        Ok(Ok(Ok(()))) => {}
        other => panic!("daemon did not stop cleanly: {other:?}"),
    }
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn a_bad_file_at_start_up_is_refused_with_every_problem_listed() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("config.txt");
    if let Err(e) = std::fs::write(
        &path,
        "bad targets[0].role_arn not a role ARN\nbad probe.timeout longer than the interval\n",
    ) {
        panic!("{e}");
    }
    let opts = DaemonOptions {
        config_file: path,
        listen_address: "127.0.0.1:0".into(),
        shard: Default::default(),
    };
    match run_with(opts, load_lines, factory()).await {
        Err(e @ DaemonError::Config { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(":1: targets[0].role_arn: not a role ARN"),
                "{text}"
            );
            assert!(
                text.contains(":2: probe.timeout: longer than the interval"),
                "{text}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
