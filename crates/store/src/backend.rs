//! The [`Store`] both backends share: every operation is one of the store's SQL functions run
//! by the backend as a write (one transaction, durable or relaxed, re-run if it must be) or a
//! read (a consistent snapshot). What differs between SQLite and PostgreSQL is only how that
//! happens, which is all a [`Backend`] says.

use std::future::Future;

use async_trait::async_trait;
use paysync_core::UnixMs;
use secrecy::SecretString;

use crate::delivery::{self, *};
use crate::sql::Db;
use crate::types::*;
use crate::{
    ConsentEntry, ConsentRecord, OptInConfirmation, OptInRequest, PersonRecord, Resubscribe,
    Result, SecretKey, Store, StoreError, Suppression, Unsubscribe, consent, erasure, ledger,
    operators, secrets,
};

/// How a write transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// On disk when it returns.
    Durable,
    /// Survives a crash of paysync, maybe not of the OS: only for work derived from durable data
    /// and redone when lost (carrying inbox events into the ledger, backfill pages with their
    /// cursor).
    Relaxed,
    /// Leasing outbox rows or taking shared rates (durable): on PostgreSQL READ COMMITTED, so
    /// rows another worker is taking are skipped and a shared row is queued on, not fought over.
    Claim,
}

/// Runs the store's SQL: SQLite ([`crate::SqliteStore`]) or PostgreSQL ([`crate::PgStore`]).
/// Writes must be re-runnable (`Fn`): a backend may run one again after a conflict.
pub(crate) trait Backend: Send + Sync + 'static {
    fn write<T, F>(&self, kind: WriteKind, work: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&dyn Db) -> Result<T> + Send + 'static;

    fn read<T, F>(&self, work: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static;

    /// The key secrets are sealed with, if one was given.
    fn secret_key(&self) -> Option<&SecretKey>;

    /// Makes deleted rows unrecoverable from the database's files, as far as the backend can.
    fn compact(&self) -> impl Future<Output = Result<()>> + Send;
}

fn secret_key<B: Backend>(backend: &B) -> Result<SecretKey> {
    backend.secret_key().cloned().ok_or_else(|| {
        StoreError::Secret(
            "neither store.secret_key nor PAYSYNC_MASTER_KEY is set: paysync cannot keep secrets (such as \
             Constant Contact's rotating tokens) without one"
                .into(),
        )
    })
}

use WriteKind::{Durable, Relaxed};

#[async_trait]
impl<B: Backend> Store for B {
    async fn ingest(&self, account: &str, events: Vec<InboxEvent>) -> Result<Vec<IngestOutcome>> {
        let account = account.to_owned();
        self.write(Durable, move |db| ledger::ingest(db, &account, &events))
            .await
    }

    async fn apply_pending(&self, account: &str, limit: usize, at: UnixMs) -> Result<usize> {
        let account = account.to_owned();
        self.write(Relaxed, move |db| {
            ledger::apply_pending(db, &account, limit, at)
        })
        .await
    }

    async fn apply(&self, account: &str, batch: ApplyBatch) -> Result<ApplyStats> {
        let account = account.to_owned();
        self.write(Relaxed, move |db| ledger::apply(db, &account, &batch))
            .await
    }

    async fn refetch_events(&self, account: &str, limit: usize) -> Result<Vec<DeferredEvent>> {
        let account = account.to_owned();
        self.read(move |db| ledger::refetch_events(db, &account, limit))
            .await
    }

    async fn cursor(&self, account: &str, name: &str) -> Result<Option<Cursor>> {
        let (account, name) = (account.to_owned(), name.to_owned());
        self.read(move |db| ledger::cursor(db, &account, &name))
            .await
    }

    async fn cursors(&self, account: &str, prefix: &str) -> Result<Vec<(String, Cursor)>> {
        let (account, prefix) = (account.to_owned(), prefix.to_owned());
        self.read(move |db| ledger::cursors(db, &account, &prefix))
            .await
    }

    async fn set_cursor(&self, account: &str, name: &str, value: &str, at: UnixMs) -> Result<()> {
        let (account, name, value) = (account.to_owned(), name.to_owned(), value.to_owned());
        self.write(Durable, move |db| {
            ledger::set_cursor(db, &account, &name, &value, at)
        })
        .await
    }

    async fn record_rejection(&self, account: &str, reason: &str, at: UnixMs) -> Result<()> {
        let (account, reason) = (account.to_owned(), reason.to_owned());
        self.write(Durable, move |db| {
            ledger::record_rejection(db, &account, &reason, at)
        })
        .await
    }

