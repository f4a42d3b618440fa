//! paysync's durable state behind one trait, [`Store`]: the inbox of raw Stripe events, the ledger of
//! object snapshots, the set of dirty customers, named cursors, rejected-webhook counts and the sync
//! log. [`SqliteStore`] is the embedded default; [`PgStore`] lets many processes share one
//! PostgreSQL database. Both run the same SQL (module `sql`), each in its own way (module `backend`).
//!
//! Invariants every implementation keeps:
//! - an event is stored at most once per (account, event id), durably, before intake answers; the
//!   applier then carries it into the ledger exactly once (marking it applied in the same
//!   transaction as its ledger effect);
//! - a snapshot replaces the stored one only if its version is greater (see `paysync_core::version`),
//!   so duplicated, reordered and late deliveries converge;
//! - every ledger change marks the person it belongs to dirty, in the same transaction;
//! - a successful return of `ingest` and of every other write means the change is on disk
//!   (fsync'd), with two exceptions: `apply_pending` and `apply` survive a crash of paysync but
//!   may be lost with the OS; what they write is derived from durable data (the inbox, the API)
//!   and is redone when lost, because their progress marks roll back with them.

mod backend;
mod consent;
mod delivery;
mod erasure;
mod ledger;
mod migrate;
mod operators;
mod pg;
pub mod scratch;
mod secrets;
mod sql;
mod sqlite;
mod types;

pub use delivery::{
    Acknowledged, Claimed, Decision, Delivered, DeliveryState, DirtyMark, HeldCount, Next,
    OutboxEntry, OutboxState, OutboxSummary, ReconcileStats, Reconciled,
};

pub use consent::{
    ConsentEntry, ConsentRecord, OptInConfirmation, OptInRequest, Resubscribe, Suppression,
    Unsubscribe,
};
pub use erasure::person_hash;
pub use operators::{ManagedItem, ManagedKind, SessionRecord, destination_secret_prefix};
pub use pg::PgStore;
pub use secrets::SecretKey;
pub use sqlite::SqliteStore;
pub use types::*;

