//! The reconcile and delivery tables: dirty marks with generations, what each destination
//! acknowledged, and the outbox (one row per sync and person, coalescing that person's changes).
//!
//! The SQL lives here as functions over a [`Db`]; the backends run them in their transactions. Rules kept by these functions:
//! - A reconciler's decision is queued only if nothing moved under it: the acknowledged state it
//!   diffed against is still the newest (`rev`), and no worker holds the person's row. Otherwise
//!   the person stays dirty and is reconciled again.
//! - A dirty mark is cleared only at the generation the reconciler read.
//! - A worker's result updates the row only while its lease is the row's lease; the acknowledged
//!   state is written whatever happened to the row, because it is what the destination holds.

use paysync_core::UnixMs;
use paysync_core::contact::RemoteContact;
use paysync_core::ops::Op;
use serde::Serialize;

use crate::sql::{Db, Dialect, Row, args};
use crate::types::LogEntry;
use crate::{Result, StoreError};

/// A dirty person key (`cus_…` or `email:…`) and the generation of its mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyMark {
    pub customer_ref: String,
    pub generation: i64,
}

/// What a destination confirmed holding for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    pub contact: RemoteContact,
    pub rev: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Dead,
}

impl OutboxState {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "dead" => Ok(OutboxState::Dead),
            other => Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub account: String,
    pub sync: String,
    pub destination: String,
    pub person: String,
    pub ops: Vec<Op>,
    pub state: OutboxState,
    pub created_at: UnixMs,
    pub due_at: UnixMs,
    pub attempts: u32,
    /// Set while a worker holds the row.
    pub lease_until: Option<UnixMs>,
    pub last_error: Option<String>,
}

/// What the reconciler finds for a person at a sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryState {
    pub acknowledged: Option<Acknowledged>,
    pub outbox: Option<OutboxEntry>,
}

/// The reconciler's decision for one person at one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub sync: String,
    pub destination: String,
    /// Normalised email.
    pub person: String,
    /// The `rev` of the acknowledged state the ops were diffed against (`None`: none).
    pub diffed_against: Option<i64>,
    /// Empty: the destination holds what it should; any queued row is dropped.
    pub ops: Vec<Op>,
    /// When a new row is due (now + the coalescing window). A pending row keeps its due time.
    pub due_at: UnixMs,
}

/// Decisions for the person behind one dirty mark, committed together or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub mark: DirtyMark,
    /// The person's normalised email, when they have a valid one.
    pub person: Option<String>,
    pub decisions: Vec<Decision>,
    /// Syncs that hold the person back, with the reason (replaces what was recorded before).
    pub held: Vec<(String, String)>,
}

/// How many people a sync holds back, for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldCount {
    pub sync: String,
    pub reason: String,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileStats {
    /// Rows written (new, or changed operations).
    pub queued: usize,
    /// Decisions with nothing to send.
    pub unchanged: usize,
    /// Persons left dirty because a worker held their row or their acknowledged state moved.
    pub deferred: usize,
}

/// A claimed row with the acknowledged state its operations start from.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub entry: OutboxEntry,
    pub acknowledged: Option<Acknowledged>,
    /// The lease this worker holds (the row's `lease_until` when claimed).
    pub lease: UnixMs,
}

/// What became of a claimed row.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Everything was applied or settled: the row goes.
    Done,
    /// Try `ops` (what is left) again at `due_at`.
    Retry {
        ops: Vec<Op>,
        due_at: UnixMs,
        error: String,
        /// false when the failure was not the row's (the destination paused).
        count_attempt: bool,
    },
    /// Never retried blindly: kept as a dead letter until replayed or superseded.
    Dead { ops: Vec<Op>, error: String },
}

/// A worker's result for one claimed row.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub id: i64,
    pub lease: UnixMs,
    pub sync: String,
    pub person: String,
    /// What the destination holds now, when anything was applied (or its consent learnt).
    pub acknowledged: Option<RemoteContact>,
    pub next: Next,
    pub log: LogEntry,
}

