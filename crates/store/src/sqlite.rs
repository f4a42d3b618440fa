//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that owns the only write connection and commits in
//! groups: it takes every write waiting in its queue, runs them all in one transaction, commits
//! once with `synchronous = FULL`, and only then answers the callers. Under load one fsync covers
//! hundreds of webhook events; when idle a single write commits at once. Should one write of a group
//! fail, the group is rolled back and each write re-run in a transaction of its own, so one bad write
//! never undoes its neighbours (writes are therefore `Fn`, re-runnable). This beats a SAVEPOINT per
//! write, which makes SQLite copy every page it touches into a sub-journal. Reads run on a small pool
//! of read-only connections on blocking threads, concurrently with the writer (WAL).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use paysync_core::{Attribution, EventEnvelope, Snapshot, UnixMs};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use secrecy::SecretString;
use tokio::sync::{mpsc, oneshot};

use crate::PersonRecord;
use crate::delivery::{self, *};
use crate::types::*;
use crate::{
    ConsentEntry, ConsentRecord, OptInConfirmation, OptInRequest, Resubscribe, Suppression,
    Unsubscribe,
};
use crate::{Result, Store, StoreError, migrate};

/// Largest number of writes committed in one transaction.
const MAX_GROUP: usize = 1024;
/// Writes waiting for the writer before callers are made to wait (back-pressure).
const QUEUE_DEPTH: usize = 8192;
const BUSY_TIMEOUT_MS: u32 = 5_000;
const MAX_READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    writes: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Mutex<Vec<Connection>>,
    secret_key: Option<crate::SecretKey>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// A write waiting for the writer thread: `run` executes it inside the current transaction and
/// keeps its result (it may run twice, see the module comment); `finish` answers the caller once
/// the transaction that holds it has committed (or failed).
trait WriteJob: Send {
    /// Whether the caller needs the write on disk before its answer (an fsync'd commit).
    fn durable(&self) -> bool;
    /// Returns whether the write succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    fn finish(self: Box<Self>, commit: std::result::Result<(), &StoreError>);
}

struct Job<T, F> {
    work: F,
    durable: bool,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T> + Send,
{
    fn durable(&self) -> bool {
        self.durable
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.work)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: std::result::Result<(), &StoreError>) {
        let outcome = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Closed),
            // The write itself failed: its own error says more than the rollback.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e.clone()),
        };
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.reply.send(outcome);
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    // WAL lets readers run beside the writer; FULL makes every commit durable (fsync of the WAL),
    // which is what answering a webhook with 2xx promises.
    // Switching the journal mode takes an exclusive lock, so only do it on a new database: a
    // second process (`paysync status` beside `serve`) must open without contending.
    switch_to_wal(conn)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals and sorts in memory, not in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Puts the database in WAL mode unless it already is. Two processes creating the same new
/// database at once (`backfill` beside a `status`) both hold a shared lock when they ask for the
/// exclusive one the switch needs; SQLite answers one of them BUSY at once, without its busy
/// handler (it would deadlock), so the switch is retried here until the busy timeout.
fn switch_to_wal(conn: &Connection) -> Result<()> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into());
    loop {
        let attempt = conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(())
                } else {
                    conn.pragma_update(None, "journal_mode", "WAL")
                }
            });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

fn writer_loop(mut conn: Connection, mut queue: mpsc::Receiver<Box<dyn WriteJob>>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit_together(&mut conn, &mut group) {
            Ok(true) => group.into_iter().for_each(|job| job.finish(Ok(()))),
            Ok(false) => commit_one_by_one(&mut conn, group),
            Err(e) => {
                tracing::error!(error = %e, writes = group.len(), "group commit failed");
                group.into_iter().for_each(|job| job.finish(Err(&e)));
            }
        }
    }
}

