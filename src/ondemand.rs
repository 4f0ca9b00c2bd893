//! On-demand probes (`GET /probe`), bounded so that they can neither spend money on demand nor
//! starve the background schedule:
//!
//! * **Admission.** At most `[probe_endpoint] max_in_flight` requests are answered at once
//!   ([`OnDemand::admit`]); the HTTP layer refuses the others with 429 and `Retry-After`.
//! * **Concurrency.** Their probes take permits from the same pool as the background schedule
//!   (`[probe] concurrency`), and at most [`share_of`] it (half, at least 1) at once, so the
//!   background keeps the rest; the pool is fair (first come, first served).
//! * **The paid layers.** Per tuple, `invoke` (and `invoke_stream` with it) runs at most once
//!   per the target's `invoke_interval`, the background schedule's last invocation included: a
//!   request within that window, or one that arrives while the invocation is running (it waits
//!   for it), reuses those results ([`Reused`]) and runs only the free layers.
//! * **Budget.** Every tuple finishes by the request's deadline (the pipeline gets what is left
//!   as its timeout), or is reported unfinished.
//!
//! What the probes spend is counted in the exporter's own counters (`metrics::OnDemandMetrics`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::{OwnedMutexGuard, Semaphore};
use tokio::time::Instant;

use crate::config::{Config, InvokeMode, Target, TupleKey};
use crate::metrics::Metrics;
use crate::probe::{LayerResult, LayerStatus, ProbeReport, Round};
use crate::reason::Layer;
use crate::schedule::ProbeFn;

/// The permits of a `concurrency` pool that `/probe` may hold at once: half, at least 1.
pub fn share_of(concurrency: usize) -> usize {
    (concurrency / 2).max(1)
}

/// Where a reused invoke result comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The background schedule's last probe of the tuple.
    Background,
    /// An earlier (or concurrent) `/probe` of the tuple.
    OnDemand,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Background => "the background probe",
            Origin::OnDemand => "the /probe",
        }
    }
}

/// An invoke result reused instead of invoking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reused {
    /// When the reused invocation finished.
    pub at: SystemTime,
    pub origin: Origin,
}

/// The outcome of one tuple of a `/probe`.
#[derive(Debug, Clone)]
pub struct TupleOutcome {
    pub key: TupleKey,
    /// `None` when the probe did not finish within the request's budget. Its layers include
    /// the reused invoke result, if any.
    pub report: Option<ProbeReport>,
    pub reused: Option<Reused>,
}

/// One `/probe` request's work.
pub struct Job<'a, P> {
    pub prober: &'a P,
    pub config: &'a Config,
    pub target: &'a Target,
    pub keys: Vec<TupleKey>,
    /// The global pool of the running schedule.
    pub global: Arc<Semaphore>,
    /// The probes' budget ends here.
    pub deadline: Instant,
    /// How much longer than `deadline` a probe may take before it is abandoned.
    pub slack: Duration,
}

/// The last invocation a `/probe` made for a tuple.
#[derive(Debug, Clone)]
struct Cached {
    /// The paid layers' results (`invoke`, and `invoke_stream` when it is on).
    layers: Vec<LayerResult>,
    at: SystemTime,
    ran: Instant,
}

/// Paid layers' results fresh enough to reuse.
struct Reuse {
    layers: Vec<LayerResult>,
    at: SystemTime,
    origin: Origin,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// The `/probe` share of one running schedule's pool.
struct Share {
    global: Arc<Semaphore>,
    share: Arc<Semaphore>,
}

/// The state of on-demand probes, shared by every `/probe` request.
pub struct OnDemand {
    metrics: Arc<Metrics>,
    in_flight: AtomicUsize,
    share: Mutex<Option<Share>>,
    /// Per tuple: its last `/probe` invocation; the lock makes concurrent requests wait for the
    /// one invoking.
    invokes: Mutex<HashMap<TupleKey, Slot>>,
}

/// A request admitted by [`OnDemand::admit`]; it leaves when dropped.
pub struct Admission<'a>(&'a OnDemand);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.ondemand().in_flight().dec();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn gates_failed(layers: &[LayerResult]) -> bool {
    layers.iter().any(|l| {
        matches!(l.layer, Layer::Credentials | Layer::AssumeRole)
            && matches!(l.status, LayerStatus::Failed(_))
    })
}

/// `target` with its timeout cut to what is left until `deadline`.
fn budgeted(target: &Target, deadline: Instant) -> Cow<'_, Target> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left >= target.settings.timeout {
        return Cow::Borrowed(target);
    }
    let mut t = target.clone();
    t.settings.timeout = left.max(Duration::from_millis(1));
    Cow::Owned(t)
}

