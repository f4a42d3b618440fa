//! Fault injection shared by every emulator: a share of server errors, added latency, an outage
//! window (every request 503) and forced throttling (429). Each emulator decides per request with
//! [`Faults::decide`] and renders the vendor's own error body for the chosen action.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What to inject. Settable in code ([`Faults::set`]) or with `POST /_admin/faults` (JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Share (0..=1) of requests answered with a server error.
    pub error_rate: f64,
    /// Status of injected server errors (default 500).
    pub error_status: Option<u16>,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Up to this many more milliseconds, uniformly at random.
    pub latency_jitter_ms: u64,
    /// Every request is answered 503 while this is set.
    pub outage: bool,
    /// An outage window: every request is answered 503 for this many seconds from when the
    /// configuration is applied.
    pub outage_secs: Option<u64>,
    /// Share (0..=1) of requests answered 429 whatever the rate limiter says.
    pub throttle_rate: f64,
}

/// The injected outcome for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer 503: the service is down.
    Outage,
    /// Answer a server error with this status.
    Error(u16),
    /// Answer 429.
    Throttle,
}

/// What [`Faults::decide`] chose for one request: wait `delay` first, then `action` if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultDecision {
    pub delay: Option<Duration>,
    pub action: Option<FaultAction>,
}

#[derive(Debug, Default)]
struct Active {
    config: FaultConfig,
    outage_until: Option<Instant>,
}

/// Counters of what was injected, for `/_admin/state`.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct FaultCounts {
    pub errors: u64,
    pub outages: u64,
    pub throttles: u64,
    pub delayed: u64,
}

/// The fault settings of one emulator, shared by its request handlers.
#[derive(Debug, Default)]
pub struct Faults {
    active: RwLock<Active>,
    errors: AtomicU64,
    outages: AtomicU64,
    throttles: AtomicU64,
    delayed: AtomicU64,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let f = Self::default();
        f.set(config);
        f
    }

    /// Replaces the configuration; an `outage_secs` window starts now.
    pub fn set(&self, config: FaultConfig) {
        let outage_until = config
            .outage_secs
            .map(|s| Instant::now() + Duration::from_secs(s));
        let mut a = self.active.write().unwrap_or_else(|e| e.into_inner());
        *a = Active {
            config,
            outage_until,
        };
    }

    /// Clears every fault.
    pub fn clear(&self) {
        self.set(FaultConfig::default());
    }

    pub fn config(&self) -> FaultConfig {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .config
            .clone()
    }

    /// Whether an outage (flag or window) is in force now.
    pub fn in_outage(&self) -> bool {
        let a = self.active.read().unwrap_or_else(|e| e.into_inner());
        a.config.outage || a.outage_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            errors: self.errors.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            throttles: self.throttles.load(Ordering::Relaxed),
            delayed: self.delayed.load(Ordering::Relaxed),
        }
    }

    /// Chooses the fault for one request (most requests: none).
    pub fn decide(&self) -> FaultDecision {
        let a = self.active.read().unwrap_or_else(|e| e.into_inner());
        let c = &a.config;
        let idle = c.error_rate <= 0.0
            && c.latency_ms == 0
            && c.latency_jitter_ms == 0
            && !c.outage
            && a.outage_until.is_none()
            && c.throttle_rate <= 0.0;
        if idle {
            return FaultDecision::default();
        }
        let mut rng = rand::rng();
        let mut d = FaultDecision::default();
        if c.latency_ms > 0 || c.latency_jitter_ms > 0 {
            let jitter = if c.latency_jitter_ms > 0 {
                rng.random_range(0..=c.latency_jitter_ms)
            } else {
                0
            };
            d.delay = Some(Duration::from_millis(c.latency_ms + jitter));
            self.delayed.fetch_add(1, Ordering::Relaxed);
        }
        if c.outage || a.outage_until.is_some_and(|t| Instant::now() < t) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            d.action = Some(FaultAction::Outage);
        } else if c.throttle_rate > 0.0 && rng.random::<f64>() < c.throttle_rate {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            d.action = Some(FaultAction::Throttle);
        } else if c.error_rate > 0.0 && rng.random::<f64>() < c.error_rate {
            self.errors.fetch_add(1, Ordering::Relaxed);
            d.action = Some(FaultAction::Error(c.error_status.unwrap_or(500)));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_by_default() {
        let f = Faults::default();
        for _ in 0..100 {
            assert_eq!(f.decide(), FaultDecision::default());
        }
    }

    #[test]
    fn outage_and_rates() {
        let f = Faults::new(FaultConfig {
            outage: true,
            ..Default::default()
        });
        assert_eq!(f.decide().action, Some(FaultAction::Outage));
        f.set(FaultConfig {
            error_rate: 1.0,
            error_status: Some(502),
            latency_ms: 5,
            ..Default::default()
        });
        let d = f.decide();
        assert_eq!(d.action, Some(FaultAction::Error(502)));
        assert_eq!(d.delay, Some(Duration::from_millis(5)));
        f.set(FaultConfig {
            throttle_rate: 1.0,
            ..Default::default()
        });
        assert_eq!(f.decide().action, Some(FaultAction::Throttle));
        f.set(FaultConfig {
            outage_secs: Some(3600),
            ..Default::default()
        });
        assert!(f.in_outage());
        f.clear();
        assert!(!f.in_outage());
        assert_eq!(f.counts().outages, 1);
    }

    #[test]
    fn config_json() {
        let c: FaultConfig = serde_json::from_str(r#"{"error_rate":0.5,"latency_ms":10}"#).unwrap();
        assert_eq!(c.error_rate, 0.5);
        assert!(serde_json::from_str::<FaultConfig>(r#"{"nope":1}"#).is_err());
    }
}
