//! Embedded, numbered migrations, applied in order at open and recorded in `schema_migrations`.

use rusqlite::Connection;

use crate::sql::{Db, args};
use crate::{Result, StoreError};

/// (version, name, SQL). Append only: a released migration is never edited. Each has a
/// PostgreSQL twin of the same file name in `migrations/postgres`, making the same schema
/// (`tests/it/migrations_in_step.rs` checks it).
const SQLITE_MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "ingest",
        include_str!("../../../migrations/sqlite/0001_ingest.sql"),
    ),
    (
        3,
        "delivery",
        include_str!("../../../migrations/sqlite/0003_delivery.sql"),
    ),
    // 2 was never released; 4 comes after 3 so that databases at 3 receive it.
    (
        4,
        "secrets",
        include_str!("../../../migrations/sqlite/0004_secrets.sql"),
    ),
    (
        5,
        "consent",
        include_str!("../../../migrations/sqlite/0005_consent.sql"),
    ),
    (
        6,
        "opt_in",
        include_str!("../../../migrations/sqlite/0006_opt_in.sql"),
    ),
    (
        7,
        "erasures",
        include_str!("../../../migrations/sqlite/0007_erasures.sql"),
    ),
    (
        8,
        "two_way",
        include_str!("../../../migrations/sqlite/0008_two_way.sql"),
    ),
    (
        9,
        "operators",
        include_str!("../../../migrations/sqlite/0009_operators.sql"),
    ),
    (
        10,
        "scale_out",
        include_str!("../../../migrations/sqlite/0010_scale_out.sql"),
    ),
];

/// The PostgreSQL twins of [`SQLITE_MIGRATIONS`], same versions and names.
const POSTGRES_MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "ingest",
        include_str!("../../../migrations/postgres/0001_ingest.sql"),
    ),
    (
        3,
        "delivery",
        include_str!("../../../migrations/postgres/0003_delivery.sql"),
    ),
    (
        4,
        "secrets",
        include_str!("../../../migrations/postgres/0004_secrets.sql"),
    ),
    (
        5,
        "consent",
        include_str!("../../../migrations/postgres/0005_consent.sql"),
    ),
    (
        6,
        "opt_in",
        include_str!("../../../migrations/postgres/0006_opt_in.sql"),
    ),
    (
        7,
        "erasures",
        include_str!("../../../migrations/postgres/0007_erasures.sql"),
    ),
    (
        8,
        "two_way",
        include_str!("../../../migrations/postgres/0008_two_way.sql"),
    ),
    (
        9,
        "operators",
        include_str!("../../../migrations/postgres/0009_operators.sql"),
    ),
    (
        10,
        "scale_out",
        include_str!("../../../migrations/postgres/0010_scale_out.sql"),
    ),
];

/// The schema version recorded in the database; 0 for a new database. Only reads, so that opening
/// an up-to-date database never waits for another process's writes.
fn current_version(conn: &Connection) -> Result<u32> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

pub(crate) fn migrate_sqlite(conn: &mut Connection, now: i64) -> Result<()> {
    let known = SQLITE_MIGRATIONS.last().map_or(0, |m| m.0);
    if current_version(conn)? == known {
        return Ok(());
    }
    // IMMEDIATE takes the write lock up front (waiting through busy_timeout), so two processes
    // starting on a new database cannot both apply a migration; the version is re-read under it.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    apply_pending(
        &*tx,
        SQLITE_MIGRATIONS,
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        now,
    )?;
    tx.commit()?;
    Ok(())
}

/// Applies pending PostgreSQL migrations in the caller's transaction (READ COMMITTED).
/// Processes starting together wait for each other on a transaction-scoped advisory lock, then
/// read the version the one before them left.
pub(crate) fn migrate_postgres(db: &dyn Db, now: i64) -> Result<()> {
    // Any constant shared by every paysync process: "paysync" in ASCII.
    db.execute_batch("SELECT pg_advisory_xact_lock(31632371647868515)")?;
    apply_pending(
        db,
        POSTGRES_MIGRATIONS,
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        now,
    )
}

/// Applies the migrations of `list` newer than the recorded version, each recorded in
/// `schema_migrations` (made by `create_table`), in the caller's transaction; refuses a
/// database from a newer paysync.
fn apply_pending(
    db: &dyn Db,
    list: &[(u32, &str, &str)],
    create_table: &str,
    now: i64,
) -> Result<()> {
    let known = list.last().map_or(0, |m| m.0);
    db.execute_batch(create_table)?;
    let current: i64 = db.value(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        args![],
    )?;
    let current = u32::try_from(current).unwrap_or(u32::MAX);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for &(version, name, sql) in list.iter().filter(|m| m.0 > current) {
        let failed = |e: StoreError| StoreError::Migration {
            version,
            message: e.to_string(),
        };
        db.execute_batch(sql).map_err(failed)?;
        db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            args![i64::from(version), name, now],
        )
        .map_err(failed)?;
        tracing::info!(version, name, "applying database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Both lists name the same migrations, and every file of both directories is in them.
    #[test]
    fn both_backends_know_every_migration() {
        let names = |list: &[(u32, &str, &str)]| -> Vec<(u32, String)> {
            list.iter().map(|m| (m.0, m.1.to_owned())).collect()
        };
        assert_eq!(
            names(super::SQLITE_MIGRATIONS),
            names(super::POSTGRES_MIGRATIONS)
        );
        for dir in ["sqlite", "postgres"] {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = super::SQLITE_MIGRATIONS
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.0, m.1))
                .collect();
            assert_eq!(files, listed, "migrations/{dir}");
        }
    }
}