/// Runs the whole group in one transaction. `Ok(false)`: a write failed and the group was rolled
/// back, to be retried one by one.
fn commit_together(conn: &mut Connection, group: &mut [Box<dyn WriteJob>]) -> Result<bool> {
    let durable = group.iter().any(|job| job.durable());
    set_durability(conn, durable)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if !group.iter_mut().all(|job| job.run(conn)) {
        conn.execute_batch("ROLLBACK")?;
        return Ok(false);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(true)
}

/// `synchronous = FULL` fsyncs the WAL at every commit; NORMAL leaves it to the next FULL commit or
/// checkpoint. A relaxed commit still survives a crash of paysync (the WAL is written); only an OS
/// crash may lose it, and it is used only for work that is redone when lost (see `write_relaxed`).
/// WAL frames are recovered in order, so the next durable commit makes every earlier one durable.
fn set_durability(conn: &Connection, durable: bool) -> Result<()> {
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    Ok(())
}

fn commit_one_by_one(conn: &mut Connection, group: Vec<Box<dyn WriteJob>>) {
    for mut job in group {
        let committed = (|| -> Result<()> {
            set_durability(conn, job.durable())?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            if job.run(conn) {
                conn.execute_batch("COMMIT")?;
            } else {
                conn.execute_batch("ROLLBACK")?;
            }
            Ok(())
        })();
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        job.finish(committed.as_ref().map(|_| ()));
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: impl AsRef<Path>, now: UnixMs) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let writer_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = Connection::open(&writer_path)?;
            configure(&conn)?;
            migrate::migrate_sqlite(&mut conn, now)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
        let (writes, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("paysync-sqlite-writer".into())
            .spawn(move || writer_loop(conn, queue))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            path,
            writes,
            readers: Mutex::new(Vec::new()),
            secret_key: None,
        })
    }

    /// The key secrets are sealed with (`store.secret_key`).
    pub fn with_secret_key(mut self, key: crate::SecretKey) -> Self {
        self.secret_key = Some(key);
        self
    }

    fn secret_key(&self) -> Result<crate::SecretKey> {
        self.secret_key.clone().ok_or_else(|| {
            StoreError::Secret(
                "neither store.secret_key nor PAYSYNC_MASTER_KEY is set: paysync cannot keep secrets (such as \
                 Constant Contact's rotating tokens) without one"
                    .into(),
            )
        })
    }

    /// A write that is on disk (fsync'd) when this returns.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        self.enqueue(work, true).await
    }

    /// A write that survives a crash of paysync but may be lost with the OS, for work derived from
    /// durable data and redone when lost (carrying inbox events into the ledger, backfill pages
    /// with their cursor).
    async fn write_relaxed<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        self.enqueue(work, false).await
    }

    async fn enqueue<T, F>(&self, work: F, durable: bool) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work,
            durable,
            result: None,
            reply,
        };
        self.writes
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pooled = self.readers.lock().map_err(|_| StoreError::Closed)?.pop();
        let path = self.path.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let result = work(&conn);
            Ok::<_, StoreError>((conn, result))
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < MAX_READERS
        {
            pool.push(conn);
        }
        result
    }
}

impl SqliteStore {
    /// Rewrites the database file without free pages (`VACUUM`) and empties the write-ahead log,
    /// so deleted rows survive nowhere in the files. Waits (busy timeout) for other
    /// connections' transactions.
    async fn compact(&self) -> Result<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
            conn.execute_batch("VACUUM")?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    Ok(conn)
}

