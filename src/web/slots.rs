//! The open connections and where each one is: waiting for a request head, being handled,
//! writing its response, or idle between requests. Each phase but handling has a deadline
//! (header-read timeout, write stall, idle timeout), and the number of connections is capped.
//!
//! **Why eviction.** At the cap, a new connection closes the one that has waited longest without
//! a request in progress (reading a head or idle) instead of being refused: whoever opens
//! connections and sends nothing cannot keep Prometheus out, because its fresh connection, which
//! sends its request at once, is always the youngest. Connections with a request in progress are
//! never closed for room; only when every slot holds one is a new connection closed at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The server's timeouts and connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accepting a connection (TLS handshake included) or from the first byte of a later
    /// request to its complete head; also the longest a response may stall unread.
    pub read_header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// TLS handshake or request head being read.
    Head = 0,
    /// The handler runs (no deadline: `/probe` and reloads bound themselves).
    Handling = 1,
    /// The response is being written.
    Writing = 2,
    /// Keep-alive, between requests.
    Idle = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Head,
            1 => Phase::Handling,
            2 => Phase::Writing,
            _ => Phase::Idle,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Head => "reading the request head",
            Phase::Handling => "handling",
            Phase::Writing => "writing the response",
            Phase::Idle => "idle",
        }
    }
}

/// One connection's phase and since when (or since the last write progress).
#[derive(Debug)]
pub struct Slot {
    id: u64,
    epoch: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
    changed: Notify,
    evicted: CancellationToken,
}

impl Slot {
    fn new(id: u64, epoch: Instant) -> Slot {
        let slot = Slot {
            id,
            epoch,
            phase: AtomicU8::new(Phase::Head as u8),
            since_ms: AtomicU64::new(0),
            changed: Notify::new(),
            evicted: CancellationToken::new(),
        };
        slot.touch();
        slot
    }

    /// A slot outside any registry (the in-process self-check).
    pub fn detached() -> Arc<Slot> {
        Arc::new(Slot::new(0, Instant::now()))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `phase`, starting its clock.
    pub fn enter(&self, phase: Phase) {
        self.touch();
        self.phase.store(phase as u8, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a head (its header-read clock runs).
    pub fn on_read(&self) {
        if self
            .phase
            .compare_exchange(
                Phase::Idle as u8,
                Phase::Head as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.touch();
            self.changed.notify_one();
        }
    }

    /// Bytes left: a response being written made progress.
    pub fn on_write(&self) {
        if self.phase() == Phase::Writing {
            self.touch();
        }
    }

    /// When the current phase runs out, if it can.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let limit = match self.phase() {
            Phase::Head | Phase::Writing => limits.read_header_timeout,
            Phase::Idle => limits.idle_timeout,
            Phase::Handling => return None,
        };
        let since = Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        Some(self.epoch + since + limit)
    }

    /// Completes when the connection must close: a deadline passed (the phase it was in), or it
    /// was evicted (`None`).
    pub async fn expired(&self, limits: &Limits) -> Option<Phase> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let phase = self.phase();
            match self.deadline(limits) {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {
                            if self.phase() == phase
                                && self.deadline(limits).is_some_and(|d| d <= Instant::now())
                            {
                                return Some(phase);
                            }
                        }
                        _ = &mut changed => {}
                        _ = self.evicted.cancelled() => return None,
                    }
                }
                None => {
                    tokio::select! {
                        _ = &mut changed => {}
                        _ = self.evicted.cancelled() => return None,
                    }
                }
            }
        }
    }

    fn evictable(&self) -> bool {
        matches!(self.phase(), Phase::Head | Phase::Idle)
    }

    fn since(&self) -> u64 {
        self.since_ms.load(Ordering::Relaxed)
    }
}

/// Counters of the registry, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub open: usize,
    pub evicted: u64,
    pub refused: u64,
}

/// The open connections of a server.
#[derive(Debug)]
pub struct Registry {
    max: usize,
    epoch: Instant,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    evicted: AtomicU64,
    refused: AtomicU64,
}

/// A registered connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Admitted {
    pub slot: Arc<Slot>,
    registry: Arc<Registry>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.slot.id);
    }
}

impl Registry {
    pub fn new(max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            max: max.max(1),
            epoch: Instant::now(),
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        match self.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A connection was accepted: a slot for it, making room by closing the connection that has
    /// waited longest without a request in progress; `None` when every slot is busy.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.lock();
        if slots.len() >= self.max {
            let oldest = slots
                .values()
                .filter(|s| s.evictable())
                .min_by_key(|s| s.since())
                .map(|s| s.id);
            match oldest.and_then(|id| slots.remove(&id)) {
                Some(victim) => {
                    victim.evicted.cancel();
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new(id, self.epoch));
        slots.insert(id, Arc::clone(&slot));
        Some(Admitted {
            slot,
            registry: Arc::clone(self),
        })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            accepted: self.accepted.load(Ordering::Relaxed),
            open: self.lock().len(),
            evicted: self.evicted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_connection_makes_room_and_busy_ones_never_do() {
        let reg = Registry::new(3);
        let a = reg.admit();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = reg.admit();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let c = reg.admit();
        let (Some(a), Some(b), Some(c)) = (a, b, c) else {
            panic!("three slots")
        };
        b.slot.enter(Phase::Handling);
        // A fourth: `a` waited longest without a request in progress.
        let d = reg.admit();
        assert!(d.is_some());
        assert!(a.slot.evicted.is_cancelled());
        assert!(!b.slot.evicted.is_cancelled() && !c.slot.evicted.is_cancelled());
        // Everyone busy: the newcomer is refused.
        c.slot.enter(Phase::Writing);
        if let Some(d) = &d {
            d.slot.enter(Phase::Handling);
        }
        assert!(reg.admit().is_none());
        let n = reg.counts();
        assert_eq!((n.accepted, n.open, n.evicted, n.refused), (5, 3, 1, 1));
        drop(b);
        assert_eq!(reg.counts().open, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline_and_handling_has_none() {
        let limits = Limits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        };
        let slot = Slot::detached();
        let start = tokio::time::Instant::now();
        assert_eq!(slot.expired(&limits).await, Some(Phase::Head));
        assert!(start.elapsed() >= Duration::from_secs(10));

        slot.enter(Phase::Handling);
        let waited = tokio::time::timeout(Duration::from_secs(3600), slot.expired(&limits)).await;
        assert!(waited.is_err(), "a request being handled has no deadline");

        slot.enter(Phase::Idle);
        let start = tokio::time::Instant::now();
        let slot2 = Arc::clone(&slot);
        let wake = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            // A byte of the next request: the header-read clock starts now.
            slot2.on_read();
        });
        assert_eq!(slot.expired(&limits).await, Some(Phase::Head));
        assert_eq!(start.elapsed().as_secs(), 40);
        let _ = wake.await;
    }
}
