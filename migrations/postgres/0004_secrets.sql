-- PostgreSQL twin of migrations/sqlite/0004_secrets.sql (see 0001_ingest.sql).
-- Secrets paysync must keep (Constant Contact's rotating OAuth tokens), encrypted with
-- XChaCha20-Poly1305 under `store.secret_key`; the name is the associated data, so a ciphertext
-- cannot be moved to another name.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    nonce      BYTEA    NOT NULL,
    ciphertext BYTEA    NOT NULL,
    updated_at BIGINT  NOT NULL
);