/// Writes `snapshot` if it is newer than the stored one; marks its person dirty when written.
/// Returns whether it was written.
fn apply_snapshot(
    conn: &Connection,
    account: &str,
    snapshot: &Snapshot,
    at: UnixMs,
) -> Result<bool> {
    let parent_id = match &snapshot.attribution {
        Attribution::Charge(charge) => Some(charge.as_str()),
        _ => None,
    };
    let customer_ref = match &snapshot.attribution {
        // A refund belongs to whoever its charge belongs to, if the charge is known yet; whenever
        // the charge is written it hands its person down to its refunds (below).
        Attribution::Charge(charge) => conn
            .prepare_cached(
                "SELECT customer_ref FROM stripe_objects WHERE account = ?1 AND object_id = ?2",
            )?
            .query_row((account, charge), |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten(),
        other => other.customer_ref(),
    };
    let previous_ref: Option<Option<String>> = conn
        .prepare_cached(
            "SELECT customer_ref FROM stripe_objects WHERE account = ?1 AND object_id = ?2",
        )?
        .query_row((account, &snapshot.object_id), |r| r.get(0))
        .optional()?;
    let written = conn
        .prepare_cached(
            "INSERT INTO stripe_objects
                 (account, object_id, kind, customer_ref, parent_id, version, deleted, body, updated_at, email)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (account, object_id) DO UPDATE SET
                 kind = excluded.kind, customer_ref = excluded.customer_ref,
                 parent_id = excluded.parent_id, version = excluded.version,
                 deleted = excluded.deleted, updated_at = excluded.updated_at,
                 body = excluded.body,
                 -- Stripe's tombstone ({id, deleted: true}) carries no email: the row keeps the
                 -- last one known, so that deletion sync still finds the person's contact (the
                 -- body, compared across arrival orders, is the tombstone's).
                 email = CASE WHEN excluded.deleted AND excluded.email IS NULL
                              THEN stripe_objects.email ELSE excluded.email END
             WHERE excluded.version > stripe_objects.version",
        )?
        .execute(params![
            account,
            snapshot.object_id,
            snapshot.kind.as_str(),
            customer_ref,
            parent_id,
            snapshot.version.encode(),
            snapshot.deleted,
            snapshot.body,
            at,
            snapshot.email,
        ])?
        == 1;
    if !written {
        return Ok(false);
    }
    let mut dirty = customer_ref.iter().collect::<Vec<_>>();
    // An object that moved to another person (a guest charge later tied to a customer) leaves the
    // previous one to be reconciled too.
    let previous_ref = previous_ref.flatten();
    if let Some(previous) = previous_ref
        .as_ref()
        .filter(|p| Some(*p) != customer_ref.as_ref())
    {
        dirty.push(previous);
    }
    if let Some(person) = &customer_ref
        && snapshot.kind == paysync_core::ObjectKind::Charge
    {
        // Without INDEXED BY the planner picks the primary key (the `IS NOT` term misleads its
        // estimate) and scans every object of the account, per charge. INDEXED BY also makes
        // the statement fail loudly, not slowly, should the index ever become unusable.
        conn.prepare_cached(
            "UPDATE stripe_objects INDEXED BY stripe_objects_parent SET customer_ref = ?3
                 WHERE account = ?1 AND parent_id = ?2 AND customer_ref IS NOT ?3",
        )?
        .execute((account, &snapshot.object_id, person))?;
    }
    for person in dirty {
        delivery::mark_dirty(conn, account, person, at)?;
    }
    Ok(true)
}

pub(crate) fn insert_log(conn: &Connection, entry: &LogEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_log (at, account, kind, level, message, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.at,
        entry.account,
        entry.kind,
        entry.level.as_str(),
        entry.message,
        entry.detail.as_ref().map(|d| d.to_string()),
    ])?;
    Ok(())
}

