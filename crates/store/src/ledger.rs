//! The ledger's SQL: the inbox of Stripe events, object snapshots, cursors, rejected webhooks and
//! the sync log (migration 0001), as functions over a [`Db`].

use std::collections::BTreeMap;

use paysync_core::{Attribution, EventEnvelope, Snapshot, UnixMs};

use crate::delivery;
use crate::sql::{Db, Dialect, Row, args};
use crate::types::*;
use crate::{PersonRecord, Result};

const OBJECT_COLUMNS: &str = "object_id, kind, customer_ref, version, deleted, body";

fn stored_object(r: &Row) -> Result<StoredObject> {
    Ok(StoredObject {
        object_id: r.get(0)?,
        kind: r.get(1)?,
        customer_ref: r.get(2)?,
        version: r.get(3)?,
        deleted: r.get(4)?,
        body: r.get(5)?,
    })
}

/// `INDEXED BY index` on SQLite, whose planner needs the hint (see the callers); nothing on
/// PostgreSQL.
fn indexed_by(db: &dyn Db, index: &str) -> String {
    match db.dialect() {
        Dialect::Sqlite => format!("INDEXED BY {index}"),
        Dialect::Postgres => String::new(),
    }
}

/// Stores `events`, each at most once per (account, event id).
pub(crate) fn ingest(
    db: &dyn Db,
    account: &str,
    events: &[InboxEvent],
) -> Result<Vec<IngestOutcome>> {
    let mut outcomes = Vec::with_capacity(events.len());
    let mut last_webhook = None;
    for event in events {
        let fresh = db.execute(
            "INSERT INTO stripe_events (account, event_id, event_type, created, livemode,
                 source, payload, received_at, refetch)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (account, event_id) DO NOTHING",
            args![
                account,
                event.event_id,
                event.event_type,
                event.created,
                event.livemode,
                event.source.as_str(),
                event.payload,
                event.received_at,
                event.refetch,
            ],
        )? == 1;
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
        set_cursor(db, account, LAST_WEBHOOK_CURSOR, &at.to_string(), at)?;
    }
    Ok(outcomes)
}

