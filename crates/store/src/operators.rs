//! The operator surface's own records: administrators (argon2id hashes), dashboard sessions (by
//! the SHA-256 of their id) and the destinations and syncs managed through the dashboard.

use paysync_core::UnixMs;

use crate::Result;
use crate::sql::{Db, args};

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

pub(crate) fn set_admin(db: &dyn Db, username: &str, hash: &str, at: UnixMs) -> Result<()> {
    db.execute(
        "INSERT INTO admins (username, password_hash, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
             updated_at = excluded.updated_at",
        args![username, hash, at],
    )?;
    // A new password ends the sessions opened with the old one.
    db.execute("DELETE FROM sessions WHERE username = ?1", args![username])?;
    Ok(())
}

pub(crate) fn admin_hash(db: &dyn Db, username: &str) -> Result<Option<String>> {
    db.query_opt(
        "SELECT password_hash FROM admins WHERE username = ?1",
        args![username],
    )?
    .map(|r| r.get(0))
    .transpose()
}

pub(crate) fn admin_count(db: &dyn Db) -> Result<usize> {
    let n: i64 = db.value("SELECT COUNT(*) FROM admins", args![])?;
    Ok(n as usize)
}

pub(crate) fn create_session(
    db: &dyn Db,
    id_hash: &str,
    username: &str,
    now: UnixMs,
    expires_at: UnixMs,
) -> Result<()> {
    db.execute("DELETE FROM sessions WHERE expires_at <= ?1", args![now])?;
    db.execute(
        "INSERT INTO sessions (id_hash, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        args![id_hash, username, now, expires_at],
    )?;
    Ok(())
}

pub(crate) fn session(db: &dyn Db, id_hash: &str, now: UnixMs) -> Result<Option<SessionRecord>> {
    db.query_opt(
        "SELECT username, expires_at FROM sessions WHERE id_hash = ?1 AND expires_at > ?2",
        args![id_hash, now],
    )?
    .map(|r| {
        Ok(SessionRecord {
            username: r.get(0)?,
            expires_at: r.get(1)?,
        })
    })
    .transpose()
}

pub(crate) fn delete_session(db: &dyn Db, id_hash: &str) -> Result<()> {
    db.execute("DELETE FROM sessions WHERE id_hash = ?1", args![id_hash])?;
    Ok(())
}

pub(crate) fn managed(db: &dyn Db) -> Result<Vec<ManagedItem>> {
    db.query_map(
        "SELECT kind, name, body, updated_at FROM managed_config ORDER BY kind, name",
        args![],
        |r| {
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
        },
    )
}

pub(crate) fn put_managed(db: &dyn Db, item: &ManagedItem) -> Result<()> {
    db.execute(
        "INSERT INTO managed_config (kind, name, body, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body,
             updated_at = excluded.updated_at",
        args![item.kind.as_str(), item.name, item.body, item.updated_at],
    )?;
    Ok(())
}

pub(crate) fn delete_sync(db: &dyn Db, name: &str) -> Result<bool> {
    Ok(db.execute(
        "DELETE FROM managed_config WHERE kind = 'sync' AND name = ?1",
        args![name],
    )? > 0)
}

/// Forgets a managed destination, the managed syncs writing to it and its secrets, at once.
/// What was synced stays in the destination and in the outbox's acknowledged state, so that
/// connecting it again carries on where it stopped. Returns the syncs removed, or `None` when no
/// such managed destination exists.
pub(crate) fn disconnect_destination(db: &dyn Db, name: &str) -> Result<Option<Vec<String>>> {
    let removed = db.execute(
        "DELETE FROM managed_config WHERE kind = 'destination' AND name = ?1",
        args![name],
    )?;
    if removed == 0 {
        return Ok(None);
    }
    let syncs: Vec<String> = db.query_map(
        &format!(
            "DELETE FROM managed_config
             WHERE kind = 'sync' AND {} = ?1 RETURNING name",
            db.json_text("body", "destination")
        ),
        args![name],
        |r| r.get(0),
    )?;
    // Every name starting `destination.<name>.` (compared as text: no wildcards to escape).
    db.execute(
        "DELETE FROM secrets WHERE substr(name, 1, length(?1)) = ?1",
        args![destination_secret_prefix(name)],
    )?;
    Ok(Some(syncs))
}
