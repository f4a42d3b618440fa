//! Stripe's JSON shapes, written straight into a byte buffer. Field sets follow fixtures3.json
//! (current shapes); a few fields depend on the request's API version, as on real Stripe:
//! - before 2022-11-15, `charge.refunds` is included without `expand[]=refunds`;
//! - before 2025-03-31 (basil), subscriptions carry `current_period_start/end` (since then only
//!   their items do) and invoices carry `subscription`, `charge`, `payment_intent` and `paid`
//!   (since then `parent.subscription_details`), and charges/payment intents carry `invoice`.
//!
//! Responses put `id` and `object` first, then the other fields alphabetically, as the API does.

mod catalog;
mod charge;
mod checkout;
mod customer;
mod event;
mod invoice;
mod payment_intent;
mod subscription;

pub use catalog::{price, product};
pub use charge::{charge, refund};
pub use checkout::checkout_session;
pub use customer::{customer, deleted_customer};
pub use event::{event, webhook_endpoint};
pub use invoice::invoice;
pub use payment_intent::payment_intent;
pub use subscription::subscription;

use super::json::Obj;
use super::model::{EventObject, Ix};
use super::state::State;

/// Everything a renderer needs: the state (to resolve references), the API version and the
/// `expand[]` paths relative to the object being rendered.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub st: &'a State,
    pub version: &'a str,
    pub expand: &'a [String],
}

impl<'a> Ctx<'a> {
    pub fn new(st: &'a State, version: &'a str, expand: &'a [String]) -> Self {
        Self {
            st,
            version,
            expand,
        }
    }

    fn date(&self) -> &str {
        self.version.get(..10).unwrap_or(self.version)
    }

    /// API 2025-03-31.basil or later.
    pub fn basil(&self) -> bool {
        self.date() >= "2025-03-31"
    }

    /// Before 2022-11-15, charges embed their refunds without being asked.
    pub fn refunds_by_default(&self) -> bool {
        self.date() < "2022-11-15"
    }

    pub fn expands(&self, field: &str) -> bool {
        self.expand
            .iter()
            .any(|p| p == field || child_of(p, field).is_some())
    }

    /// The expand paths under `field.`.
    pub fn child_paths(&self, field: &str) -> Vec<String> {
        self.expand
            .iter()
            .filter_map(|p| child_of(p, field).map(str::to_owned))
            .collect()
    }
}

fn child_of<'p>(path: &'p str, field: &str) -> Option<&'p str> {
    path.strip_prefix(field)?.strip_prefix('.')
}

/// Writes a reference field: the id, `null`, or the expanded object when `expand[]` asks.
pub(crate) fn reference(
    o: &mut Obj<'_>,
    c: &Ctx<'_>,
    field: &str,
    ix: Option<Ix>,
    id_of: fn(&State, Ix) -> &str,
    render: fn(&Ctx<'_>, Ix, &mut Vec<u8>),
) {
    match ix {
        None => {
            o.null(field);
        }
        Some(ix) if c.expands(field) => {
            let sub = c.child_paths(field);
            let cc = Ctx { expand: &sub, ..*c };
            o.with(field, |out| render(&cc, ix, out));
        }
        Some(ix) => {
            o.str(field, id_of(c.st, ix));
        }
    }
}

/// Renders the object an event carries.
pub fn event_object(c: &Ctx<'_>, obj: &EventObject, out: &mut Vec<u8>) {
    match obj {
        EventObject::Customer(x) => customer(c, x, out),
        EventObject::Charge(x) => charge(c, x, out),
        EventObject::Refund(x) => refund(c, x, out),
        EventObject::PaymentIntent(x) => payment_intent(c, x, out),
        EventObject::Subscription(x) => subscription(c, x, out),
        EventObject::Invoice(x) => invoice(c, x, out),
        EventObject::CheckoutSession(x) => checkout_session(c, x, out),
    }
}

pub(crate) const NULL_ADDRESS: &str =
    r#"{"city":null,"country":null,"line1":null,"line2":null,"postal_code":null,"state":null}"#;
