//! The operator surface's own records: administrators (argon2id hashes), dashboard sessions (by
//! the SHA-256 of their id) and the destinations and syncs managed through the dashboard.

use paysync_core::UnixMs;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub username: String,
    pub expires_at: UnixMs,
}

/// What a managed configuration document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedKind {
    Destination,
    Sync,
}

impl ManagedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedKind::Destination => "destination",
            ManagedKind::Sync => "sync",
        }
    }
}

/// A destination or sync added through the dashboard: the JSON of its configuration-file table,
/// secrets replaced by `stored:NAME` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedItem {
    pub kind: ManagedKind,
    pub name: String,
    pub body: String,
    pub updated_at: UnixMs,
}

/// The prefix of every secret a destination owns (its API key, its OAuth tokens).
pub fn destination_secret_prefix(destination: &str) -> String {
    format!("destination.{destination}.")
}

pub(crate) fn set_admin(conn: &Connection, username: &str, hash: &str, at: UnixMs) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO admins (username, password_hash, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
             updated_at = excluded.updated_at",
    )?
    .execute(params![username, hash, at])?;
    // A new password ends the sessions opened with the old one.
    conn.prepare_cached("DELETE FROM sessions WHERE username = ?1")?
        .execute([username])?;
    Ok(())
}

pub(crate) fn admin_hash(conn: &Connection, username: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM admins WHERE username = ?1")?
        .query_row([username], |r| r.get(0))
        .optional()?)
}

pub(crate) fn admin_count(conn: &Connection) -> Result<usize> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM admins", [], |r| r.get(0))?;
    Ok(n as usize)
}

pub(crate) fn create_session(
    conn: &Connection,
    id_hash: &str,
    username: &str,
    now: UnixMs,
    expires_at: UnixMs,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now])?;
    conn.prepare_cached(
        "INSERT INTO sessions (id_hash, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id_hash, username, now, expires_at])?;
    Ok(())
}

pub(crate) fn session(
    conn: &Connection,
    id_hash: &str,
    now: UnixMs,
) -> Result<Option<SessionRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT username, expires_at FROM sessions WHERE id_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![id_hash, now], |r| {
            Ok(SessionRecord {
                username: r.get(0)?,
                expires_at: r.get(1)?,
            })
        })
        .optional()?)
}

pub(crate) fn delete_session(conn: &Connection, id_hash: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([id_hash])?;
    Ok(())
}

pub(crate) fn managed(conn: &Connection) -> Result<Vec<ManagedItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, name, body, updated_at FROM managed_config ORDER BY kind, name",
    )?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(0)?;
        Ok(ManagedItem {
            kind: if kind == "sync" {
                ManagedKind::Sync
            } else {
                ManagedKind::Destination
            },
            name: r.get(1)?,
            body: r.get(2)?,
            updated_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn put_managed(conn: &Connection, item: &ManagedItem) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO managed_config (kind, name, body, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        item.kind.as_str(),
        item.name,
        item.body,
        item.updated_at
    ])?;
    Ok(())
}

pub(crate) fn delete_sync(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM managed_config WHERE kind = 'sync' AND name = ?1")?
        .execute([name])?
        > 0)
}

/// Forgets a managed destination, the managed syncs writing to it and its secrets, at once.
/// What was synced stays in the destination and in the outbox's acknowledged state, so that
/// connecting it again carries on where it stopped. Returns the syncs removed, or `None` when no
/// such managed destination exists.
pub(crate) fn disconnect_destination(conn: &Connection, name: &str) -> Result<Option<Vec<String>>> {
    let removed = conn
        .prepare_cached("DELETE FROM managed_config WHERE kind = 'destination' AND name = ?1")?
        .execute([name])?;
    if removed == 0 {
        return Ok(None);
    }
    let syncs: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM managed_config
             WHERE kind = 'sync' AND json_extract(body, '$.destination') = ?1 RETURNING name",
        )?
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // `destination.<name>.` followed by anything: LIKE's wildcards in the name are escaped.
    let pattern = destination_secret_prefix(name)
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        + "%";
    conn.prepare_cached("DELETE FROM secrets WHERE name LIKE ?1 ESCAPE '\\'")?
        .execute([pattern])?;
    Ok(Some(syncs))
}