fn set_cursor(conn: &Connection, account: &str, name: &str, value: &str, at: UnixMs) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO cursors (account, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute((account, name, value, at))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(&self, account: &str, events: Vec<InboxEvent>) -> Result<Vec<IngestOutcome>> {
        let account = account.to_owned();
        self.write(move |conn| {
            let mut outcomes = Vec::with_capacity(events.len());
            let mut last_webhook = None;
            for event in &events {
                let fresh = conn
                    .prepare_cached(
                        "INSERT INTO stripe_events (account, event_id, event_type, created, livemode,
                             source, payload, received_at, refetch)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (account, event_id) DO NOTHING",
                    )?
                    .execute(params![
                        account,
                        event.event_id,
                        event.event_type,
                        event.created,
                        event.livemode,
                        event.source.as_str(),
                        event.payload,
                        event.received_at,
                        event.refetch,
                    ])?
                    == 1;
                if event.source == EventSource::Webhook {
                    last_webhook = last_webhook.max(Some(event.received_at));
                }
                outcomes.push(if fresh {
                    IngestOutcome::Stored
                } else {
                    IngestOutcome::Duplicate
                });
            }
            if let Some(at) = last_webhook {
                set_cursor(conn, &account, LAST_WEBHOOK_CURSOR, &at.to_string(), at)?;
            }
            Ok(outcomes)
        })
        .await
    }

    async fn apply_pending(&self, account: &str, limit: usize, at: UnixMs) -> Result<usize> {
        let account = account.to_owned();
        self.write_relaxed(move |conn| {
            let pending: Vec<(i64, String)> = conn
                .prepare_cached(
                    "SELECT seq, payload FROM stripe_events
                     WHERE account = ?1 AND refetch = 0 AND applied_at IS NULL ORDER BY seq LIMIT ?2",
                )?
                .query_map(params![account, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (seq, payload) in &pending {
                // Intake parsed every payload before storing it, so a failure here means the row
                // was not written by paysync; it is marked applied (kept, never retried forever).
                let object_id = match EventEnvelope::parse(payload.as_bytes()).map(|e| e.snapshot()) {
                    Ok(Ok(snapshot)) => {
                        apply_snapshot(conn, &account, &snapshot, at)?;
                        Some(snapshot.object_id)
                    }
                    // Events whose object has no id (e.g. `balance.available`) have no ledger effect.
                    Ok(Err(_)) => None,
                    Err(e) => {
                        tracing::error!(%account, seq, error = %e, "stored event is unreadable; left out of the ledger");
                        None
                    }
                };
                conn.prepare_cached(
                    "UPDATE stripe_events SET applied_at = ?2, object_id = ?3 WHERE seq = ?1",
                )?
                .execute(params![seq, at, object_id])?;
            }
            Ok(pending.len())
        })
        .await
    }

    async fn apply(&self, account: &str, batch: ApplyBatch) -> Result<ApplyStats> {
        let account = account.to_owned();
        self.write_relaxed(move |conn| {
            let mut stats = ApplyStats::default();
            for snapshot in &batch.snapshots {
                if apply_snapshot(conn, &account, snapshot, batch.at)? {
                    stats.written += 1;
                } else {
                    stats.stale += 1;
                }
            }
            for event_id in &batch.applied_events {
                conn.prepare_cached(
                    "UPDATE stripe_events SET applied_at = ?3 WHERE account = ?1 AND event_id = ?2",
                )?
                .execute((&account, event_id, batch.at))?;
            }
            if let Some(cursor) = &batch.cursor {
                set_cursor(conn, &account, &cursor.name, &cursor.value, batch.at)?;
            }
            Ok(stats)
        })
        .await
    }

    async fn refetch_events(&self, account: &str, limit: usize) -> Result<Vec<DeferredEvent>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, event_type, created, payload FROM stripe_events
                 WHERE account = ?1 AND refetch = 1 AND applied_at IS NULL ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![account, limit as i64], |r| {
                Ok(DeferredEvent {
                    event_id: r.get(0)?,
                    event_type: r.get(1)?,
                    created: r.get(2)?,
                    payload: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn cursor(&self, account: &str, name: &str) -> Result<Option<Cursor>> {
        let (account, name) = (account.to_owned(), name.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT value, updated_at FROM cursors WHERE account = ?1 AND name = ?2",
                )?
                .query_row((account, name), |r| {
                    Ok(Cursor {
                        value: r.get(0)?,
                        updated_at: r.get(1)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn cursors(&self, account: &str, prefix: &str) -> Result<Vec<(String, Cursor)>> {
        let (account, prefix) = (account.to_owned(), prefix.to_owned());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, value, updated_at FROM cursors
                 WHERE account = ?1 AND substr(name, 1, length(?2)) = ?2 ORDER BY name",
            )?;
            let rows = stmt.query_map((account, prefix), |r| {
                Ok((
                    r.get(0)?,
                    Cursor {
                        value: r.get(1)?,
                        updated_at: r.get(2)?,
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn set_cursor(&self, account: &str, name: &str, value: &str, at: UnixMs) -> Result<()> {
        let (account, name, value) = (account.to_owned(), name.to_owned(), value.to_owned());
        self.write(move |conn| set_cursor(conn, &account, &name, &value, at))
            .await
    }

    async fn record_rejection(&self, account: &str, reason: &str, at: UnixMs) -> Result<()> {
        let (account, reason) = (account.to_owned(), reason.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO webhook_rejections (account, reason, count, last_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (account, reason) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
            )?
            .execute((&account, &reason, at))?;
            Ok(())
        })
        .await
    }

    async fn log(&self, entry: LogEntry) -> Result<()> {
        self.write(move |conn| insert_log(conn, &entry)).await
    }

    async fn query_log(&self, q: LogQuery) -> Result<Vec<LogRecord>> {
        self.read(move |conn| {
            let levels: &[&str] = match q.min_level.map(Level::rank) {
                Some(2) => &["error"],
                Some(1) => &["warn", "error"],
                _ => &["info", "warn", "error"],
            };
            let levels = serde_json::to_string(levels).unwrap_or_default();
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, account, kind, level, message, detail FROM sync_log
                  WHERE (?1 IS NULL OR account = ?1)
                    AND (?2 IS NULL OR substr(kind, 1, length(?2)) = ?2)
                    AND level IN (SELECT value FROM json_each(?3))
                    AND (?4 IS NULL OR json_extract(detail, '$.person') = ?4)
                    AND (?5 IS NULL OR json_extract(detail, '$.destination') = ?5)
                    AND (?6 IS NULL OR json_extract(detail, '$.sync') = ?6)
                    AND (?7 IS NULL OR at >= ?7)
                    AND (?8 IS NULL OR id < ?8)
                  ORDER BY id DESC LIMIT ?9",
            )?;
            let rows = stmt.query_map(
                params![
                    q.account,
                    q.kind,
                    levels,
                    q.person,
                    q.destination,
                    q.sync,
                    q.since,
                    q.before_id,
                    q.limit as i64
                ],
                |r| {
                    let detail: Option<String> = r.get(6)?;
                    Ok(LogRecord {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        account: r.get(2)?,
                        kind: r.get(3)?,
                        level: r.get(4)?,
                        message: r.get(5)?,
                        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                    })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn prune_log(&self, before: UnixMs) -> Result<usize> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM sync_log WHERE at < ?1")?
                .execute([before])?)
        })
        .await
    }

    async fn object(&self, account: &str, object_id: &str) -> Result<Option<StoredObject>> {
        let (account, object_id) = (account.to_owned(), object_id.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {OBJECT_COLUMNS} FROM stripe_objects WHERE account = ?1 AND object_id = ?2"
                ))?
                .query_row((account, object_id), stored_object)
                .optional()?)
        })
        .await
    }

    async fn dirty(&self, account: &str, limit: usize) -> Result<Vec<String>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT customer_ref FROM dirty_customers WHERE account = ?1 ORDER BY since LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![account, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn ledger_summary(&self, account: &str) -> Result<LedgerSummary> {
        let account = account.to_owned();
        self.read(move |conn| {
            let count = |sql: &str| -> Result<i64> {
                Ok(conn.prepare_cached(sql)?.query_row([&account], |r| r.get(0))?)
            };
            let mut stmt = conn.prepare_cached(
                "SELECT kind, SUM(deleted = 0), SUM(deleted = 1) FROM stripe_objects
                 WHERE account = ?1 GROUP BY kind ORDER BY kind",
            )?;
            let objects = stmt
                .query_map([&account], |r| {
                    Ok(KindCount {
                        kind: r.get(0)?,
                        live: r.get(1)?,
                        deleted: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = conn.prepare_cached(
                "SELECT reason, count, last_at FROM webhook_rejections WHERE account = ?1 ORDER BY reason",
            )?;
            let rejections = stmt
                .query_map([&account], |r| {
                    Ok(RejectionCount {
                        reason: r.get(0)?,
                        count: r.get(1)?,
                        last_at: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(LedgerSummary {
                objects,
                events: count("SELECT COUNT(*) FROM stripe_events WHERE account = ?1")?,
                pending_events: count(
                    "SELECT COUNT(*) FROM stripe_events WHERE account = ?1 AND applied_at IS NULL",
                )?,
                dirty_customers: count("SELECT COUNT(*) FROM dirty_customers WHERE account = ?1")?,
                unattributed_objects: count(
                    "SELECT COUNT(*) FROM stripe_objects WHERE account = ?1 AND customer_ref IS NULL",
                )?,
                customers_without_email: count(
                    "SELECT COUNT(*) FROM stripe_objects
                     WHERE account = ?1 AND kind = 'customer' AND email IS NULL AND deleted = 0",
                )?,
                rejections,
            })
        })
        .await
    }

    async fn person(&self, account: &str, customer_ref: &str) -> Result<PersonRecord> {
        let (account, customer_ref) = (account.to_owned(), customer_ref.to_owned());
        self.read(move |conn| {
            let email: Option<String> = match customer_ref.strip_prefix("email:") {
                Some(email) => Some(email.to_owned()),
                None => conn
                    .prepare_cached("SELECT email FROM stripe_objects WHERE account = ?1 AND object_id = ?2")?
                    .query_row((&account, &customer_ref), |r| r.get(0))
                    .optional()?
                    .flatten(),
            };
            let mut refs = vec![customer_ref.clone()];
            if let Some(email) = &email {
                refs = conn
                    .prepare_cached(
                        // INDEXED BY: to skip a sort, the planner would otherwise walk every
                        // object of the account in id order (see the charge → refund update).
                        "SELECT object_id FROM stripe_objects INDEXED BY stripe_objects_email
                         WHERE account = ?1 AND email = ?2 AND kind = 'customer' ORDER BY object_id",
                    )?
                    .query_map((&account, email), |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                refs.push(format!("email:{email}"));
            }
            let mut objects = Vec::new();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM stripe_objects INDEXED BY stripe_objects_customer
                 WHERE account = ?1 AND customer_ref = ?2 ORDER BY object_id"
            ))?;
            for r in &refs {
                let rows = stmt.query_map((&account, r), stored_object)?;
                objects.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            let mut seen: std::collections::BTreeMap<String, i64> = Default::default();
            let mut stmt = conn.prepare_cached(
                "SELECT event_type, MAX(created) FROM stripe_events
                 WHERE account = ?1 AND object_id = ?2 GROUP BY event_type",
            )?;
            for object in &objects {
                for row in stmt.query_map((&account, &object.object_id), |r| Ok((r.get(0)?, r.get(1)?)))? {
                    let (event_type, at): (String, i64) = row?;
                    let last = seen.entry(event_type).or_insert(at);
                    *last = (*last).max(at);
                }
            }
            Ok(PersonRecord { email, objects, events_seen: seen.into_iter().collect() })
        })
        .await
    }

    async fn all_objects(&self, account: &str) -> Result<Vec<StoredObject>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM stripe_objects WHERE account = ?1 ORDER BY object_id"
            ))?;
            let rows = stmt.query_map([account], stored_object)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn mark_all_dirty(&self, account: &str, at: UnixMs) -> Result<usize> {
        let account = account.to_owned();
        self.write(move |conn| delivery::mark_all_dirty(conn, &account, at))
            .await
    }

    async fn dirty_marks(&self, account: &str, limit: usize) -> Result<Vec<DirtyMark>> {
        let account = account.to_owned();
        self.read(move |conn| delivery::dirty_marks(conn, &account, limit))
            .await
    }

    async fn delivery_state(&self, sync: &str, person: &str) -> Result<DeliveryState> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.read(move |conn| delivery::delivery_state(conn, &sync, &person))
            .await
    }

    async fn commit_reconciled(
        &self,
        account: &str,
        batch: Vec<Reconciled>,
        now: UnixMs,
    ) -> Result<ReconcileStats> {
        let account = account.to_owned();
        self.write(move |conn| delivery::commit_reconciled(conn, &account, &batch, now))
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
        self.write(move |conn| delivery::claim(conn, &destination, now, due_by, lease_until, limit))
            .await
    }

    async fn finish(&self, results: Vec<Delivered>, now: UnixMs) -> Result<()> {
        self.write(move |conn| delivery::finish(conn, &results, now))
            .await
    }

    async fn dead_letters(
        &self,
        destination: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let destination = destination.map(str::to_owned);
        self.read(move |conn| delivery::dead_letters(conn, destination.as_deref(), limit))
            .await
    }

    async fn replay(&self, id: Option<i64>, now: UnixMs) -> Result<usize> {
        self.write(move |conn| delivery::replay(conn, id, now))
            .await
    }

    async fn put_secret(&self, name: &str, value: &SecretString, at: UnixMs) -> Result<()> {
        let key = self.secret_key()?;
        let (name, value) = (name.to_owned(), value.clone());
        self.write(move |conn| crate::secrets::put(conn, &key, &name, &value, at))
            .await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        let key = self.secret_key()?;
        let name = name.to_owned();
        self.read(move |conn| crate::secrets::get(conn, &key, &name))
            .await
    }

    async fn reseal_secrets(&self, new: crate::SecretKey, at: UnixMs) -> Result<usize> {
        let old = self.secret_key()?;
        self.write(move |conn| crate::secrets::reseal(conn, &old, &new, at))
            .await
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |conn| crate::secrets::delete(conn, &name))
            .await
    }

    async fn set_admin(&self, username: &str, password_hash: &str, at: UnixMs) -> Result<()> {
        let (username, hash) = (username.to_owned(), password_hash.to_owned());
        self.write(move |conn| crate::operators::set_admin(conn, &username, &hash, at))
            .await
    }

    async fn admin_password_hash(&self, username: &str) -> Result<Option<String>> {
        let username = username.to_owned();
        self.read(move |conn| crate::operators::admin_hash(conn, &username))
            .await
    }

    async fn admin_count(&self) -> Result<usize> {
        self.read(crate::operators::admin_count).await
    }

    async fn create_session(
        &self,
        id_hash: &str,
        username: &str,
        now: UnixMs,
        expires_at: UnixMs,
    ) -> Result<()> {
        let (id_hash, username) = (id_hash.to_owned(), username.to_owned());
        self.write(move |conn| {
            crate::operators::create_session(conn, &id_hash, &username, now, expires_at)
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: UnixMs) -> Result<Option<crate::SessionRecord>> {
        let id_hash = id_hash.to_owned();
        self.read(move |conn| crate::operators::session(conn, &id_hash, now))
            .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| crate::operators::delete_session(conn, &id_hash))
            .await
    }

    async fn managed_config(&self) -> Result<Vec<crate::ManagedItem>> {
        self.read(crate::operators::managed).await
    }

    async fn put_managed(&self, item: crate::ManagedItem) -> Result<()> {
        self.write(move |conn| crate::operators::put_managed(conn, &item))
            .await
    }

    async fn delete_managed_sync(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |conn| crate::operators::delete_sync(conn, &name))
            .await
    }

    async fn disconnect_destination(&self, name: &str) -> Result<Option<Vec<String>>> {
        let name = name.to_owned();
        self.write(move |conn| crate::operators::disconnect_destination(conn, &name))
            .await
    }

    async fn record_unsubscribe(&self, unsubscribe: Unsubscribe) -> Result<bool> {
        self.write(move |conn| crate::consent::record_unsubscribe(conn, &unsubscribe))
            .await
    }

    async fn record_resubscribe(&self, resubscribe: Resubscribe) -> Result<bool> {
        self.write(move |conn| crate::consent::record_resubscribe(conn, &resubscribe))
            .await
    }

    async fn suppressions(&self, person: &str) -> Result<Vec<Suppression>> {
        let person = person.to_owned();
        self.read(move |conn| crate::consent::suppressions(conn, &person))
            .await
    }

    async fn suppression_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read(crate::consent::suppression_counts).await
    }

    async fn record_consent_once(&self, record: ConsentRecord) -> Result<bool> {
        self.write(move |conn| crate::consent::record_consent_once(conn, &record))
            .await
    }

    async fn request_opt_in(&self, sync: &str, person: &str, at: UnixMs) -> Result<bool> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.write(move |conn| crate::consent::request_opt_in(conn, &sync, &person, at))
            .await
    }

    async fn opt_ins_due(&self, now: UnixMs, limit: usize) -> Result<Vec<OptInRequest>> {
        self.read(move |conn| crate::consent::opt_ins_due(conn, now, limit))
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
        self.write(move |conn| {
            crate::consent::opt_in_sent(conn, &sync, &person, at, error.as_deref(), retry_at)
        })
        .await
    }

    async fn opted_in(&self, sync: &str, person: &str) -> Result<bool> {
        let (sync, person) = (sync.to_owned(), person.to_owned());
        self.read(move |conn| crate::consent::opted_in(conn, &sync, &person))
            .await
    }

    async fn confirm_opt_in(&self, confirmation: OptInConfirmation) -> Result<bool> {
        self.write(move |conn| crate::consent::confirm_opt_in(conn, &confirmation))
            .await
    }

    async fn consent_ledger(&self, person: Option<&str>) -> Result<Vec<ConsentEntry>> {
        let person = person.map(str::to_owned);
        self.read(move |conn| crate::consent::ledger(conn, person.as_deref()))
            .await
    }

    async fn contacts_per_sync(&self) -> Result<Vec<(String, i64)>> {
        self.read(delivery::contacts_per_sync).await
    }

    async fn begin_erasure(&self, person: &str, now: UnixMs) -> Result<usize> {
        let person = person.to_owned();
        self.write(move |conn| crate::erasure::begin(conn, &person, now))
            .await
    }

    async fn erase_person(&self, person: &str) -> Result<ErasedRows> {
        let person = person.to_owned();
        let erased = self
            .write(move |conn| crate::erasure::purge(conn, &person))
            .await?;
        self.compact().await?;
        Ok(erased)
    }

    async fn is_erased(&self, person: &str) -> Result<bool> {
        let person = person.to_owned();
        self.read(move |conn| crate::erasure::is_erased(conn, &person))
            .await
    }

    async fn learn_remote_state(&self, learnt: RemoteState) -> Result<()> {
        self.write(move |conn| {
            if let Some(old) = &learnt.moved_from {
                conn.prepare_cached("DELETE FROM acknowledged WHERE sync = ?1 AND person = ?2")?
                    .execute((&learnt.sync, old))?;
            }
            if let Some(contact) = &learnt.contact {
                delivery::set_acknowledged(conn, &learnt.sync, &learnt.person, contact, learnt.at)?;
            }
            for snapshot in &learnt.snapshots {
                apply_snapshot(conn, &learnt.account, snapshot, learnt.at)?;
            }
            if learnt.reconcile {
                delivery::mark_dirty(
                    conn,
                    &learnt.account,
                    &format!("email:{}", learnt.person),
                    learnt.at,
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn acknowledged_by_remote_id(
        &self,
        sync: &str,
        remote_id: &str,
    ) -> Result<Option<(String, Acknowledged)>> {
        let (sync, remote_id) = (sync.to_owned(), remote_id.to_owned());
        self.read(move |conn| delivery::acknowledged_by_remote_id(conn, &sync, &remote_id))
            .await
    }

    async fn created_customer(&self, destination: &str, remote_id: &str) -> Result<Option<String>> {
        let (destination, remote_id) = (destination.to_owned(), remote_id.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT customer_id FROM two_way_customers WHERE destination = ?1 AND remote_id = ?2",
                )?
                .query_row((&destination, &remote_id), |r| r.get(0))
                .optional()?)
        })
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
        let row = (
            destination.to_owned(),
            remote_id.to_owned(),
            account.to_owned(),
            customer_id.to_owned(),
            at,
        );
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO two_way_customers (destination, remote_id, account, customer_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(row.clone())?;
            Ok(())
        })
        .await
    }

    async fn release_leases(&self) -> Result<usize> {
        self.write(delivery::release_leases).await
    }

    async fn held_counts(&self, account: &str) -> Result<Vec<HeldCount>> {
        let account = account.to_owned();
        self.read(move |conn| delivery::held_counts(conn, &account))
            .await
    }

    async fn next_due(&self, destination: &str) -> Result<Option<UnixMs>> {
        let destination = destination.to_owned();
        self.read(move |conn| delivery::next_due(conn, &destination))
            .await
    }

    async fn outbox_summary(&self, now: UnixMs) -> Result<Vec<OutboxSummary>> {
        self.read(move |conn| delivery::outbox_summary(conn, now))
            .await
    }

    async fn person_keys(&self, account: &str, after: &str, limit: usize) -> Result<Vec<String>> {
        let (account, after) = (account.to_owned(), after.to_owned());
        self.read(move |conn| delivery::person_keys(conn, &account, &after, limit))
            .await
    }
}

const OBJECT_COLUMNS: &str = "object_id, kind, customer_ref, version, deleted, body";

fn stored_object(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredObject> {
    Ok(StoredObject {
        object_id: r.get(0)?,
        kind: r.get(1)?,
        customer_ref: r.get(2)?,
        version: r.get(3)?,
        deleted: r.get(4)?,
        body: r.get(5)?,
    })
}
