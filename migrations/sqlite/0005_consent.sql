-- Consent: what paysync learnt or recorded about each person's marketing permission.

-- Append-only history, per person (normalised email) and destination; the newest row of a pair
-- is its current state. `source` says where the fact came from (destination_poll, operator,
-- opt_in_email, …), `basis` why it holds, `details` (JSON) the evidence.
CREATE TABLE consent_ledger (
    id          INTEGER PRIMARY KEY,
    person      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    basis       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    details     TEXT
);
CREATE INDEX consent_ledger_person ON consent_ledger (person, destination, id);

-- Unsubscribes learnt from a destination. They outrank every sync rule, and paysync never
-- removes one: only the person, at the destination, can subscribe again.
CREATE TABLE suppressions (
    person      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    PRIMARY KEY (person, destination)
) WITHOUT ROWID;
CREATE INDEX suppressions_destination ON suppressions (destination);
