//! Operations the reconciler's diff produces and the per-item outcomes connectors return.
//!
//! Every call that takes many items returns one [`ItemOutcome`] per item, in input order, so the
//! delivery layer (outbox, durable retries, dead letters) can act per contact: acknowledge the ok
//! ones, record refusals, dead-letter the invalid and permanent ones, retry the transient ones.

use std::time::Duration;

use serde::Serialize;

use crate::consent::Refusal;
use crate::contact::RemoteConsent;
use crate::error::{DestinationError, ErrorKind};

pub use paysync_core::ops::{
    FieldChange, MembershipChange, Op, Purchase, PurchaseItem, Removal, RemovalKind, TagChange,
};

/// What the destination acknowledged for one item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The destination's id of the contact, when the call returned it.
    pub remote_id: Option<String>,
    /// The contact's marketing permission after the call, when known.
    pub consent: Option<RemoteConsent>,
    /// The asynchronous job that carried the change (CC activity, AC batch, MC batch), if any.
    pub job: Option<String>,
}

impl Ack {
    pub fn id(remote_id: impl Into<String>) -> Self {
        Ack {
            remote_id: Some(remote_id.into()),
            ..Ack::default()
        }
    }

    pub fn with_consent(mut self, consent: Option<RemoteConsent>) -> Self {
        self.consent = consent;
        self
    }

    pub fn with_job(mut self, job: Option<String>) -> Self {
        self.job = job;
        self
    }
}

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Applied.
    Ok(Ack),
    /// The consent rules refused a permission change. Everything else the item asked for that
    /// does not grant permission was still applied when `ack` is `Some`.
    ConsentRefused { refusal: Refusal, ack: Option<Ack> },
    /// The item cannot be sent to this destination as it is (too big, too many fields, a field
    /// or list the destination does not have, an address the vendor refuses). Never retried
    /// unchanged.
    Invalid(String),
    /// The call failed; [`DestinationError::kind`] says whether to retry.
    Failed(DestinationError),
}

/// [`ItemOutcome`] reduced to what the delivery layer decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Ok,
    ConsentRefused,
    Invalid,
    Transient { retry_after: Option<Duration> },
    Permanent,
    AuthRevoked,
}

impl ItemOutcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            ItemOutcome::Ok(_) => OutcomeKind::Ok,
            ItemOutcome::ConsentRefused { .. } => OutcomeKind::ConsentRefused,
            ItemOutcome::Invalid(_) => OutcomeKind::Invalid,
            ItemOutcome::Failed(e) => match e.kind {
                ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::QuotaExhausted => {
                    OutcomeKind::Transient {
                        retry_after: e.retry_after,
                    }
                }
                ErrorKind::AuthRevoked => OutcomeKind::AuthRevoked,
                ErrorKind::Permanent | ErrorKind::Config => OutcomeKind::Permanent,
            },
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, ItemOutcome::Ok(_))
    }

    pub fn ok() -> Self {
        ItemOutcome::Ok(Ack::default())
    }

    pub fn refused(refusal: Refusal, ack: Option<Ack>) -> Self {
        ItemOutcome::ConsentRefused { refusal, ack }
    }

    /// The outcome of an item whose own request failed: a vendor's validation answer (400, 404,
    /// 422) is about the item's data, so `Invalid`; anything else keeps its class.
    pub fn from_error(e: DestinationError) -> Self {
        if e.kind == ErrorKind::Permanent && matches!(e.status, Some(400 | 404 | 422)) {
            ItemOutcome::Invalid(e.to_string())
        } else {
            ItemOutcome::Failed(e)
        }
    }
}

/// Outcomes filled in as a bulk call proceeds, one slot per input item.
///
/// Connectors settle items in whatever order their vendor allows (validation first, then chunks,
/// then asynchronous jobs); `finish` turns the slots into the result, and an item no step settled
/// is a bug reported as a permanent failure rather than a panic in production.
#[derive(Debug)]
pub struct Outcomes {
    slots: Vec<Option<ItemOutcome>>,
}

impl Outcomes {
    pub fn new(len: usize) -> Self {
        Outcomes {
            slots: vec![None; len],
        }
    }

    pub fn set(&mut self, index: usize, outcome: ItemOutcome) {
        self.slots[index] = Some(outcome);
    }

    /// Sets every listed item not already settled.
    pub fn set_all(&mut self, indices: &[usize], outcome: &ItemOutcome) {
        for &i in indices {
            if self.slots[i].is_none() {
                self.slots[i] = Some(outcome.clone());
            }
        }
    }

    pub fn is_set(&self, index: usize) -> bool {
        self.slots[index].is_some()
    }

    pub fn get(&self, index: usize) -> Option<&ItemOutcome> {
        self.slots[index].as_ref()
    }

    /// Indices not settled yet.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_none())
            .collect()
    }

    pub fn finish(self, vendor: crate::error::Vendor) -> Vec<ItemOutcome> {
        self.slots
            .into_iter()
            .map(|s| {
                s.unwrap_or_else(|| {
                    ItemOutcome::Failed(DestinationError::permanent(
                        vendor,
                        "internal error: no outcome recorded for this item",
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Consent, OptOutBy};
    use crate::error::Vendor;

    #[test]
    fn kinds() {
        let refused = ItemOutcome::refused(
            Refusal::new(
                Consent::Subscribed,
                RemoteConsent::Unsubscribed {
                    by: OptOutBy::Contact,
                },
            ),
            None,
        );
        assert_eq!(refused.kind(), OutcomeKind::ConsentRefused);
        let throttled = ItemOutcome::Failed(
            DestinationError::new(Vendor::Mailchimp, ErrorKind::RateLimited, "slow down")
                .with_retry_after(Some(Duration::from_secs(3))),
        );
        assert_eq!(
            throttled.kind(),
            OutcomeKind::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let revoked = ItemOutcome::Failed(DestinationError::new(
            Vendor::ConstantContact,
            ErrorKind::AuthRevoked,
            "invalid_grant",
        ));
        assert_eq!(revoked.kind(), OutcomeKind::AuthRevoked);
        assert_eq!(
            ItemOutcome::Invalid("x".into()).kind(),
            OutcomeKind::Invalid
        );
    }

    #[test]
    fn unsettled_items_are_reported() {
        let mut o = Outcomes::new(3);
        o.set(0, ItemOutcome::ok());
        o.set_all(&[0, 1], &ItemOutcome::Invalid("bad".into()));
        assert_eq!(o.pending(), vec![2]);
        let done = o.finish(Vendor::Mailchimp);
        assert!(done[0].is_ok());
        assert_eq!(done[1], ItemOutcome::Invalid("bad".into()));
        assert_eq!(done[2].kind(), OutcomeKind::Permanent);
    }
}
