//! What paysync keeps of one Stripe object: its snapshot, and the person it belongs to.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::version::ObjectVersion;

/// The Stripe object types paysync reads, by their `object` field. Anything else is kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Customer,
    Charge,
    Refund,
    Subscription,
    Invoice,
    CheckoutSession,
    PaymentIntent,
    Other(String),
}

impl ObjectKind {
    pub fn from_object_field(object: &str) -> Self {
        match object {
            "customer" => ObjectKind::Customer,
            "charge" => ObjectKind::Charge,
            "refund" => ObjectKind::Refund,
            "subscription" => ObjectKind::Subscription,
            "invoice" => ObjectKind::Invoice,
            "checkout.session" => ObjectKind::CheckoutSession,
            "payment_intent" => ObjectKind::PaymentIntent,
            other => ObjectKind::Other(other.to_owned()),
        }
    }

    /// Stripe's own name for the type (the `object` field).
    pub fn as_str(&self) -> &str {
        match self {
            ObjectKind::Customer => "customer",
            ObjectKind::Charge => "charge",
            ObjectKind::Refund => "refund",
            ObjectKind::Subscription => "subscription",
            ObjectKind::Invoice => "invoice",
            ObjectKind::CheckoutSession => "checkout.session",
            ObjectKind::PaymentIntent => "payment_intent",
            ObjectKind::Other(s) => s,
        }
    }

    /// The API path under `/v1/` where objects of this kind are listed and retrieved.
    pub fn api_path(&self) -> Option<&'static str> {
        Some(match self {
            ObjectKind::Customer => "customers",
            ObjectKind::Charge => "charges",
            ObjectKind::Refund => "refunds",
            ObjectKind::Subscription => "subscriptions",
            ObjectKind::Invoice => "invoices",
            ObjectKind::CheckoutSession => "checkout/sessions",
            ObjectKind::PaymentIntent => "payment_intents",
            ObjectKind::Other(_) => return None,
        })
    }
}

/// Whom an object belongs to, as far as the object itself tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// A Stripe customer id.
    Customer(String),
    /// A guest payment (no customer): the normalised email it carries.
    Email(String),
    /// A refund: it belongs to whoever its charge belongs to, which the store looks up.
    Charge(String),
    /// Nothing in the object names a person (kept in the ledger, never pushed).
    Nobody,
}

impl Attribution {
    /// The key stored in the ledger and the dirty set: `cus_…` or `email:<normalised>`.
    /// `Charge` has no key of its own; the store resolves it through the charge.
    pub fn customer_ref(&self) -> Option<String> {
        match self {
            Attribution::Customer(id) => Some(id.clone()),
            Attribution::Email(email) => Some(format!("email:{email}")),
            Attribution::Charge(_) | Attribution::Nobody => None,
        }
    }
}

/// Trim and lowercase: Stripe stores emails as typed, and one person may type them differently.
pub fn normalise_email(email: &str) -> Option<String> {
    let trimmed = email.trim();
    (!trimmed.is_empty() && trimmed.contains('@')).then(|| trimmed.to_lowercase())
}

/// A snapshot of one object, ready for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub object_id: String,
    pub kind: ObjectKind,
    pub attribution: Attribution,
    pub deleted: bool,
    pub version: ObjectVersion,
    /// The normalised email the object itself carries (a customer's, a guest payment's).
    pub email: Option<String>,
    /// The object's JSON exactly as Stripe sent it.
    pub body: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("object is not valid JSON: {0}")]
    Json(String),
    #[error("object has no `id`")]
    NoId,
}

/// The fields of an object that paysync needs before storing it; everything else is skipped unparsed.
#[derive(Deserialize)]
struct ObjectHead<'a> {
    #[serde(borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    object: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    deleted: bool,
    #[serde(borrow, default)]
    status: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    customer: Option<IdOrObject>,
    #[serde(default)]
    charge: Option<IdOrObject>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    receipt_email: Option<String>,
    #[serde(default)]
    customer_email: Option<String>,
    #[serde(default)]
    billing_details: Option<EmailHolder>,
    #[serde(default)]
    customer_details: Option<EmailHolder>,
}

/// Stripe fields such as `customer` are an id, or the object itself when expanded.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn id(self) -> String {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

#[derive(Deserialize)]
struct EmailHolder {
    #[serde(default)]
    email: Option<String>,
}

