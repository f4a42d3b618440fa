//! The emulator's clock: wall time plus an offset that tests can set or advance, so that
//! "the last 30 days" and seeded history windows can be exercised without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now on the system clock.
pub fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Wall time shifted by a settable offset (seconds). Cheap to read from any thread.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Unix seconds on the emulator's clock.
    pub fn now(&self) -> i64 {
        system_now() + self.offset.load(Ordering::Relaxed)
    }

    /// Makes `now()` return `unix` at this instant (and keep ticking from there).
    pub fn set(&self, unix: i64) {
        self.offset.store(unix - system_now(), Ordering::Relaxed);
    }

    /// Moves the clock forward (or back, if negative) by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }

    /// Seconds between the emulator's clock and the system clock.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Back to the system clock.
    pub fn reset(&self) {
        self.offset.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_advance() {
        let c = Clock::new();
        c.set(1_000_000);
        assert!((c.now() - 1_000_000).abs() <= 1);
        c.advance(86_400);
        assert!((c.now() - 1_086_400).abs() <= 1);
        c.reset();
        assert!((c.now() - system_now()).abs() <= 1);
    }
}
