//! End to end in a real browser: the simulator runs the demo scenario, the daemon probes it with
//! the demo configuration, and Debian's headless `chromium` loads the status page `/`. From the
//! DOM the browser built, every demo tuple must have its row with the right per-layer states and
//! reasons (the table of `config/demo/README.md`); screenshots at desktop and phone width are
//! saved under the cargo target directory (`status-page.png`, `status-page-phone.png`).
//!
//! This test fails when chromium is missing: `.ci/run` and `./scripts/test` install it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exporter, Sim};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The cargo target directory (where the screenshots go).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Runs headless chromium with `args` (plus the usual isolation flags and a fresh profile) and
/// returns its stdout; panics with its stderr when it fails or hangs.
fn chromium(args: &[String]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (./scripts/install-test-deps does)"
    );
    let profile = tempfile::tempdir().expect("tempdir for the chromium profile");
    let out = tempfile::NamedTempFile::new().expect("tempfile");
    let err = tempfile::NamedTempFile::new().expect("tempfile");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.reopen().expect("reopen")))
        .stderr(Stdio::from(err.reopen().expect("reopen")))
        .spawn()
        .expect("spawn chromium");
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish in 90 s:\n{}",
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(out.path()).unwrap_or_default();
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}):\n{}",
        std::fs::read_to_string(err.path()).unwrap_or_default()
    );
    stdout
}

/// Value of attribute `name` in the start tag `tag` (as chromium serialises it: `name="v"`).
/// `tag` is the text after `<tr ` / `<td ` up to the closing `>`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("{name}=\"");
    let i = if tag.starts_with(&needle) {
        needle.len()
    } else {
        tag.find(&format!(" {needle}"))? + needle.len() + 1
    };
    let rest = &tag[i..];
    Some(&rest[..rest.find('"')?])
}

/// One `<tr data-target …>` of the status table, as the browser's DOM has it.
#[derive(Debug)]
struct DomRow {
    target: String,
    region: String,
    state: String,
    /// (layer, data-state, reason shown in the cell)
    layers: Vec<(String, String, Option<String>)>,
    reason: Option<String>,
    debug_href: Option<String>,
    text: String,
}

