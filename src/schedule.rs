//! The background schedule: every tuple is probed once per interval of its target, at a stable
//! offset inside the interval so that probes are spread evenly (no thundering herd at start or
//! after a reload), with a global concurrency bound, an outer timeout guard, one [`Round`] per
//! target per interval period, and the invoke layer at most once per `invoke_interval`.
//!
//! Timing: every target has periods `epoch + phase + k·interval`; tuple `i` of the target's `n`
//! tuples (those of this replica's shard, in the order of [`plan`]) starts at `i·interval/n`
//! into each period. `epoch` is when the scheduler was created
//! and stays across reloads, and `phase` is a hash of the target's name, so an unchanged target
//! keeps its rhythm when the configuration is reloaded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Discovery, InvokeMode, Target, TupleKey};
use crate::metrics::Metrics;
use crate::probe::organizations::{DiscoveryFailure, DiscoveryReason};
use crate::probe::{ProbeReport, Prober, Round};
use crate::reason::Reason;

pub mod plan;

/// Extra time the outer guard gives a probe beyond its configured timeout (the prober enforces
/// the timeout itself; the guard only catches a probe that does not).
pub const TIMEOUT_GUARD: Duration = Duration::from_secs(5);

/// Something that probes tuples: the real [`Prober`], or a fake in tests.
pub trait ProbeFn: Send + Sync + 'static {
    /// A fresh round; its credentials are shared by the tuples of one target in one period.
    fn new_round(&self) -> Round;

    /// Probes one tuple. With `run_invoke == false` the invoke layer is skipped.
    fn probe<'a>(
        &'a self,
        target: &'a Target,
        region: &'a str,
        model: &'a str,
        round: &'a Round,
        run_invoke: bool,
    ) -> impl Future<Output = ProbeReport> + Send + 'a;

    /// The accounts `discovery` finds for `target` now (AWS Organizations). A prober that
    /// cannot discover (a fake) answers with a failure.
    fn discover<'a>(
        &'a self,
        target: &'a Target,
        discovery: &'a Discovery,
    ) -> impl Future<Output = Result<Vec<String>, DiscoveryFailure>> + Send + 'a {
        let _ = (target, discovery);
        async {
            Err(DiscoveryFailure {
                reason: DiscoveryReason::Probe(Reason::Unknown),
                error_code: None,
                message: "this prober does not discover accounts".to_string(),
            })
        }
    }
}

impl ProbeFn for Prober {
    fn new_round(&self) -> Round {
        Prober::new_round(self)
    }

    fn probe<'a>(
        &'a self,
        target: &'a Target,
        region: &'a str,
        model: &'a str,
        round: &'a Round,
        run_invoke: bool,
    ) -> impl Future<Output = ProbeReport> + Send + 'a {
        Prober::probe(self, target, region, model, round, run_invoke)
    }

    fn discover<'a>(
        &'a self,
        target: &'a Target,
        discovery: &'a Discovery,
    ) -> impl Future<Output = Result<Vec<String>, DiscoveryFailure>> + Send + 'a {
        Prober::discover(self, target, discovery)
    }
}

/// Start offsets of `n` tuples spread evenly over `interval`: `i·interval/n`.
pub fn offsets(n: usize, interval: Duration) -> Vec<Duration> {
    if n == 0 {
        return Vec::new();
    }
    let step = interval.as_nanos() / n as u128;
    (0..n)
        .map(|i| nanos(step.saturating_mul(i as u128)))
        .collect()
}

/// A stable phase for a target, inside its first slot (`interval / n`), from its name (FNV-1a,
/// so it is the same in every build and every run).
pub fn target_phase(name: &str, interval: Duration, n: usize) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let slot = interval.as_nanos() / n.max(1) as u128;
    if slot == 0 {
        return Duration::ZERO;
    }
    nanos(u128::from(h) % slot)
}

fn nanos(n: u128) -> Duration {
    let secs = n / 1_000_000_000;
    let sub = (n % 1_000_000_000) as u32;
    Duration::new(u64::try_from(secs).unwrap_or(u64::MAX), sub)
}

/// Whether a probe planned at `planned` runs the invoke layer, given when a probe last ran it.
pub fn should_invoke(
    mode: InvokeMode,
    invoke_interval: Duration,
    last_invoke_planned: Option<Instant>,
    planned: Instant,
) -> bool {
    if mode == InvokeMode::None {
        return false;
    }
    match last_invoke_planned {
        None => true,
        Some(last) => planned.saturating_duration_since(last) >= invoke_interval,
    }
}

/// Counts running probe tasks, so that shutdown can wait for them.
#[derive(Default)]
struct Tracker {
    count: AtomicUsize,
    idle: Notify,
}

struct TrackGuard(Arc<Tracker>);

impl Tracker {
    fn enter(self: &Arc<Self>) -> TrackGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        TrackGuard(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.probes_in_flight().inc();
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.probes_in_flight().dec();
    }
}

