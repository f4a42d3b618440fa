//! paysync's loops over the store and the Stripe API: webhook intake, the applier that carries
//! stored events into the ledger, backfill, Events-API catch-up and re-fetching, plus the status
//! report. The server and the CLI are thin shells over it.

pub mod alerts;
pub mod apply;
pub mod backfill;
pub mod catchup;
mod clock;
pub mod connect;
pub mod deliver;
pub mod impact;
pub mod intake;
pub mod mail;
pub mod managed;
pub mod opt_in;
pub mod reconcile;
pub mod refetch;
pub mod report;
pub mod roles;
pub mod runner;
pub mod shared_limits;
pub mod status;
pub mod token_store;
pub mod two_way;
pub mod unsubscribes;

pub use clock::now_ms;

use paysync_core::EventEnvelope;
use paysync_store::{EventSource, InboxEvent};

/// The inbox row for an event, whichever way it arrived.
fn inbox_event(
    envelope: &EventEnvelope,
    payload: String,
    source: EventSource,
    received_at: paysync_core::UnixMs,
    refetch: bool,
) -> InboxEvent {
    InboxEvent {
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        created: envelope.created,
        livemode: envelope.livemode,
        source,
        payload,
        received_at,
        refetch,
    }
}

/// Per-account signal from intake to the account's applier: "events are waiting".
pub type Wakeups =
    std::sync::Arc<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Notify>>>;

pub fn wakeups(config: &paysync_core::config::Config) -> Wakeups {
    let map = config
        .accounts
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                std::sync::Arc::new(tokio::sync::Notify::new()),
            )
        })
        .collect();
    std::sync::Arc::new(map)
}
