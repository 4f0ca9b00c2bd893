//! `rate_limit`: one token bucket for the whole server, as in the exporter toolkit — `burst`
//! requests at once, then one more every `interval`; a request without a token is answered
//! 429 Too Many Requests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::file::RateLimit;

#[derive(Debug)]
pub struct RateLimiter {
    pub limit: RateLimit,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(limit.burst),
                at: Instant::now(),
            }),
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut b = match self.bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(b.at);
        b.at = now;
        let per_token = self.limit.interval.max(Duration::from_nanos(1));
        b.tokens = (b.tokens + elapsed.as_secs_f64() / per_token.as_secs_f64())
            .min(f64::from(self.limit.burst));
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_request_per_interval() {
        let l = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 3,
        });
        let t0 = Instant::now();
        assert!(l.allow_at(t0) && l.allow_at(t0) && l.allow_at(t0));
        assert!(!l.allow_at(t0), "the burst is spent");
        assert!(!l.allow_at(t0 + Duration::from_millis(900)));
        assert!(l.allow_at(t0 + Duration::from_millis(1000)));
        assert!(!l.allow_at(t0 + Duration::from_millis(1100)));
        // A long pause refills the bucket up to the burst, no further.
        let later = t0 + Duration::from_secs(60);
        assert!(l.allow_at(later) && l.allow_at(later) && l.allow_at(later));
        assert!(!l.allow_at(later));
    }
}