impl OnDemand {
    pub fn new(metrics: Arc<Metrics>) -> OnDemand {
        OnDemand {
            metrics,
            in_flight: AtomicUsize::new(0),
            share: Mutex::new(None),
            invokes: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a request if fewer than `max` are being answered.
    pub fn admit(&self, max: usize) -> Option<Admission<'_>> {
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        self.metrics.ondemand().in_flight().inc();
        Some(Admission(self))
    }

    /// Probes the job's tuples, at most the `/probe` share (and the target's own `concurrency`)
    /// at once; sorted by key.
    pub async fn probe<P: ProbeFn>(&self, job: Job<'_, P>) -> Vec<TupleOutcome> {
        let (share, size) = self.share(&job);
        let round = job.prober.new_round();
        let (job, round, share) = (&job, &round, &share);
        let mut out: Vec<TupleOutcome> = futures::stream::iter(job.keys.clone())
            .map(|key| async move {
                let cut = job.deadline + job.slack;
                match tokio::time::timeout_at(cut, self.tuple(job, round, share, &key)).await {
                    Ok(outcome) => outcome,
                    Err(_) => TupleOutcome {
                        key,
                        report: None,
                        reused: None,
                    },
                }
            })
            .buffer_unordered(size.min(job.target.settings.concurrency).max(1))
            .collect()
            .await;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The `/probe` share of the job's pool (a new pool means a new configuration: its share
    /// is made, and the tuples it no longer has are forgotten).
    fn share<P>(&self, job: &Job<'_, P>) -> (Arc<Semaphore>, usize) {
        let size = share_of(job.config.defaults.concurrency);
        let mut current = lock(&self.share);
        if let Some(s) = current.as_ref()
            && Arc::ptr_eq(&s.global, &job.global)
        {
            return (Arc::clone(&s.share), size);
        }
        let share = Arc::new(Semaphore::new(size.min(Semaphore::MAX_PERMITS)));
        *current = Some(Share {
            global: Arc::clone(&job.global),
            share: Arc::clone(&share),
        });
        drop(current);
        let keys: HashSet<TupleKey> = job.config.tuples().into_iter().map(|(k, _)| k).collect();
        lock(&self.invokes).retain(|k, _| keys.contains(k));
        (share, size)
    }

    fn slot(&self, key: &TupleKey) -> Slot {
        Arc::clone(lock(&self.invokes).entry(key.clone()).or_default())
    }

    /// One tuple: waits for a running invocation of it, reuses a fresh invoke result or
    /// invokes (and remembers it), within the pools.
    async fn tuple<P: ProbeFn>(
        &self,
        job: &Job<'_, P>,
        round: &Round,
        share: &Arc<Semaphore>,
        key: &TupleKey,
    ) -> TupleOutcome {
        // A many-account target's tuple is probed by the member of its account.
        let target = job.target.member_for(&key.account);
        let invoke_on = target.settings.invoke != InvokeMode::None;
        // Only a probe that may invoke takes the tuple's slot (and keeps it while it invokes).
        let mut held: Option<OwnedMutexGuard<Option<Cached>>> = if invoke_on {
            Some(self.slot(key).lock_owned().await)
        } else {
            None
        };
        let reuse = held
            .as_ref()
            .and_then(|own| self.freshest(key, own.as_ref(), target.settings.invoke_interval));
        if reuse.is_some() {
            held = None;
        }
        let _share = Arc::clone(share).acquire_owned().await.ok();
        let _global = Arc::clone(&job.global).acquire_owned().await.ok();
        let run_invoke = invoke_on && reuse.is_none();
        let budgeted = budgeted(target, job.deadline);
        let mut report = job
            .prober
            .probe(&budgeted, &key.aws_region, &key.model_id, round, run_invoke)
            .await;
        let paid = paid_layers(&report.layers);
        if let Some(own) = held.as_mut()
            && report.invoke_ran
            && !paid.is_empty()
        {
            **own = Some(Cached {
                layers: paid,
                at: report.finished_at,
                ran: Instant::now(),
            });
        }
        drop(held);
        let reused = match reuse {
            Some(r) if !gates_failed(&report.layers) => {
                report.layers.extend(r.layers);
                report.layers.sort_by_key(|l| l.layer);
                Some(Reused {
                    at: r.at,
                    origin: r.origin,
                })
            }
            _ => None,
        };
        self.metrics
            .ondemand()
            .record(&report, target.settings.expect, reused.is_some());
        TupleOutcome {
            key: key.clone(),
            report: Some(report),
            reused,
        }
    }

    /// The newest invoke result of `key` younger than `window`: this exporter's last `/probe`
    /// invocation (`own`) or the background schedule's.
    fn freshest(&self, key: &TupleKey, own: Option<&Cached>, window: Duration) -> Option<Reuse> {
        let mine = own.filter(|c| c.ran.elapsed() < window).map(|c| Reuse {
            layers: c.layers.clone(),
            at: c.at,
            origin: Origin::OnDemand,
        });
        let background = self.metrics.tuples.get(key).and_then(|s| {
            let at = s.last_invoke?;
            let age = SystemTime::now().duration_since(at).unwrap_or_default();
            if age >= window {
                return None;
            }
            let layers = paid_layers(&s.report.layers);
            if layers.is_empty() {
                return None;
            }
            Some(Reuse {
                layers,
                at,
                origin: Origin::Background,
            })
        });
        match (mine, background) {
            (Some(m), Some(b)) => Some(if b.at > m.at { b } else { m }),
            (m, b) => m.or(b),
        }
    }
}

/// The results of the paid layers (`invoke`, `invoke_stream`) among `layers`.
fn paid_layers(layers: &[LayerResult]) -> Vec<LayerResult> {
    layers
        .iter()
        .filter(|l| l.layer.is_invocation())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_holds_at_most_half_of_the_pool() {
        assert_eq!(share_of(1), 1);
        assert_eq!(share_of(2), 1);
        assert_eq!(share_of(8), 4);
        assert_eq!(share_of(9), 4);
    }

    #[test]
    fn admission_stops_at_the_bound_and_frees_a_place_when_a_request_ends() {
        let metrics = Arc::new(Metrics::new().expect("registry"));
        let od = OnDemand::new(metrics);
        let a = od.admit(2);
        let b = od.admit(2);
        assert!(a.is_some() && b.is_some());
        assert!(od.admit(2).is_none());
        drop(a);
        assert!(od.admit(2).is_some());
    }
}
