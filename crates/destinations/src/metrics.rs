//! Calls to each destination's API, for `/metrics`: counts by outcome class and a latency
//! histogram, per destination (the connector's `HttpSettings::metrics_label`). Process-wide, as
//! a Prometheus registry is: every connector of the process adds to it.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (Prometheus `le`).
pub const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// One destination's calls so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallStats {
    /// By outcome: `2xx`, `3xx`, `4xx`, `429`, `5xx`, `network`.
    pub by_outcome: BTreeMap<&'static str, u64>,
    /// Calls at or under each of [`LATENCY_BUCKETS`] (cumulative, as Prometheus wants).
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum_secs: f64,
}

static CALLS: LazyLock<Mutex<BTreeMap<String, CallStats>>> = LazyLock::new(Default::default);

fn outcome(status: Option<u16>) -> &'static str {
    match status {
        None => "network",
        Some(429) => "429",
        Some(s) if s < 300 => "2xx",
        Some(s) if s < 400 => "3xx",
        Some(s) if s < 500 => "4xx",
        Some(_) => "5xx",
    }
}

/// Records one attempt (`status` `None`: no answer).
pub(crate) fn record(label: &str, status: Option<u16>, took: Duration) {
    let mut calls = CALLS.lock().unwrap_or_else(|e| e.into_inner());
    let stats = match calls.get_mut(label) {
        Some(s) => s,
        None => calls.entry(label.to_owned()).or_default(),
    };
    *stats.by_outcome.entry(outcome(status)).or_default() += 1;
    let secs = took.as_secs_f64();
    for (bound, n) in LATENCY_BUCKETS.iter().zip(stats.buckets.iter_mut()) {
        if secs <= *bound {
            *n += 1;
        }
    }
    stats.count += 1;
    stats.sum_secs += secs;
}

/// Every destination's calls so far.
pub fn snapshot() -> BTreeMap<String, CallStats> {
    CALLS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_outcome_and_fills_cumulative_buckets() {
        record("metrics-test", Some(200), Duration::from_millis(80));
        record("metrics-test", Some(429), Duration::from_secs(3));
        record("metrics-test", None, Duration::from_secs(40));
        let s = &snapshot()["metrics-test"];
        assert_eq!(s.count, 3);
        assert_eq!(s.by_outcome["2xx"], 1);
        assert_eq!(s.by_outcome["429"], 1);
        assert_eq!(s.by_outcome["network"], 1);
        // 0.08 s is within 0.1 and above; 3 s within 5 and above; 40 s in none.
        assert_eq!(s.buckets, [0, 1, 1, 1, 1, 1, 2, 2, 2]);
    }
}
