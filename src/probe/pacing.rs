//! Pacing under AWS's quotas: every STS and Bedrock call waits for its slot in a per (account,
//! service) schedule, so that one account never sees more than its configured calls per second
//! from the whole fleet of replicas; an account that throttles is slowed down (AIMD: the rate
//! halves at each throttled answer and grows back by a twentieth of the limit per answered
//! call).
//!
//! Each key is a GCRA-style bucket of burst one: calls are spaced `1 / rate` apart (less a 5%
//! margin for network jitter), so any one-second window holds at most `rate` calls. A replica
//! paces at its share of the fleet's limit (`limit / shard count`). Memory is bounded: at most
//! [`MAX_KEYS`] buckets, idle ones evicted first.
//!
//! Exported (registered by the daemon): `bedrock_access_exporter_pacing_delay_seconds{service}`
//! (how long calls waited for their slot), `bedrock_access_exporter_pacing_limit{service}` (this
//! replica's rate per account), `bedrock_access_exporter_pacing_rate{account,service}` (only
//! for accounts slowed below that limit, so none in a healthy fleet and never more than
//! [`MAX_KEYS`]) and `bedrock_access_exporter_pacing_throttled_total{service}`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts};
use tokio::time::Instant;

use crate::config::Limits;

/// The most (account, service) buckets kept.
pub const MAX_KEYS: usize = 10_000;
/// Calls are spaced this much wider than `1 / rate`, so jitter on the way cannot push a
/// one-second window over the limit.
const MARGIN: f64 = 1.05;
/// The slowest an account is paced at, as a fraction of its limit.
const MIN_FRACTION: f64 = 1.0 / 64.0;
/// What an answered call gives back to a slowed account, as a fraction of its limit.
const RECOVERY: f64 = 1.0 / 20.0;

/// The services paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Sts,
    Bedrock,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Bedrock => "bedrock",
        }
    }
}

struct Bucket {
    /// Current calls per second (the limit, or less after throttling).
    rate: f64,
    /// The earliest start of the next call.
    next: Instant,
}

struct Inner {
    limits: Limits,
    /// This replica's share of the fleet's limits.
    share: f64,
    buckets: HashMap<(String, Service), Bucket>,
}

impl Inner {
    fn limit(&self, service: Service) -> f64 {
        let l = match service {
            Service::Sts => self.limits.sts_per_second,
            Service::Bedrock => self.limits.bedrock_per_second,
        };
        l * self.share
    }
}

/// The per (account, service) pacing of one process.
pub struct Pacer {
    inner: Mutex<Inner>,
    delay: HistogramVec,
    limit: GaugeVec,
    rate: GaugeVec,
    throttled: IntCounterVec,
}

/// A call that was not sent: its slot lay beyond the probe's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Paced {
    pub account: String,
    pub service: Service,
    /// This replica's rate for the key when the call was refused.
    pub rate: f64,
    pub wait: Duration,
}

