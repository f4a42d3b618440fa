//! A per-key limit on simultaneous requests (Mailchimp: 10 connections per API key); the
//! token-bucket limits on request rate are in `ratelimit`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct ConcurrencyLimiter {
    limit: Mutex<Option<usize>>,
    in_flight: Mutex<HashMap<String, usize>>,
    rejected: AtomicU64,
    peak: AtomicU64,
}

/// Holds one slot of a key until dropped (also when the request future is dropped because the
/// client went away).
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<ConcurrencyLimiter>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self
            .limiter
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = g.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                g.remove(&self.key);
            }
        }
    }
}

impl ConcurrencyLimiter {
    pub fn new(limit: Option<usize>) -> Self {
        Self {
            limit: Mutex::new(limit),
            ..Default::default()
        }
    }

    pub fn limit(&self) -> Option<usize> {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_limit(&self, limit: Option<usize>) {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner()) = limit;
    }

    /// A slot for `key`, or `None` when `limit` requests of that key are already in flight.
    pub fn try_acquire(self: &Arc<Self>, key: &str) -> Option<Slot> {
        let limit = self.limit();
        let mut g = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = g.entry(key.to_owned()).or_insert(0);
        if limit.is_some_and(|l| *n >= l) {
            drop(g);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *n += 1;
        self.peak.fetch_max(*n as u64, Ordering::Relaxed);
        Some(Slot {
            limiter: self.clone(),
            key: key.to_owned(),
        })
    }

    /// Requests in flight for `key` now.
    pub fn in_flight(&self, key: &str) -> usize {
        let g = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        g.get(key).copied().unwrap_or(0)
    }

    /// Requests refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// The most requests of one key seen in flight at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        let l = Arc::new(ConcurrencyLimiter::new(Some(2)));
        let a = l.try_acquire("k").unwrap();
        let _b = l.try_acquire("k").unwrap();
        assert!(l.try_acquire("k").is_none());
        assert!(l.try_acquire("other").is_some());
        drop(a);
        assert_eq!(l.in_flight("k"), 1);
        assert!(l.try_acquire("k").is_some());
        assert_eq!(l.rejected(), 1);
        assert_eq!(l.peak(), 2);
        l.set_limit(None);
        let many: Vec<_> = (0..50).map(|_| l.try_acquire("k").unwrap()).collect();
        assert_eq!(l.in_flight("k"), 51);
        drop(many);
    }
}
