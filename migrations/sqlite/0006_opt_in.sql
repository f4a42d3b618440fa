-- Opt-in emails: one row per sync and person asked, at most once (the primary key). `sent_at`
-- is set when the SMTP server took the message; `confirmed_at` when the person followed the link.
CREATE TABLE opt_in_requests (
    sync         TEXT    NOT NULL,
    person       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL,
    last_error   TEXT,
    confirmed_at INTEGER,
    PRIMARY KEY (sync, person)
) WITHOUT ROWID;
CREATE INDEX opt_in_unsent ON opt_in_requests (next_try_at) WHERE sent_at IS NULL;
