//! Unsubscribes made at the destinations, learnt from each destination's change feed
//! (`Destination::changes_since`: Constant Contact's `optout_after`, Mailchimp's and
//! ActiveCampaign's changed contacts), read on a timer with a durable cursor.
//!
//! Each unsubscribe becomes a suppression (`Store::record_unsubscribe`) that outranks every sync
//! rule: the reconciler wants the person unsubscribed there (everywhere when
//! `consent.carry_unsubscribes`), and paysync never undoes it. Only the person subscribing again
//! at that destination lifts it. The cursor advances only after a page's facts are stored, so a
//! crash re-reads the page; recording is idempotent.

use std::sync::Arc;

use paysync_core::UnixMs;
use paysync_core::contact::RemoteConsent;
use paysync_destinations::{Change, ChangeCursor, Destination, DestinationError};
use paysync_store::{Resubscribe, Store, StoreError, Unsubscribe};

/// The `cursors.account` under which destination feeds keep their positions (they belong to
/// no Stripe account).
const CURSOR_SCOPE: &str = "_destinations";
/// Pages read per poll at most, so one poll stays short; the next poll goes on.
const MAX_PAGES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Destination(#[from] DestinationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll learnt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    pub changes: usize,
    /// New suppressions.
    pub unsubscribed: usize,
    /// Suppressions lifted by the person subscribing again.
    pub resubscribed: usize,
}

/// Reads one destination's change feed into the consent ledger.
pub struct UnsubscribePoller {
    pub store: Arc<dyn Store>,
    pub destination: String,
    pub connector: Arc<dyn Destination>,
    /// The syncs writing to this destination (their acknowledged states are corrected).
    pub syncs: Vec<String>,
    /// The accounts whose persons are reconciled again after a change.
    pub accounts: Vec<String>,
}

impl UnsubscribePoller {
    fn cursor_name(&self) -> String {
        format!("destination.{}.changes", self.destination)
    }

    /// Reads the feed from the stored cursor to its end (or `MAX_PAGES`).
    pub async fn poll(&self, now: impl Fn() -> UnixMs) -> Result<PollStats, PollError> {
        let name = self.cursor_name();
        let mut cursor = self
            .store
            .cursor(CURSOR_SCOPE, &name)
            .await?
            .map(|c| ChangeCursor(c.value));
        let mut stats = PollStats::default();
        for _ in 0..MAX_PAGES {
            let page = self.connector.changes_since(cursor.as_ref()).await?;
            for change in &page.changes {
                stats.changes += 1;
                self.learn(change, now(), &mut stats).await?;
            }
            self.store
                .set_cursor(CURSOR_SCOPE, &name, &page.next.0, now())
                .await?;
            cursor = Some(page.next);
            if !page.more {
                break;
            }
        }
        Ok(stats)
    }

    async fn learn(
        &self,
        change: &Change,
        now: UnixMs,
        stats: &mut PollStats,
    ) -> Result<(), StoreError> {
        let person = change.email().as_str().to_owned();
        match change {
            Change::Unsubscribed { at_ms, contact, .. } => {
                let details = serde_json::json!({
                    "remote_id": contact.as_ref().map(|c| c.remote_id.clone()),
                    "consent": contact.as_ref().map(|c| c.consent),
                })
                .to_string();
                let new = self
                    .store
                    .record_unsubscribe(Unsubscribe {
                        person: person.clone(),
                        destination: self.destination.clone(),
                        at: at_ms.unwrap_or(now),
                        source: "destination_feed".into(),
                        details: Some(details),
                        syncs: self.syncs.clone(),
                        accounts: self.accounts.clone(),
                    })
                    .await?;
                if new {
                    stats.unsubscribed += 1;
                    tracing::info!(destination = %self.destination, "unsubscribe learnt from the destination; the person is suppressed there");
                }
            }
            // The contact's state now: subscribed again means the person (or the account, at
            // the destination) chose it; paysync would never have done it.
            Change::Updated(contact) if contact.consent == RemoteConsent::Subscribed => {
                let lifted = self
                    .store
                    .record_resubscribe(Resubscribe {
                        person,
                        destination: self.destination.clone(),
                        at: now,
                        source: "destination_feed".into(),
                        details: Some(
                            serde_json::json!({"remote_id": contact.remote_id}).to_string(),
                        ),
                        accounts: self.accounts.clone(),
                    })
                    .await?;
                if lifted {
                    stats.resubscribed += 1;
                    tracing::info!(destination = %self.destination, "a suppressed person subscribed again at the destination; suppression lifted");
                }
            }
            // Other edits matter to two-way sync only.
            Change::Updated(_) => {}
        }
        Ok(())
    }
}