impl Snapshot {
    /// Reads the parts of `body` paysync needs; `version` says how new it is. An object is deleted
    /// when its body says so (`{"deleted": true}` from the API) or its version does (a `*.deleted`
    /// event carries the object as it was, without the flag); either way the version is terminal.
    pub fn parse(body: &RawValue, mut version: ObjectVersion) -> Result<Self, ObjectError> {
        let head: ObjectHead<'_> =
            serde_json::from_str(body.get()).map_err(|e| ObjectError::Json(e.to_string()))?;
        let object_id = head.id.as_deref().ok_or(ObjectError::NoId)?.to_owned();
        let kind = ObjectKind::from_object_field(head.object.as_deref().unwrap_or(""));
        // A cancelled subscription never becomes active again (Stripe makes a new one), so it is
        // as terminal as a deletion — and Stripe announces it as `customer.subscription.deleted`.
        let ended_subscription = kind == ObjectKind::Subscription
            && matches!(
                head.status.as_deref(),
                Some("canceled" | "incomplete_expired")
            );
        if head.deleted || ended_subscription {
            version.lifecycle = crate::version::Lifecycle::Deleted;
        }
        let deleted = version.is_deletion();
        let email = carried_email(&head);
        let attribution = attribute(&kind, &object_id, head, email.as_deref());
        Ok(Snapshot {
            object_id,
            kind,
            attribution,
            deleted,
            version,
            email,
            body: body.get().to_owned(),
        })
    }
}

/// The email an object carries: a customer's own, or a guest payment's.
fn carried_email(head: &ObjectHead<'_>) -> Option<String> {
    let emails = [
        head.customer_details
            .as_ref()
            .and_then(|d| d.email.as_deref()),
        head.billing_details
            .as_ref()
            .and_then(|d| d.email.as_deref()),
        head.receipt_email.as_deref(),
        head.customer_email.as_deref(),
        head.email.as_deref(),
    ];
    emails.into_iter().flatten().find_map(normalise_email)
}

fn attribute(
    kind: &ObjectKind,
    object_id: &str,
    head: ObjectHead<'_>,
    email: Option<&str>,
) -> Attribution {
    if *kind == ObjectKind::Customer {
        return Attribution::Customer(object_id.to_owned());
    }
    if let Some(customer) = head.customer {
        return Attribution::Customer(customer.id());
    }
    if *kind == ObjectKind::Refund
        && let Some(charge) = head.charge
    {
        return Attribution::Charge(charge.id());
    }
    // Guest payments: Checkout in payment mode, Payment Links, charges without a customer.
    email.map_or(Attribution::Nobody, |e| Attribution::Email(e.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(json: &str) -> Snapshot {
        let raw = RawValue::from_string(json.to_owned()).unwrap();
        Snapshot::parse(&raw, ObjectVersion::of_api_read(0, false)).unwrap()
    }

    #[test]
    fn a_charge_belongs_to_its_customer_even_when_expanded() {
        let s = snap(
            r#"{"id":"ch_1","object":"charge","customer":{"id":"cus_9","object":"customer"}}"#,
        );
        assert_eq!(s.attribution, Attribution::Customer("cus_9".into()));
        assert_eq!(s.kind, ObjectKind::Charge);
    }

    #[test]
    fn a_guest_checkout_belongs_to_its_normalised_email() {
        let s = snap(
            r#"{"id":"cs_1","object":"checkout.session","customer":null,"customer_details":{"email":" Ann@Example.COM "}}"#,
        );
        assert_eq!(s.attribution, Attribution::Email("ann@example.com".into()));
        assert_eq!(
            s.attribution.customer_ref().unwrap(),
            "email:ann@example.com"
        );
    }

    #[test]
    fn a_refund_points_at_its_charge() {
        let s = snap(r#"{"id":"re_1","object":"refund","charge":"ch_7"}"#);
        assert_eq!(s.attribution, Attribution::Charge("ch_7".into()));
    }

    #[test]
    fn an_object_without_id_is_refused() {
        let raw = RawValue::from_string(r#"{"object":"balance"}"#.into()).unwrap();
        let err = Snapshot::parse(&raw, ObjectVersion::of_api_read(0, false)).unwrap_err();
        assert_eq!(err, ObjectError::NoId);
    }

    #[test]
    fn a_cancelled_subscription_is_terminal_however_it_is_read() {
        let s = snap(
            r#"{"id":"sub_1","object":"subscription","status":"canceled","customer":"cus_1"}"#,
        );
        assert!(s.deleted && s.version.is_deletion());
        let s =
            snap(r#"{"id":"sub_1","object":"subscription","status":"active","customer":"cus_1"}"#);
        assert!(!s.deleted);
    }

    #[test]
    fn an_api_tombstone_is_deleted() {
        let s = snap(r#"{"id":"cus_1","object":"customer","deleted":true}"#);
        assert!(s.deleted);
        assert!(s.version.is_deletion());
    }
}
