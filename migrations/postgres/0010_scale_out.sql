-- PostgreSQL twin of migrations/sqlite/0010_scale_out.sql (see 0001_ingest.sql).
-- Several processes sharing one database (PostgreSQL; SQLite has one process, which holds every
-- role).

-- Work only one process may do at a time (an account's catch-up, applier and reconciler, the
-- opt-in mailer, a destination's unsubscribe poll): held by `holder` until `until` (unix ms),
-- renewed while it works; a holder that dies loses it when `until` passes.
CREATE TABLE roles (
    name   TEXT    NOT NULL PRIMARY KEY,
    holder TEXT    NOT NULL,
    until  BIGINT  NOT NULL
);

-- A worker's heartbeat finds the rows it leased by their lease.
CREATE INDEX outbox_leased ON outbox (destination, lease_until) WHERE lease_until IS NOT NULL;

-- Limits shared by the processes calling one vendor account. `rate:<destination>`: its request
-- rate (GCRA), `tat` the theoretical arrival time (unix ms) of the next request.
-- `pause:<destination>`: its calls held back until `tat` (a daily quota used up, credentials
-- refused). `slot:<destination>:<i>`: one of its simultaneous connections, held by `holder` (a
-- random token of the request) until `tat`.
CREATE TABLE rate_limits (
    key    TEXT    NOT NULL PRIMARY KEY,
    tat    BIGINT  NOT NULL,
    holder TEXT
);
