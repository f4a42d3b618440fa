//! The consent ledger and suppressions (migration 0005).
//!
//! Rules kept here:
//! - The ledger is append-only: every fact is a new row; the newest row of a (person,
//!   destination) pair is its current state.
//! - An unsubscribe learnt from a destination becomes a suppression and, in the same transaction,
//!   the acknowledged state of every sync writing to that destination says "unsubscribed" (so the
//!   reconciler's diff starts from the truth) and the person is marked dirty in every account
//!   that syncs them.
//! - A suppression is lifted only by the person subscribing again at that destination.

use paysync_core::UnixMs;
use paysync_core::contact::{OptOutBy, RemoteConsent, RemoteContact};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::Result;

/// One consent fact, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentEntry {
    pub id: i64,
    /// Normalised email.
    pub person: String,
    pub destination: String,
    /// `subscribed`, `pending`, `non_marketing`, `unsubscribed`.
    pub state: String,
    pub source: String,
    pub basis: String,
    pub at: UnixMs,
    /// Evidence, as JSON text.
    pub details: Option<String>,
}

/// A person who unsubscribed at a destination, as its change feed or webhook reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub person: String,
    pub destination: String,
    pub at: UnixMs,
    /// `destination_poll`, `destination_webhook`, …
    pub source: String,
    /// Evidence, as JSON text.
    pub details: Option<String>,
    /// The syncs writing to the destination (their acknowledged state is corrected).
    pub syncs: Vec<String>,
    /// The accounts whose syncs must reconcile the person again.
    pub accounts: Vec<String>,
}

/// A person subscribing again, themselves, at a destination where they were suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resubscribe {
    pub person: String,
    pub destination: String,
    pub at: UnixMs,
    pub source: String,
    pub details: Option<String>,
    pub accounts: Vec<String>,
}

/// A suppression in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub destination: String,
    pub since: UnixMs,
    pub source: String,
}

/// A ledger row about to be appended.
struct Fact<'a> {
    person: &'a str,
    destination: &'a str,
    state: &'a str,
    source: &'a str,
    basis: &'a str,
    at: UnixMs,
    details: Option<&'a str>,
}

fn append(conn: &Connection, f: Fact<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO consent_ledger (person, destination, state, source, basis, at, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        f.person,
        f.destination,
        f.state,
        f.source,
        f.basis,
        f.at,
        f.details
    ])?;
    Ok(())
}

/// Records an unsubscribe; answers false when the person was already suppressed there (nothing
/// is written twice).
pub(crate) fn record_unsubscribe(conn: &Connection, u: &Unsubscribe) -> Result<bool> {
    if crate::erasure::is_erased(conn, &u.person)? {
        return Ok(false);
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO suppressions (person, destination, since, source) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![u.person, u.destination, u.at, u.source])?;
    if inserted == 0 {
        return Ok(false);
    }
    append(
        conn,
        Fact {
            person: &u.person,
            destination: &u.destination,
            state: "unsubscribed",
            source: &u.source,
            basis: "opted out at the destination",
            at: u.at,
            details: u.details.as_deref(),
        },
    )?;
    for sync in &u.syncs {
        let state: Option<String> = conn
            .prepare_cached("SELECT state FROM acknowledged WHERE sync = ?1 AND person = ?2")?
            .query_row((sync, &u.person), |r| r.get(0))
            .optional()?;
        let Some(state) = state else { continue };
        let Ok(mut contact) = serde_json::from_str::<RemoteContact>(&state) else {
            continue;
        };
        if contact.consent.is_opted_out() {
            continue;
        }
        contact.consent = RemoteConsent::Unsubscribed {
            by: OptOutBy::Contact,
        };
        let state = serde_json::to_string(&contact)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        conn.prepare_cached(
            "UPDATE acknowledged SET state = ?3, rev = rev + 1, updated_at = ?4
             WHERE sync = ?1 AND person = ?2",
        )?
        .execute(params![sync, u.person, state, u.at])?;
    }
    reconcile_again(conn, &u.accounts, &u.person, u.at)?;
    Ok(true)
}

/// Lifts a suppression after the person subscribed again at its destination; answers whether
/// there was one.
pub(crate) fn record_resubscribe(conn: &Connection, r: &Resubscribe) -> Result<bool> {
    let lifted = conn
        .prepare_cached("DELETE FROM suppressions WHERE person = ?1 AND destination = ?2")?
        .execute((&r.person, &r.destination))?;
    if lifted == 0 {
        return Ok(false);
    }
    append(
        conn,
        Fact {
            person: &r.person,
            destination: &r.destination,
            state: "subscribed",
            source: &r.source,
            basis: "subscribed again at the destination",
            at: r.at,
            details: r.details.as_deref(),
        },
    )?;
    reconcile_again(conn, &r.accounts, &r.person, r.at)?;
    Ok(true)
}

