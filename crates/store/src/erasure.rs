//! Erasure (`paysync erase`): every row that names a person is deleted, and a SHA-256 of their
//! normalised email is kept instead, so that paysync recognises them and never syncs or records
//! them again (new Stripe events about them still arrive: Stripe is the source of record).
//!
//! Erasing is two steps around the destinations' deletes: [`begin`] records the hash (from then
//! on nothing new is queued, acknowledged, logged or recorded for the person) and drops their
//! queued operations, reporting deliveries already in flight so the caller can wait for them;
//! [`purge`] deletes the rest. SQLite's file is then compacted (`VACUUM`, WAL truncated) so deleted
//! pages do not keep the address either; PostgreSQL's tables are vacuumed.

use sha2::{Digest, Sha256};

use crate::sql::{Db, Dialect, args};
use crate::{ErasedRows, Result, UnixMs};

/// The key an erased person is remembered by. The prefix keeps these hashes distinct from a
/// plain SHA-256 of the address that other systems may hold.
pub fn person_hash(person: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"paysync-erasure\0")
        .chain_update(person.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `person` (a normalised email, or any other person key) was erased.
pub(crate) fn is_erased(db: &dyn Db, person: &str) -> Result<bool> {
    if !person.contains('@') {
        return Ok(false);
    }
    let key = person.strip_prefix("email:").unwrap_or(person);
    Ok(db
        .query_opt(
            "SELECT 1 FROM erasures WHERE person_hash = ?1",
            args![person_hash(key)],
        )?
        .is_some())
}

/// Records the erasure and drops the person's queued operations; returns how many of their
/// deliveries are in flight (leased by a worker) and must be waited for.
pub(crate) fn begin(db: &dyn Db, person: &str, now: UnixMs) -> Result<usize> {
    db.execute(
        "INSERT INTO erasures (person_hash, erased_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        args![person_hash(person), now],
    )?;
    db.execute(
        "DELETE FROM outbox WHERE person = ?1 AND (lease_until IS NULL OR lease_until <= ?2)",
        args![person, now],
    )?;
    let in_flight: i64 = db.value(
        "SELECT COUNT(*) FROM outbox WHERE person = ?1",
        args![person],
    )?;
    Ok(usize::try_from(in_flight).unwrap_or(0))
}

/// Deletes every row about the person. Objects are found by their email, their customer, their
/// parent charge, and — so that nothing is missed — any object or event whose JSON holds the
/// address as a string value (a metadata field, a receipt email). The match is on the quoted
/// value, so erasing `n@example.com` leaves `ann@example.com`'s rows alone.
pub(crate) fn purge(db: &dyn Db, person: &str) -> Result<ErasedRows> {
    let mut erased = ErasedRows::default();
    let quoted = format!("\"{person}\"");
    // The position of a substring (not LIKE, whose wildcards `_` and `%` occur in addresses).
    let position = match db.dialect() {
        Dialect::Sqlite => "instr",
        Dialect::Postgres => "strpos",
    };
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS erase_ids (account TEXT NOT NULL, object_id TEXT NOT NULL,
                                                    PRIMARY KEY (account, object_id))",
        args![],
    )?;
    db.execute("DELETE FROM erase_ids", args![])?;
    let guest = format!("email:{person}");
    db.execute(
        &format!(
            "INSERT INTO erase_ids
             SELECT account, object_id FROM stripe_objects
              WHERE email = ?1 OR customer_ref = ?2 OR {position}(lower(body), ?3) > 0
                 OR customer_ref IN (SELECT object_id FROM stripe_objects
                                      WHERE email = ?1 AND kind = 'customer')
             ON CONFLICT DO NOTHING"
        ),
        args![person, guest, quoted],
    )?;
    // Refunds hang on their charge. (`WHERE true`: SQLite would read ON CONFLICT as the join's.)
    db.execute(
        "INSERT INTO erase_ids
         SELECT o.account, o.object_id FROM stripe_objects o
           JOIN erase_ids e ON e.account = o.account AND e.object_id = o.parent_id
          WHERE true
         ON CONFLICT DO NOTHING",
        args![],
    )?;
    erased.customers = db.query_map(
        "SELECT o.account, o.object_id FROM stripe_objects o
           JOIN erase_ids e ON e.account = o.account AND e.object_id = o.object_id
          WHERE o.kind = 'customer'",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    erased.events = db.execute(
        &format!(
            "DELETE FROM stripe_events
              WHERE (account, object_id) IN (SELECT account, object_id FROM erase_ids)
                 OR {position}(lower(payload), ?1) > 0"
        ),
        args![quoted],
    )?;
    erased.dirty_marks = db.execute(
        "DELETE FROM dirty_customers
          WHERE customer_ref = ?1 OR (account, customer_ref) IN (SELECT account, object_id FROM erase_ids)",
        args![guest],
    )?;
    erased.held = db.execute(
        "DELETE FROM held WHERE key = ?1 OR (account, key) IN (SELECT account, object_id FROM erase_ids)",
        args![person],
    )?;
    db.execute(
        "DELETE FROM two_way_customers
          WHERE (account, customer_id) IN (SELECT account, object_id FROM erase_ids)",
        args![],
    )?;
    erased.objects = db.execute(
        "DELETE FROM stripe_objects WHERE (account, object_id) IN (SELECT account, object_id FROM erase_ids)",
        args![],
    )?;
    db.execute("DELETE FROM erase_ids", args![])?;
    let by_person = |table: &str| {
        db.execute(
            &format!("DELETE FROM {table} WHERE person = ?1"),
            args![person],
        )
    };
    erased.outbox = by_person("outbox")?;
    erased.acknowledged = by_person("acknowledged")?;
    erased.consent_records = by_person("consent_ledger")?;
    erased.suppressions = by_person("suppressions")?;
    erased.opt_in_requests = by_person("opt_in_requests")?;
    // Delivery entries name the person in `detail` (JSON); messages carry no addresses.
    erased.log_entries = db.execute(
        &format!("DELETE FROM sync_log WHERE {position}(lower(COALESCE(detail, '')), ?1) > 0"),
        args![quoted],
    )?;
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::person_hash;

    #[test]
    fn hashes_are_stable_hex_and_never_the_address() {
        let h = person_hash("ann@example.com");
        assert_eq!(h.len(), 64);
        assert_eq!(h, person_hash("ann@example.com"));
        assert_ne!(h, person_hash("bob@example.com"));
        assert!(!h.contains("ann"));
    }
}
