//! A destination's limits shared by every worker calling it through one PostgreSQL database:
//! each request first reserves its turn in the store's request rate (GCRA, one row per
//! destination), and holds one of the destination's connection slots while it runs (rows
//! `slot:<destination>:<i>`, leased until the request's timeout, given back after it). N workers
//! together then keep to the vendor's rate and simultaneous connections instead of N times them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use paysync_destinations::http::{SharedLimit, SharedPermit};
use paysync_store::Store;

/// Requests one process may send at once before the shared spacing applies.
const BURST: i64 = 1;
/// How long a request waits before asking again for a connection slot, at most.
const SLOT_RETRY_MS: u64 = 50;

#[derive(Debug)]
pub struct StoreLimits {
    store: Arc<dyn Store>,
    destination: String,
    /// Shared request rate: one request per this many ms (`None`: the vendor sets no rate).
    interval_ms: Option<i64>,
    /// Shared simultaneous requests (`None`: the vendor sets no such limit).
    slots: Option<u32>,
    /// How long a slot is held at most: the request's timeout and a margin, so that the slot of
    /// a worker that died mid-request comes free.
    slot_lease_ms: i64,
}

impl StoreLimits {
    /// The limits of `destination`: `per_second` requests a second and `concurrent` at once
    /// across workers (0: none), for requests that time out after `timeout`.
    pub fn new(
        store: Arc<dyn Store>,
        destination: &str,
        per_second: u32,
        concurrent: usize,
        timeout: Duration,
    ) -> Self {
        StoreLimits {
            store,
            destination: destination.to_owned(),
            interval_ms: (per_second > 0).then(|| (1_000 / i64::from(per_second)).max(1)),
            slots: u32::try_from(concurrent).ok().filter(|n| *n > 0),
            slot_lease_ms: i64::try_from(timeout.as_millis()).unwrap_or(60_000) + 5_000,
        }
    }

    async fn wait_for_rate(&self, interval_ms: i64) {
        let key = format!("rate:{}", self.destination);
        match self
            .store
            .reserve_rate(&key, interval_ms, BURST, crate::now_ms())
            .await
        {
            Ok(0) => {}
            Ok(wait) => tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await,
            // The worker's own limiter still paces it; the vendor's 429s are retried.
            Err(e) => tracing::warn!(%key, error = %e, "cannot reserve a shared request slot"),
        }
    }

    /// Waits for one of the destination's connection slots, trying them from a random one.
    async fn take_slot(&self, slots: u32) -> SharedPermit {
        let holder = format!("{:016x}", rand::random::<u64>());
        loop {
            let first = rand::random_range(0..slots);
            for i in 0..slots {
                let key = format!("slot:{}:{}", self.destination, (first + i) % slots);
                // The time is read for each try: a lease computed before a wait would be short.
                let now = crate::now_ms();
                match self
                    .store
                    .take_slot(&key, &holder, now, now + self.slot_lease_ms)
                    .await
                {
                    Ok(true) => return self.permit(key, holder),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(%key, error = %e, "cannot take a shared connection slot");
                        return SharedPermit::default();
                    }
                }
            }
            let wait = rand::random_range(SLOT_RETRY_MS / 2..=SLOT_RETRY_MS);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Gives the slot back when the request is done, in the background; should that fail (or
    /// the runtime be gone, at shutdown), the slot lapses at the end of its lease.
    fn permit(&self, key: String, holder: String) -> SharedPermit {
        let store = self.store.clone();
        SharedPermit::releasing(move || {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = store.release_slot(&key, &holder).await {
                        tracing::debug!(%key, error = %e, "cannot give a connection slot back; it lapses");
                    }
                });
            }
        })
    }
}

#[async_trait]
impl SharedLimit for StoreLimits {
    async fn acquire(&self) -> SharedPermit {
        if let Some(interval_ms) = self.interval_ms {
            self.wait_for_rate(interval_ms).await;
        }
        match self.slots {
            Some(slots) => self.take_slot(slots).await,
            None => SharedPermit::default(),
        }
    }
}