/// Per destination: rows waiting, due, in flight and dead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    pub destination: String,
    pub pending: i64,
    pub due: i64,
    pub in_flight: i64,
    pub dead: i64,
    pub oldest_due_at: Option<UnixMs>,
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn mark_dirty(db: &dyn Db, account: &str, key: &str, at: UnixMs) -> Result<()> {
    db.execute(
        "INSERT INTO dirty_customers (account, customer_ref, since, gen) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (account, customer_ref) DO UPDATE SET gen = dirty_customers.gen + 1",
        args![account, key, at],
    )?;
    Ok(())
}

pub(crate) fn mark_all_dirty(db: &dyn Db, account: &str, at: UnixMs) -> Result<usize> {
    db.execute(
        "INSERT INTO dirty_customers (account, customer_ref, since, gen)
         SELECT DISTINCT account, customer_ref, CAST(?2 AS BIGINT), 0 FROM stripe_objects
          WHERE account = ?1 AND customer_ref IS NOT NULL
         ON CONFLICT (account, customer_ref) DO UPDATE SET gen = dirty_customers.gen + 1",
        args![account, at],
    )
}

pub(crate) fn dirty_marks(db: &dyn Db, account: &str, limit: usize) -> Result<Vec<DirtyMark>> {
    db.query_map(
        "SELECT customer_ref, gen FROM dirty_customers WHERE account = ?1 ORDER BY since LIMIT ?2",
        args![account, limit as i64],
        |r| {
            Ok(DirtyMark {
                customer_ref: r.get(0)?,
                generation: r.get(1)?,
            })
        },
    )
}

const OUTBOX_COLUMNS: &str = "id, account, sync, destination, person, ops, state, created_at, \
                              due_at, attempts, lease_until, last_error";

fn outbox_entry(r: &Row) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        account: r.get(1)?,
        sync: r.get(2)?,
        destination: r.get(3)?,
        person: r.get(4)?,
        ops: from_json(&r.get::<String>(5)?, "outbox ops")?,
        state: OutboxState::parse(&r.get::<String>(6)?)?,
        created_at: r.get(7)?,
        due_at: r.get(8)?,
        attempts: r.get(9)?,
        lease_until: r.get(10)?,
        last_error: r.get(11)?,
    })
}

fn outbox_row(db: &dyn Db, sync: &str, person: &str) -> Result<Option<OutboxEntry>> {
    db.query_opt(
        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sync = ?1 AND person = ?2"),
        args![sync, person],
    )?
    .as_ref()
    .map(outbox_entry)
    .transpose()
}

fn acknowledged(db: &dyn Db, sync: &str, person: &str) -> Result<Option<Acknowledged>> {
    db.query_opt(
        "SELECT state, rev FROM acknowledged WHERE sync = ?1 AND person = ?2",
        args![sync, person],
    )?
    .map(|r| {
        Ok(Acknowledged {
            contact: from_json(&r.get::<String>(0)?, "acknowledged state")?,
            rev: r.get(1)?,
        })
    })
    .transpose()
}

