-- Secrets paysync must keep (Constant Contact's rotating OAuth tokens), encrypted with
-- XChaCha20-Poly1305 under `store.secret_key`; the name is the associated data, so a ciphertext
-- cannot be moved to another name.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