/// Carries up to `limit` pending events into the ledger; returns how many.
pub(crate) fn apply_pending(db: &dyn Db, account: &str, limit: usize, at: UnixMs) -> Result<usize> {
    let pending: Vec<(i64, String)> = db.query_map(
        "SELECT seq, payload FROM stripe_events
         WHERE account = ?1 AND refetch = 0 AND applied_at IS NULL ORDER BY seq LIMIT ?2",
        args![account, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut dirty = DirtySet::default();
    for (seq, payload) in &pending {
        // Intake parsed every payload before storing it, so a failure here means the row was not
        // written by paysync; it is marked applied (kept, never retried forever).
        let object_id = match EventEnvelope::parse(payload.as_bytes()).map(|e| e.snapshot()) {
            Ok(Ok(snapshot)) => {
                apply_snapshot(db, account, &snapshot, at, &mut dirty)?;
                Some(snapshot.object_id)
            }
            // Events whose object has no id (e.g. `balance.available`) have no ledger effect.
            Ok(Err(_)) => None,
            Err(e) => {
                tracing::error!(%account, seq, error = %e, "stored event is unreadable; left out of the ledger");
                None
            }
        };
        db.execute(
            "UPDATE stripe_events SET applied_at = ?2, object_id = ?3 WHERE seq = ?1",
            args![seq, at, object_id],
        )?;
    }
    dirty.mark(db, account, at)?;
    Ok(pending.len())
}

/// Applies snapshots read from the API with their cursor and applied events.
pub(crate) fn apply(db: &dyn Db, account: &str, batch: &ApplyBatch) -> Result<ApplyStats> {
    let mut stats = ApplyStats::default();
    let mut dirty = DirtySet::default();
    for snapshot in &batch.snapshots {
        if apply_snapshot(db, account, snapshot, batch.at, &mut dirty)? {
            stats.written += 1;
        } else {
            stats.stale += 1;
        }
    }
    for event_id in &batch.applied_events {
        db.execute(
            "UPDATE stripe_events SET applied_at = ?3 WHERE account = ?1 AND event_id = ?2",
            args![account, event_id, batch.at],
        )?;
    }
    dirty.mark(db, account, batch.at)?;
    if let Some(cursor) = &batch.cursor {
        set_cursor(db, account, &cursor.name, &cursor.value, batch.at)?;
    }
    Ok(stats)
}

/// The persons a transaction's ledger writes make dirty, marked together at its end in key
/// order: concurrent writers (a webhook's events beside backfill pages, on PostgreSQL) then lock
/// the dirty rows in one order and cannot deadlock on them.
#[derive(Default)]
pub(crate) struct DirtySet(std::collections::BTreeSet<String>);

impl DirtySet {
    pub(crate) fn mark(self, db: &dyn Db, account: &str, at: UnixMs) -> Result<()> {
        for person in &self.0 {
            delivery::mark_dirty(db, account, person, at)?;
        }
        Ok(())
    }
}

/// Writes `snapshot` if it is newer than the stored one; adds its person to `dirty` when
/// written. Returns whether it was written.
pub(crate) fn apply_snapshot(
    db: &dyn Db,
    account: &str,
    snapshot: &Snapshot,
    at: UnixMs,
    dirty: &mut DirtySet,
) -> Result<bool> {
    let parent_id = match &snapshot.attribution {
        Attribution::Charge(charge) => Some(charge.as_str()),
        _ => None,
    };
    let customer_ref_of = |object_id: &str| -> Result<Option<Option<String>>> {
        db.query_opt(
            "SELECT customer_ref FROM stripe_objects WHERE account = ?1 AND object_id = ?2",
            args![account, object_id],
        )?
        .map(|r| r.get(0))
        .transpose()
    };
    let customer_ref = match &snapshot.attribution {
        // A refund belongs to whoever its charge belongs to, if the charge is known yet; whenever
        // the charge is written it hands its person down to its refunds (below).
        Attribution::Charge(charge) => customer_ref_of(charge)?.flatten(),
        other => other.customer_ref(),
    };
    let previous_ref = customer_ref_of(&snapshot.object_id)?;
    let written = db.execute(
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
             email = CASE WHEN excluded.deleted <> 0 AND excluded.email IS NULL
                          THEN stripe_objects.email ELSE excluded.email END
         WHERE excluded.version > stripe_objects.version",
        args![
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
        ],
    )? == 1;
    if !written {
        return Ok(false);
    }
    dirty.0.extend(customer_ref.iter().cloned());
    // An object that moved to another person (a guest charge later tied to a customer) leaves the
    // previous one to be reconciled too.
    dirty.0.extend(previous_ref.flatten());
    if let Some(person) = &customer_ref
        && snapshot.kind == paysync_core::ObjectKind::Charge
    {
        // Without INDEXED BY SQLite's planner picks the primary key (the `IS DISTINCT FROM` term
        // misleads its estimate) and scans every object of the account, per charge. INDEXED BY
        // also makes the statement fail loudly, not slowly, should the index become unusable.
        db.execute(
            &format!(
                "UPDATE stripe_objects {} SET customer_ref = ?3
                  WHERE account = ?1 AND parent_id = ?2 AND customer_ref IS DISTINCT FROM ?3",
                indexed_by(db, "stripe_objects_parent")
            ),
            args![account, snapshot.object_id, person],
        )?;
    }
    Ok(true)
}

pub(crate) fn refetch_events(
    db: &dyn Db,
    account: &str,
    limit: usize,
) -> Result<Vec<DeferredEvent>> {
    db.query_map(
        "SELECT event_id, event_type, created, payload FROM stripe_events
         WHERE account = ?1 AND refetch = 1 AND applied_at IS NULL ORDER BY seq LIMIT ?2",
        args![account, limit as i64],
        |r| {
            Ok(DeferredEvent {
                event_id: r.get(0)?,
                event_type: r.get(1)?,
                created: r.get(2)?,
                payload: r.get(3)?,
            })
        },
    )
}

pub(crate) fn insert_log(db: &dyn Db, entry: &LogEntry) -> Result<()> {
    db.execute(
        "INSERT INTO sync_log (at, account, kind, level, message, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            entry.at,
            entry.account,
            entry.kind,
            entry.level.as_str(),
            entry.message,
            entry.detail.as_ref().map(|d| d.to_string()),
        ],
    )?;
    Ok(())
}

pub(crate) fn query_log(db: &dyn Db, q: &LogQuery) -> Result<Vec<LogRecord>> {
    let levels: &[&str] = match q.min_level.map(Level::rank) {
        Some(2) => &["error"],
        Some(1) => &["warn", "error"],
        _ => &["info", "warn", "error"],
    };
    let level_list = levels
        .iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let field = |key: &str| db.json_text("detail", key);
    db.query_map(
        &format!(
            "SELECT id, at, account, kind, level, message, detail FROM sync_log
              WHERE (CAST(?1 AS TEXT) IS NULL OR account = ?1)
                AND (CAST(?2 AS TEXT) IS NULL OR substr(kind, 1, length(?2)) = ?2)
                AND level IN ({level_list})
                AND (CAST(?3 AS TEXT) IS NULL OR {} = ?3)
                AND (CAST(?4 AS TEXT) IS NULL OR {} = ?4)
                AND (CAST(?5 AS TEXT) IS NULL OR {} = ?5)
                AND (CAST(?6 AS BIGINT) IS NULL OR at >= ?6)
                AND (CAST(?7 AS BIGINT) IS NULL OR id < ?7)
              ORDER BY id DESC LIMIT ?8",
            field("person"),
            field("destination"),
            field("sync")
        ),
        args![
            q.account,
            q.kind,
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
    )
}

pub(crate) fn cursor(db: &dyn Db, account: &str, name: &str) -> Result<Option<Cursor>> {
    db.query_opt(
        "SELECT value, updated_at FROM cursors WHERE account = ?1 AND name = ?2",
        args![account, name],
    )?
    .map(|r| {
        Ok(Cursor {
            value: r.get(0)?,
            updated_at: r.get(1)?,
        })
    })
    .transpose()
}

pub(crate) fn cursors(db: &dyn Db, account: &str, prefix: &str) -> Result<Vec<(String, Cursor)>> {
    db.query_map(
        "SELECT name, value, updated_at FROM cursors
         WHERE account = ?1 AND substr(name, 1, length(?2)) = ?2 ORDER BY name",
        args![account, prefix],
        |r| {
            Ok((
                r.get(0)?,
                Cursor {
                    value: r.get(1)?,
                    updated_at: r.get(2)?,
                },
            ))
        },
    )
}

pub(crate) fn set_cursor(
    db: &dyn Db,
    account: &str,
    name: &str,
    value: &str,
    at: UnixMs,
) -> Result<()> {
    db.execute(
        "INSERT INTO cursors (account, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        args![account, name, value, at],
    )?;
    Ok(())
}

pub(crate) fn record_rejection(db: &dyn Db, account: &str, reason: &str, at: UnixMs) -> Result<()> {
    db.execute(
        "INSERT INTO webhook_rejections (account, reason, count, last_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (account, reason) DO UPDATE SET count = webhook_rejections.count + 1,
             last_at = excluded.last_at",
        args![account, reason, at],
    )?;
    Ok(())
}

pub(crate) fn object(db: &dyn Db, account: &str, object_id: &str) -> Result<Option<StoredObject>> {
    db.query_opt(
        &format!(
            "SELECT {OBJECT_COLUMNS} FROM stripe_objects WHERE account = ?1 AND object_id = ?2"
        ),
        args![account, object_id],
    )?
    .as_ref()
    .map(stored_object)
    .transpose()
}

pub(crate) fn all_objects(db: &dyn Db, account: &str) -> Result<Vec<StoredObject>> {
    db.query_map(
        &format!(
            "SELECT {OBJECT_COLUMNS} FROM stripe_objects WHERE account = ?1 ORDER BY object_id"
        ),
        args![account],
        stored_object,
    )
}

pub(crate) fn dirty(db: &dyn Db, account: &str, limit: usize) -> Result<Vec<String>> {
    db.query_map(
        "SELECT customer_ref FROM dirty_customers WHERE account = ?1 ORDER BY since LIMIT ?2",
        args![account, limit as i64],
        |r| r.get(0),
    )
}

pub(crate) fn ledger_summary(db: &dyn Db, account: &str) -> Result<LedgerSummary> {
    let count = |sql: &str| -> Result<i64> { db.value(sql, args![account]) };
    let objects = db.query_map(
        "SELECT kind, COUNT(*) FILTER (WHERE deleted = 0), COUNT(*) FILTER (WHERE deleted = 1)
           FROM stripe_objects WHERE account = ?1 GROUP BY kind ORDER BY kind",
        args![account],
        |r| {
            Ok(KindCount {
                kind: r.get(0)?,
                live: r.get(1)?,
                deleted: r.get(2)?,
            })
        },
    )?;
    let rejections = db.query_map(
        "SELECT reason, count, last_at FROM webhook_rejections WHERE account = ?1 ORDER BY reason",
        args![account],
        |r| {
            Ok(RejectionCount {
                reason: r.get(0)?,
                count: r.get(1)?,
                last_at: r.get(2)?,
            })
        },
    )?;
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
}

/// The person a ledger key belongs to: every customer with their email, their guest payments,
/// and the event types seen on all of their objects.
pub(crate) fn person(db: &dyn Db, account: &str, customer_ref: &str) -> Result<PersonRecord> {
    let email: Option<String> = match customer_ref.strip_prefix("email:") {
        Some(email) => Some(email.to_owned()),
        None => db
            .query_opt(
                "SELECT email FROM stripe_objects WHERE account = ?1 AND object_id = ?2",
                args![account, customer_ref],
            )?
            .map(|r| r.get::<Option<String>>(0))
            .transpose()?
            .flatten(),
    };
    let mut refs = vec![customer_ref.to_owned()];
    if let Some(email) = &email {
        // INDEXED BY: to skip a sort, SQLite's planner would otherwise walk every object of the
        // account in id order (see the charge → refund update).
        refs = db.query_map(
            &format!(
                "SELECT object_id FROM stripe_objects {}
                 WHERE account = ?1 AND email = ?2 AND kind = 'customer' ORDER BY object_id",
                indexed_by(db, "stripe_objects_email")
            ),
            args![account, email],
            |r| r.get(0),
        )?;
        refs.push(format!("email:{email}"));
    }
    let mut objects = Vec::new();
    let by_customer = format!(
        "SELECT {OBJECT_COLUMNS} FROM stripe_objects {}
         WHERE account = ?1 AND customer_ref = ?2 ORDER BY object_id",
        indexed_by(db, "stripe_objects_customer")
    );
    for r in &refs {
        objects.extend(db.query_map(&by_customer, args![account, r], stored_object)?);
    }
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for object in &objects {
        let rows: Vec<(String, i64)> = db.query_map(
            "SELECT event_type, MAX(created) FROM stripe_events
             WHERE account = ?1 AND object_id = ?2 GROUP BY event_type",
            args![account, object.object_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for (event_type, at) in rows {
            let last = seen.entry(event_type).or_insert(at);
            *last = (*last).max(at);
        }
    }
    Ok(PersonRecord {
        email,
        objects,
        events_seen: seen.into_iter().collect(),
    })
}

/// Two-way sync learnt what the destination holds for a person (see `Store::learn_remote_state`).
pub(crate) fn learn_remote_state(db: &dyn Db, learnt: &RemoteState) -> Result<()> {
    if let Some(old) = &learnt.moved_from {
        db.execute(
            "DELETE FROM acknowledged WHERE sync = ?1 AND person = ?2",
            args![learnt.sync, old],
        )?;
    }
    if let Some(contact) = &learnt.contact {
        delivery::set_acknowledged(db, &learnt.sync, &learnt.person, contact, learnt.at)?;
    }
    let mut dirty = DirtySet::default();
    for snapshot in &learnt.snapshots {
        apply_snapshot(db, &learnt.account, snapshot, learnt.at, &mut dirty)?;
    }
    dirty.mark(db, &learnt.account, learnt.at)?;
    if learnt.reconcile {
        delivery::mark_dirty(
            db,
            &learnt.account,
            &format!("email:{}", learnt.person),
            learnt.at,
        )?;
    }
    Ok(())
}

pub(crate) fn created_customer(
    db: &dyn Db,
    destination: &str,
    remote_id: &str,
) -> Result<Option<String>> {
    db.query_opt(
        "SELECT customer_id FROM two_way_customers WHERE destination = ?1 AND remote_id = ?2",
        args![destination, remote_id],
    )?
    .map(|r| r.get(0))
    .transpose()
}

pub(crate) fn record_created_customer(
    db: &dyn Db,
    destination: &str,
    remote_id: &str,
    account: &str,
    customer_id: &str,
    at: UnixMs,
) -> Result<()> {
    db.execute(
        "INSERT INTO two_way_customers (destination, remote_id, account, customer_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        args![destination, remote_id, account, customer_id, at],
    )?;
    Ok(())
}
