//! The version that orders snapshots of one Stripe object.
//!
//! Stripe objects carry no version number, and webhook events arrive at least once, in any order,
//! sometimes days late, with `created` in whole seconds. A snapshot's version therefore combines:
//!
//! 0. whether the snapshot is a deletion: deletion is terminal in Stripe (ids are never reused, a
//!    cancelled subscription never comes back), so a tombstone outranks every live snapshot;
//! 1. the second the snapshot describes (an event's `created`, or the second an API read was made);
//! 2. the source: within one second an event outranks an API read, because a read made in second
//!    `s` may predate a change made later in `s`, and every change is followed by its own event;
//! 3. the lifecycle rank of the event's action (`created` < any update < `deleted`), so that a
//!    `customer.deleted` delivered before its `customer.created` (localstripe does this) still wins;
//! 4. a tiebreak (the event id) so that two same-second updates resolve the same way whatever order
//!    they arrive in. The choice between them is arbitrary but deterministic, which is what
//!    convergence needs; the next event or read settles the true state.
//!
//! The version is stored as one string whose byte order is the version order, so the store can apply
//! "replace only if newer" as a single conditional upsert.

use std::fmt;

/// Where a snapshot came from. Order matters: later variants win ties within a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Read from the API (backfill, refetch).
    Api = 0,
    /// Carried in an event's `data.object` (webhook or Events API).
    Event = 1,
}

/// How far along its life an event's action puts the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lifecycle {
    Created = 0,
    Updated = 1,
    Deleted = 2,
}

impl Lifecycle {
    /// The lifecycle rank of an event type, from its last dot-separated word.
    pub fn of_event_type(event_type: &str) -> Self {
        match event_type.rsplit('.').next() {
            Some("created") => Lifecycle::Created,
            Some("deleted") => Lifecycle::Deleted,
            _ => Lifecycle::Updated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub second: i64,
    pub source: Source,
    pub lifecycle: Lifecycle,
    pub tiebreak: String,
}

impl ObjectVersion {
    /// The version of `data.object` in an event.
    pub fn of_event(created: i64, event_type: &str, event_id: &str) -> Self {
        ObjectVersion {
            second: created,
            source: Source::Event,
            lifecycle: Lifecycle::of_event_type(event_type),
            tiebreak: event_id.to_owned(),
        }
    }

    /// The version of an object read from the API at `read_at_ms`.
    pub fn of_api_read(read_at_ms: crate::UnixMs, deleted: bool) -> Self {
        ObjectVersion {
            second: read_at_ms.div_euclid(1000),
            source: Source::Api,
            lifecycle: if deleted {
                Lifecycle::Deleted
            } else {
                Lifecycle::Updated
            },
            tiebreak: String::new(),
        }
    }

    pub fn is_deletion(&self) -> bool {
        self.lifecycle == Lifecycle::Deleted
    }

    fn key(&self) -> (bool, i64, Source, Lifecycle, &str) {
        (
            self.is_deletion(),
            self.second.max(0),
            self.source,
            self.lifecycle,
            &self.tiebreak,
        )
    }

    /// The second an encoded version describes (see [`ObjectVersion::encode`]).
    pub fn second_of(encoded: &str) -> Option<i64> {
        encoded.split('.').nth(1)?.parse().ok()
    }

    /// The sortable string form stored in the ledger: byte order equals version order.
    pub fn encode(&self) -> String {
        // 13 digits cover every second up to the year 318857; negative seconds never occur in Stripe.
        format!(
            "{}.{:013}.{}.{}.{}",
            self.is_deletion() as u8,
            self.second.max(0),
            self.source as u8,
            self.lifecycle as u8,
            self.tiebreak
        )
    }
}

impl Ord for ObjectVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for ObjectVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn version() -> impl Strategy<Value = ObjectVersion> {
        (
            0i64..3_000_000_000_000,
            prop_oneof![Just(Source::Api), Just(Source::Event)],
            prop_oneof![
                Just(Lifecycle::Created),
                Just(Lifecycle::Updated),
                Just(Lifecycle::Deleted)
            ],
            "[a-zA-Z0-9_]{0,12}",
        )
            .prop_map(|(second, source, lifecycle, tiebreak)| ObjectVersion {
                second,
                source,
                lifecycle,
                tiebreak,
            })
    }

    proptest! {
        #[test]
        fn encoding_preserves_order(a in version(), b in version()) {
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
        }
    }

    #[test]
    fn deleted_beats_created_in_the_same_second() {
        let created = ObjectVersion::of_event(100, "customer.created", "evt_b");
        let deleted = ObjectVersion::of_event(100, "customer.deleted", "evt_a");
        assert!(deleted > created);
    }

    #[test]
    fn a_deletion_is_never_undone_by_a_later_snapshot() {
        let deleted = ObjectVersion::of_event(100, "customer.deleted", "evt_a");
        assert!(deleted > ObjectVersion::of_event(200, "customer.updated", "evt_b"));
        assert!(deleted > ObjectVersion::of_api_read(300_000, false));
    }

    #[test]
    fn an_event_beats_a_read_of_the_same_second_but_not_of_a_later_one() {
        let event = ObjectVersion::of_event(100, "customer.updated", "evt_a");
        assert!(event > ObjectVersion::of_api_read(100_999, false));
        assert!(event < ObjectVersion::of_api_read(101_000, false));
    }
}
