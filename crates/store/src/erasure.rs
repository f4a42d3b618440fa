//! Erasure (`paysync erase`): every row that names a person is deleted, and a SHA-256 of their
//! normalised email is kept instead, so that paysync recognises them and never syncs or records
//! them again (new Stripe events about them still arrive: Stripe is the source of record).
//!
//! Erasing is two steps around the destinations' deletes: [`begin`] records the hash (from then
//! on nothing new is queued, acknowledged, logged or recorded for the person) and drops their
//! queued operations, reporting deliveries already in flight so the caller can wait for them;
//! [`purge`] deletes the rest. The file is then compacted (`VACUUM`, WAL truncated) so deleted
//! pages do not keep the address either.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

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
pub(crate) fn is_erased(conn: &Connection, person: &str) -> Result<bool> {
    if !person.contains('@') {
        return Ok(false);
    }
    let key = person.strip_prefix("email:").unwrap_or(person);
    Ok(conn
        .prepare_cached("SELECT 1 FROM erasures WHERE person_hash = ?1")?
        .query_row([person_hash(key)], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Records the erasure and drops the person's queued operations; returns how many of their
/// deliveries are in flight (leased by a worker) and must be waited for.
pub(crate) fn begin(conn: &Connection, person: &str, now: UnixMs) -> Result<usize> {
    conn.prepare_cached(
        "INSERT INTO erasures (person_hash, erased_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![person_hash(person), now])?;
    conn.prepare_cached(
        "DELETE FROM outbox WHERE person = ?1 AND (lease_until IS NULL OR lease_until <= ?2)",
    )?
    .execute(params![person, now])?;
    let in_flight: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE person = ?1")?
        .query_row([person], |r| r.get(0))?;
    Ok(usize::try_from(in_flight).unwrap_or(0))
}

/// Deletes every row about the person. Objects are found by their email, their customer, their
/// parent charge, and — so that nothing is missed — any object or event whose JSON holds the
/// address as a string value (a metadata field, a receipt email). The match is on the quoted
/// value, so erasing `n@example.com` leaves `ann@example.com`'s rows alone.
pub(crate) fn purge(conn: &Connection, person: &str) -> Result<ErasedRows> {
    let mut erased = ErasedRows::default();
    let quoted = format!("\"{person}\"");
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS erase_ids (account TEXT NOT NULL, object_id TEXT NOT NULL,
                                                    PRIMARY KEY (account, object_id));
         DELETE FROM erase_ids;",
    )?;
    let guest = format!("email:{person}");
    conn.execute(
        "INSERT OR IGNORE INTO erase_ids
         SELECT account, object_id FROM stripe_objects
          WHERE email = ?1 OR customer_ref = ?2 OR instr(lower(body), ?3) > 0
             OR customer_ref IN (SELECT object_id FROM stripe_objects
                                  WHERE email = ?1 AND kind = 'customer')",
        (person, &guest, &quoted),
    )?;
    // Refunds hang on their charge.
    conn.execute(
        "INSERT OR IGNORE INTO erase_ids
         SELECT o.account, o.object_id FROM stripe_objects o
           JOIN erase_ids e ON e.account = o.account AND e.object_id = o.parent_id",
        [],
    )?;
    let mut stmt = conn.prepare(
        "SELECT o.account, o.object_id FROM stripe_objects o
           JOIN erase_ids e ON e.account = o.account AND e.object_id = o.object_id
          WHERE o.kind = 'customer'",
    )?;
    erased.customers = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    erased.events = conn.execute(
        "DELETE FROM stripe_events
          WHERE (account, object_id) IN (SELECT account, object_id FROM erase_ids)
             OR instr(lower(payload), ?1) > 0",
        [&quoted],
    )?;
    erased.dirty_marks = conn.execute(
        "DELETE FROM dirty_customers
          WHERE customer_ref = ?1 OR (account, customer_ref) IN (SELECT account, object_id FROM erase_ids)",
        [&guest],
    )?;
    erased.held = conn.execute(
        "DELETE FROM held WHERE key = ?1 OR (account, key) IN (SELECT account, object_id FROM erase_ids)",
        [person],
    )?;
    conn.execute(
        "DELETE FROM two_way_customers
          WHERE (account, customer_id) IN (SELECT account, object_id FROM erase_ids)",
        [],
    )?;
    erased.objects = conn.execute(
        "DELETE FROM stripe_objects WHERE (account, object_id) IN (SELECT account, object_id FROM erase_ids)",
        [],
    )?;
    conn.execute("DELETE FROM erase_ids", [])?;
    erased.outbox = conn.execute("DELETE FROM outbox WHERE person = ?1", [person])?;
    erased.acknowledged = conn.execute("DELETE FROM acknowledged WHERE person = ?1", [person])?;
    erased.consent_records =
        conn.execute("DELETE FROM consent_ledger WHERE person = ?1", [person])?;
    erased.suppressions = conn.execute("DELETE FROM suppressions WHERE person = ?1", [person])?;
    erased.opt_in_requests =
        conn.execute("DELETE FROM opt_in_requests WHERE person = ?1", [person])?;
    // Delivery entries name the person in `detail` (JSON); messages carry no addresses.
    erased.log_entries = conn.execute(
        "DELETE FROM sync_log WHERE instr(lower(COALESCE(detail, '')), ?1) > 0",
        [&quoted],
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