pub(crate) fn acknowledged_by_remote_id(
    db: &dyn Db,
    sync: &str,
    remote_id: &str,
) -> Result<Option<(String, Acknowledged)>> {
    let person: Option<String> = db
        .query_opt(
            "SELECT person FROM acknowledged WHERE sync = ?1 AND remote_id = ?2 LIMIT 1",
            args![sync, remote_id],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    let Some(person) = person else {
        return Ok(None);
    };
    Ok(acknowledged(db, sync, &person)?.map(|a| (person, a)))
}

pub(crate) fn delivery_state(db: &dyn Db, sync: &str, person: &str) -> Result<DeliveryState> {
    Ok(DeliveryState {
        acknowledged: acknowledged(db, sync, person)?,
        outbox: outbox_row(db, sync, person)?,
    })
}

/// Whether `decision` may be committed: nothing moved since the reconciler read.
fn still_current(db: &dyn Db, d: &Decision, now: UnixMs) -> Result<bool> {
    let rev = acknowledged(db, &d.sync, &d.person)?.map(|a| a.rev);
    if rev != d.diffed_against {
        return Ok(false);
    }
    let leased: Option<Option<UnixMs>> = db
        .query_opt(
            "SELECT lease_until FROM outbox WHERE sync = ?1 AND person = ?2",
            args![d.sync, d.person],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    Ok(!matches!(leased, Some(Some(until)) if until > now))
}

/// Writes one decision; returns whether a row was written.
fn write_decision(db: &dyn Db, account: &str, d: &Decision, now: UnixMs) -> Result<bool> {
    if crate::erasure::is_erased(db, &d.person)? {
        return Ok(false);
    }
    let existing = outbox_row(db, &d.sync, &d.person)?;
    if d.ops.is_empty() {
        if let Some(row) = existing {
            db.execute("DELETE FROM outbox WHERE id = ?1", args![row.id])?;
        }
        return Ok(false);
    }
    let ops = to_json(&d.ops)?;
    match existing {
        // Already queued; or already failed for good (a dead letter waits for a replay or a
        // different change, never retried blindly).
        Some(row) if row.ops == d.ops => Ok(false),
        Some(row) => {
            // A pending row keeps its due time and attempt count (its backoff continues); a
            // dead letter superseded by new operations starts afresh.
            let (due_at, attempts) = match row.state {
                OutboxState::Pending => (row.due_at, row.attempts),
                OutboxState::Dead => (d.due_at, 0),
            };
            db.execute(
                "UPDATE outbox SET ops = ?2, state = 'pending', due_at = ?3, attempts = ?4,
                        lease_until = NULL, updated_at = ?5 WHERE id = ?1",
                args![row.id, ops, due_at, attempts, now],
            )?;
            Ok(true)
        }
        None => {
            db.execute(
                "INSERT INTO outbox (account, sync, destination, person, ops, state, created_at,
                                     due_at, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, 0, ?6)",
                args![account, d.sync, d.destination, d.person, ops, now, d.due_at],
            )?;
            Ok(true)
        }
    }
}

pub(crate) fn commit_reconciled(
    db: &dyn Db,
    account: &str,
    batch: &[Reconciled],
    now: UnixMs,
) -> Result<ReconcileStats> {
    let mut stats = ReconcileStats::default();
    for r in batch {
        let mut current = true;
        for d in &r.decisions {
            current &= still_current(db, d, now)?;
        }
        if !current {
            // To the back of the queue, so the next pass takes other persons instead of waiting
            // behind this one's row in flight.
            db.execute(
                "UPDATE dirty_customers SET since = ?3 WHERE account = ?1 AND customer_ref = ?2",
                args![account, r.mark.customer_ref, now],
            )?;
            stats.deferred += 1;
            continue;
        }
        for d in &r.decisions {
            if write_decision(db, account, d, now)? {
                stats.queued += 1;
            } else {
                stats.unchanged += 1;
            }
        }
        record_held(db, account, r, now)?;
        db.execute(
            "DELETE FROM dirty_customers WHERE account = ?1 AND customer_ref = ?2 AND gen = ?3",
            args![account, r.mark.customer_ref, r.mark.generation],
        )?;
    }
    Ok(stats)
}

/// Replaces what was recorded as held for the person (under their email or their customer).
fn record_held(db: &dyn Db, account: &str, r: &Reconciled, now: UnixMs) -> Result<()> {
    let key = r.person.as_deref().unwrap_or(&r.mark.customer_ref);
    if crate::erasure::is_erased(db, key)? {
        return Ok(());
    }
    db.execute(
        "DELETE FROM held WHERE account = ?1 AND key IN (?2, ?3)",
        args![account, r.mark.customer_ref, key],
    )?;
    for (sync, reason) in &r.held {
        db.execute(
            "INSERT INTO held (account, sync, key, reason, since) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account, key, sync) DO UPDATE SET reason = excluded.reason",
            args![account, sync, key, reason, now],
        )?;
    }
    Ok(())
}

pub(crate) fn held_counts(db: &dyn Db, account: &str) -> Result<Vec<HeldCount>> {
    db.query_map(
        "SELECT sync, reason, COUNT(*) FROM held WHERE account = ?1
          GROUP BY sync, reason ORDER BY sync, reason",
        args![account],
        |r| {
            Ok(HeldCount {
                sync: r.get(0)?,
                reason: r.get(1)?,
                count: r.get(2)?,
            })
        },
    )
}

pub(crate) fn claim(
    db: &dyn Db,
    destination: &str,
    now: UnixMs,
    due_by: UnixMs,
    lease_until: UnixMs,
    limit: usize,
) -> Result<Vec<Claimed>> {
    // Rows due a little later ride along only when some row is due now: otherwise every wake-up
    // would take rows early, one at a time, and defeat the coalescing window.
    let due_now: bool = db.value(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE destination = ?1 AND state = 'pending'
             AND due_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2))",
        args![destination, now],
    )?;
    if !due_now {
        return Ok(Vec::new());
    }
    // On PostgreSQL several workers claim at once: each skips the rows another is taking.
    let skip_locked = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    // Oldest due first; a row whose lease ran out (its worker died) is due again.
    let rows = db.query_map(
        &format!(
            "UPDATE outbox SET lease_until = ?3, updated_at = ?2 WHERE id IN (
                 SELECT id FROM outbox WHERE destination = ?1 AND state = 'pending'
                    AND due_at <= ?5 AND (lease_until IS NULL OR lease_until <= ?2)
                  ORDER BY due_at, id LIMIT ?4 {skip_locked})
             RETURNING {OUTBOX_COLUMNS}"
        ),
        args![destination, now, lease_until, limit as i64, due_by],
        outbox_entry,
    )?;
    let mut claimed = Vec::with_capacity(rows.len());
    for entry in rows {
        let acknowledged = acknowledged(db, &entry.sync, &entry.person)?;
        claimed.push(Claimed {
            entry,
            acknowledged,
            lease: lease_until,
        });
    }
    claimed.sort_by_key(|c| (c.entry.due_at, c.entry.id));
    Ok(claimed)
}

