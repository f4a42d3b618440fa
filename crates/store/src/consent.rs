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
use serde::Serialize;

use crate::Result;
use crate::sql::{Db, args};

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

fn append(db: &dyn Db, f: Fact<'_>) -> Result<()> {
    db.execute(
        "INSERT INTO consent_ledger (person, destination, state, source, basis, at, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            f.person,
            f.destination,
            f.state,
            f.source,
            f.basis,
            f.at,
            f.details
        ],
    )?;
    Ok(())
}

/// Records an unsubscribe; answers false when the person was already suppressed there (nothing
/// is written twice).
pub(crate) fn record_unsubscribe(db: &dyn Db, u: &Unsubscribe) -> Result<bool> {
    if crate::erasure::is_erased(db, &u.person)? {
        return Ok(false);
    }
    let inserted = db.execute(
        "INSERT INTO suppressions (person, destination, since, source) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![u.person, u.destination, u.at, u.source],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    append(
        db,
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
        let state: Option<String> = db
            .query_opt(
                "SELECT state FROM acknowledged WHERE sync = ?1 AND person = ?2",
                args![sync, u.person],
            )?
            .map(|r| r.get(0))
            .transpose()?;
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
        db.execute(
            "UPDATE acknowledged SET state = ?3, rev = rev + 1, updated_at = ?4
             WHERE sync = ?1 AND person = ?2",
            args![sync, u.person, state, u.at],
        )?;
    }
    reconcile_again(db, &u.accounts, &u.person, u.at)?;
    Ok(true)
}

/// Lifts a suppression after the person subscribed again at its destination; answers whether
/// there was one.
pub(crate) fn record_resubscribe(db: &dyn Db, r: &Resubscribe) -> Result<bool> {
    let lifted = db.execute(
        "DELETE FROM suppressions WHERE person = ?1 AND destination = ?2",
        args![r.person, r.destination],
    )?;
    if lifted == 0 {
        return Ok(false);
    }
    append(
        db,
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
    reconcile_again(db, &r.accounts, &r.person, r.at)?;
    Ok(true)
}

/// Marks the person dirty in each account that holds objects with their email (an account that
/// does not know them has nothing to reconcile).
fn reconcile_again(db: &dyn Db, accounts: &[String], person: &str, at: UnixMs) -> Result<()> {
    for account in accounts {
        db.execute(
            "INSERT INTO dirty_customers (account, customer_ref, since, gen)
             SELECT CAST(?1 AS TEXT), 'email:' || CAST(?2 AS TEXT), CAST(?3 AS BIGINT), 0
              WHERE EXISTS (SELECT 1 FROM stripe_objects WHERE account = ?1 AND email = ?2)
             ON CONFLICT (account, customer_ref) DO UPDATE SET gen = dirty_customers.gen + 1",
            args![account, person, at],
        )?;
    }
    Ok(())
}

pub(crate) fn suppressions(db: &dyn Db, person: &str) -> Result<Vec<Suppression>> {
    db.query_map(
        "SELECT destination, since, source FROM suppressions WHERE person = ?1 ORDER BY destination",
        args![person],
        |r| {
            Ok(Suppression {
                destination: r.get(0)?,
                since: r.get(1)?,
                source: r.get(2)?,
            })
        },
    )
}

/// Suppressions per destination.
pub(crate) fn suppression_counts(db: &dyn Db) -> Result<Vec<(String, i64)>> {
    db.query_map(
        "SELECT destination, COUNT(*) FROM suppressions GROUP BY destination ORDER BY destination",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The ledger, oldest first, optionally for one person.
pub(crate) fn ledger(db: &dyn Db, person: Option<&str>) -> Result<Vec<ConsentEntry>> {
    db.query_map(
        "SELECT id, person, destination, state, source, basis, at, details FROM consent_ledger
          WHERE CAST(?1 AS TEXT) IS NULL OR person = ?1 ORDER BY id",
        args![person],
        |r| {
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
        },
    )
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
pub(crate) fn record_consent_once(db: &dyn Db, r: &ConsentRecord) -> Result<bool> {
    if crate::erasure::is_erased(db, &r.person)? {
        return Ok(false);
    }
    let known: bool = db.value(
        "SELECT EXISTS (SELECT 1 FROM consent_ledger WHERE person = ?1 AND destination = ?2)",
        args![r.person, r.destination],
    )?;
    if known {
        return Ok(false);
    }
    append(
        db,
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
pub(crate) fn request_opt_in(db: &dyn Db, sync: &str, person: &str, at: UnixMs) -> Result<bool> {
    if crate::erasure::is_erased(db, person)? {
        return Ok(false);
    }
    Ok(db.execute(
        "INSERT INTO opt_in_requests (sync, person, created_at, next_try_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT DO NOTHING",
        args![sync, person, at],
    )? == 1)
}

pub(crate) fn opt_ins_due(db: &dyn Db, now: UnixMs, limit: usize) -> Result<Vec<OptInRequest>> {
    db.query_map(
        "SELECT sync, person, attempts FROM opt_in_requests
          WHERE sent_at IS NULL AND next_try_at <= ?1 ORDER BY next_try_at LIMIT ?2",
        args![now, limit as i64],
        |r| {
            Ok(OptInRequest {
                sync: r.get(0)?,
                person: r.get(1)?,
                attempts: r.get(2)?,
            })
        },
    )
}

/// Records a send: done (`error` None), or failed and tried again at `retry_at` (None: never,
/// the failure is permanent or the SMTP server may have taken the message).
pub(crate) fn opt_in_sent(
    db: &dyn Db,
    sync: &str,
    person: &str,
    at: UnixMs,
    error: Option<&str>,
    retry_at: Option<UnixMs>,
) -> Result<()> {
    match error {
        None => db.execute(
            "UPDATE opt_in_requests SET sent_at = ?3, attempts = attempts + 1, last_error = NULL
             WHERE sync = ?1 AND person = ?2",
            args![sync, person, at],
        )?,
        Some(e) => db.execute(
            "UPDATE opt_in_requests SET attempts = attempts + 1, last_error = ?3,
                    next_try_at = COALESCE(?4, 9223372036854775807)
             WHERE sync = ?1 AND person = ?2",
            args![sync, person, e, retry_at],
        )?,
    };
    Ok(())
}

/// Whether `person` confirmed the opt-in of `sync`.
pub(crate) fn opted_in(db: &dyn Db, sync: &str, person: &str) -> Result<bool> {
    Ok(db
        .query_opt(
            "SELECT confirmed_at IS NOT NULL FROM opt_in_requests WHERE sync = ?1 AND person = ?2",
            args![sync, person],
        )?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(false))
}

/// Records a confirmation; false when it was confirmed already (a link followed twice).
pub(crate) fn confirm_opt_in(db: &dyn Db, c: &OptInConfirmation) -> Result<bool> {
    if crate::erasure::is_erased(db, &c.person)? {
        return Ok(false);
    }
    let changed = db.execute(
        "INSERT INTO opt_in_requests (sync, person, created_at, next_try_at, confirmed_at)
         VALUES (?1, ?2, ?3, ?3, ?3)
         ON CONFLICT (sync, person) DO UPDATE SET confirmed_at = excluded.confirmed_at
          WHERE opt_in_requests.confirmed_at IS NULL",
        args![c.sync, c.person, c.at],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    append(
        db,
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
    reconcile_again(db, &c.accounts, &c.person, c.at)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

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
