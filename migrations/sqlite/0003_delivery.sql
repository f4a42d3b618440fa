-- Reconcile and deliver: what each destination acknowledged, and the outbox of operations.

-- Bumped on every mark: the reconciler clears only marks it has seen, so a change that lands
-- while a person is being reconciled keeps them dirty.
ALTER TABLE dirty_customers ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;

-- What a destination holds for a person (by normalised email) as far as paysync knows: the
-- state it confirmed after paysync's operations. `rev` grows with every change, so a
-- reconciler's diff against an older state is never queued.
CREATE TABLE acknowledged (
    sync       TEXT    NOT NULL,
    person     TEXT    NOT NULL,
    remote_id  TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    rev        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sync, person)
) WITHOUT ROWID;

-- At most one row per (sync, person): a person's changes coalesce into it until it is due.
-- state 'pending' (waiting or leased by a worker until lease_until) or 'dead' (a dead letter,
-- kept until replayed or superseded by different operations).
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    sync        TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    person      TEXT    NOT NULL,
    ops         TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_until INTEGER,
    last_error  TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbox_person ON outbox (sync, person);
CREATE INDEX outbox_due ON outbox (destination, due_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (destination, id) WHERE state = 'dead';

-- People a sync does not push, and why (no email, invalid email, filtered out, unknown list):
-- keyed by the person's email, or by their Stripe customer when they have none.
CREATE TABLE held (
    account TEXT    NOT NULL,
    sync    TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    since   INTEGER NOT NULL,
    PRIMARY KEY (account, key, sync)
) WITHOUT ROWID;

-- `status` counts objects by kind and state, and customers without email: with these columns in
-- the index it reads the index only, not every object's body (a full-ledger scan at 100k+).
DROP INDEX stripe_objects_kind;
CREATE INDEX stripe_objects_kind ON stripe_objects (account, kind, deleted, email);