fn rows(dom: &str) -> Vec<DomRow> {
    let mut out = Vec::new();
    for chunk in dom.split("<tr ").skip(1) {
        let end = chunk.find("</tr>").unwrap_or(chunk.len());
        let chunk = &chunk[..end];
        let head = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
        let Some(target) = attr(head, "data-target") else {
            continue;
        };
        let mut layers = Vec::new();
        for td in chunk.split("<td ").skip(1) {
            let td_head = &td[..td.find('>').unwrap_or(td.len())];
            if let Some(layer) = attr(td_head, "data-layer") {
                let reason = td
                    .split("<small ")
                    .nth(1)
                    .and_then(|small| attr(small, "data-reason"))
                    .map(str::to_string);
                layers.push((
                    layer.to_string(),
                    attr(td_head, "data-state").unwrap_or("").to_string(),
                    reason,
                ));
            }
        }
        let reason = chunk
            .split("<td ")
            .find_map(|td| attr(&td[..td.find('>').unwrap_or(td.len())], "data-reason"))
            .map(str::to_string);
        let debug_href = chunk
            .split("<a class=\"debug\" href=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|h| h.replace("&amp;", "&"));
        out.push(DomRow {
            target: target.to_string(),
            region: attr(head, "data-region").unwrap_or("").to_string(),
            state: attr(head, "data-state").unwrap_or("").to_string(),
            layers,
            reason,
            debug_href,
            text: chunk.to_string(),
        });
    }
    out
}

const P: &str = "pass";
const F: &str = "fail";
const N: &str = "not_reached";
const O: &str = "off";

/// (target, region, row state, per layer (state, reason))
type Want = (
    &'static str,
    &'static str,
    &'static str,
    [(&'static str, Option<&'static str>); 5],
);

/// The table of `config/demo/README.md`.
fn demo_table() -> Vec<Want> {
    // `invoke_stream` is off (○) but for the one target with `stream = true`.
    let ok = [(P, None), (P, None), (P, None), (P, None), (O, None)];
    let gate = |r| [(P, None), (F, Some(r)), (N, None), (N, None), (O, None)];
    let invoke = |r| [(P, None), (P, None), (P, None), (F, Some(r)), (O, None)];
    let both = |m, i| [(P, None), (P, None), (F, Some(m)), (F, Some(i)), (O, None)];
    let stream = |r| [(P, None), (P, None), (P, None), (P, None), (F, Some(r))];
    vec![
        ("healthy-claude", "us-east-1", "ok", ok),
        ("healthy-claude", "us-west-2", "ok", ok),
        ("healthy-profile", "us-east-1", "ok", ok),
        ("healthy-embeddings", "us-east-1", "ok", ok),
        (
            "untrusted-source",
            "us-east-1",
            "failing",
            gate("assume_role_denied"),
        ),
        (
            "missing-external-id",
            "us-east-1",
            "failing",
            gate("assume_role_denied"),
        ),
        (
            "caller-without-assumerole",
            "us-east-1",
            "failing",
            gate("assume_role_not_permitted"),
        ),
        (
            "session-too-long",
            "us-east-1",
            "failing",
            gate("session_duration_exceeded"),
        ),
        (
            "role-without-invoke",
            "us-east-1",
            "failing",
            invoke("bedrock_not_permitted"),
        ),
        (
            "role-without-stream",
            "us-east-1",
            "failing",
            stream("bedrock_not_permitted"),
        ),
        (
            "identity-deny",
            "us-east-1",
            "failing",
            invoke("explicit_deny"),
        ),
        ("scp-deny", "us-east-1", "failing", invoke("scp_denied")),
        (
            "sandbox-guardrail",
            "us-east-1",
            "denied_as_expected",
            invoke("scp_denied"),
        ),
        (
            "grant-missing",
            "us-west-2",
            "failing",
            both("model_access_not_granted", "model_access_not_granted"),
        ),
        (
            "grant-pending",
            "us-west-2",
            "failing",
            both("model_access_pending", "model_access_pending"),
        ),
        (
            "marketplace-missing",
            "us-east-1",
            "failing",
            both(
                "marketplace_subscription_required",
                "marketplace_subscription_required",
            ),
        ),
        (
            "use-case-form-missing",
            "us-east-1",
            "failing",
            invoke("use_case_form_required"),
        ),
        (
            "not-in-region",
            "ap-northeast-1",
            "failing",
            both("model_not_in_region", "model_not_in_region"),
        ),
        (
            "profile-required",
            "us-east-1",
            "failing",
            invoke("inference_profile_required"),
        ),
        (
            "legacy-inactive",
            "us-east-1",
            "failing",
            invoke("model_legacy_no_access"),
        ),
        (
            "end-of-life",
            "us-east-1",
            "failing",
            invoke("model_end_of_life"),
        ),
        (
            "not-offered",
            "us-west-2",
            "failing",
            invoke("account_not_authorized"),
        ),
    ]
}

const LAYERS: [&str; 5] = [
    "credentials",
    "assume_role",
    "model_access",
    "invoke",
    "invoke_stream",
];

/// What is wrong with `row` against `want`.
fn check(row: &DomRow, want: &Want) -> Vec<String> {
    let mut wrong = Vec::new();
    if row.state != want.2 {
        wrong.push(format!("row state {:?}, want {:?}", row.state, want.2));
    }
    let got: Vec<&str> = row.layers.iter().map(|l| l.0.as_str()).collect();
    if got != LAYERS {
        wrong.push(format!("layer cells {got:?}, want {LAYERS:?}"));
        return wrong;
    }
    for ((layer, state, reason), (want_state, want_reason)) in row.layers.iter().zip(want.3) {
        if state != want_state || reason.as_deref() != want_reason {
            wrong.push(format!(
                "{layer}: {state} {reason:?}, want {want_state} {want_reason:?}"
            ));
        }
    }
    let first_reason = want.3.iter().find_map(|(_, r)| *r);
    if row.reason.as_deref() != first_reason {
        wrong.push(format!(
            "reason column {:?}, want {first_reason:?}",
            row.reason
        ));
    }
    wrong
}

#[test]
fn the_status_page_in_a_real_browser_shows_every_demo_tuple_with_its_failing_layer_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let exporter = Exporter::start_demo(dir.path(), &sim);
    let table = demo_table();
    let url = format!("http://{}/", exporter.addr);

    // Before every tuple's first probe finished, pending rows are there too: one row per
    // configured tuple, always.
    let early = rows(&exporter.get("/").1);
    assert_eq!(early.len(), table.len(), "one row per configured tuple");

    // Wait until the status API says every tuple has a result.
    let start = Instant::now();
    loop {
        let (status, body) = exporter.get("/api/v1/status");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        if v["summary"]["pending"] == 0 && v["summary"]["tuples"] == table.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "tuples still pending after 90 s: {}\n{}",
            v["summary"],
            common::tail(&exporter.proc.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let dom = chromium(&["--dump-dom".into(), url.clone()]);
    assert!(
        dom.contains("<meta name=\"viewport\""),
        "no viewport meta in the DOM:\n{dom}"
    );
    assert!(
        !dom.contains("<script"),
        "the page must not need JavaScript"
    );
    let got = rows(&dom);
    assert_eq!(
        got.len(),
        table.len(),
        "rows in the browser's DOM: {:?}",
        got.iter()
            .map(|r| format!("{} {}", r.target, r.region))
            .collect::<Vec<_>>()
    );

    let mut failures = Vec::new();
    for want in &table {
        let Some(row) = got
            .iter()
            .find(|r| r.target == want.0 && r.region == want.1)
        else {
            failures.push(format!("{} {}: no row", want.0, want.1));
            continue;
        };
        let wrong = check(row, want);
        if !wrong.is_empty() {
            failures.push(format!(
                "{} {}:\n    {}",
                want.0,
                want.1,
                wrong.join("\n    ")
            ));
        }
        // Every row links to its own debug trace, percent-encoded.
        let href = row.debug_href.clone().unwrap_or_default();
        if !(href.starts_with(&format!(
            "/probe?target={}&region={}&model=",
            want.0, want.1
        )) && href.ends_with("&debug=true"))
        {
            failures.push(format!("{} {}: debug link {href:?}", want.0, want.1));
        }
        if row.state == "failing" && !row.text.contains("class=\"fix\"") {
            failures.push(format!("{} {}: no fix cell", want.0, want.1));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong in the browser:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );

    // Failing rows first.
    let first_healthy = got.iter().position(|r| r.state != "failing");
    let last_failing = got.iter().rposition(|r| r.state == "failing");
    if let (Some(h), Some(f)) = (first_healthy, last_failing) {
        assert!(f < h, "a failing row comes after a healthy one");
    }
    assert!(
        dom.contains("<b>17</b> failing") && dom.contains("<b>4</b> ok"),
        "summary line: 17 failing, 4 ok"
    );

    // Fixes are filled in with the tuple's facts.
    for (target, fix) in [
        (
            "grant-missing",
            "enable or request access to anthropic.claude-3-opus-20240229-v1:0 in account 222222222222, region us-west-2",
        ),
        (
            "profile-required",
            "use the inference profile id us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ),
        (
            "caller-without-assumerole",
            "allow sts:AssumeRole on arn:aws:iam::222222222222:role/BedrockProbeRole",
        ),
        (
            "role-without-stream",
            "grant role InvokeOnlyProbeRole bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream",
        ),
    ] {
        let row = got.iter().find(|r| r.target == target);
        assert!(
            row.is_some_and(|r| r.text.contains(fix)),
            "{target}: fix {fix:?} not in {:?}",
            row.map(|r| &r.text)
        );
    }

    // The debug link of a failing row works and tells the same story.
    let untrusted = got
        .iter()
        .find(|r| r.target == "untrusted-source")
        .and_then(|r| r.debug_href.clone())
        .unwrap_or_default();
    let (status, trace) = exporter.get(&untrusted);
    assert_eq!(status, 200, "{untrusted}: {trace}");
    assert!(
        trace.contains("assume_role_denied (class access)")
            && trace.contains("model_access  not reached"),
        "{trace}"
    );

    // Screenshots, desktop and phone, for people (and the README).
    let out = target_dir();
    for (name, size) in [
        ("status-page.png", "1600,1900"),
        ("status-page-phone.png", "390,844"),
    ] {
        let png = out.join(name);
        let _ = std::fs::remove_file(&png);
        chromium(&[
            format!("--window-size={size}"),
            format!("--screenshot={}", png.display()),
            url.clone(),
        ]);
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"),
            "{} is not a screenshot ({} bytes)",
            png.display(),
            bytes.len()
        );
    }
}
