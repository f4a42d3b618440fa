//! The reconcile and delivery tables: dirty marks with generations, what each destination
//! acknowledged, and the outbox (one row per sync and person, coalescing that person's changes).
//!
//! The SQL lives here as functions over a connection; `SqliteStore` runs them on its writer or
//! readers. Rules kept by these functions:
//! - A reconciler's decision is queued only if nothing moved under it: the acknowledged state it
//!   diffed against is still the newest (`rev`), and no worker holds the person's row. Otherwise
//!   the person stays dirty and is reconciled again.
//! - A dirty mark is cleared only at the generation the reconciler read.
//! - A worker's result updates the row only while its lease is the row's lease; the acknowledged
//!   state is written whatever happened to the row, because it is what the destination holds.

use paysync_core::UnixMs;
use paysync_core::contact::RemoteContact;
use paysync_core::ops::Op;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

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

pub(crate) fn mark_dirty(conn: &Connection, account: &str, key: &str, at: UnixMs) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO dirty_customers (account, customer_ref, since, gen) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT DO UPDATE SET gen = gen + 1",
    )?
    .execute((account, key, at))?;
    Ok(())
}

pub(crate) fn mark_all_dirty(conn: &Connection, account: &str, at: UnixMs) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO dirty_customers (account, customer_ref, since, gen)
             SELECT DISTINCT account, customer_ref, ?2, 0 FROM stripe_objects
              WHERE account = ?1 AND customer_ref IS NOT NULL
             ON CONFLICT DO UPDATE SET gen = gen + 1",
        )?
        .execute((account, at))?)
}

