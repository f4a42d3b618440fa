//! The consent rules every connector applies before it writes (DESIGN: "without ever
//! re-subscribing someone who unsubscribed"; "0 re-subscribed contacts on any path").
//!
//! One pure function, [`decide`], says what may happen to a contact's marketing permission given
//! what the destination holds now and what the reconciler wants. Connectors translate the answer
//! into their vendor's terms and report a [`Refusal`] as an outcome of its own, never hiding it.

use serde::{Deserialize, Serialize};

use crate::contact::{Consent, OptOutBy, RemoteConsent};

/// What a connector may do with a contact's permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentDecision {
    /// Write this permission (the contact is new, or the change is allowed).
    Set(Consent),
    /// Leave the destination's permission as it is: it already matches, or the change is one
    /// paysync does not make (e.g. taking away a permission the person gave at the destination
    /// when Stripe merely lacks one).
    Keep,
    /// The request would make an opted-out contact subscribed again: refused.
    Refuse(Refusal),
}

/// A refused consent change, reported to the caller as an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub requested: Consent,
    pub current: RemoteConsent,
    pub reason: String,
}

impl Refusal {
    pub fn new(requested: Consent, current: RemoteConsent) -> Self {
        let reason = match current {
            RemoteConsent::Unsubscribed { by: OptOutBy::Contact } => {
                "the contact unsubscribed themselves; only they can opt in again".to_owned()
            }
            RemoteConsent::Unsubscribed { by: OptOutBy::Account } => {
                "the account unsubscribed the contact; paysync never re-subscribes".to_owned()
            }
            RemoteConsent::Unsubscribed { by: OptOutBy::Unknown } => {
                "the contact is unsubscribed; paysync never re-subscribes".to_owned()
            }
            RemoteConsent::Cleaned => {
                "the address is cleaned/undeliverable at the destination; paysync never re-subscribes"
                    .to_owned()
            }
            other => format!("{other:?} cannot change to {requested:?}"),
        };
        Refusal {
            requested,
            current,
            reason,
        }
    }
}

/// The rule. `current` is `None` when the destination does not hold the contact.
///
/// | current \ desired | Subscribed | Pending | NonMarketing | Unsubscribed |
/// | --- | --- | --- | --- | --- |
/// | none (new) | set | set | set | set |
/// | opted out / cleaned | **refuse** | **refuse** | keep | keep |
/// | subscribed | keep | keep | keep | set |
/// | pending | set | keep | keep | set |
/// | non-marketing / not set | set | set | keep | set |
pub fn decide(current: Option<RemoteConsent>, desired: Consent) -> ConsentDecision {
    use ConsentDecision::{Keep, Refuse, Set};
    let Some(current) = current else {
        return Set(desired);
    };
    if current.is_opted_out() {
        return match desired {
            Consent::Subscribed | Consent::Pending => Refuse(Refusal::new(desired, current)),
            Consent::NonMarketing | Consent::Unsubscribed => Keep,
        };
    }
    match (current, desired) {
        (_, Consent::Unsubscribed) => Set(Consent::Unsubscribed),
        (RemoteConsent::Subscribed, _) => Keep,
        (RemoteConsent::Pending, Consent::Subscribed) => Set(Consent::Subscribed),
        (RemoteConsent::Pending, _) => Keep,
        (RemoteConsent::NonMarketing | RemoteConsent::NotSet, Consent::NonMarketing) => Keep,
        (RemoteConsent::NonMarketing | RemoteConsent::NotSet, d) => Set(d),
        (RemoteConsent::Unsubscribed { .. } | RemoteConsent::Cleaned, _) => {
            unreachable!("opt-outs handled above")
        }
    }
}

/// Whether writing `desired` over `current` would be a re-subscription. Connectors assert this
/// right before sending a write that grants permission, as a second line of defence.
pub fn would_resubscribe(current: Option<RemoteConsent>, desired: Consent) -> bool {
    matches!(desired, Consent::Subscribed | Consent::Pending)
        && current.is_some_and(RemoteConsent::is_opted_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_DESIRED: [Consent; 4] = [
        Consent::Subscribed,
        Consent::Pending,
        Consent::NonMarketing,
        Consent::Unsubscribed,
    ];

    fn all_current() -> Vec<Option<RemoteConsent>> {
        vec![
            None,
            Some(RemoteConsent::Subscribed),
            Some(RemoteConsent::Pending),
            Some(RemoteConsent::NonMarketing),
            Some(RemoteConsent::NotSet),
            Some(RemoteConsent::Unsubscribed {
                by: OptOutBy::Contact,
            }),
            Some(RemoteConsent::Unsubscribed {
                by: OptOutBy::Account,
            }),
            Some(RemoteConsent::Unsubscribed {
                by: OptOutBy::Unknown,
            }),
            Some(RemoteConsent::Cleaned),
        ]
    }

    #[test]
    fn table() {
        use ConsentDecision::*;
        let unsub = Some(RemoteConsent::Unsubscribed {
            by: OptOutBy::Contact,
        });
        assert!(matches!(decide(unsub, Consent::Subscribed), Refuse(_)));
        assert!(matches!(decide(unsub, Consent::Pending), Refuse(_)));
        assert_eq!(decide(unsub, Consent::Unsubscribed), Keep);
        assert_eq!(decide(unsub, Consent::NonMarketing), Keep);
        assert!(matches!(
            decide(Some(RemoteConsent::Cleaned), Consent::Subscribed),
            Refuse(_)
        ));
        assert_eq!(decide(None, Consent::Pending), Set(Consent::Pending));
        assert_eq!(
            decide(Some(RemoteConsent::Subscribed), Consent::Unsubscribed),
            Set(Consent::Unsubscribed)
        );
        assert_eq!(
            decide(Some(RemoteConsent::Subscribed), Consent::NonMarketing),
            Keep
        );
        assert_eq!(
            decide(Some(RemoteConsent::Pending), Consent::Subscribed),
            Set(Consent::Subscribed)
        );
        assert_eq!(
            decide(Some(RemoteConsent::NonMarketing), Consent::Subscribed),
            Set(Consent::Subscribed)
        );
        assert_eq!(
            decide(Some(RemoteConsent::NotSet), Consent::NonMarketing),
            Keep
        );
    }

    #[test]
    fn refusals_say_who_opted_out() {
        let r = Refusal::new(
            Consent::Subscribed,
            RemoteConsent::Unsubscribed {
                by: OptOutBy::Contact,
            },
        );
        assert!(r.reason.contains("themselves"), "{}", r.reason);
    }

    proptest! {
        /// Whatever is asked, an opted-out contact never gets a permission-granting write.
        #[test]
        fn never_resubscribes(ci in 0usize..9, di in 0usize..4) {
            let current = all_current()[ci];
            let desired = ALL_DESIRED[di];
            match decide(current, desired) {
                ConsentDecision::Set(c) => prop_assert!(!would_resubscribe(current, c)),
                ConsentDecision::Keep => {}
                ConsentDecision::Refuse(r) => {
                    prop_assert!(current.unwrap().is_opted_out());
                    prop_assert_eq!(r.requested, desired);
                }
            }
        }

        /// An unsubscribe is always honoured (set, or already in force).
        #[test]
        fn unsubscribe_always_wins(ci in 0usize..9) {
            let current = all_current()[ci];
            match decide(current, Consent::Unsubscribed) {
                ConsentDecision::Set(Consent::Unsubscribed) => {}
                ConsentDecision::Keep => prop_assert!(current.unwrap().is_opted_out()),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
