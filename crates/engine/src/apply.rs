//! The applier: carries events from the inbox into the ledger, in batches, off the webhook path.
//! Accounts in refetch mode are settled by [`crate::refetch::Refetcher`] instead.

use std::sync::Arc;

use paysync_store::{Store, StoreError};

use crate::now_ms;

/// Events per transaction: large enough to amortise the commit, small enough to keep the writer
/// responsive to webhook commits queued behind it.
const BATCH: usize = 500;

/// How long the applier lets events gather after being woken, so that one transaction carries many
/// of them (a small part of the 2-second freshness budget).
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

pub struct Applier {
    pub store: Arc<dyn Store>,
    pub account: String,
}

impl Applier {
    /// Applies every pending event; returns how many.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            let n = self
                .store
                .apply_pending(&self.account, BATCH, now_ms())
                .await?;
            applied += n;
            if n < BATCH {
                return Ok(applied);
            }
        }
    }
}