pub(crate) fn dirty_marks(
    conn: &Connection,
    account: &str,
    limit: usize,
) -> Result<Vec<DirtyMark>> {
    let mut stmt = conn.prepare_cached(
        "SELECT customer_ref, gen FROM dirty_customers WHERE account = ?1 ORDER BY since LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![account, limit as i64], |r| {
        Ok(DirtyMark {
            customer_ref: r.get(0)?,
            generation: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const OUTBOX_COLUMNS: &str = "id, account, sync, destination, person, ops, state, created_at, \
                              due_at, attempts, lease_until, last_error";

fn outbox_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OutboxEntry, String, String)> {
    let ops: String = r.get(5)?;
    let state: String = r.get(6)?;
    Ok((
        OutboxEntry {
            id: r.get(0)?,
            account: r.get(1)?,
            sync: r.get(2)?,
            destination: r.get(3)?,
            person: r.get(4)?,
            ops: Vec::new(),
            state: OutboxState::Pending,
            created_at: r.get(7)?,
            due_at: r.get(8)?,
            attempts: r.get(9)?,
            lease_until: r.get(10)?,
            last_error: r.get(11)?,
        },
        ops,
        state,
    ))
}

fn finish_entry((mut entry, ops, state): (OutboxEntry, String, String)) -> Result<OutboxEntry> {
    entry.ops = from_json(&ops, "outbox ops")?;
    entry.state = OutboxState::parse(&state)?;
    Ok(entry)
}

fn outbox_row(conn: &Connection, sync: &str, person: &str) -> Result<Option<OutboxEntry>> {
    conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sync = ?1 AND person = ?2"
    ))?
    .query_row((sync, person), outbox_entry)
    .optional()?
    .map(finish_entry)
    .transpose()
}

fn acknowledged(conn: &Connection, sync: &str, person: &str) -> Result<Option<Acknowledged>> {
    conn.prepare_cached("SELECT state, rev FROM acknowledged WHERE sync = ?1 AND person = ?2")?
        .query_row((sync, person), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
        .map(|(state, rev)| {
            Ok(Acknowledged {
                contact: from_json(&state, "acknowledged state")?,
                rev,
            })
        })
        .transpose()
}

pub(crate) fn acknowledged_by_remote_id(
    conn: &Connection,
    sync: &str,
    remote_id: &str,
) -> Result<Option<(String, Acknowledged)>> {
    let person: Option<String> = conn
        .prepare_cached(
            "SELECT person FROM acknowledged WHERE sync = ?1 AND remote_id = ?2 LIMIT 1",
        )?
        .query_row((sync, remote_id), |r| r.get(0))
        .optional()?;
    let Some(person) = person else {
        return Ok(None);
    };
    Ok(acknowledged(conn, sync, &person)?.map(|a| (person, a)))
}

pub(crate) fn delivery_state(conn: &Connection, sync: &str, person: &str) -> Result<DeliveryState> {
    Ok(DeliveryState {
        acknowledged: acknowledged(conn, sync, person)?,
        outbox: outbox_row(conn, sync, person)?,
    })
}

/// Whether `decision` may be committed: nothing moved since the reconciler read.
fn still_current(conn: &Connection, d: &Decision, now: UnixMs) -> Result<bool> {
    let rev = acknowledged(conn, &d.sync, &d.person)?.map(|a| a.rev);
    if rev != d.diffed_against {
        return Ok(false);
    }
    let leased: Option<Option<UnixMs>> = conn
        .prepare_cached("SELECT lease_until FROM outbox WHERE sync = ?1 AND person = ?2")?
        .query_row((&d.sync, &d.person), |r| r.get(0))
        .optional()?;
    Ok(!matches!(leased, Some(Some(until)) if until > now))
}

/// Writes one decision; returns whether a row was written.
fn write_decision(conn: &Connection, account: &str, d: &Decision, now: UnixMs) -> Result<bool> {
    if crate::erasure::is_erased(conn, &d.person)? {
        return Ok(false);
    }
    let existing = outbox_row(conn, &d.sync, &d.person)?;
    if d.ops.is_empty() {
        if let Some(row) = existing {
            conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                .execute([row.id])?;
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
            conn.prepare_cached(
                "UPDATE outbox SET ops = ?2, state = 'pending', due_at = ?3, attempts = ?4,
                        lease_until = NULL, updated_at = ?5 WHERE id = ?1",
            )?
            .execute(params![row.id, ops, due_at, attempts, now])?;
            Ok(true)
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO outbox (account, sync, destination, person, ops, state, created_at,
                                     due_at, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, 0, ?6)",
            )?
            .execute(params![
                account,
                d.sync,
                d.destination,
                d.person,
                ops,
                now,
                d.due_at
            ])?;
            Ok(true)
        }
    }
}

pub(crate) fn commit_reconciled(
    conn: &Connection,
    account: &str,
    batch: &[Reconciled],
    now: UnixMs,
) -> Result<ReconcileStats> {
    let mut stats = ReconcileStats::default();
    for r in batch {
        let mut current = true;
        for d in &r.decisions {
            current &= still_current(conn, d, now)?;
        }
        if !current {
            // To the back of the queue, so the next pass takes other persons instead of waiting
            // behind this one's row in flight.
            conn.prepare_cached(
                "UPDATE dirty_customers SET since = ?3 WHERE account = ?1 AND customer_ref = ?2",
            )?
            .execute((account, &r.mark.customer_ref, now))?;
            stats.deferred += 1;
            continue;
        }
        for d in &r.decisions {
            if write_decision(conn, account, d, now)? {
                stats.queued += 1;
            } else {
                stats.unchanged += 1;
            }
        }
        record_held(conn, account, r, now)?;
        conn.prepare_cached(
            "DELETE FROM dirty_customers WHERE account = ?1 AND customer_ref = ?2 AND gen = ?3",
        )?
        .execute((account, &r.mark.customer_ref, r.mark.generation))?;
    }
    Ok(stats)
}

/// Replaces what was recorded as held for the person (under their email or their customer).
fn record_held(conn: &Connection, account: &str, r: &Reconciled, now: UnixMs) -> Result<()> {
    let key = r.person.as_deref().unwrap_or(&r.mark.customer_ref);
    if crate::erasure::is_erased(conn, key)? {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM held WHERE account = ?1 AND key IN (?2, ?3)")?
        .execute((account, &r.mark.customer_ref, key))?;
    for (sync, reason) in &r.held {
        conn.prepare_cached(
            "INSERT INTO held (account, sync, key, reason, since) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET reason = excluded.reason",
        )?
        .execute((account, sync, key, reason, now))?;
    }
    Ok(())
}

pub(crate) fn held_counts(conn: &Connection, account: &str) -> Result<Vec<HeldCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sync, reason, COUNT(*) FROM held WHERE account = ?1
          GROUP BY sync, reason ORDER BY sync, reason",
    )?;
    let rows = stmt.query_map([account], |r| {
        Ok(HeldCount {
            sync: r.get(0)?,
            reason: r.get(1)?,
            count: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn claim(
    conn: &Connection,
    destination: &str,
    now: UnixMs,
    due_by: UnixMs,
    lease_until: UnixMs,
    limit: usize,
) -> Result<Vec<Claimed>> {
    // Rows due a little later ride along only when some row is due now: otherwise every wake-up
    // would take rows early, one at a time, and defeat the coalescing window.
    let due_now: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE destination = ?1 AND state = 'pending'
                 AND due_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2))",
        )?
        .query_row(params![destination, now], |r| r.get(0))?;
    if !due_now {
        return Ok(Vec::new());
    }
    // Oldest due first; a row whose lease ran out (its worker died) is due again.
    let rows: Vec<_> = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET lease_until = ?3, updated_at = ?2 WHERE id IN (
                 SELECT id FROM outbox WHERE destination = ?1 AND state = 'pending'
                    AND due_at <= ?5 AND (lease_until IS NULL OR lease_until <= ?2)
                  ORDER BY due_at, id LIMIT ?4)
             RETURNING {OUTBOX_COLUMNS}"
        ))?
        .query_map(
            params![destination, now, lease_until, limit as i64, due_by],
            outbox_entry,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let entry = finish_entry(row)?;
        let acknowledged = acknowledged(conn, &entry.sync, &entry.person)?;
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
    conn: &Connection,
    sync: &str,
    person: &str,
    contact: &RemoteContact,
    now: UnixMs,
) -> Result<()> {
    if crate::erasure::is_erased(conn, person)? {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO acknowledged (sync, person, remote_id, state, rev, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)
         ON CONFLICT (sync, person) DO UPDATE SET remote_id = excluded.remote_id,
             state = excluded.state, rev = rev + 1, updated_at = excluded.updated_at",
    )?
    .execute(params![
        sync,
        person,
        contact.remote_id,
        to_json(contact)?,
        now
    ])?;
    Ok(())
}

pub(crate) fn finish(conn: &Connection, results: &[Delivered], now: UnixMs) -> Result<()> {
    for d in results {
        // A delivery that was in flight when its person was erased: nothing about them is kept.
        let erased = crate::erasure::is_erased(conn, &d.person)?;
        if let Some(contact) = &d.acknowledged {
            set_acknowledged(conn, &d.sync, &d.person, contact, now)?;
        }
        let mine = "id = ?1 AND lease_until = ?2";
        match &d.next {
            Next::Done => {
                conn.prepare_cached(&format!("DELETE FROM outbox WHERE {mine}"))?
                    .execute((d.id, d.lease))?;
            }
            Next::Retry {
                ops,
                due_at,
                error,
                count_attempt,
            } => {
                conn.prepare_cached(&format!(
                    "UPDATE outbox SET ops = ?3, due_at = ?4, last_error = ?5,
                            attempts = attempts + ?6, lease_until = NULL, updated_at = ?7
                      WHERE {mine}"
                ))?
                .execute(params![
                    d.id,
                    d.lease,
                    to_json(ops)?,
                    due_at,
                    error,
                    i64::from(*count_attempt),
                    now
                ])?;
            }
            Next::Dead { ops, error } => {
                conn.prepare_cached(&format!(
                    "UPDATE outbox SET ops = ?3, state = 'dead', last_error = ?4,
                            attempts = attempts + 1, lease_until = NULL, updated_at = ?5
                      WHERE {mine}"
                ))?
                .execute(params![d.id, d.lease, to_json(ops)?, error, now])?;
            }
        }
        if !erased {
            crate::sqlite::insert_log(conn, &d.log)?;
        }
    }
    Ok(())
}

pub(crate) fn dead_letters(
    conn: &Connection,
    destination: Option<&str>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let rows: Vec<_> = conn
        .prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
              WHERE state = 'dead' AND (?1 IS NULL OR destination = ?1) ORDER BY id LIMIT ?2"
        ))?
        .query_map(params![destination, limit as i64], outbox_entry)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(finish_entry).collect()
}

