//! Helpers shared by the connector tests.

use std::time::Duration;

use paysync_destinations::http::{HttpSettings, RetryPolicy};
use paysync_destinations::poll::PollPolicy;
use paysync_destinations::{Consent, DesiredContact, Email, ItemOutcome, OutcomeKind};

pub fn email(s: &str) -> Email {
    Email::parse(s).expect("valid test address")
}

pub fn contact(s: &str, consent: Consent) -> DesiredContact {
    DesiredContact::new(email(s), consent)
}

/// Quick retries, so fault tests run in seconds.
pub fn fast_http(rps: u32, concurrency: usize) -> HttpSettings {
    HttpSettings {
        requests_per_second: rps,
        max_concurrency: concurrency,
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_retries: 12,
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_millis(500),
            max_wait: Duration::from_secs(5),
        },
        metrics_label: String::new(),
        shared: None,
    }
}

pub fn fast_poll() -> PollPolicy {
    PollPolicy {
        first: Duration::from_millis(50),
        max_interval: Duration::from_millis(250),
        max_wait: Duration::from_secs(30),
    }
}

#[track_caller]
pub fn assert_all_ok(outcomes: &[ItemOutcome]) {
    for (i, o) in outcomes.iter().enumerate() {
        assert!(o.is_ok(), "item {i}: {o:?}");
    }
}

pub fn kinds(outcomes: &[ItemOutcome]) -> Vec<OutcomeKind> {
    outcomes.iter().map(ItemOutcome::kind).collect()
}
