-- PostgreSQL twin of migrations/sqlite/0008_two_way.sql (see 0001_ingest.sql).
-- Two-way sync: the Stripe customer paysync created for a contact made at a destination, so that
-- a repeated poll or webhook never creates a second one (localstripe ignores idempotency keys;
-- Stripe forgets them after 24 hours).
CREATE TABLE two_way_customers (
    destination TEXT    NOT NULL,
    remote_id   TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (destination, remote_id)
);

-- An email changed at a destination keeps the contact's id: two-way sync finds the person it
-- was acknowledged under by that id.
CREATE INDEX acknowledged_remote ON acknowledged (sync, remote_id);