struct Running {
    loops: CancellationToken,
    handles: Vec<JoinHandle<()>>,
    /// The global bound on probes in flight (`[probe] concurrency`).
    permits: Arc<Semaphore>,
}

/// Shared by the loops and probe tasks of all generations.
struct Shared {
    metrics: Arc<Metrics>,
    epoch: Instant,
    shutdown: CancellationToken,
    /// Planned start of the last probe that ran the invoke layer, per tuple (kept across
    /// reloads so a reload does not cause an extra paid invocation).
    invoke_memory: Mutex<HashMap<TupleKey, Instant>>,
    tracker: Arc<Tracker>,
}

impl Shared {
    fn memory(&self) -> MutexGuard<'_, HashMap<TupleKey, Instant>> {
        self.invoke_memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The background scheduler. [`Scheduler::start`] runs a configuration; calling it again swaps
/// in a new one; [`Scheduler::shutdown`] stops everything.
pub struct Scheduler<P: ProbeFn> {
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
    _prober: std::marker::PhantomData<fn() -> P>,
}

impl<P: ProbeFn> Scheduler<P> {
    pub fn new(metrics: Arc<Metrics>) -> Scheduler<P> {
        Scheduler {
            shared: Arc::new(Shared {
                metrics,
                epoch: Instant::now(),
                shutdown: CancellationToken::new(),
                invoke_memory: Mutex::new(HashMap::new()),
                tracker: Arc::new(Tracker::default()),
            }),
            running: Mutex::new(None),
            _prober: std::marker::PhantomData,
        }
    }