use async_trait::async_trait;
use paysync_core::UnixMs;
use secrecy::SecretString;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    #[error(
        "the database was written by a newer paysync (schema {found}, this build knows {known})"
    )]
    SchemaTooNew { found: u32, known: u32 },
    #[error("stored data is not what paysync wrote: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("{0}")]
    Secret(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends events for `account` to the inbox in one durable transaction; an event already
    /// stored is reported `Duplicate` and left alone. Outcomes are in the order of `events`. The
    /// ledger is not touched: [`Store::apply_pending`] carries events there.
    async fn ingest(&self, account: &str, events: Vec<InboxEvent>) -> Result<Vec<IngestOutcome>>;

    /// Carries up to `limit` pending events (not marked `refetch`) into the ledger, oldest first, in
    /// one transaction: each event's `data.object` replaces the stored snapshot if newer, and its
    /// person is marked dirty. Returns how many events were applied.
    async fn apply_pending(&self, account: &str, limit: usize, at: UnixMs) -> Result<usize>;

    /// Applies snapshots read from the API (a backfill page, re-fetched objects) and, in the same
    /// transaction, moves a cursor and marks events applied: a crash leaves either all or none.
    async fn apply(&self, account: &str, batch: ApplyBatch) -> Result<ApplyStats>;

    /// Pending events whose object must be re-read from the API, oldest first.
    async fn refetch_events(&self, account: &str, limit: usize) -> Result<Vec<DeferredEvent>>;

    async fn cursor(&self, account: &str, name: &str) -> Result<Option<Cursor>>;
    async fn cursors(&self, account: &str, prefix: &str) -> Result<Vec<(String, Cursor)>>;
    async fn set_cursor(&self, account: &str, name: &str, value: &str, at: UnixMs) -> Result<()>;

    /// Counts a rejected webhook request under its reason.
    async fn record_rejection(&self, account: &str, reason: &str, at: UnixMs) -> Result<()>;

    async fn log(&self, entry: LogEntry) -> Result<()>;
    /// Sync-log entries matching `query`, newest first.
    async fn query_log(&self, query: LogQuery) -> Result<Vec<LogRecord>>;
    /// Deletes sync-log entries older than `before`; returns how many.
    async fn prune_log(&self, before: UnixMs) -> Result<usize>;

    /// The newest snapshot of one object.
    async fn object(&self, account: &str, object_id: &str) -> Result<Option<StoredObject>>;
    /// The person a ledger key (`cus_…` or `email:…`) belongs to, with all their objects.
    async fn person(&self, account: &str, customer_ref: &str) -> Result<PersonRecord>;
    /// Dirty people, oldest first.
    async fn dirty(&self, account: &str, limit: usize) -> Result<Vec<String>>;
    async fn ledger_summary(&self, account: &str) -> Result<LedgerSummary>;
    /// Every object of an account ordered by id. For tests and small accounts only.
    async fn all_objects(&self, account: &str) -> Result<Vec<StoredObject>>;
    /// Every person key of the account with objects, in order, after `after` (paging).
    async fn person_keys(&self, account: &str, after: &str, limit: usize) -> Result<Vec<String>>;

    // Reconcile and deliver (see `delivery` for the rules these keep).

    /// Marks every person of the account dirty (the sync rules changed); returns how many.
    async fn mark_all_dirty(&self, account: &str, at: UnixMs) -> Result<usize>;
    /// Dirty marks, oldest first, with the generation to clear them at.
    async fn dirty_marks(&self, account: &str, limit: usize) -> Result<Vec<DirtyMark>>;
    /// The acknowledged state and outbox row of a person at a sync.
    async fn delivery_state(&self, sync: &str, person: &str) -> Result<DeliveryState>;
    /// Queues the reconciler's decisions and clears the dirty marks behind them, in one durable
    /// transaction; a person whose row is in flight or whose acknowledged state moved is left
    /// dirty (counted as deferred).
    async fn commit_reconciled(
        &self,
        account: &str,
        batch: Vec<Reconciled>,
        now: UnixMs,
    ) -> Result<ReconcileStats>;
    /// Leases up to `limit` rows of a destination due by `due_by` (now, or a little later to fill
    /// a bulk call) until `lease_until`, oldest due first.
    async fn claim(
        &self,
        destination: &str,
        now: UnixMs,
        due_by: UnixMs,
        lease_until: UnixMs,
        limit: usize,
    ) -> Result<Vec<Claimed>>;
    /// Records what became of claimed rows, their acknowledged states and sync-log entries, in one
    /// durable transaction.
    async fn finish(&self, results: Vec<Delivered>, now: UnixMs) -> Result<()>;
    async fn dead_letters(
        &self,
        destination: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>>;
    /// Makes dead letters (one, or all with `None`) due now; returns how many.
    async fn replay(&self, id: Option<i64>, now: UnixMs) -> Result<usize>;
    async fn outbox_summary(&self, now: UnixMs) -> Result<Vec<OutboxSummary>>;
    /// When the destination's next pending row falls due (or its lease runs out).
    async fn next_due(&self, destination: &str) -> Result<Option<UnixMs>>;
    /// Seals `value` under `name` (durable when this returns). Needs `store.secret_key`.
    async fn put_secret(&self, name: &str, value: &SecretString, at: UnixMs) -> Result<()>;
    /// The secret stored under `name`, if any. Needs `store.secret_key`.
    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>>;
    /// Forgets the secret stored under `name` (a no-op when there is none).
    async fn delete_secret(&self, name: &str) -> Result<()>;
    /// Re-seals every stored secret under `new`, in one transaction; the store's own key must be
    /// the one they were sealed with. Returns how many were re-sealed.
    async fn reseal_secrets(&self, new: SecretKey, at: UnixMs) -> Result<usize>;
    /// Records an unsubscribe learnt from a destination: a suppression, a ledger row, the
    /// destination's acknowledged states corrected, the person dirty. False when already known.
    async fn record_unsubscribe(&self, unsubscribe: Unsubscribe) -> Result<bool>;
    /// Lifts a suppression because the person subscribed again at its destination.
    async fn record_resubscribe(&self, resubscribe: Resubscribe) -> Result<bool>;
    /// The suppressions in force for a person (normalised email).
    async fn suppressions(&self, person: &str) -> Result<Vec<Suppression>>;
    /// How many people each destination suppresses.
    async fn suppression_counts(&self) -> Result<Vec<(String, i64)>>;
    /// Records a consent fact unless the person already has one at that destination.
    async fn record_consent_once(&self, record: ConsentRecord) -> Result<bool>;
    /// Asks for an opt-in email to `person` for `sync`, once ever; true when new.
    async fn request_opt_in(&self, sync: &str, person: &str, at: UnixMs) -> Result<bool>;
    /// Opt-in emails due to be sent (never sent, not waiting for a retry).
    async fn opt_ins_due(&self, now: UnixMs, limit: usize) -> Result<Vec<OptInRequest>>;
    /// Records an opt-in email sent (`error` None) or failed (tried again at `retry_at`).
    async fn opt_in_sent(
        &self,
        sync: &str,
        person: &str,
        at: UnixMs,
        error: Option<String>,
        retry_at: Option<UnixMs>,
    ) -> Result<()>;
    /// Whether `person` confirmed the opt-in of `sync`.
    async fn opted_in(&self, sync: &str, person: &str) -> Result<bool>;
    /// Records a confirmed opt-in (ledger, person dirty); false when confirmed already.
    async fn confirm_opt_in(&self, confirmation: OptInConfirmation) -> Result<bool>;
    /// The consent ledger, oldest first; one person's or everyone's.
    async fn consent_ledger(&self, person: Option<&str>) -> Result<Vec<ConsentEntry>>;
    /// How many contacts each sync's destination acknowledged.
    async fn contacts_per_sync(&self) -> Result<Vec<(String, i64)>>;
    /// Releases every outbox lease, when the workers that held them are known to be gone (the
    /// one `serve` of an SQLite database starting; a no-op on PostgreSQL, where other workers'
    /// leases are live).
    async fn release_leases(&self) -> Result<usize>;
    /// A worker's heartbeat: moves its lease `lease` on the destination's rows it still holds
    /// to `until`; returns how many it still held.
    async fn extend_leases(&self, destination: &str, lease: UnixMs, until: UnixMs)
    -> Result<usize>;
    /// Reserves the next request of the rate `key` shared by every process (one per
    /// `interval_ms`, `burst` at once); returns how many ms to wait before sending it.
    async fn reserve_rate(
        &self,
        key: &str,
        interval_ms: i64,
        burst: i64,
        now: UnixMs,
    ) -> Result<i64>;
    /// Takes the shared slot `key` (one of a vendor's simultaneous connections) for `holder` (a
    /// token unique to the taker) until `until`, unless another holder's time has not run out
    /// at `now`; whether it was taken.
    async fn take_slot(&self, key: &str, holder: &str, now: UnixMs, until: UnixMs) -> Result<bool>;
    /// Gives back a slot `holder` took (a no-op once it lapsed and another took it).
    async fn release_slot(&self, key: &str, holder: &str) -> Result<()>;
    /// Holds the rate `key` back until `until` (a quota used up until its reset).
    async fn hold_rate_until(&self, key: &str, until: UnixMs) -> Result<()>;
    /// Until when the rate `key` is held back, if it is known.
    async fn rate_held_until(&self, key: &str) -> Result<Option<UnixMs>>;
    /// Takes or renews role `name` (work one process does at a time) for `holder` until
    /// `until`, unless another holder's claim is still running at `now`; whether it is held.
    async fn hold_role(&self, name: &str, holder: &str, now: UnixMs, until: UnixMs)
    -> Result<bool>;
    /// People each sync of the account holds back, by reason.
    async fn held_counts(&self, account: &str) -> Result<Vec<HeldCount>>;
    /// First step of erasing a person (normalised email): from now on nothing is queued,
    /// acknowledged, logged or recorded for them; their queued operations are dropped. Returns
    /// how many of their deliveries are in flight (call again until 0 before deleting them at
    /// the destinations).
    async fn begin_erasure(&self, person: &str, now: UnixMs) -> Result<usize>;
    /// Deletes every row about the person and compacts the database so that no deleted page
    /// keeps their address.
    async fn erase_person(&self, person: &str) -> Result<ErasedRows>;
    /// Whether the person was erased.
    async fn is_erased(&self, person: &str) -> Result<bool>;
    /// Two-way sync learnt what the destination holds for a person (an edit made there): it
    /// becomes their acknowledged state, in one transaction with the Stripe objects paysync
    /// wrote for it (so the reconciler never diffs the new state against an old ledger, which
    /// would send the old values back). Marks the person dirty when `reconcile` (for edits
    /// Stripe does not take: the reconciler sends Stripe's values back).
    async fn learn_remote_state(&self, learnt: RemoteState) -> Result<()>;
    /// The person (and acknowledged contact) a sync acknowledged under this destination id.
    async fn acknowledged_by_remote_id(
        &self,
        sync: &str,
        remote_id: &str,
    ) -> Result<Option<(String, Acknowledged)>>;
    /// The customer two-way sync created for a destination's contact, if any.
    async fn created_customer(&self, destination: &str, remote_id: &str) -> Result<Option<String>>;
    /// Records the customer created for a destination's contact.
    async fn record_created_customer(
        &self,
        destination: &str,
        remote_id: &str,
        account: &str,
        customer_id: &str,
        at: UnixMs,
    ) -> Result<()>;

    /// Adds an administrator or changes their password (an argon2id PHC string); a changed
    /// password ends their sessions.
    async fn set_admin(&self, username: &str, password_hash: &str, at: UnixMs) -> Result<()>;
    async fn admin_password_hash(&self, username: &str) -> Result<Option<String>>;
    async fn admin_count(&self) -> Result<usize>;
    /// Opens a session known by the SHA-256 of its id (expired ones are swept at the same time).
    async fn create_session(
        &self,
        id_hash: &str,
        username: &str,
        now: UnixMs,
        expires_at: UnixMs,
    ) -> Result<()>;
    /// The session, if it exists and has not expired at `now`.
    async fn session(&self, id_hash: &str, now: UnixMs) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// The destinations and syncs managed through the dashboard.
    async fn managed_config(&self) -> Result<Vec<ManagedItem>>;
    async fn put_managed(&self, item: ManagedItem) -> Result<()>;
    /// Removes a managed sync; whether it existed.
    async fn delete_managed_sync(&self, name: &str) -> Result<bool>;
    /// Removes a managed destination with its syncs and secrets; the syncs removed, `None` when
    /// there was no such destination.
    async fn disconnect_destination(&self, name: &str) -> Result<Option<Vec<String>>>;
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Store")
    }
}

#[cfg(test)]
mod tests;