    async fn log(&self, entry: LogEntry) -> Result<()> {
        self.write(Durable, move |db| ledger::insert_log(db, &entry))
            .await
    }

    async fn query_log(&self, query: LogQuery) -> Result<Vec<LogRecord>> {
        self.read(move |db| ledger::query_log(db, &query)).await
    }

    async fn prune_log(&self, before: UnixMs) -> Result<usize> {
        self.write(Durable, move |db| {
            db.execute(
                "DELETE FROM sync_log WHERE at < ?1",
                crate::sql::args![before],
            )
        })
        .await
    }

    async fn object(&self, account: &str, object_id: &str) -> Result<Option<StoredObject>> {
        let (account, object_id) = (account.to_owned(), object_id.to_owned());
        self.read(move |db| ledger::object(db, &account, &object_id))
            .await
    }

    async fn person(&self, account: &str, customer_ref: &str) -> Result<PersonRecord> {
        let (account, customer_ref) = (account.to_owned(), customer_ref.to_owned());
        self.read(move |db| ledger::person(db, &account, &customer_ref))
            .await
    }

    async fn dirty(&self, account: &str, limit: usize) -> Result<Vec<String>> {
        let account = account.to_owned();
        self.read(move |db| ledger::dirty(db, &account, limit))
            .await
    }

    async fn ledger_summary(&self, account: &str) -> Result<LedgerSummary> {
        let account = account.to_owned();
        self.read(move |db| ledger::ledger_summary(db, &account))
            .await
    }

    async fn all_objects(&self, account: &str) -> Result<Vec<StoredObject>> {
        let account = account.to_owned();
        self.read(move |db| ledger::all_objects(db, &account)).await
    }

    async fn person_keys(&self, account: &str, after: &str, limit: usize) -> Result<Vec<String>> {
        let (account, after) = (account.to_owned(), after.to_owned());
        self.read(move |db| delivery::person_keys(db, &account, &after, limit))
            .await
    }

    async fn mark_all_dirty(&self, account: &str, at: UnixMs) -> Result<usize> {
        let account = account.to_owned();
        self.write(Durable, move |db| {
            delivery::mark_all_dirty(db, &account, at)
        })
        .await
    }

    async fn dirty_marks(&self, account: &str, limit: usize) -> Result<Vec<DirtyMark>> {
        let account = account.to_owned();
        self.read(move |db| delivery::dirty_marks(db, &account, limit))
            .await
    }

