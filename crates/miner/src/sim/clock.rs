//! The simulator's view of time: wall-clock milliseconds for `rate`, and sleeping for slow
//! fetches. Behind a trait so tests drive it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time as the simulator sees it. Implementations must be cheap and thread-safe.
pub trait SimClock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since 1970-01-01 UTC.
    fn now_unix_ms(&self) -> u64;
    /// Blocks for `d` (an injected slow fetch).
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SimClock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that only moves when told to; `sleep` moves it instead of blocking.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
    slept_ms: AtomicU64,
}

impl ManualClock {
    pub fn new(now_unix_ms: u64) -> Self {
        ManualClock {
            now_ms: AtomicU64::new(now_unix_ms),
            slept_ms: AtomicU64::new(0),
        }
    }

    pub fn set(&self, now_unix_ms: u64) {
        self.now_ms.store(now_unix_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, d: Duration) {
        self.now_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Total time spent in `sleep`.
    pub fn slept(&self) -> Duration {
        Duration::from_millis(self.slept_ms.load(Ordering::SeqCst))
    }
}

impl SimClock for ManualClock {
    fn now_unix_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, d: Duration) {
        self.slept_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        self.advance(d);
    }
}