/// Makes dead letters (one by id, or all) due now; returns how many.
pub(crate) fn replay(conn: &Connection, id: Option<i64>, now: UnixMs) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', due_at = ?2, attempts = 0, lease_until = NULL,
                    updated_at = ?2
              WHERE state = 'dead' AND (?1 IS NULL OR id = ?1)",
        )?
        .execute(params![id, now])?)
}

pub(crate) fn outbox_summary(conn: &Connection, now: UnixMs) -> Result<Vec<OutboxSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT destination,
                SUM(state = 'pending'),
                SUM(state = 'pending' AND due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)),
                SUM(state = 'pending' AND COALESCE(lease_until, 0) > ?1),
                SUM(state = 'dead'),
                MIN(CASE WHEN state = 'pending' THEN due_at END)
           FROM outbox GROUP BY destination ORDER BY destination",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(OutboxSummary {
            destination: r.get(0)?,
            pending: r.get(1)?,
            due: r.get(2)?,
            in_flight: r.get(3)?,
            dead: r.get(4)?,
            oldest_due_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every person key of the account with objects, in key order, after `after`.
pub(crate) fn person_keys(
    conn: &Connection,
    account: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT customer_ref FROM stripe_objects INDEXED BY stripe_objects_customer
          WHERE account = ?1 AND customer_ref > ?2 ORDER BY customer_ref LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![account, after, limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the destination's next pending row falls due (or its lease runs out).
pub(crate) fn next_due(conn: &Connection, destination: &str) -> Result<Option<UnixMs>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(MAX(due_at, COALESCE(lease_until, 0))) FROM outbox
              WHERE destination = ?1 AND state = 'pending'",
        )?
        .query_row([destination], |r| r.get(0))?)
}

/// Releases every lease: the rows of a worker that died are due again at once.
pub(crate) fn release_leases(conn: &Connection) -> Result<usize> {
    Ok(conn
        .prepare_cached("UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL")?
        .execute([])?)
}

/// Contacts each sync's destination acknowledged.
pub(crate) fn contacts_per_sync(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT sync, COUNT(*) FROM acknowledged GROUP BY sync ORDER BY sync")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
