//! Refetch mode (`refetch = true` on an account): an event's payload is not trusted; its object is
//! read again from the API and that read is what the ledger keeps.

use std::collections::HashMap;
use std::sync::Arc;

use paysync_core::{EventEnvelope, ObjectKind, ObjectVersion, Snapshot};
use paysync_store::{ApplyBatch, DeferredEvent, Store};
use paysync_stripe::{ClientError, StripeClient};
use serde_json::value::RawValue;

use crate::now_ms;

/// Deferred events handled per round.
const ROUND: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum RefetchError {
    #[error(transparent)]
    Stripe(#[from] ClientError),
    #[error("store: {0}")]
    Store(#[from] paysync_store::StoreError),
}

pub struct Refetcher {
    pub store: Arc<dyn Store>,
    pub client: StripeClient,
    pub account: String,
}

impl Refetcher {
    /// Settles every event waiting for its object to be re-read; returns how many.
    pub async fn drain(&self) -> Result<usize, RefetchError> {
        let mut settled = 0;
        loop {
            let events = self.store.refetch_events(&self.account, ROUND).await?;
            if events.is_empty() {
                return Ok(settled);
            }
            settled += events.len();
            self.settle(events).await?;
        }
    }

    /// Reads each distinct object once, then applies the reads and marks the events applied together.
    async fn settle(&self, events: Vec<DeferredEvent>) -> Result<(), RefetchError> {
        let mut objects: HashMap<String, Snapshot> = HashMap::new();
        for event in &events {
            let Ok(envelope) = EventEnvelope::parse(event.payload.as_bytes()) else {
                continue;
            };
            let Ok(carried) = envelope.snapshot() else {
                continue;
            };
            if objects.contains_key(&carried.object_id) {
                continue;
            }
            if let Some(snapshot) = self.read(&carried, &envelope).await? {
                objects.insert(carried.object_id.clone(), snapshot);
            }
        }
        let batch = ApplyBatch {
            snapshots: objects.into_values().collect(),
            cursor: None,
            applied_events: events.into_iter().map(|e| e.event_id).collect(),
            at: now_ms(),
        };
        self.store.apply(&self.account, batch).await?;
        Ok(())
    }

    /// The object as the API has it now. When the API cannot serve it, the event's own copy is
    /// used: a customer answering 404 is taken as deleted (localstripe answers 404 where Stripe
    /// returns `{deleted: true}`); a type the API cannot retrieve keeps the payload.
    async fn read(
        &self,
        carried: &Snapshot,
        envelope: &EventEnvelope,
    ) -> Result<Option<Snapshot>, RefetchError> {
        let Some(path) = carried.kind.api_path() else {
            return Ok(Some(carried.clone()));
        };
        let read_at = now_ms();
        let fresh = match self.client.retrieve(path, &carried.object_id, &[]).await {
            Ok(fresh) => fresh,
            // A 404 without Stripe's `resource_missing` code: the server has no such endpoint
            // (localstripe lacks several). Not retrievable, like a missing object.
            Err(ClientError::Api { status: 404, .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let snapshot = match fresh {
            Some(raw) => Snapshot::parse(&raw, ObjectVersion::of_api_read(read_at, false)).ok(),
            None if carried.kind == ObjectKind::Customer => {
                let raw = RawValue::from_string(envelope.data.object.get().to_owned()).ok();
                raw.and_then(|raw| {
                    Snapshot::parse(&raw, ObjectVersion::of_api_read(read_at, true)).ok()
                })
            }
            None => {
                tracing::warn!(account = %self.account, object = %carried.object_id, "object not retrievable; keeping the event's copy");
                Some(carried.clone())
            }
        };
        Ok(snapshot)
    }
}
