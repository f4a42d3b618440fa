-- Stripe ingestion: inbox, ledger, dirty set, cursors, rejected webhooks, sync log.
-- Timestamps are unix milliseconds (INTEGER) unless named `created` (Stripe's unix seconds).

-- Every event received (webhook or Events API), deduplicated by (account, event id). Rows are
-- appended in arrival order (`seq`), so a webhook's durable commit writes sequential pages plus one
-- small entry in the dedupe index. `applied_at` is NULL until the applier has carried the event
-- into the ledger; `refetch` = 1 marks events whose object must be re-read from the API first.
CREATE TABLE stripe_events (
    seq         INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    livemode    INTEGER NOT NULL,
    object_id   TEXT,
    source      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    refetch     INTEGER NOT NULL,
    applied_at  INTEGER
);
CREATE UNIQUE INDEX stripe_events_id ON stripe_events (account, event_id);
CREATE INDEX stripe_events_pending ON stripe_events (account, refetch, seq) WHERE applied_at IS NULL;
CREATE INDEX stripe_events_object ON stripe_events (account, object_id) WHERE object_id IS NOT NULL;

-- The ledger: the newest snapshot of every Stripe object (a rowid table: bodies are kilobytes,
-- too large for WITHOUT ROWID's B-tree leaves). `version` is paysync_core's ObjectVersion
-- encoding, whose byte order is the version order. `customer_ref` is `cus_…` or `email:<normalised>`;
-- `email` is the normalised email the object itself carries (a customer's, a guest payment's);
-- `parent_id` is a refund's charge, through which a refund finds its customer.
CREATE TABLE stripe_objects (
    account      TEXT    NOT NULL,
    object_id    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    customer_ref TEXT,
    email        TEXT,
    parent_id    TEXT,
    version      TEXT    NOT NULL,
    deleted      INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX stripe_objects_id ON stripe_objects (account, object_id);
CREATE INDEX stripe_objects_customer ON stripe_objects (account, customer_ref);
CREATE INDEX stripe_objects_kind ON stripe_objects (account, kind);
-- A person is every customer sharing one normalised email, plus guest payments with it.
CREATE INDEX stripe_objects_email ON stripe_objects (account, email) WHERE email IS NOT NULL;
CREATE INDEX stripe_objects_parent ON stripe_objects (account, parent_id) WHERE parent_id IS NOT NULL;

-- People whose objects changed since they were last reconciled.
CREATE TABLE dirty_customers (
    account      TEXT    NOT NULL,
    customer_ref TEXT    NOT NULL,
    since        INTEGER NOT NULL,
    PRIMARY KEY (account, customer_ref)
) WITHOUT ROWID;

-- Named positions: backfill progress per resource, the Events-API catch-up position, last webhook.
CREATE TABLE cursors (
    account    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account, name)
) WITHOUT ROWID;

-- Rejected webhook requests, counted per reason (bounded however many arrive).
CREATE TABLE webhook_rejections (
    account  TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (account, reason)
) WITHOUT ROWID;

-- What paysync did and why, for operators (never secrets).
CREATE TABLE sync_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    account TEXT,
    kind    TEXT    NOT NULL,
    level   TEXT    NOT NULL,
    message TEXT    NOT NULL,
    detail  TEXT
);
CREATE INDEX sync_log_at ON sync_log (at);