impl Pacer {
    /// A pacer with `limits`, for replica one of `shards`.
    pub fn new(limits: &Limits, shards: u32) -> Result<Pacer, prometheus::Error> {
        let delay = HistogramVec::new(
            HistogramOpts::new(
                "bedrock_access_exporter_pacing_delay_seconds",
                "How long AWS calls waited for their slot under the per-account pacing.",
            )
            .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]),
            &["service"],
        )?;
        let limit = GaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_pacing_limit",
                "Calls per second this replica allows in one account ([limits] divided by the shard count).",
            ),
            &["service"],
        )?;
        let rate = GaugeVec::new(
            Opts::new(
                "bedrock_access_exporter_pacing_rate",
                "Calls per second allowed in an account that AWS throttled (only accounts slowed below the limit).",
            ),
            &["account", "service"],
        )?;
        let throttled = IntCounterVec::new(
            Opts::new(
                "bedrock_access_exporter_pacing_throttled_total",
                "Throttled AWS answers that slowed an account down.",
            ),
            &["service"],
        )?;
        let pacer = Pacer {
            inner: Mutex::new(Inner {
                limits: limits.clone(),
                share: 1.0,
                buckets: HashMap::new(),
            }),
            delay,
            limit,
            rate,
            throttled,
        };
        pacer.configure(limits, shards);
        Ok(pacer)
    }

    /// The collectors to register in a registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.delay.clone()),
            Box::new(self.limit.clone()),
            Box::new(self.rate.clone()),
            Box::new(self.throttled.clone()),
        ]
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies (re)loaded limits; every bucket starts again at the new limit.
    pub fn configure(&self, limits: &Limits, shards: u32) {
        let mut inner = self.lock();
        inner.limits = limits.clone();
        inner.share = 1.0 / f64::from(shards.max(1));
        let (sts, bedrock) = (inner.limit(Service::Sts), inner.limit(Service::Bedrock));
        for ((_, service), b) in inner.buckets.iter_mut() {
            b.rate = match service {
                Service::Sts => sts,
                Service::Bedrock => bedrock,
            };
        }
        self.rate.reset();
        self.limit.with_label_values(&["sts"]).set(sts);
        self.limit.with_label_values(&["bedrock"]).set(bedrock);
    }

    /// Waits for the slot of `calls` calls to `service` in `account`, unless it lies past
    /// `deadline` (then nothing is reserved and the would-be wait is returned).
    pub async fn acquire(
        &self,
        account: &str,
        service: Service,
        calls: u32,
        deadline: Instant,
    ) -> Result<Duration, Paced> {
        let now = Instant::now();
        let slot = {
            let mut inner = self.lock();
            let limit = inner.limit(service);
            let key = (account.to_string(), service);
            if !inner.buckets.contains_key(&key) {
                evict(&mut inner, now, &self.rate);
            }
            let b = inner.buckets.entry(key).or_insert(Bucket {
                rate: limit,
                next: now,
            });
            let slot = b.next.max(now);
            if slot > deadline {
                return Err(Paced {
                    account: account.to_string(),
                    service,
                    rate: b.rate,
                    wait: slot - now,
                });
            }
            let spacing = MARGIN * f64::from(calls.max(1)) / b.rate;
            b.next = slot + Duration::from_secs_f64(spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
        let waited = slot - now;
        self.delay
            .with_label_values(&[service.as_str()])
            .observe(waited.as_secs_f64());
        Ok(waited)
    }

    /// AWS throttled a call to `service` in `account`: halve its rate (adaptive pacing).
    pub fn throttled(&self, account: &str, service: Service) {
        self.throttled.with_label_values(&[service.as_str()]).inc();
        let mut inner = self.lock();
        if !inner.limits.adaptive {
            return;
        }
        let limit = inner.limit(service);
        if let Some(b) = inner.buckets.get_mut(&(account.to_string(), service)) {
            b.rate = (b.rate / 2.0).max(limit * MIN_FRACTION);
            self.rate
                .with_label_values(&[account, service.as_str()])
                .set(b.rate);
        }
    }

    /// A call to `service` in `account` was answered: a slowed account gets some rate back.
    pub fn answered(&self, account: &str, service: Service) {
        let mut inner = self.lock();
        let limit = inner.limit(service);
        if let Some(b) = inner.buckets.get_mut(&(account.to_string(), service))
            && b.rate < limit
        {
            b.rate = (b.rate + limit * RECOVERY).min(limit);
            if b.rate >= limit {
                let _ = self.rate.remove_label_values(&[account, service.as_str()]);
            } else {
                self.rate
                    .with_label_values(&[account, service.as_str()])
                    .set(b.rate);
            }
        }
    }

    /// The current rate of a key (this replica's), if it has a bucket.
    pub fn rate_of(&self, account: &str, service: Service) -> Option<f64> {
        self.lock()
            .buckets
            .get(&(account.to_string(), service))
            .map(|b| b.rate)
    }

    /// How many buckets are kept.
    pub fn keys(&self) -> usize {
        self.lock().buckets.len()
    }
}

/// Makes room for one more bucket: drops idle buckets at full rate (their next slot has
/// passed), or when there are none, the one whose slot passed longest ago.
fn evict(inner: &mut Inner, now: Instant, rate: &GaugeVec) {
    if inner.buckets.len() < MAX_KEYS {
        return;
    }
    let (sts, bedrock) = (inner.limit(Service::Sts), inner.limit(Service::Bedrock));
    inner.buckets.retain(|(_, service), b| {
        let limit = match service {
            Service::Sts => sts,
            Service::Bedrock => bedrock,
        };
        b.next > now || b.rate < limit
    });
    if inner.buckets.len() >= MAX_KEYS
        && let Some(oldest) = inner
            .buckets
            .iter()
            .min_by_key(|(_, b)| b.next)
            .map(|(k, _)| k.clone())
    {
        inner.buckets.remove(&oldest);
        let _ = rate.remove_label_values(&[&oldest.0, oldest.1.as_str()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(sts: f64, bedrock: f64) -> Limits {
        Limits {
            sts_per_second: sts,
            bedrock_per_second: bedrock,
            adaptive: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_in_one_account_are_spaced_and_other_accounts_are_not_held_up() {
        let p = Pacer::new(&limits(100.0, 4.0), 1).expect("pacer");
        let far = Instant::now() + Duration::from_secs(60);
        let start = Instant::now();
        for _ in 0..9 {
            p.acquire("222222222222", Service::Bedrock, 1, far)
                .await
                .expect("within budget");
        }
        let took = start.elapsed();
        // Nine calls at 4/s (with the 5% margin): the ninth starts 8 × 0.2625 s after the first.
        assert!(
            took >= Duration::from_millis(2090) && took <= Duration::from_millis(2110),
            "{took:?}"
        );
        let other = Instant::now();
        p.acquire("333333333333", Service::Bedrock, 1, far)
            .await
            .expect("within budget");
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_budget_is_refused_without_being_reserved() {
        let p = Pacer::new(&limits(100.0, 1.0), 1).expect("pacer");
        let soon = Instant::now() + Duration::from_millis(500);
        assert!(p.acquire("a", Service::Bedrock, 1, soon).await.is_ok());
        let refused = p.acquire("a", Service::Bedrock, 1, soon).await;
        assert!(matches!(refused, Err(Paced { wait, .. }) if wait > Duration::from_millis(900)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_account_slows_down_then_recovers_and_replicas_share_the_limit() {
        let p = Pacer::new(&limits(100.0, 8.0), 2).expect("pacer");
        let far = Instant::now() + Duration::from_secs(60);
        let _ = p.acquire("a", Service::Bedrock, 1, far).await;
        assert_eq!(
            p.rate_of("a", Service::Bedrock),
            Some(4.0),
            "half the limit per replica"
        );
        p.throttled("a", Service::Bedrock);
        p.throttled("a", Service::Bedrock);
        assert_eq!(p.rate_of("a", Service::Bedrock), Some(1.0));
        for _ in 0..30 {
            p.answered("a", Service::Bedrock);
        }
        assert_eq!(p.rate_of("a", Service::Bedrock), Some(4.0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_buckets_stay_bounded() {
        let p = Pacer::new(&limits(100.0, 10.0), 1).expect("pacer");
        let far = Instant::now() + Duration::from_secs(60);
        for i in 0..(MAX_KEYS + 50) {
            let _ = p.acquire(&format!("{i:012}"), Service::Sts, 1, far).await;
        }
        assert!(p.keys() <= MAX_KEYS, "{}", p.keys());
    }
}
