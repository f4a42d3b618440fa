//! Token-bucket rate limits, keyed (per account, per API key…) as the vendors apply them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A rate: `per_sec` tokens a second, at most `burst` saved up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_sec: f64,
    pub burst: f64,
}

impl RateLimit {
    /// `per_sec` a second with a burst of one second's worth.
    pub fn per_second(per_sec: f64) -> Self {
        Self {
            per_sec,
            burst: per_sec.max(1.0),
        }
    }
}

/// One token bucket, starting full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: limit.burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.limit.per_sec).min(self.limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Token buckets by key, all with the same limit; `None` means unlimited.
#[derive(Debug, Default)]
pub struct KeyedLimiter {
    limit: Mutex<Option<RateLimit>>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl KeyedLimiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        Self {
            limit: Mutex::new(limit),
            buckets: Mutex::default(),
        }
    }

    pub fn limit(&self) -> Option<RateLimit> {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the limit; buckets start full again.
    pub fn set_limit(&self, limit: Option<RateLimit>) {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner()) = limit;
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether a request under `key` may proceed now.
    pub fn check(&self, key: &str) -> bool {
        let Some(limit) = self.limit() else {
            return true;
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.get_mut(key) {
            return b.try_take();
        }
        let mut b = TokenBucket::new(limit);
        let ok = b.try_take();
        buckets.insert(key.to_owned(), b);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket {
            limit: RateLimit::per_second(2.0),
            tokens: 2.0,
            last: t0,
        };
        assert!(b.try_take_at(t0));
        assert!(b.try_take_at(t0));
        assert!(!b.try_take_at(t0));
        assert!(b.try_take_at(t0 + Duration::from_millis(500)));
        assert!(!b.try_take_at(t0 + Duration::from_millis(600)));
    }

    #[test]
    fn keyed() {
        let l = KeyedLimiter::new(Some(RateLimit::per_second(1.0)));
        assert!(l.check("a"));
        assert!(!l.check("a"));
        assert!(l.check("b"));
        l.set_limit(None);
        assert!(l.check("a"));
    }
}
