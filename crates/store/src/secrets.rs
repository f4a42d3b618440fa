//! Secrets at rest: XChaCha20-Poly1305 with a random 24-byte nonce per write and the secret's
//! name as associated data (a ciphertext copied to another name does not decrypt). The key is
//! `store.secret_key`, 32 bytes; it never reaches the database, logs or errors.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};

use crate::sql::{Db, args};
use crate::{Result, StoreError};

/// The key secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// From 64 hexadecimal characters (`openssl rand -hex 32`).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SecretKey(key))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new((&key.0).into())
}

pub(crate) fn put(
    db: &dyn Db,
    key: &SecretKey,
    name: &str,
    value: &SecretString,
    at: i64,
) -> Result<()> {
    let nonce: [u8; 24] = rand::random();
    let sealed = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: value.expose_secret().as_bytes(),
                aad: name.as_bytes(),
            },
        )
        .map_err(|_| StoreError::Secret(format!("cannot encrypt secret {name:?}")))?;
    db.execute(
        "INSERT INTO secrets (name, nonce, ciphertext, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce,
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        args![name, &nonce[..], sealed, at],
    )?;
    Ok(())
}

pub(crate) fn get(db: &dyn Db, key: &SecretKey, name: &str) -> Result<Option<SecretString>> {
    let row: Option<(Vec<u8>, Vec<u8>)> = db
        .query_opt(
            "SELECT nonce, ciphertext FROM secrets WHERE name = ?1",
            args![name],
        )?
        .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
        .transpose()?;
    let Some((nonce, sealed)) = row else {
        return Ok(None);
    };
    let refused = || {
        StoreError::Secret(format!(
            "secret {name:?} does not decrypt: store.secret_key is not the key it was written with, \
             or the row was altered"
        ))
    };
    if nonce.len() != 24 {
        return Err(refused());
    }
    let plain = cipher(key)
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: name.as_bytes(),
            },
        )
        .map_err(|_| refused())?;
    String::from_utf8(plain)
        .map(|s| Some(SecretString::from(s)))
        .map_err(|_| refused())
}

/// Re-seals every stored secret under `new` (each opened with `old` first): all or nothing, in
/// the caller's transaction. Returns how many were re-sealed.
pub(crate) fn reseal(db: &dyn Db, old: &SecretKey, new: &SecretKey, at: i64) -> Result<usize> {
    let names: Vec<String> =
        db.query_map("SELECT name FROM secrets ORDER BY name", args![], |r| {
            r.get(0)
        })?;
    for name in &names {
        let value = get(db, old, name)?
            .ok_or_else(|| StoreError::Secret(format!("secret {name:?} vanished")))?;
        put(db, new, name, &value, at)?;
    }
    Ok(names.len())
}

pub(crate) fn delete(db: &dyn Db, name: &str) -> Result<()> {
    db.execute("DELETE FROM secrets WHERE name = ?1", args![name])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../migrations/sqlite/0004_secrets.sql"))
            .unwrap();
        conn
    }

    #[test]
    fn keys_parse_from_hex_only() {
        assert!(SecretKey::from_hex(KEY).is_some());
        assert!(SecretKey::from_hex(&KEY[..62]).is_none());
        assert!(SecretKey::from_hex(&KEY.replace('0', "g")).is_none());
        assert_eq!(
            format!("{:?}", SecretKey::from_hex(KEY).unwrap()),
            "SecretKey(..)"
        );
    }

    #[test]
    fn resealing_moves_every_secret_to_the_new_key_or_none() {
        let c = conn();
        let old = SecretKey::from_hex(&"11".repeat(32)).unwrap();
        let new = SecretKey::from_hex(&"22".repeat(32)).unwrap();
        for name in ["a", "b"] {
            put(
                &c,
                &old,
                name,
                &SecretString::from(format!("value-{name}")),
                1,
            )
            .unwrap();
        }
        // With the wrong old key nothing is written (the caller's transaction rolls back).
        assert!(reseal(&c, &new, &old, 2).is_err());
        assert_eq!(reseal(&c, &old, &new, 2).unwrap(), 2);
        assert_eq!(
            get(&c, &new, "b").unwrap().unwrap().expose_secret(),
            "value-b"
        );
        assert!(get(&c, &old, "a").is_err(), "the old key opens nothing");
    }

    #[test]
    fn round_trip_sealed_and_bound_to_its_name() {
        let conn = conn();
        let key = SecretKey::from_hex(KEY).unwrap();
        let secret = SecretString::from("refresh-token-value".to_owned());
        put(&conn, &key, "a", &secret, 1).unwrap();
        let back = get(&conn, &key, "a").unwrap().unwrap();
        assert_eq!(back.expose_secret(), "refresh-token-value");
        assert!(get(&conn, &key, "missing").unwrap().is_none());
        // Not in clear in the database.
        let stored: Vec<u8> = conn
            .query_row("SELECT ciphertext FROM secrets WHERE name = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!stored.windows(7).any(|w| w == b"refresh"));
        // Another key, or the row moved to another name: refused, without the value.
        let other = SecretKey::from_hex(&KEY.replace("1f", "ff")).unwrap();
        let err = get(&conn, &other, "a").unwrap_err().to_string();
        assert!(
            err.contains("does not decrypt") && !err.contains("refresh"),
            "{err}"
        );
        conn.execute(
            "INSERT INTO secrets SELECT 'b', nonce, ciphertext, 2 FROM secrets WHERE name = 'a'",
            [],
        )
        .unwrap();
        assert!(get(&conn, &key, "b").is_err());
        delete(&conn, "a").unwrap();
        assert!(get(&conn, &key, "a").unwrap().is_none());
    }
}
