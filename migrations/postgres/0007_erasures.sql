-- PostgreSQL twin of migrations/sqlite/0007_erasures.sql (see 0001_ingest.sql).
-- People erased with `paysync erase`: a SHA-256 of the normalised email (with a fixed prefix),
-- never the address, so that paysync recognises them and never syncs or records them again.
CREATE TABLE erasures (
    person_hash TEXT    NOT NULL PRIMARY KEY,
    erased_at   BIGINT  NOT NULL
);
