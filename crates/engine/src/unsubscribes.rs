//! Unsubscribes made at the destinations, learnt from each destination's change feed
//! (`Destination::changes_since`: Constant Contact's `optout_after`, Mailchimp's and
//! ActiveCampaign's changed contacts), read on a timer with a durable cursor.
//!
//! Each unsubscribe becomes a suppression (`Store::record_unsubscribe`) that outranks every sync
//! rule: the reconciler wants the person unsubscribed there (everywhere when
//! `consent.carry_unsubscribes`), and paysync never undoes it. Only the person subscribing again
//! at that destination lifts it. The cursor advances only after a page's facts are stored, so a
//! crash re-reads the page; recording is idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;

use paysync_core::UnixMs;
use paysync_core::config::Config;
use paysync_core::contact::{Email, RemoteConsent};
use paysync_destinations::{Change, ChangeCursor, Destination, DestinationError};
use paysync_store::{Resubscribe, Store, StoreError, Unsubscribe};

use crate::two_way::{TwoWay, TwoWayError};

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
    #[error(transparent)]
    TwoWay(#[from] TwoWayError),
}

/// What one poll learnt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    pub changes: usize,
    /// New suppressions.
    pub unsubscribed: usize,
    /// Suppressions lifted by the person subscribing again.
    pub resubscribed: usize,
    /// Two-way sync: Stripe customers updated and created from the destination's contacts.
    pub customers_updated: usize,
    pub customers_created: usize,
}

/// Where one destination's consent facts go: the store, with the syncs writing to the
/// destination and the accounts whose persons are reconciled again.
#[derive(Clone)]
pub struct ConsentSink {
    pub store: Arc<dyn Store>,
    pub destination: String,
    /// The syncs writing to this destination (their acknowledged states are corrected).
    pub syncs: Vec<String>,
    /// The accounts whose persons are reconciled again after a change (all of them when
    /// unsubscribes are carried to every destination).
    pub accounts: Vec<String>,
}

impl ConsentSink {
    pub fn new(store: Arc<dyn Store>, config: &Config, destination: &str) -> Self {
        let syncs = config.syncs.iter().filter(|s| s.destination == destination);
        let mut accounts: Vec<String> = if config.consent.carry_unsubscribes {
            config.syncs.iter().map(|s| s.account.clone()).collect()
        } else {
            syncs.clone().map(|s| s.account.clone()).collect()
        };
        accounts.sort();
        accounts.dedup();
        ConsentSink {
            store,
            destination: destination.to_owned(),
            syncs: syncs.map(|s| s.name.clone()).collect(),
            accounts,
        }
    }

    /// Records that `person` unsubscribed here; false when it was known already.
    pub async fn unsubscribed(
        &self,
        person: &Email,
        at: UnixMs,
        source: &str,
        details: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let new = self
            .store
            .record_unsubscribe(Unsubscribe {
                person: person.as_str().to_owned(),
                destination: self.destination.clone(),
                at,
                source: source.to_owned(),
                details: Some(details.to_string()),
                syncs: self.syncs.clone(),
                accounts: self.accounts.clone(),
            })
            .await?;
        if new {
            tracing::info!(destination = %self.destination, source, "unsubscribe learnt from the destination; the person is suppressed there");
        }
        Ok(new)
    }

    /// Records that `person` subscribed again here, themselves; lifts their suppression (false
    /// when there was none).
    pub async fn subscribed(
        &self,
        person: &Email,
        at: UnixMs,
        source: &str,
        details: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let lifted = self
            .store
            .record_resubscribe(Resubscribe {
                person: person.as_str().to_owned(),
                destination: self.destination.clone(),
                at,
                source: source.to_owned(),
                details: Some(details.to_string()),
                accounts: self.accounts.clone(),
            })
            .await?;
        if lifted {
            tracing::info!(destination = %self.destination, source, "a suppressed person subscribed again at the destination; suppression lifted");
        }
        Ok(lifted)
    }
}

/// Reads one destination's change feed into the consent ledger, and into Stripe for two-way
/// syncs.
pub struct UnsubscribePoller {
    pub sink: ConsentSink,
    pub connector: Arc<dyn Destination>,
    pub two_way: Option<TwoWay>,
}

impl UnsubscribePoller {
    fn cursor_name(&self) -> String {
        format!("destination.{}.changes", self.sink.destination)
    }

    pub fn destination(&self) -> &str {
        &self.sink.destination
    }

    /// Reads the feed from the stored cursor to its end (or `MAX_PAGES`).
    pub async fn poll(&self, now: impl Fn() -> UnixMs) -> Result<PollStats, PollError> {
        let store = &self.sink.store;
        let name = self.cursor_name();
        let mut cursor = store
            .cursor(CURSOR_SCOPE, &name)
            .await?
            .map(|c| ChangeCursor(c.value));
        let mut stats = PollStats::default();
        // Two-way sync reads list memberships by name: once per poll.
        let list_names: BTreeMap<String, String> = match &self.two_way {
            Some(_) => self
                .connector
                .lists()
                .await?
                .into_iter()
                .map(|l| (l.id.0, l.name))
                .collect(),
            None => BTreeMap::new(),
        };
        for _ in 0..MAX_PAGES {
            let page = self.connector.changes_since(cursor.as_ref()).await?;
            for change in &page.changes {
                stats.changes += 1;
                self.learn(change, now(), &mut stats).await?;
                if let (Some(two_way), Change::Updated(contact)) = (&self.two_way, change) {
                    let done = two_way.learn(contact, &list_names, now()).await?;
                    stats.customers_updated += done.customers_updated;
                    stats.customers_created += done.customers_created;
                }
            }
            store
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
        match change {
            Change::Unsubscribed {
                email,
                at_ms,
                contact,
            } => {
                let details = serde_json::json!({
                    "remote_id": contact.as_ref().map(|c| c.remote_id.clone()),
                    "consent": contact.as_ref().map(|c| c.consent),
                });
                let at = at_ms.unwrap_or(now);
                if self.sink.unsubscribed(email, at, FEED, details).await? {
                    stats.unsubscribed += 1;
                }
            }
            // The contact's state now: subscribed again means the person (or the account, at
            // the destination) chose it; paysync would never have done it.
            Change::Updated(contact) if contact.consent == RemoteConsent::Subscribed => {
                let details = serde_json::json!({"remote_id": contact.remote_id});
                if self
                    .sink
                    .subscribed(&contact.email, now, FEED, details)
                    .await?
                {
                    stats.resubscribed += 1;
                }
            }
            // Other edits matter to two-way sync only (`poll`).
            Change::Updated(_) => {}
        }
        Ok(())
    }
}

/// The `source` of facts read from a change feed.
const FEED: &str = "destination_feed";
