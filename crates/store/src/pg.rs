//! The scale-out store: PostgreSQL shared by any number of `paysync serve` and `paysync worker`
//! processes on any number of machines.
//!
//! The SQL is the store's own (see [`crate::sql`]); this module runs it. Every write is one
//! transaction, re-run from the start when PostgreSQL reports a serialization failure or a
//! deadlock (writes are re-runnable, as on SQLite). Durable writes run SERIALIZABLE: the
//! read-then-write rules of the outbox and the dirty set then hold across processes exactly as
//! they do under SQLite's single writer. Two kinds run READ COMMITTED instead: claims (and shared
//! rates), with `FOR UPDATE SKIP LOCKED`, so workers take different rows without waiting for
//! each other; and relaxed writes, the ledger's (events and backfill pages carried in), whose
//! upserts keep the newest version whatever the order, so that backfill units and the applier
//! running at once queue on row locks instead of failing each other. Relaxed writes (work redone
//! when lost) also commit with `synchronous_commit = off`, the counterpart of SQLite's
//! `synchronous = NORMAL`. Connections are pooled; each statement is
//! prepared once per connection.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::sync::Mutex;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use crate::backend::{Backend, WriteKind};
use crate::sql::{Arg, Db, Dialect, Row, ToArg, Value};
use crate::{Result, SecretKey, StoreError};

/// paysync's state in a PostgreSQL database (`database.url`), shared by many processes.
#[derive(Debug)]
pub struct PgStore {
    pool: std::sync::Arc<Pool>,
    /// One permit per connection in use (see [`MAX_CONNECTIONS`]).
    connections: std::sync::Arc<tokio::sync::Semaphore>,
    secret_key: Option<SecretKey>,
}

impl PgStore {
    /// Connects to `url` and applies pending migrations.
    pub async fn open(url: &str, now: paysync_core::UnixMs) -> Result<Self> {
        let pool = std::sync::Arc::new(Pool::new(url)?);
        let migrating = pool.clone();
        // READ COMMITTED (`Claim`): once a process has the migrations' lock, it reads the
        // version another process may just have committed.
        blocking(move || {
            migrating.write(WriteKind::Claim, &|db| {
                crate::migrate::migrate_postgres(db, now)
            })
        })
        .await?;
        Ok(PgStore {
            pool,
            connections: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            secret_key: None,
        })
    }

    /// The key secrets are sealed with (`store.secret_key`).
    pub fn with_secret_key(mut self, key: SecretKey) -> Self {
        self.secret_key = Some(key);
        self
    }

    /// Waits for a connection's turn.
    async fn connection(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.connections
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)
    }
}

/// Runs blocking database work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Database(format!("a database task failed: {e}")))?
}

impl Backend for PgStore {
    async fn write<T, F>(&self, kind: WriteKind, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&dyn Db) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = self.connection().await?;
        blocking(move || {
            let _permit = permit;
            pool.write(kind, &work)
        })
        .await
    }

    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = self.connection().await?;
        blocking(move || {
            let _permit = permit;
            pool.read(work)
        })
        .await
    }

    fn secret_key(&self) -> Option<&SecretKey> {
        self.secret_key.as_ref()
    }

    /// VACUUM removes deleted rows from the tables' pages (and their indexes) so that ordinary
    /// reads of the files no longer find them; PostgreSQL's write-ahead log keeps them until it
    /// is recycled, which only the database's own retention settles.
    async fn compact(&self) -> Result<()> {
        let pool = self.pool.clone();
        blocking(move || {
            pool.batch(
                "VACUUM stripe_objects, stripe_events, sync_log, outbox, acknowledged, \
                 consent_ledger, suppressions, opt_in_requests, dirty_customers, held, \
                 two_way_customers",
            )
        })
        .await
    }
}

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;
/// Connections one process opens at most: more callers wait for one (PostgreSQL refuses
/// clients beyond its `max_connections`, 100 by default, shared by every process).
const MAX_CONNECTIONS: usize = 16;
/// How often a write is re-run after serialization failures before the error is returned.
const MAX_RERUNS: u32 = 20;

struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A pool of connections to one database (and schema, through the URL's `options`).
pub(crate) struct Pool {
    config: postgres::Config,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only where it points is shown.
        f.debug_struct("Pool")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish()
    }
}

fn database_error(e: postgres::Error) -> StoreError {
    // `postgres::Error`'s text names the failing statement's error, never the connection string.
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
        None => StoreError::Database(e.to_string()),
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        database_error(e)
    }
}

/// Whether the transaction lost a race and may simply be run again.
fn is_rerunnable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
    })
}