/// Records what the destination holds for a person (a new revision), unless they were erased.
pub(crate) fn set_acknowledged(
    db: &dyn Db,
    sync: &str,
    person: &str,
    contact: &RemoteContact,
    now: UnixMs,
) -> Result<()> {
    if crate::erasure::is_erased(db, person)? {
        return Ok(());
    }
    db.execute(
        "INSERT INTO acknowledged (sync, person, remote_id, state, rev, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)
         ON CONFLICT (sync, person) DO UPDATE SET remote_id = excluded.remote_id,
             state = excluded.state, rev = acknowledged.rev + 1, updated_at = excluded.updated_at",
        args![sync, person, contact.remote_id, to_json(contact)?, now],
    )?;
    Ok(())
}

pub(crate) fn finish(db: &dyn Db, results: &[Delivered], now: UnixMs) -> Result<()> {
    for d in results {
        // A delivery that was in flight when its person was erased: nothing about them is kept.
        let erased = crate::erasure::is_erased(db, &d.person)?;
        if let Some(contact) = &d.acknowledged {
            set_acknowledged(db, &d.sync, &d.person, contact, now)?;
        }
        let mine = "id = ?1 AND lease_until = ?2";
        match &d.next {
            Next::Done => {
                db.execute(
                    &format!("DELETE FROM outbox WHERE {mine}"),
                    args![d.id, d.lease],
                )?;
            }
            Next::Retry {
                ops,
                due_at,
                error,
                count_attempt,
            } => {
                db.execute(
                    &format!(
                        "UPDATE outbox SET ops = ?3, due_at = ?4, last_error = ?5,
                                attempts = attempts + ?6, lease_until = NULL, updated_at = ?7
                          WHERE {mine}"
                    ),
                    args![
                        d.id,
                        d.lease,
                        to_json(ops)?,
                        due_at,
                        error,
                        i64::from(*count_attempt),
                        now
                    ],
                )?;
            }
            Next::Dead { ops, error } => {
                db.execute(
                    &format!(
                        "UPDATE outbox SET ops = ?3, state = 'dead', last_error = ?4,
                                attempts = attempts + 1, lease_until = NULL, updated_at = ?5
                          WHERE {mine}"
                    ),
                    args![d.id, d.lease, to_json(ops)?, error, now],
                )?;
            }
        }
        if !erased {
            crate::ledger::insert_log(db, &d.log)?;
        }
    }
    Ok(())
}

