//! paysync's loops over the store and the Stripe API: webhook intake, backfill, Events-API
//! catch-up and re-fetching, plus the status report. The server and the CLI are thin shells over it.

pub mod backfill;
pub mod catchup;
mod clock;
pub mod intake;
pub mod refetch;
pub mod runner;
pub mod status;

pub use clock::now_ms;

use paysync_core::EventEnvelope;
use paysync_store::{EventSource, InboxEvent};

/// The inbox row for an event, whichever way it arrived. `deferred` holds it back from the ledger
/// until its object has been re-fetched (accounts with `refetch = true`).
fn inbox_event(
    envelope: &EventEnvelope,
    payload: String,
    source: EventSource,
    received_at: paysync_core::UnixMs,
    deferred: bool,
) -> InboxEvent {
    let snapshot = match envelope.snapshot() {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            // Not every event carries an object with an id (e.g. `balance.available`): it is kept
            // in the inbox all the same and simply has no ledger effect.
            tracing::debug!(event = %envelope.id, r#type = %envelope.event_type, reason = %e, "event carries no ledger object");
            None
        }
    };
    InboxEvent {
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        created: envelope.created,
        livemode: envelope.livemode,
        source,
        payload,
        received_at,
        deferred: deferred && snapshot.is_some(),
        snapshot,
    }
}
