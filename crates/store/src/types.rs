/// Cursor under which the time of the newest webhook is kept.
pub const LAST_WEBHOOK_CURSOR: &str = "webhook.last_received";

use paysync_core::{Snapshot, UnixMs};
use serde::Serialize;

/// How an event reached paysync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Webhook,
    /// Recovered by polling the Events API.
    Catchup,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Webhook => "webhook",
            EventSource::Catchup => "catchup",
        }
    }
}

/// One event to store in the inbox.
#[derive(Debug, Clone)]
pub struct InboxEvent {
    pub event_id: String,
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    pub source: EventSource,
    /// The event exactly as received.
    pub payload: String,
    pub received_at: UnixMs,
    /// Its object must be re-read from the API before the ledger takes it (accounts with
    /// `refetch = true`); otherwise the payload's `data.object` is applied as it is.
    pub refetch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored,
    Duplicate,
}

/// A cursor move that commits together with an [`ApplyBatch`].
#[derive(Debug, Clone)]
pub struct CursorUpdate {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default)]
pub struct ApplyBatch {
    pub snapshots: Vec<Snapshot>,
    pub cursor: Option<CursorUpdate>,
    /// Deferred events now settled by these snapshots.
    pub applied_events: Vec<String>,
    pub at: UnixMs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Snapshots that were newer than the stored one (or new) and replaced it.
    pub written: usize,
    /// Snapshots older than or equal to the stored one, left alone.
    pub stale: usize,
}

#[derive(Debug, Clone)]
pub struct DeferredEvent {
    pub event_id: String,
    pub event_type: String,
    pub created: i64,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cursor {
    pub value: String,
    pub updated_at: UnixMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    /// Info 0, warn 1, error 2.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// From `info`, `warn` or `error`.
    pub fn parse(s: &str) -> Result<Level, String> {
        match s {
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            other => Err(format!("{other:?} is not info, warn or error")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub at: UnixMs,
    pub account: Option<String>,
    /// A short machine-readable kind such as `backfill.finished` or `catchup.gap`.
    pub kind: String,
    pub level: Level,
    pub message: String,
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    pub id: i64,
    pub at: UnixMs,
    pub account: Option<String>,
    pub kind: String,
    pub level: String,
    pub message: String,
    pub detail: Option<serde_json::Value>,
}

/// Which sync-log entries to read; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub account: Option<String>,
    /// Kinds starting with this (`delivery`, `backfill.`).
    pub kind: Option<String>,
    /// This level and worse.
    pub min_level: Option<Level>,
    /// Entries about this person (normalised email), destination or sync.
    pub person: Option<String>,
    pub destination: Option<String>,
    pub sync: Option<String>,
    pub since: Option<UnixMs>,
    /// Entries older than this id (paging backwards).
    pub before_id: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredObject {
    pub object_id: String,
    pub kind: String,
    pub customer_ref: Option<String>,
    pub version: String,
    pub deleted: bool,
    pub body: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindCount {
    pub kind: String,
    pub live: i64,
    pub deleted: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerSummary {
    pub objects: Vec<KindCount>,
    pub events: i64,
    /// Events stored but not yet carried into the ledger.
    pub pending_events: i64,
    pub dirty_customers: i64,
    /// Objects that name no person (no customer, no email): kept, never pushed.
    pub unattributed_objects: i64,
    /// Live customers without an email: kept and counted, never pushed.
    pub customers_without_email: i64,
    pub rejections: Vec<RejectionCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RejectionCount {
    pub reason: String,
    pub count: i64,
    pub last_at: UnixMs,
}

/// Everything the ledger holds about one person: every customer sharing their normalised email,
/// the objects of those customers and of guest payments with that email, and the event types seen
/// for those objects with the last time (unix seconds) each was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PersonRecord {
    pub email: Option<String>,
    pub objects: Vec<StoredObject>,
    pub events_seen: Vec<(String, i64)>,
}

/// What `erase` deleted from paysync's own store, by kind of row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasedRows {
    /// The person's Stripe customers (account, `cus_…`): Stripe itself still holds them.
    pub customers: Vec<(String, String)>,
    pub objects: usize,
    pub events: usize,
    pub dirty_marks: usize,
    pub held: usize,
    pub outbox: usize,
    pub acknowledged: usize,
    pub consent_records: usize,
    pub suppressions: usize,
    pub opt_in_requests: usize,
    pub log_entries: usize,
}

/// What two-way sync learnt of one person at one sync (see `Store::learn_remote_state`).
#[derive(Debug, Clone)]
pub struct RemoteState {
    pub account: String,
    pub sync: String,
    /// Normalised email.
    pub person: String,
    /// The person's new acknowledged state; `None` leaves it as it is.
    pub contact: Option<paysync_core::contact::RemoteContact>,
    /// The address the contact was acknowledged under before an email change: that row goes.
    pub moved_from: Option<String>,
    /// Stripe objects as paysync's writes returned them.
    pub snapshots: Vec<paysync_core::Snapshot>,
    pub reconcile: bool,
    pub at: UnixMs,
}