pub(crate) fn dead_letters(
    db: &dyn Db,
    destination: Option<&str>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    db.query_map(
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
              WHERE state = 'dead' AND (CAST(?1 AS TEXT) IS NULL OR destination = ?1) ORDER BY id LIMIT ?2"
        ),
        args![destination, limit as i64],
        outbox_entry,
    )
}

/// Makes dead letters (one by id, or all) due now; returns how many.
pub(crate) fn replay(db: &dyn Db, id: Option<i64>, now: UnixMs) -> Result<usize> {
    db.execute(
        "UPDATE outbox SET state = 'pending', due_at = ?2, attempts = 0, lease_until = NULL,
                updated_at = ?2
          WHERE state = 'dead' AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1)",
        args![id, now],
    )
}

pub(crate) fn outbox_summary(db: &dyn Db, now: UnixMs) -> Result<Vec<OutboxSummary>> {
    db.query_map(
        "SELECT destination,
                COUNT(*) FILTER (WHERE state = 'pending'),
                COUNT(*) FILTER (WHERE state = 'pending' AND due_at <= ?1
                                   AND (lease_until IS NULL OR lease_until <= ?1)),
                COUNT(*) FILTER (WHERE state = 'pending' AND COALESCE(lease_until, 0) > ?1),
                COUNT(*) FILTER (WHERE state = 'dead'),
                MIN(CASE WHEN state = 'pending' THEN due_at END)
           FROM outbox GROUP BY destination ORDER BY destination",
        args![now],
        |r| {
            Ok(OutboxSummary {
                destination: r.get(0)?,
                pending: r.get(1)?,
                due: r.get(2)?,
                in_flight: r.get(3)?,
                dead: r.get(4)?,
                oldest_due_at: r.get(5)?,
            })
        },
    )
}

/// Every person key of the account with objects, in key order, after `after`.
pub(crate) fn person_keys(
    db: &dyn Db,
    account: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let indexed = match db.dialect() {
        Dialect::Sqlite => "INDEXED BY stripe_objects_customer",
        Dialect::Postgres => "",
    };
    db.query_map(
        &format!(
            "SELECT DISTINCT customer_ref FROM stripe_objects {indexed}
              WHERE account = ?1 AND customer_ref > ?2 ORDER BY customer_ref LIMIT ?3"
        ),
        args![account, after, limit as i64],
        |r| r.get(0),
    )
}

/// When the destination's next pending row falls due (or its lease runs out).
pub(crate) fn next_due(db: &dyn Db, destination: &str) -> Result<Option<UnixMs>> {
    db.value(
        "SELECT MIN(CASE WHEN COALESCE(lease_until, 0) > due_at THEN lease_until ELSE due_at END)
           FROM outbox WHERE destination = ?1 AND state = 'pending'",
        args![destination],
    )
}

/// Moves a worker's lease on the rows it still holds (those with lease `lease`): its heartbeat
/// while a long round runs. Returns how many rows it still held.
pub(crate) fn extend_leases(
    db: &dyn Db,
    destination: &str,
    lease: UnixMs,
    until: UnixMs,
) -> Result<usize> {
    db.execute(
        "UPDATE outbox SET lease_until = ?3 WHERE destination = ?1 AND lease_until = ?2",
        args![destination, lease, until],
    )
}

