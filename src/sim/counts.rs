//! What the simulator saw, for the fleet tests and benchmarks: calls per operation, the peak
//! calls per second (calendar seconds) per calling account and service family (`sts`,
//! `bedrock` for the control plane and the runtime together, `organizations`, `iam`), and per
//! (role ARN, region) how many AssumeRole calls came and the shortest gap between two of them.
//! Memory is bounded: at most [`MAX_KEYS`] keys per table (further keys are counted in the
//! totals only).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Keys kept per table.
pub const MAX_KEYS: usize = 200_000;

#[derive(Default)]
struct Window {
    second: u64,
    in_second: u64,
    peak: u64,
    total: u64,
}

struct Assumed {
    last: Instant,
    count: u64,
    min_gap: Option<f64>,
}

#[derive(Default)]
struct Inner {
    operations: HashMap<String, u64>,
    accounts: HashMap<(String, &'static str), Window>,
    assumed: HashMap<(String, String), Assumed>,
}

/// The counters of one simulator.
#[derive(Default)]
pub struct Counts {
    inner: Mutex<Inner>,
}

/// The family a signing service belongs to.
fn family(service: &str) -> &'static str {
    match service {
        "sts" => "sts",
        "bedrock" | "bedrock-runtime" => "bedrock",
        "organizations" => "organizations",
        "iam" => "iam",
        _ => "other",
    }
}

impl Counts {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one authenticated call of `account` to `service`'s `operation`; `role_arn` is
    /// the role an AssumeRole asks for.
    pub fn record(
        &self,
        account: &str,
        service: &str,
        operation: &str,
        region: &str,
        role_arn: Option<&str>,
    ) {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let fam = family(service);
        let mut inner = self.lock();
        let op = format!("{fam}:{operation}");
        if inner.operations.len() < MAX_KEYS || inner.operations.contains_key(&op) {
            *inner.operations.entry(op).or_insert(0) += 1;
        }
        let key = (account.to_owned(), fam);
        if inner.accounts.len() < MAX_KEYS || inner.accounts.contains_key(&key) {
            let w = inner.accounts.entry(key).or_default();
            if w.second != second {
                w.second = second;
                w.in_second = 0;
            }
            w.in_second += 1;
            w.total += 1;
            w.peak = w.peak.max(w.in_second);
        }
        if let Some(role) = role_arn {
            let now = Instant::now();
            let key = (role.chars().take(2048).collect(), region.to_owned());
            if inner.assumed.len() < MAX_KEYS || inner.assumed.contains_key(&key) {
                let a = inner.assumed.entry(key).or_insert(Assumed {
                    last: now,
                    count: 0,
                    min_gap: None,
                });
                if a.count > 0 {
                    let gap = now.duration_since(a.last).as_secs_f64();
                    a.min_gap = Some(a.min_gap.map_or(gap, |g| g.min(gap)));
                }
                a.count += 1;
                a.last = now;
            }
        }
    }

    /// Everything as JSON: `operations`, `accounts` (account → family → `peak_per_second`,
    /// `total`), `assume_role` (one entry per role ARN and region: `count`,
    /// `min_gap_seconds`).
    pub fn to_json(&self) -> Value {
        let inner = self.lock();
        let mut accounts = serde_json::Map::new();
        for ((account, fam), w) in &inner.accounts {
            let entry = accounts.entry(account.clone()).or_insert_with(|| json!({}));
            entry[*fam] = json!({ "peak_per_second": w.peak, "total": w.total });
        }
        let assumed: Vec<Value> = inner
            .assumed
            .iter()
            .map(|((role, region), a)| {
                json!({
                    "role_arn": role,
                    "region": region,
                    "count": a.count,
                    "min_gap_seconds": a.min_gap,
                })
            })
            .collect();
        json!({
            "operations": inner.operations,
            "accounts": accounts,
            "assume_role": assumed,
        })
    }
}
