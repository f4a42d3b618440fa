//! How a Mailchimp emulator is set up.

use serde::{Deserialize, Serialize};

use crate::common::FaultConfig;

/// API-FACTS "Mailchimp Marketing v3": at most 10 simultaneous connections per API key.
pub const MAX_CONCURRENT_PER_KEY: usize = 10;

/// API-FACTS: batch subscribe (`POST /lists/{list_id}`) takes at most 500 members.
pub const BATCH_SUBSCRIBE_MAX: usize = 500;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailchimpConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Accepted API keys (Basic auth password). Empty: any key with a datacenter suffix
    /// (`…-us1`) is accepted.
    pub api_keys: Vec<String>,
    /// Accepted OAuth access tokens (Bearer). Empty: any non-empty token is accepted.
    pub access_tokens: Vec<String>,
    /// Simultaneous requests allowed per key/token; the next one is answered 429. `None` =
    /// unlimited. Default 10, as Mailchimp documents.
    pub max_concurrent: Option<usize>,
    /// Milliseconds from `POST /batches` until the batch is `finished` (it is `pending` for the
    /// first half of that, then `started` while its operations run).
    pub batch_delay_ms: u64,
    /// Whether `POST /lists/{id}/webhooks` first checks the URL with a GET, as Mailchimp does.
    pub validate_webhooks: bool,
    /// Timeout of that GET and of webhook deliveries, in milliseconds.
    pub webhook_timeout_ms: u64,
    pub faults: FaultConfig,
    /// Seed for ids.
    pub rng_seed: u64,
}

impl Default for MailchimpConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: Vec::new(),
            access_tokens: Vec::new(),
            max_concurrent: Some(MAX_CONCURRENT_PER_KEY),
            batch_delay_ms: 1_000,
            validate_webhooks: true,
            webhook_timeout_ms: 5_000,
            faults: FaultConfig::default(),
            rng_seed: 0x3ac4_1e00,
        }
    }
}