/// Takes or renews role `name` for `holder` until `until`, unless another holder's claim on it
/// is still running at `now`. Returns whether `holder` holds it.
pub(crate) fn hold_role(
    db: &dyn Db,
    name: &str,
    holder: &str,
    now: UnixMs,
    until: UnixMs,
) -> Result<bool> {
    let held = db.execute(
        "INSERT INTO roles (name, holder, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
          WHERE roles.holder = excluded.holder OR roles.until <= ?3",
        args![name, holder, now, until],
    )?;
    Ok(held == 1)
}

/// Reserves the next request of rate `key` (one per `interval_ms`, `burst` at once) and returns
/// how long its caller must wait before sending it, in ms (GCRA; 0: at once).
pub(crate) fn reserve_rate(
    db: &dyn Db,
    key: &str,
    interval_ms: i64,
    burst: i64,
    now: UnixMs,
) -> Result<i64> {
    let tat: i64 = db.value(
        "INSERT INTO rate_limits (key, tat) VALUES (?1, CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT))
         ON CONFLICT (key) DO UPDATE SET
             tat = CASE WHEN rate_limits.tat > ?2 THEN rate_limits.tat ELSE ?2 END + ?3
         RETURNING tat",
        args![key, now, interval_ms],
    )?;
    Ok((tat - interval_ms * burst.max(1) - now).max(0))
}

/// Takes slot `key` for `holder` until `until`, unless another holder's time has not run out
/// at `now`; whether it was taken. One slot per transaction: a transaction trying several would
/// hold the first's lock while it waits for the next, and two such deadlock.
pub(crate) fn take_slot(
    db: &dyn Db,
    key: &str,
    holder: &str,
    now: UnixMs,
    until: UnixMs,
) -> Result<bool> {
    Ok(db.execute(
        "INSERT INTO rate_limits (key, tat, holder) VALUES (?1, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, holder = excluded.holder
          WHERE rate_limits.tat <= ?2",
        args![key, now, until, holder],
    )? == 1)
}

/// Gives a slot back, if `holder` still holds it.
pub(crate) fn release_slot(db: &dyn Db, key: &str, holder: &str) -> Result<()> {
    db.execute(
        "UPDATE rate_limits SET tat = 0, holder = NULL WHERE key = ?1 AND holder = ?2",
        args![key, holder],
    )?;
    Ok(())
}

/// Holds rate `key` back until `until` (or later, if it already is).
pub(crate) fn hold_rate_until(db: &dyn Db, key: &str, until: UnixMs) -> Result<()> {
    db.execute(
        "INSERT INTO rate_limits (key, tat) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET
             tat = CASE WHEN rate_limits.tat > ?2 THEN rate_limits.tat ELSE ?2 END",
        args![key, until],
    )?;
    Ok(())
}

/// Until when rate `key` is held back (its theoretical arrival time), if it is known.
pub(crate) fn rate_held_until(db: &dyn Db, key: &str) -> Result<Option<UnixMs>> {
    db.query_opt("SELECT tat FROM rate_limits WHERE key = ?1", args![key])?
        .map(|r| r.get(0))
        .transpose()
}

/// Releases every lease: the rows of a worker that died are due again at once. Only where one
/// process uses the database (SQLite): on PostgreSQL other workers' leases are live, and a dead
/// worker's run out on their own.
pub(crate) fn release_leases(db: &dyn Db) -> Result<usize> {
    if db.dialect() == Dialect::Postgres {
        return Ok(0);
    }
    db.execute(
        "UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL",
        args![],
    )
}

/// Contacts each sync's destination acknowledged.
pub(crate) fn contacts_per_sync(db: &dyn Db) -> Result<Vec<(String, i64)>> {
    db.query_map(
        "SELECT sync, COUNT(*) FROM acknowledged GROUP BY sync ORDER BY sync",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
