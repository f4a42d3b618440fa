//! What `paysync status` shows per account.

use std::sync::Arc;

use paysync_core::UnixMs;
use paysync_core::config::StripeAccount;
use paysync_store::{HeldCount, KindCount, RejectionCount, Store, StoreError};
use serde::Serialize;

use crate::backfill::ResourceProgress;
use crate::catchup;

#[derive(Debug, Clone, Serialize)]
pub struct AccountStatus {
    pub account: String,
    pub mode: String,
    pub objects: Vec<KindCount>,
    pub events: i64,
    /// Events stored but not yet carried into the ledger.
    pub pending_events: i64,
    pub dirty_customers: i64,
    pub unattributed_objects: i64,
    /// Live customers without an email: held, never pushed.
    pub customers_without_email: i64,
    /// People each sync holds back (no or invalid email, filtered out, unknown list), by reason.
    pub held: Vec<HeldCount>,
    pub last_webhook_at: Option<UnixMs>,
    pub catchup: Option<CatchupStatus>,
    pub backfill: Vec<BackfillStatus>,
    pub rejected_webhooks: Vec<RejectionCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatchupStatus {
    pub last_poll_at: UnixMs,
    pub position: catchup::Position,
    /// A gap beyond Stripe's retention was found and no backfill has finished since.
    pub backfill_needed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackfillStatus {
    pub resource: String,
    #[serde(flatten)]
    pub progress: ResourceProgress,
}

pub async fn account_status(
    store: &Arc<dyn Store>,
    account: &StripeAccount,
) -> Result<AccountStatus, StoreError> {
    let name = &account.name;
    let summary = store.ledger_summary(name).await?;
    let last_webhook_at = store
        .cursor(name, paysync_store::LAST_WEBHOOK_CURSOR)
        .await?
        .map(|c| c.updated_at);
    let backfill: Vec<BackfillStatus> = store
        .cursors(name, "backfill.")
        .await?
        .into_iter()
        .filter_map(|(cursor_name, c)| {
            let progress = serde_json::from_str(&c.value).ok()?;
            let resource = cursor_name.trim_start_matches("backfill.").to_owned();
            Some(BackfillStatus { resource, progress })
        })
        .collect();
    let last_backfill = backfill.iter().filter_map(|b| b.progress.finished_at).max();
    let catchup = store.cursor(name, catchup::CURSOR).await?.and_then(|c| {
        let position: catchup::Position = serde_json::from_str(&c.value).ok()?;
        let backfill_needed = position
            .gap_found_at
            .is_some_and(|gap| last_backfill.is_none_or(|b| b < gap));
        Some(CatchupStatus {
            last_poll_at: c.updated_at,
            position,
            backfill_needed,
        })
    });
    Ok(AccountStatus {
        account: name.clone(),
        mode: account.mode.to_string(),
        objects: summary.objects,
        events: summary.events,
        pending_events: summary.pending_events,
        dirty_customers: summary.dirty_customers,
        unattributed_objects: summary.unattributed_objects,
        customers_without_email: summary.customers_without_email,
        held: store.held_counts(name).await?,
        last_webhook_at,
        catchup,
        backfill,
        rejected_webhooks: summary.rejections,
    })
}
