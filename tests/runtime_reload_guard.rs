//! A reload can never leave the daemon half-applied or kill it: a bug that panics while the
//! file is read or while the probers are built makes the reload fail (`POST /-/reload` answers
//! 500, `config_last_reload_successful` goes to 0, SIGHUP leaves the process running) and the
//! old configuration keeps running; at start, the daemon ends with an error instead of staying
//! up and never ready. The daemon runs in-process with a loader and a prober factory that
//! panic on demand; kept in its own test binary, since signals are process-wide.

mod runtime_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bedrock_access_exporter::app::ProberFactory;
use bedrock_access_exporter::config::{Config, ConfigError};
use bedrock_access_exporter::daemon::{DaemonError, DaemonOptions, run_with};
use runtime_support::*;

/// `load_lines`, except that a file containing `explode-loader` panics.
fn exploding_loader(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if text.contains("explode-loader") {
        panic!("the loader exploded");
    }
    load_lines(path)
}

/// The fake prober, except that a configuration with a target `boom` panics while it is built.
fn exploding_factory() -> ProberFactory<FakeProber> {
    Arc::new(|c: Arc<Config>| {
        Box::pin(async move {
            if c.target("boom").is_some() {
                panic!("the prober factory exploded");
            }
            scripted()
        })
    })
}

fn signal_self(sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(std::process::id().to_string())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{sig}");
}

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr").port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

async fn get(url: &str) -> Option<(u16, String)> {
    let r = client().get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.unwrap_or_default()))
}

async fn post(url: &str) -> (u16, String) {
    let r = client().post(url).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Polls `url` until `done` holds, for up to ten seconds.
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

const TITAN: &str = "amazon.titan-text-express-v1";

/// Signals reach every daemon of this process: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_a_reload_is_read_or_built_fails_the_reload_and_the_old_configuration_runs() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.txt");
    let write = |text: &str| std::fs::write(&path, text).expect("write");
    write(&format!("staging us-east-1 {TITAN}\n"));
    let port = free_port().await;
    let base = format!("http://127.0.0.1:{port}");
    let opts = DaemonOptions {
        config_file: path.clone(),
        listen_address: format!("127.0.0.1:{port}"),
        shard: Default::default(),
    };
    let daemon = tokio::spawn(run_with(opts, exploding_loader, exploding_factory()));
    until(&format!("{base}/-/ready"), "ready", |s, _| s == 200).await;
    let metrics = format!("{base}/metrics");
    let reload = format!("{base}/-/reload");

    let kept = |body: &str| {
        assert_eq!(
            value(body, "bedrock_access_exporter_tuples", &[]),
            Some(1.0),
            "{body}"
        );
        assert_eq!(
            value(
                body,
                "bedrock_access_exporter_config_last_reload_successful",
                &[]
            ),
            Some(0.0)
        );
    };

    // A bug while building the probers of the new file.
    write(&format!(
        "staging us-east-1 {TITAN}\nboom us-east-1 {TITAN}\n"
    ));
    let (status, body) = post(&reload).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("building the probers failed unexpectedly (the prober factory exploded)"),
        "{body}"
    );
    assert!(body.contains("the running configuration stays"), "{body}");
    kept(&get(&metrics).await.expect("metrics").1);
    assert_eq!(
        get(&format!("{base}/probe?target=staging"))
            .await
            .map(|r| r.0),
        Some(200),
        "the old configuration still answers"
    );
    assert_eq!(
        get(&format!("{base}/probe?target=boom")).await.map(|r| r.0),
        Some(404),
        "nothing of the new one was applied"
    );

    // A bug while reading the file, by POST and by SIGHUP.
    write("explode-loader\n");
    let (status, body) = post(&reload).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("reading the configuration failed unexpectedly (the loader exploded)"),
        "{body}"
    );
    signal_self("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!daemon.is_finished(), "SIGHUP ended the daemon");
    assert_eq!(
        get(&format!("{base}/-/ready")).await.map(|r| r.0),
        Some(200)
    );
    kept(&get(&metrics).await.expect("metrics").1);

    // Fixed: the next reload succeeds.
    write(&format!(
        "staging us-east-1 {TITAN}\nprod us-east-1 {TITAN}\n"
    ));
    let (status, body) = post(&reload).await;
    assert_eq!(status, 200, "{body}");
    until(&metrics, "two tuples", |_, b| {
        value(b, "bedrock_access_exporter_tuples", &[]) == Some(2.0)
    })
    .await;

    signal_self("TERM");
    match tokio::time::timeout(Duration::from_secs(10), daemon).await {
        Ok(Ok(Ok(()))) => {}
        other => panic!("daemon did not stop cleanly: {other:?}"),
    }
}

#[tokio::test]
async fn a_first_configuration_that_cannot_be_applied_ends_the_daemon() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.txt");
    std::fs::write(&path, format!("boom us-east-1 {TITAN}\n")).expect("write");
    let port = free_port().await;
    let opts = DaemonOptions {
        config_file: path.clone(),
        listen_address: format!("127.0.0.1:{port}"),
        shard: Default::default(),
    };
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        run_with(opts, exploding_loader, exploding_factory()),
    )
    .await;
    match ended {
        Ok(Err(DaemonError::Start { path: p, error })) => {
            assert_eq!(p, path);
            assert!(
                error.to_string().contains("the prober factory exploded"),
                "{error}"
            );
        }
        other => panic!("expected the start to fail, got {other:?}"),
    }
}