    async fn delivery_state(&self, sync: &str, person: &str) -> Result<DeliveryState> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.read(move |db| delivery::delivery_state(db, &sync, &person))
            .await
    }

    async fn commit_reconciled(
        &self,
        account: &str,
        batch: Vec<Reconciled>,
        now: UnixMs,
    ) -> Result<ReconcileStats> {
        let account = account.to_owned();
        self.write(Durable, move |db| {
            delivery::commit_reconciled(db, &account, &batch, now)
        })
        .await
    }

    async fn claim(
        &self,
        destination: &str,
        now: UnixMs,
        due_by: UnixMs,
        lease_until: UnixMs,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let destination = destination.to_owned();
        self.write(WriteKind::Claim, move |db| {
            delivery::claim(db, &destination, now, due_by, lease_until, limit)
        })
        .await
    }

    async fn finish(&self, results: Vec<Delivered>, now: UnixMs) -> Result<()> {
        self.write(Durable, move |db| delivery::finish(db, &results, now))
            .await
    }

    async fn dead_letters(
        &self,
        destination: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let destination = destination.map(str::to_owned);
        self.read(move |db| delivery::dead_letters(db, destination.as_deref(), limit))
            .await
    }

    async fn replay(&self, id: Option<i64>, now: UnixMs) -> Result<usize> {
        self.write(Durable, move |db| delivery::replay(db, id, now))
            .await
    }

    async fn outbox_summary(&self, now: UnixMs) -> Result<Vec<OutboxSummary>> {
        self.read(move |db| delivery::outbox_summary(db, now)).await
    }

    async fn next_due(&self, destination: &str) -> Result<Option<UnixMs>> {
        let destination = destination.to_owned();
        self.read(move |db| delivery::next_due(db, &destination))
            .await
    }

    async fn put_secret(&self, name: &str, value: &SecretString, at: UnixMs) -> Result<()> {
        let key = secret_key(self)?;
        let (name, value) = (name.to_owned(), value.clone());
        self.write(Durable, move |db| secrets::put(db, &key, &name, &value, at))
            .await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        let key = secret_key(self)?;
        let name = name.to_owned();
        self.read(move |db| secrets::get(db, &key, &name)).await
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(Durable, move |db| secrets::delete(db, &name))
            .await
    }

    async fn reseal_secrets(&self, new: SecretKey, at: UnixMs) -> Result<usize> {
        let old = secret_key(self)?;
        self.write(Durable, move |db| secrets::reseal(db, &old, &new, at))
            .await
    }

    async fn record_unsubscribe(&self, unsubscribe: Unsubscribe) -> Result<bool> {
        self.write(Durable, move |db| {
            consent::record_unsubscribe(db, &unsubscribe)
        })
        .await
    }

    async fn record_resubscribe(&self, resubscribe: Resubscribe) -> Result<bool> {
        self.write(Durable, move |db| {
            consent::record_resubscribe(db, &resubscribe)
        })
        .await
    }

    async fn suppressions(&self, person: &str) -> Result<Vec<Suppression>> {
        let person = person.to_owned();
        self.read(move |db| consent::suppressions(db, &person))
            .await
    }

    async fn suppression_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read(consent::suppression_counts).await
    }

    async fn record_consent_once(&self, record: ConsentRecord) -> Result<bool> {
        self.write(Durable, move |db| consent::record_consent_once(db, &record))
            .await
    }

    async fn request_opt_in(&self, sync: &str, person: &str, at: UnixMs) -> Result<bool> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.write(Durable, move |db| {
            consent::request_opt_in(db, &sync, &person, at)
        })
        .await
    }

    async fn opt_ins_due(&self, now: UnixMs, limit: usize) -> Result<Vec<OptInRequest>> {
        self.read(move |db| consent::opt_ins_due(db, now, limit))
            .await
    }

    async fn opt_in_sent(
        &self,
        sync: &str,
        person: &str,
        at: UnixMs,
        error: Option<String>,
        retry_at: Option<UnixMs>,
    ) -> Result<()> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.write(Durable, move |db| {
            consent::opt_in_sent(db, &sync, &person, at, error.as_deref(), retry_at)
        })
        .await
    }

    async fn opted_in(&self, sync: &str, person: &str) -> Result<bool> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.read(move |db| consent::opted_in(db, &sync, &person))
            .await
    }

    async fn confirm_opt_in(&self, confirmation: OptInConfirmation) -> Result<bool> {
        self.write(Durable, move |db| {
            consent::confirm_opt_in(db, &confirmation)
        })
        .await
    }

    async fn consent_ledger(&self, person: Option<&str>) -> Result<Vec<ConsentEntry>> {
        let person = person.map(str::to_owned);
        self.read(move |db| consent::ledger(db, person.as_deref()))
            .await
    }

    async fn contacts_per_sync(&self) -> Result<Vec<(String, i64)>> {
        self.read(delivery::contacts_per_sync).await
    }

    async fn release_leases(&self) -> Result<usize> {
        self.write(Durable, delivery::release_leases).await
    }

    async fn extend_leases(
        &self,
        destination: &str,
        lease: UnixMs,
        until: UnixMs,
    ) -> Result<usize> {
        let destination = destination.to_owned();
        self.write(Durable, move |db| {
            delivery::extend_leases(db, &destination, lease, until)
        })
        .await
    }

    async fn reserve_rate(
        &self,
        key: &str,
        interval_ms: i64,
        burst: i64,
        now: UnixMs,
    ) -> Result<i64> {
        let key = key.to_owned();
        // READ COMMITTED on PostgreSQL: every worker updates this one row; under SERIALIZABLE
        // they would fail each other instead of queueing on its lock.
        self.write(WriteKind::Claim, move |db| {
            delivery::reserve_rate(db, &key, interval_ms, burst, now)
        })
        .await
    }

    async fn take_slot(&self, key: &str, holder: &str, now: UnixMs, until: UnixMs) -> Result<bool> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.write(WriteKind::Claim, move |db| {
            delivery::take_slot(db, &key, &holder, now, until)
        })
        .await
    }

    async fn release_slot(&self, key: &str, holder: &str) -> Result<()> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.write(WriteKind::Claim, move |db| {
            delivery::release_slot(db, &key, &holder)
        })
        .await
    }

    async fn hold_rate_until(&self, key: &str, until: UnixMs) -> Result<()> {
        let key = key.to_owned();
        self.write(WriteKind::Claim, move |db| {
            delivery::hold_rate_until(db, &key, until)
        })
        .await
    }

    async fn rate_held_until(&self, key: &str) -> Result<Option<UnixMs>> {
        let key = key.to_owned();
        self.read(move |db| delivery::rate_held_until(db, &key))
            .await
    }

    async fn hold_role(
        &self,
        name: &str,
        holder: &str,
        now: UnixMs,
        until: UnixMs,
    ) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(Durable, move |db| {
            delivery::hold_role(db, &name, &holder, now, until)
        })
        .await
    }

    async fn held_counts(&self, account: &str) -> Result<Vec<HeldCount>> {
        let account = account.to_owned();
        self.read(move |db| delivery::held_counts(db, &account))
            .await
    }

    async fn begin_erasure(&self, person: &str, now: UnixMs) -> Result<usize> {
        let person = person.to_owned();
        self.write(Durable, move |db| erasure::begin(db, &person, now))
            .await
    }

    async fn erase_person(&self, person: &str) -> Result<ErasedRows> {
        let person = person.to_owned();
        let erased = self
            .write(Durable, move |db| erasure::purge(db, &person))
            .await?;
        self.compact().await?;
        Ok(erased)
    }

    async fn is_erased(&self, person: &str) -> Result<bool> {
        let person = person.to_owned();
        self.read(move |db| erasure::is_erased(db, &person)).await
    }

    async fn learn_remote_state(&self, learnt: RemoteState) -> Result<()> {
        self.write(Durable, move |db| ledger::learn_remote_state(db, &learnt))
            .await
    }

    async fn acknowledged_by_remote_id(
        &self,
        sync: &str,
        remote_id: &str,
    ) -> Result<Option<(String, Acknowledged)>> {
        let (sync, remote_id) = (sync.to_owned(), remote_id.to_owned());
        self.read(move |db| delivery::acknowledged_by_remote_id(db, &sync, &remote_id))
            .await
    }

    async fn created_customer(&self, destination: &str, remote_id: &str) -> Result<Option<String>> {
        let (destination, remote_id) = (destination.to_owned(), remote_id.to_owned());
        self.read(move |db| ledger::created_customer(db, &destination, &remote_id))
            .await
    }

    async fn record_created_customer(
        &self,
        destination: &str,
        remote_id: &str,
        account: &str,
        customer_id: &str,
        at: UnixMs,
    ) -> Result<()> {
        let (destination, remote_id, account, customer_id) = (
            destination.to_owned(),
            remote_id.to_owned(),
            account.to_owned(),
            customer_id.to_owned(),
        );
        self.write(Durable, move |db| {
            ledger::record_created_customer(
                db,
                &destination,
                &remote_id,
                &account,
                &customer_id,
                at,
            )
        })
        .await
    }

    async fn set_admin(&self, username: &str, password_hash: &str, at: UnixMs) -> Result<()> {
        let (username, hash) = (username.to_owned(), password_hash.to_owned());
        self.write(Durable, move |db| {
            operators::set_admin(db, &username, &hash, at)
        })
        .await
    }

    async fn admin_password_hash(&self, username: &str) -> Result<Option<String>> {
        let username = username.to_owned();
        self.read(move |db| operators::admin_hash(db, &username))
            .await
    }

    async fn admin_count(&self) -> Result<usize> {
        self.read(operators::admin_count).await
    }

    async fn create_session(
        &self,
        id_hash: &str,
        username: &str,
        now: UnixMs,
        expires_at: UnixMs,
    ) -> Result<()> {
        let (id_hash, username) = (id_hash.to_owned(), username.to_owned());
        self.write(Durable, move |db| {
            operators::create_session(db, &id_hash, &username, now, expires_at)
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: UnixMs) -> Result<Option<crate::SessionRecord>> {
        let id_hash = id_hash.to_owned();
        self.read(move |db| operators::session(db, &id_hash, now))
            .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_owned();
        self.write(Durable, move |db| operators::delete_session(db, &id_hash))
            .await
    }

    async fn managed_config(&self) -> Result<Vec<crate::ManagedItem>> {
        self.read(operators::managed).await
    }

    async fn put_managed(&self, item: crate::ManagedItem) -> Result<()> {
        self.write(Durable, move |db| operators::put_managed(db, &item))
            .await
    }

    async fn delete_managed_sync(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(Durable, move |db| operators::delete_sync(db, &name))
            .await
    }

    async fn disconnect_destination(&self, name: &str) -> Result<Option<Vec<String>>> {
        let name = name.to_owned();
        self.write(Durable, move |db| {
            operators::disconnect_destination(db, &name)
        })
        .await
    }
}
