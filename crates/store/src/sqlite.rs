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

use paysync_core::UnixMs;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{Backend, WriteKind};
use crate::sql::Db;
use crate::{Result, StoreError, migrate};

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

    async fn read_with<T, F>(&self, work: F) -> Result<T>
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

impl Backend for SqliteStore {
    /// `Durable` and `Claim` writes are fsync'd at commit; `Relaxed` ones at the next durable
    /// commit or checkpoint (see `set_durability`).
    async fn write<T, F>(&self, kind: WriteKind, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.enqueue(
            move |conn: &Connection| work(conn),
            kind != WriteKind::Relaxed,
        )
        .await
    }

    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.read_with(move |conn: &Connection| work(conn)).await
    }

    fn secret_key(&self) -> Option<&crate::SecretKey> {
        self.secret_key.as_ref()
    }

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
