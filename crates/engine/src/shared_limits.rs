//! A destination's request rate shared by every worker calling it through one PostgreSQL
//! database: each request first reserves its turn in the store (GCRA, one row per destination),
//! so N workers together keep to the vendor's rate instead of N times it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use paysync_destinations::http::SharedLimit;
use paysync_store::Store;

/// Requests one process may send at once before the shared spacing applies.
const BURST: i64 = 1;

#[derive(Debug)]
pub struct StoreRateLimit {
    store: Arc<dyn Store>,
    key: String,
    interval_ms: i64,
}

impl StoreRateLimit {
    /// The rate of destination `destination`: `per_second` requests a second across workers.
    pub fn new(store: Arc<dyn Store>, destination: &str, per_second: u32) -> Self {
        StoreRateLimit {
            store,
            key: format!("rate:{destination}"),
            interval_ms: (1_000 / i64::from(per_second.max(1))).max(1),
        }
    }
}

#[async_trait]
impl SharedLimit for StoreRateLimit {
    async fn until_ready(&self) {
        match self
            .store
            .reserve_rate(&self.key, self.interval_ms, BURST, crate::now_ms())
            .await
        {
            Ok(0) => {}
            Ok(wait) => tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await,
            // The worker's own limiter still paces it; the vendor's 429s are retried.
            Err(e) => {
                tracing::warn!(key = %self.key, error = %e, "cannot reserve a shared request slot")
            }
        }
    }
}
