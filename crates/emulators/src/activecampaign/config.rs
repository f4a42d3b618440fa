//! How an ActiveCampaign emulator is set up.

use serde::{Deserialize, Serialize};

use crate::common::{FaultConfig, RateLimit};

/// API-FACTS "ActiveCampaign v3": 5 requests a second per account (all keys share it). The
/// vendor publishes no burst; a bucket of 5 lets one second's worth through at once.
pub const ACCOUNT_RATE: f64 = 5.0;

/// API-FACTS: `POST /import/bulk_import` takes at most 250 contacts…
pub const IMPORT_MAX_CONTACTS: usize = 250;
/// …and fewer than 400,000 bytes per request.
pub const IMPORT_MAX_BYTES: usize = 400_000;
/// API-FACTS: 100 multi-contact import requests a minute.
pub const IMPORT_MULTI_PER_MINUTE: usize = 100;
/// Single-contact import requests a minute *(secondary: ActiveCampaign's bulk-import guide;
/// unconfirmed here)*.
pub const IMPORT_SINGLE_PER_MINUTE: usize = 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveCampaignConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Accepted `Api-Token` values; empty accepts any non-empty token.
    pub api_tokens: Vec<String>,
    /// Token bucket for the whole account; `None` = unlimited. Default 5/s, burst 5.
    pub rate_limit: Option<RateLimit>,
    /// Milliseconds from `POST /import/bulk_import` until the import is applied and `completed`.
    pub import_delay_ms: u64,
    pub import_multi_per_minute: usize,
    pub import_single_per_minute: usize,
    /// The account's time zone, as an offset from UTC in seconds: ActiveCampaign shows and
    /// reads dates in the account's zone (its docs show `-05:00`).
    pub utc_offset_secs: i32,
    pub faults: FaultConfig,
    /// Seed for ids (import batch ids).
    pub rng_seed: u64,
}

impl Default for ActiveCampaignConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_tokens: Vec::new(),
            rate_limit: Some(RateLimit::per_second(ACCOUNT_RATE)),
            import_delay_ms: 1_000,
            import_multi_per_minute: IMPORT_MULTI_PER_MINUTE,
            import_single_per_minute: IMPORT_SINGLE_PER_MINUTE,
            utc_offset_secs: -5 * 3600,
            faults: FaultConfig::default(),
            rng_seed: 0xac00_0003,
        }
    }
}
