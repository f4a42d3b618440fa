//! Embedded, numbered migrations, applied in order at open and recorded in `schema_migrations`.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// (version, name, SQL). Append only: a released migration is never edited.
const SQLITE_MIGRATIONS: &[(u32, &str, &str)] = &[(
    1,
    "ingest",
    include_str!("../../../migrations/sqlite/0001_ingest.sql"),
)];

pub(crate) fn migrate_sqlite(conn: &mut Connection, now: i64) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let current: u32 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = SQLITE_MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for &(version, name, sql) in SQLITE_MIGRATIONS.iter().filter(|m| m.0 > current) {
        let failed = |e: rusqlite::Error| StoreError::Migration {
            version,
            message: e.to_string(),
        };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            (version, name, now),
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(version, name, "applied database migration");
    }
    Ok(())
}