impl Pool {
    /// A pool for `url` (`postgres://user[:password]@host[:port]/database[?options=…]`).
    pub(crate) fn new(url: &str) -> Result<Self> {
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Database(format!("database.url is not a PostgreSQL URL: {e}"))
        })?;
        Ok(Pool {
            config,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn take(&self) -> Result<Conn> {
        let pooled = self.idle.lock().map_err(|_| StoreError::Closed)?.pop();
        match pooled {
            Some(conn) if !conn.client.is_closed() => Ok(conn),
            _ => {
                let mut client = self.config.connect(NoTls)?;
                // Statements are prepared once per connection, and PostgreSQL would soon plan
                // them once for all parameters: a plan made while a table was nearly empty (a new
                // database, a backfill starting) would then scan it whole for every lookup long
                // after it has grown. Planning each execution with its values, and the tables'
                // sizes then, keeps index lookups index lookups.
                client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
                Ok(Conn {
                    client,
                    statements: HashMap::new(),
                })
            }
        }
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Runs `work` in one transaction of kind `kind`, re-running it when it lost a race.
    /// Blocking: call from a blocking thread.
    pub(crate) fn write<T>(
        &self,
        kind: WriteKind,
        work: &dyn Fn(&dyn Db) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.take()?;
        let mut reruns = 0;
        let result = loop {
            match run_in_transaction(&mut conn, kind, work) {
                Err(Failure::Rerun(e)) if reruns < MAX_RERUNS => {
                    reruns += 1;
                    tracing::debug!(reruns, error = %e, "write lost a race; running it again");
                    // Spread the re-runs of writers that collided, longer each time (full jitter,
                    // up to 200 ms).
                    let ceiling = (2_u64 << reruns.min(7)).min(200);
                    std::thread::sleep(std::time::Duration::from_millis(rand::random_range(
                        1..=ceiling,
                    )));
                }
                Err(Failure::Rerun(e)) => break Err(e),
                Err(Failure::Store(e)) => break Err(e),
                Ok(value) => break Ok(value),
            }
        };
        self.give_back(conn);
        result
    }

    /// Runs `work` on a read-only snapshot.
    pub(crate) fn read<T>(&self, work: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        let mut conn = self.take()?;
        let result = (|| {
            let Conn { client, statements } = &mut conn;
            let tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let db = PgDb {
                tx: RefCell::new(tx),
                statements: RefCell::new(statements),
                raced: Cell::new(false),
            };
            let value = work(&db);
            let PgDb { tx, .. } = db;
            tx.into_inner().commit()?;
            value
        })();
        self.give_back(conn);
        result
    }

    /// Runs `sql` (several statements) outside any transaction, e.g. `VACUUM`.
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        let mut conn = self.take()?;
        let result = conn.client.batch_execute(sql).map_err(database_error);
        self.give_back(conn);
        result
    }
}

impl Drop for Pool {
    /// Closing a connection blocks on its own runtime, which may not happen on an async thread
    /// (where the last store handle is usually dropped): the idle ones close on a thread of
    /// their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

enum Failure {
    /// The transaction lost a race (serialization failure, deadlock).
    Rerun(StoreError),
    Store(StoreError),
}

fn run_in_transaction<T>(
    conn: &mut Conn,
    kind: WriteKind,
    work: &dyn Fn(&dyn Db) -> Result<T>,
) -> std::result::Result<T, Failure> {
    let fail = |e: postgres::Error| {
        if is_rerunnable(&e) {
            Failure::Rerun(database_error(e))
        } else {
            Failure::Store(database_error(e))
        }
    };
    let Conn { client, statements } = conn;
    let isolation = match kind {
        WriteKind::Claim | WriteKind::Relaxed => postgres::IsolationLevel::ReadCommitted,
        WriteKind::Durable => postgres::IsolationLevel::Serializable,
    };
    let mut tx = client
        .build_transaction()
        .isolation_level(isolation)
        .start()
        .map_err(fail)?;
    if kind == WriteKind::Relaxed {
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(fail)?;
    }
    let db = PgDb {
        tx: RefCell::new(tx),
        statements: RefCell::new(statements),
        raced: Cell::new(false),
    };
    let value = work(&db);
    let PgDb { tx, raced, .. } = db;
    // The work saw only a StoreError; whether PostgreSQL reported a race decides a re-run.
    let value = value.map_err(|e| {
        if raced.get() {
            Failure::Rerun(e)
        } else {
            Failure::Store(e)
        }
    })?;
    tx.into_inner().commit().map_err(fail)?;
    Ok(value)
}

/// A transaction as a [`Db`].
struct PgDb<'a> {
    tx: RefCell<postgres::Transaction<'a>>,
    statements: RefCell<&'a mut HashMap<String, Statement>>,
    /// Whether PostgreSQL reported a serialization failure or a deadlock.
    raced: Cell<bool>,
}

impl PgDb<'_> {
    fn statement(&self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.tx.borrow_mut().prepare(&placeholders(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    fn keep<T>(&self, result: std::result::Result<T, postgres::Error>) -> Result<T> {
        result.map_err(|e| {
            if is_rerunnable(&e) {
                self.raced.set(true);
            }
            database_error(e)
        })
    }
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<usize> {
        let statement = self.keep(self.statement(sql))?;
        let args: Vec<Arg<'_>> = args.iter().map(|a| a.to_arg()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let n = self.keep(self.tx.borrow_mut().execute(&statement, &refs))?;
        Ok(n as usize)
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        self.keep(self.tx.borrow_mut().batch_execute(sql))
    }

    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>> {
        let statement = self.keep(self.statement(sql))?;
        let args: Vec<Arg<'_>> = args.iter().map(|a| a.to_arg()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let rows = self.keep(self.tx.borrow_mut().query(&statement, &refs))?;
        rows.iter().map(row).collect()
    }
}

fn row(r: &postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let t = column.type_();
        let value = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if *t == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(t) {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Database(format!(
                "column {} has type {t}, which the store does not read",
                column.name()
            )));
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// `?1` → `$1`, outside quoted text.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(i) if *ty == Type::INT8 => i.to_sql(ty, out),
            Arg::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            Arg::Int(i) if *ty == Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
            Arg::Int(i) if *ty == Type::BOOL => (i != 0).to_sql(ty, out),
            Arg::Int(i) if *ty == Type::TEXT => i.to_string().to_sql(ty, out),
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
            Arg::Int(_) => Err(format!("an integer cannot be sent as {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked value by value in `to_sql`, which converts integers to the column's width.
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            super::placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
    }
}
