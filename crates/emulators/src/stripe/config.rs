//! How a Stripe emulator is set up.

use serde::{Deserialize, Serialize};

use crate::common::{FaultConfig, RateLimit};

use super::seed::SeedSpec;

/// API-FACTS "Stripe": test mode allows 25 requests a second.
pub const TEST_MODE_RATE: f64 = 25.0;

/// The account's default API version: the first of the basil versions, whose shapes
/// fixtures3.json shows (subscription periods on items, invoice `parent`).
pub const DEFAULT_API_VERSION: &str = "2025-03-31.basil";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeEmulatorConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The account's default API version (used when a request sends no `Stripe-Version`, and
    /// for rendering events).
    pub api_version: String,
    /// Token bucket per account (`Stripe-Account`, or the platform); `None` = unlimited.
    /// Default: 25 requests a second with a burst of 25, like test mode.
    pub rate_limit: Option<RateLimit>,
    /// Accepted secret keys; empty accepts any `sk_test_…` or `rk_test_…` key.
    pub api_keys: Vec<String>,
    pub faults: FaultConfig,
    pub webhooks: WebhookConfig,
    /// Seed for ids and live activity (the dataset has its own seed in [`SeedSpec`]).
    pub rng_seed: u64,
    /// A dataset to generate at start.
    pub seed: Option<SeedSpec>,
}

impl Default for StripeEmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_version: DEFAULT_API_VERSION.to_owned(),
            rate_limit: Some(RateLimit::per_second(TEST_MODE_RATE)),
            api_keys: Vec::new(),
            faults: FaultConfig::default(),
            webhooks: WebhookConfig::default(),
            rng_seed: 0x5717_e000,
            seed: None,
        }
    }
}

/// Webhook sending.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Per-attempt timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Delays before each retry of a failed delivery (Stripe retries for days with exponential
    /// backoff; scaled down here). Empty: no retries.
    pub retry_delays_ms: Vec<u64>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            timeout_ms: 10_000,
            retry_delays_ms: vec![500, 2_000, 8_000],
        }
    }
}
