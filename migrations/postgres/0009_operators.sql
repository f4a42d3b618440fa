-- PostgreSQL twin of migrations/sqlite/0009_operators.sql (see 0001_ingest.sql).
-- The dashboard's administrators: the password as an argon2id PHC string, never the password.
CREATE TABLE admins (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- Dashboard sessions, by the SHA-256 of the cookie's random id: a copy of the database does not
-- hand out live sessions.
CREATE TABLE sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    username   TEXT    NOT NULL REFERENCES admins (username) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Destinations and syncs added through the dashboard or the management API, as the JSON of their
-- configuration-file tables; secrets in them are `stored:NAME` references into `secrets`.
CREATE TABLE managed_config (
    kind       TEXT    NOT NULL CHECK (kind IN ('destination', 'sync')),
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, name)
);
