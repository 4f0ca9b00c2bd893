//! The background schedule, on tokio's paused clock: spreading, concurrency, rounds, the paid
//! layer's interval, reload and shutdown.

mod runtime_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bedrock_access_exporter::metrics::Metrics;
use bedrock_access_exporter::schedule::{Scheduler, target_phase};
use runtime_support::*;

const M1: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const M2: &str = "amazon.titan-text-express-v1";

fn metrics() -> Arc<Metrics> {
    match Metrics::new() {
        Ok(m) => Arc::new(m),
        Err(e) => panic!("registry: {e}"),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Tokio's timers have millisecond resolution.
fn about(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) <= Duration::from_millis(2)
}

/// Sleeps until `at` after the target's stable phase (its first probe starts at the phase).
async fn sleep_past_phase(name: &str, interval: Duration, n: usize, at: Duration) {
    tokio::time::sleep(target_phase(name, interval, n) + at).await;
}

#[tokio::test(start_paused = true)]
async fn four_tuples_of_a_target_start_a_quarter_interval_apart_every_interval() {
    let m = metrics();
    let prober = FakeProber::passing(Duration::from_millis(100));
    let sched = Scheduler::new(Arc::clone(&m));
    let t = target("prod", &["us-east-1", "us-west-2"], &[M1, M2], secs(40));
    let start = tokio::time::Instant::now();
    sched.start(Arc::new(config(vec![t])), Arc::clone(&prober));
    sleep_past_phase("prod", secs(40), 4, secs(75)).await;
    let calls = prober.calls();
    assert_eq!(calls.len(), 8, "two periods of four tuples: {calls:?}");
    let first = calls[0].at;
    assert!(about(first - start, target_phase("prod", secs(40), 4)));
    for (i, c) in calls.iter().enumerate() {
        let expected = first + secs(10 * i as u64);
        assert_eq!(c.at, expected, "call {i} ({:?})", c.key);
    }
    // The same tuple comes back exactly one interval later.
    assert_eq!(calls[4].key, calls[0].key);
    sched.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_probe_of_a_target_starts_within_its_first_slot_not_all_at_once() {
    let m = metrics();
    let prober = FakeProber::passing(Duration::from_millis(10));
    let sched = Scheduler::new(Arc::clone(&m));
    let start = tokio::time::Instant::now();
    let targets = vec![
        target("a", &["us-east-1"], &[M1], secs(60)),
        target("b", &["us-east-1"], &[M1], secs(60)),
        target("c", &["us-east-1"], &[M1], secs(60)),
    ];
    sched.start(Arc::new(config(targets)), Arc::clone(&prober));
    tokio::time::sleep(secs(60)).await;
    let mut starts = Vec::new();
    for name in ["a", "b", "c"] {
        let first = prober
            .calls_for(&key(name, "us-east-1", M1))
            .first()
            .map(|c| c.at - start);
        assert!(
            first.is_some_and(|f| about(f, target_phase(name, secs(60), 1))),
            "{name}: {first:?}"
        );
        starts.extend(first);
    }
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 3, "targets started together: {starts:?}");
    sched.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn with_slow_probes_no_more_than_the_configured_concurrency_run_at_once() {
    let m = metrics();
    let prober = FakeProber::passing(secs(5));
    let sched = Scheduler::new(Arc::clone(&m));
    let models: Vec<String> = (0..10).map(|i| format!("model-{i}")).collect();
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    let mut t = target("prod", &["us-east-1"], &models, secs(10));
    t.settings.concurrency = 2;
    let mut cfg = config(vec![t]);
    cfg.defaults.concurrency = 2;
    sched.start(Arc::new(cfg), Arc::clone(&prober));
    let mut max_gauge = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        max_gauge = max_gauge.max(m.probes_in_flight().get());
    }
    assert_eq!(prober.max_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(max_gauge, 2);
    // Queued probes started late, and the lag was measured.
    let lag = m.schedule_lag();
    assert!(lag.get_sample_count() >= 4);
    assert!(lag.get_sample_sum() > 1.0, "sum {}", lag.get_sample_sum());
    sched.shutdown().await;
    assert_eq!(m.probes_in_flight().get(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_tuples_of_one_period_share_a_round_and_each_period_gets_a_new_one() {
    let m = metrics();
    let prober = FakeProber::passing(Duration::from_millis(10));
    let sched = Scheduler::new(Arc::clone(&m));
    let t = target(
        "prod",
        &["us-east-1", "us-west-2", "eu-west-1"],
        &[M1],
        secs(30),
    );
    sched.start(Arc::new(config(vec![t])), Arc::clone(&prober));
    sleep_past_phase("prod", secs(30), 3, secs(85)).await;
    let calls = prober.calls();
    assert_eq!(calls.len(), 9);
    for period in calls.chunks(3) {
        let r = period[0].round;
        assert!(period.iter().all(|c| c.round == r), "{period:?}");
    }
    assert!(calls[0].round < calls[3].round && calls[3].round < calls[6].round);
    sched.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_paid_invocation_runs_only_every_third_probe_when_invoke_interval_is_three_intervals() {
    let m = metrics();
    let prober = FakeProber::passing(Duration::from_millis(10));
    let sched = Scheduler::new(Arc::clone(&m));
    let mut t = target("prod", &["us-east-1"], &[M1], secs(10));
    t.settings.invoke_interval = secs(30);
    sched.start(Arc::new(config(vec![t])), Arc::clone(&prober));
    sleep_past_phase("prod", secs(10), 1, secs(65)).await;
    let pattern: Vec<bool> = prober.calls().iter().map(|c| c.run_invoke).collect();
    assert_eq!(pattern, [true, false, false, true, false, false, true]);
    // Between invocations, the invoke result stands in the metrics.
    let text = m.render();
    assert_eq!(
        value(
            &text,
            "bedrock_access_layer_success",
            &[("layer", "invoke")]
        ),
        Some(1.0)
    );
    sched.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_drops_removed_tuples_keeps_the_others_in_phase_and_adds_new_ones() {
    let m = metrics();
    let prober = FakeProber::passing(Duration::from_millis(10));
    let sched = Scheduler::new(Arc::clone(&m));
    let keep = target("keep", &["us-east-1"], &[M1], secs(20));
    let gone = target("gone", &["us-east-1"], &[M1], secs(20));
    sched.start(
        Arc::new(config(vec![keep.clone(), gone])),
        Arc::clone(&prober),
    );
    tokio::time::sleep(secs(45)).await;
    let keep_key = key("keep", "us-east-1", M1);
    assert!(m.tuples.get(&keep_key).is_some());
    assert!(m.render().contains("target=\"gone\""));

    let gone_key = key("gone", "us-east-1", M1);
    let gone_before = prober.calls_for(&gone_key).len();
    assert!(gone_before >= 2);
    let fresh = target("fresh", &["us-east-1"], &[M1], secs(20));
    sched.start(Arc::new(config(vec![keep, fresh])), Arc::clone(&prober));
    let text = m.render();
    assert!(!text.contains("target=\"gone\""), "{text}");
    assert!(
        m.tuples.get(&keep_key).is_some(),
        "unchanged tuple keeps its series"
    );

    tokio::time::sleep(secs(40)).await;
    let keep_calls = prober.calls_for(&keep_key);
    assert!(keep_calls.len() >= 3, "{keep_calls:?}");
    for w in keep_calls.windows(2) {
        assert_eq!(w[1].at - w[0].at, secs(20), "phase kept across the reload");
    }
    let gone_calls = prober.calls_for(&gone_key);
    assert_eq!(
        gone_calls.len(),
        gone_before,
        "no probes of a removed target after the reload"
    );
    assert!(m.tuples.get(&key("fresh", "us-east-1", M1)).is_some());
    assert!(!m.render().contains("target=\"gone\""));
    sched.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_a_probe_that_hangs() {
    let m = metrics();
    let prober = FakeProber::passing(secs(3600));
    let sched = Scheduler::new(Arc::clone(&m));
    let mut t = target("prod", &["us-east-1"], &[M1], secs(7200));
    t.settings.timeout = secs(7000);
    sched.start(Arc::new(config(vec![t])), Arc::clone(&prober));
    sleep_past_phase("prod", secs(7200), 1, secs(60)).await;
    assert_eq!(prober.calls().len(), 1);
    assert_eq!(m.probes_in_flight().get(), 1);
    let before = tokio::time::Instant::now();
    sched.shutdown().await;
    assert!(tokio::time::Instant::now() - before < secs(1));
    assert_eq!(m.probes_in_flight().get(), 0);
    assert!(m.tuples.is_empty(), "a cancelled probe records nothing");
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_ignores_its_timeout_is_abandoned_by_the_outer_guard() {
    let m = metrics();
    let prober = FakeProber::passing(secs(600));
    let sched = Scheduler::new(Arc::clone(&m));
    let mut t = target("prod", &["us-east-1"], &[M1], secs(3600));
    t.settings.timeout = secs(30);
    sched.start(Arc::new(config(vec![t])), Arc::clone(&prober));
    sleep_past_phase("prod", secs(3600), 1, secs(30)).await;
    assert_eq!(prober.calls().len(), 1);
    assert_eq!(
        m.probes_in_flight().get(),
        1,
        "still within timeout + guard"
    );
    tokio::time::sleep(secs(6)).await;
    assert_eq!(
        m.probes_in_flight().get(),
        0,
        "guard fired after timeout + 5s"
    );
    sched.shutdown().await;
}