    fn running(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `config` with `prober`, replacing the configuration running before. Probes already
    /// in flight finish (their results are dropped if their tuple is gone); tuples that stay
    /// keep their series and their phase. Applies the tuple set to the metrics.
    pub fn start(&self, config: Arc<Config>, prober: Arc<P>) {
        self.run(config, prober, true);
    }

    /// [`Scheduler::start`] for a change of the tuples that is not a reload of the file (the
    /// accounts discovery found): the reload status stays as it is.
    pub fn restart(&self, config: Arc<Config>, prober: Arc<P>) {
        self.run(config, prober, false);
    }

    fn run(&self, config: Arc<Config>, prober: Arc<P>, reloaded: bool) {
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        // Everything that could fail comes before anything shared changes.
        let permits = config.defaults.concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let semaphore = Arc::new(Semaphore::new(permits));
        let shard = self.shared.metrics.shard();
        let keys: std::collections::HashSet<TupleKey> = config
            .tuples_where(|t, a, r| shard.owns_gate(t, a, r))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        if reloaded {
            self.shared.metrics.apply_config(&config);
        } else {
            self.shared.metrics.apply_tuples(&config);
        }
        self.shared.memory().retain(|k, _| keys.contains(k));
        let loops = self.shared.shutdown.child_token();
        let mut handles = Vec::new();
        for target in &config.targets {
            let target = Arc::new(target.clone());
            handles.push(tokio::spawn(run_target(
                Arc::clone(&self.shared),
                Arc::clone(&prober),
                target,
                Arc::clone(&semaphore),
                loops.clone(),
            )));
        }
        let previous = self.running().replace(Running {
            loops,
            handles,
            permits: semaphore,
        });
        if let Some(prev) = previous {
            prev.loops.cancel();
        }
    }

    /// The bound on probes in flight of the running configuration, shared with `/probe`.
    pub fn permits(&self) -> Option<Arc<Semaphore>> {
        self.running().as_ref().map(|r| Arc::clone(&r.permits))
    }

    /// Whether a configuration is running.
    pub fn is_running(&self) -> bool {
        self.running().is_some() && !self.shared.shutdown.is_cancelled()
    }

    /// Stops scheduling, cancels the probes in flight and waits for them to end.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let running = self.running().take();
        if let Some(r) = running {
            for h in r.handles {
                let _ = h.await;
            }
        }
        self.shared.tracker.wait_idle().await;
    }
}

async fn run_target<P: ProbeFn>(
    shared: Arc<Shared>,
    prober: Arc<P>,
    target: Arc<Target>,
    semaphore: Arc<Semaphore>,
    loops: CancellationToken,
) {
    let tuples = plan::plan(&target, shared.metrics.shard());
    let n = tuples.len();
    if n == 0 {
        return;
    }
    let interval = target.settings.interval.max(Duration::from_millis(1));
    let offs = offsets(n, interval);
    let first_start = shared.epoch + target_phase(&target.name, interval, n);
    let period_of =
        |t: Instant| t.saturating_duration_since(first_start).as_nanos() / interval.as_nanos();
    let mut started = Instant::now();
    let mut k = period_of(started);
    let mut resuming = true;
    // The round of the previous period, for the gates whose own round started then.
    let mut previous: Option<Arc<Round>> = None;
    loop {
        let period_start = first_start + nanos(interval.as_nanos().saturating_mul(k));
        // Made when the period's first probe starts, shared by the period's tuples.
        let mut round: Option<Arc<Round>> = None;
        for (i, planned_tuple) in tuples.iter().enumerate() {
            let planned = period_start + offs[i];
            // At start and after a reload, slots already past in this period wait for the next.
            if resuming && planned < started {
                continue;
            }
            tokio::select! {
                _ = loops.cancelled() => return,
                _ = tokio::time::sleep_until(planned) => {}
            }
            // Right after a start or reload there is no previous round: the gate's first
            // round begins now.
            let slot = if planned_tuple.previous_round && previous.is_some() {
                &mut previous
            } else {
                &mut round
            };
            let task = ProbeTask {
                shared: Arc::clone(&shared),
                prober: Arc::clone(&prober),
                target: Arc::clone(&planned_tuple.target),
                key: planned_tuple.key.clone(),
                round: Arc::clone(slot.get_or_insert_with(|| Arc::new(prober.new_round()))),
                planned,
            };
            let guard = shared.tracker.enter();
            let sem = Arc::clone(&semaphore);
            tokio::spawn(async move {
                let _guard = guard;
                task.run(sem).await;
            });
        }
        previous = round;
        resuming = false;
        k += 1;
        // If the process was stalled (e.g. suspended) for more than a period, skip ahead
        // instead of bursting through the missed slots.
        let now = Instant::now();
        if period_of(now) > k {
            tracing::warn!(target = %target.name, "schedule fell behind by more than an interval; skipping missed slots");
            k = period_of(now);
            started = now;
            resuming = true;
            previous = None;
        }
    }
}

struct ProbeTask<P: ProbeFn> {
    shared: Arc<Shared>,
    prober: Arc<P>,
    target: Arc<Target>,
    key: TupleKey,
    round: Arc<Round>,
    planned: Instant,
}

impl<P: ProbeFn> ProbeTask<P> {
    async fn run(self, semaphore: Arc<Semaphore>) {
        let shutdown = self.shared.shutdown.clone();
        let _permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = semaphore.acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let metrics = &self.shared.metrics;
        let lag = Instant::now().saturating_duration_since(self.planned);
        metrics.schedule_lag().observe(lag.as_secs_f64());
        let _in_flight = InFlight::new(metrics);
        let settings = &self.target.settings;
        let last = self.shared.memory().get(&self.key).copied();
        let run_invoke = should_invoke(
            settings.invoke,
            settings.invoke_interval,
            last,
            self.planned,
        );
        let probe = self.prober.probe(
            &self.target,
            &self.key.aws_region,
            &self.key.model_id,
            &self.round,
            run_invoke,
        );
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(settings.timeout + TIMEOUT_GUARD, probe) => r,
        };
        match outcome {
            Ok(report) => {
                if report.invoke_ran {
                    self.shared.memory().insert(self.key.clone(), self.planned);
                }
                // The pipeline logs each failed layer itself (one line per failure).
                let key = report.key.clone();
                if let Some(state) = metrics.record(report) {
                    tracing::debug!(
                        target = %key.target,
                        aws_region = %key.aws_region,
                        model_id = %key.model_id,
                        success = state.success,
                        run_invoke,
                        "probe finished"
                    );
                }
            }
            Err(_) => {
                tracing::warn!(
                    target = %self.key.target,
                    aws_region = %self.key.aws_region,
                    model_id = %self.key.model_id,
                    limit = ?settings.timeout + TIMEOUT_GUARD,
                    "probe did not finish within its timeout; abandoned"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_tuples_over_a_minute_start_six_seconds_apart() {
        let o = offsets(10, Duration::from_secs(60));
        assert_eq!(o.len(), 10);
        for (i, d) in o.iter().enumerate() {
            assert_eq!(*d, Duration::from_secs(6 * i as u64));
        }
        assert!(offsets(0, Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn a_target_keeps_its_phase_and_it_lies_inside_the_first_slot() {
        let a = target_phase("prod", Duration::from_secs(60), 4);
        assert_eq!(a, target_phase("prod", Duration::from_secs(60), 4));
        assert!(a < Duration::from_secs(15));
        let b = target_phase("staging", Duration::from_secs(60), 4);
        assert_ne!(a, b, "different targets should not start together");
    }

    #[test]
    fn the_paid_layer_runs_at_most_once_per_invoke_interval() {
        let t0 = Instant::now();
        let five = Duration::from_secs(300);
        assert!(should_invoke(InvokeMode::Converse, five, None, t0));
        assert!(!should_invoke(
            InvokeMode::Converse,
            five,
            Some(t0),
            t0 + Duration::from_secs(60)
        ));
        assert!(should_invoke(
            InvokeMode::Converse,
            five,
            Some(t0),
            t0 + five
        ));
        assert!(!should_invoke(InvokeMode::None, five, None, t0));
    }
}