/// Marks the person dirty in each account that holds objects with their email (an account that
/// does not know them has nothing to reconcile).
fn reconcile_again(conn: &Connection, accounts: &[String], person: &str, at: UnixMs) -> Result<()> {
    for account in accounts {
        conn.prepare_cached(
            "INSERT INTO dirty_customers (account, customer_ref, since, gen)
             SELECT ?1, 'email:' || ?2, ?3, 0
              WHERE EXISTS (SELECT 1 FROM stripe_objects WHERE account = ?1 AND email = ?2)
             ON CONFLICT DO UPDATE SET gen = gen + 1",
        )?
        .execute(params![account, person, at])?;
    }
    Ok(())
}

pub(crate) fn suppressions(conn: &Connection, person: &str) -> Result<Vec<Suppression>> {
    let mut stmt = conn.prepare_cached(
        "SELECT destination, since, source FROM suppressions WHERE person = ?1 ORDER BY destination",
    )?;
    let rows = stmt.query_map([person], |r| {
        Ok(Suppression {
            destination: r.get(0)?,
            since: r.get(1)?,
            source: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Suppressions per destination.
pub(crate) fn suppression_counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT destination, COUNT(*) FROM suppressions GROUP BY destination ORDER BY destination",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The ledger, oldest first, optionally for one person.
pub(crate) fn ledger(conn: &Connection, person: Option<&str>) -> Result<Vec<ConsentEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, person, destination, state, source, basis, at, details FROM consent_ledger
          WHERE ?1 IS NULL OR person = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([person], |r| {
        Ok(ConsentEntry {
            id: r.get(0)?,
            person: r.get(1)?,
            destination: r.get(2)?,
            state: r.get(3)?,
            source: r.get(4)?,
            basis: r.get(5)?,
            at: r.get(6)?,
            details: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A consent fact to record once per person and destination (the first basis paysync pushed
/// them on, such as the operator's affirmation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub person: String,
    pub destination: String,
    pub state: String,
    pub source: String,
    pub basis: String,
    pub at: UnixMs,
    pub details: Option<String>,
}

/// Appends `r` unless the ledger already has a fact for its person and destination.
pub(crate) fn record_consent_once(conn: &Connection, r: &ConsentRecord) -> Result<bool> {
    if crate::erasure::is_erased(conn, &r.person)? {
        return Ok(false);
    }
    let known: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM consent_ledger WHERE person = ?1 AND destination = ?2)",
        )?
        .query_row((&r.person, &r.destination), |row| row.get(0))?;
    if known {
        return Ok(false);
    }
    append(
        conn,
        Fact {
            person: &r.person,
            destination: &r.destination,
            state: &r.state,
            source: &r.source,
            basis: &r.basis,
            at: r.at,
            details: r.details.as_deref(),
        },
    )?;
    Ok(true)
}

/// An opt-in email waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptInRequest {
    pub sync: String,
    pub person: String,
    pub attempts: i64,
}

/// A confirmed opt-in, as the confirmation link proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptInConfirmation {
    pub sync: String,
    pub destination: String,
    pub person: String,
    pub at: UnixMs,
    /// Evidence (JSON text): when the link was issued, where it was followed from.
    pub details: Option<String>,
    pub accounts: Vec<String>,
}

/// Asks for an opt-in email for `person` at `sync`, once ever; answers whether it is new.
pub(crate) fn request_opt_in(
    conn: &Connection,
    sync: &str,
    person: &str,
    at: UnixMs,
) -> Result<bool> {
    if crate::erasure::is_erased(conn, person)? {
        return Ok(false);
    }
    Ok(conn
        .prepare_cached(
            "INSERT INTO opt_in_requests (sync, person, created_at, next_try_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![sync, person, at])?
        == 1)
}

pub(crate) fn opt_ins_due(
    conn: &Connection,
    now: UnixMs,
    limit: usize,
) -> Result<Vec<OptInRequest>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sync, person, attempts FROM opt_in_requests
          WHERE sent_at IS NULL AND next_try_at <= ?1 ORDER BY next_try_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(OptInRequest {
            sync: r.get(0)?,
            person: r.get(1)?,
            attempts: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a send: done (`error` None), or failed and tried again at `retry_at` (None: never,
/// the failure is permanent or the SMTP server may have taken the message).
pub(crate) fn opt_in_sent(
    conn: &Connection,
    sync: &str,
    person: &str,
    at: UnixMs,
    error: Option<&str>,
    retry_at: Option<UnixMs>,
) -> Result<()> {
    match error {
        None => conn
            .prepare_cached(
                "UPDATE opt_in_requests SET sent_at = ?3, attempts = attempts + 1, last_error = NULL
                 WHERE sync = ?1 AND person = ?2",
            )?
            .execute(params![sync, person, at])?,
        Some(e) => conn
            .prepare_cached(
                "UPDATE opt_in_requests SET attempts = attempts + 1, last_error = ?3,
                        next_try_at = COALESCE(?4, 9223372036854775807)
                 WHERE sync = ?1 AND person = ?2",
            )?
            .execute(params![sync, person, e, retry_at])?,
    };
    Ok(())
}

/// Whether `person` confirmed the opt-in of `sync`.
pub(crate) fn opted_in(conn: &Connection, sync: &str, person: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT confirmed_at IS NOT NULL FROM opt_in_requests WHERE sync = ?1 AND person = ?2",
        )?
        .query_row((sync, person), |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}

/// Records a confirmation; false when it was confirmed already (a link followed twice).
pub(crate) fn confirm_opt_in(conn: &Connection, c: &OptInConfirmation) -> Result<bool> {
    if crate::erasure::is_erased(conn, &c.person)? {
        return Ok(false);
    }
    let changed = conn
        .prepare_cached(
            "INSERT INTO opt_in_requests (sync, person, created_at, next_try_at, confirmed_at)
             VALUES (?1, ?2, ?3, ?3, ?3)
             ON CONFLICT DO UPDATE SET confirmed_at = excluded.confirmed_at
              WHERE confirmed_at IS NULL",
        )?
        .execute(params![c.sync, c.person, c.at])?;
    if changed == 0 {
        return Ok(false);
    }
    append(
        conn,
        Fact {
            person: &c.person,
            destination: &c.destination,
            state: "subscribed",
            source: "opt_in_email",
            basis: "confirmed by following the emailed link",
            at: c.at,
            details: c.details.as_deref(),
        },
    )?;
    reconcile_again(conn, &c.accounts, &c.person, c.at)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::migrate::migrate_sqlite(&mut conn, 0).expect("migrate");
        conn
    }

    fn unsubscribe(at: UnixMs) -> Unsubscribe {
        Unsubscribe {
            person: "ann@example.com".into(),
            destination: "mc".into(),
            at,
            source: "destination_feed".into(),
            details: None,
            syncs: vec!["to-mc".into()],
            accounts: vec!["main".into(), "other".into()],
        }
    }

    #[test]
    fn an_unsubscribe_is_recorded_once_and_lifted_only_by_a_resubscribe() {
        let conn = db();
        conn.execute(
            "INSERT INTO stripe_objects (account, object_id, kind, customer_ref, email, version, deleted, body, updated_at)
             VALUES ('main', 'cus_1', 'customer', 'cus_1', 'ann@example.com', 'v1', 0, '{}', 0)",
            [],
        )
        .expect("object");
        let contact = RemoteContact::new(
            "r1",
            paysync_core::contact::Email::parse("ann@example.com").expect("email"),
            RemoteConsent::Subscribed,
        );
        conn.execute(
            "INSERT INTO acknowledged VALUES ('to-mc', 'ann@example.com', 'r1', ?1, 1, 0)",
            [serde_json::to_string(&contact).expect("json")],
        )
        .expect("ack");

        assert!(record_unsubscribe(&conn, &unsubscribe(10)).expect("record"));
        assert!(
            !record_unsubscribe(&conn, &unsubscribe(20)).expect("again"),
            "known already"
        );
        assert_eq!(
            suppressions(&conn, "ann@example.com").expect("read").len(),
            1
        );
        assert_eq!(
            suppression_counts(&conn).expect("counts"),
            vec![("mc".to_owned(), 1)]
        );
        let (state, rev): (String, i64) = conn
            .query_row("SELECT state, rev FROM acknowledged", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("ack");
        let acked: RemoteContact = serde_json::from_str(&state).expect("contact");
        assert!(acked.consent.is_opted_out());
        assert_eq!(rev, 2, "a moved rev keeps an older diff from being queued");
        // Dirty only in the account that knows the person.
        let dirty: Vec<String> = conn
            .prepare("SELECT account || '/' || customer_ref FROM dirty_customers")
            .expect("stmt")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("dirty");
        assert_eq!(dirty, ["main/email:ann@example.com"]);

        let resubscribe = Resubscribe {
            person: "ann@example.com".into(),
            destination: "mc".into(),
            at: 30,
            source: "destination_feed".into(),
            details: None,
            accounts: vec!["main".into()],
        };
        assert!(record_resubscribe(&conn, &resubscribe).expect("lift"));
        assert!(!record_resubscribe(&conn, &resubscribe).expect("nothing to lift"));
        assert!(
            suppressions(&conn, "ann@example.com")
                .expect("read")
                .is_empty()
        );
        let states: Vec<String> = ledger(&conn, Some("ann@example.com"))
            .expect("ledger")
            .into_iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(states, ["unsubscribed", "subscribed"]);
    }
}
