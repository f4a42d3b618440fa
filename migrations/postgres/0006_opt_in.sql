-- PostgreSQL twin of migrations/sqlite/0006_opt_in.sql (see 0001_ingest.sql).
-- Opt-in emails: one row per sync and person asked, at most once (the primary key). `sent_at`
-- is set when the SMTP server took the message; `confirmed_at` when the person followed the link.
CREATE TABLE opt_in_requests (
    sync         TEXT    NOT NULL,
    person       TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT  NOT NULL,
    sent_at      BIGINT ,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    next_try_at  BIGINT  NOT NULL,
    last_error   TEXT,
    confirmed_at BIGINT ,
    PRIMARY KEY (sync, person)
);
CREATE INDEX opt_in_unsent ON opt_in_requests (next_try_at) WHERE sent_at IS NULL;
