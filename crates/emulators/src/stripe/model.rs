//! The emulator's in-memory objects. References between objects are row indices ([`Ix`]) into
//! the owning table, resolved to ids when rendered; strings shared by many objects (emails,
//! names) are `Arc<str>`. Rendering to Stripe's JSON shapes lives in `render/`.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A row index into one of the tables.
pub type Ix = u32;

/// Stripe `metadata`: string keys and values.
pub type Metadata = BTreeMap<String, String>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Customer {
    pub id: Box<str>,
    pub created: i64,
    pub email: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub address: Option<Box<Address>>,
    pub metadata: Metadata,
    pub invoice_prefix: Box<str>,
    pub next_invoice_sequence: u32,
    /// Set once the customer has been charged or subscribed.
    pub currency: Option<&'static str>,
    pub delinquent: bool,
    pub preferred_locales: Vec<String>,
    /// Deleted customers stay as tombstones: retrievable as `{id, object, deleted: true}`,
    /// absent from lists.
    pub deleted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeStatus {
    Succeeded,
    Failed,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Failed => "failed",
        }
    }
}

/// Why a payment failed: Stripe's `failure_code`, `outcome.reason`/decline code and message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: &'static str,
}

pub const DECLINES: [Decline; 3] = [
    Decline {
        code: "card_declined",
        decline_code: "generic_decline",
        message: "Your card was declined.",
    },
    Decline {
        code: "card_declined",
        decline_code: "insufficient_funds",
        message: "Your card has insufficient funds.",
    },
    Decline {
        code: "expired_card",
        decline_code: "expired_card",
        message: "Your card has expired.",
    },
];

/// The test card a payment was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    pub funding: &'static str,
    pub exp_month: u8,
    pub exp_year: u16,
}

#[derive(Clone, Debug)]
pub struct Charge {
    pub id: Box<str>,
    pub created: i64,
    pub customer: Option<Ix>,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: &'static str,
    pub status: ChargeStatus,
    pub description: Option<Arc<str>>,
    pub receipt_email: Option<Arc<str>>,
    pub billing_email: Option<Arc<str>>,
    pub billing_name: Option<Arc<str>>,
    pub failure: Option<Decline>,
    pub payment_intent: Option<Ix>,
    pub invoice: Option<Ix>,
    pub card: Card,
    /// Refunds of this charge, oldest first.
    pub refunds: Vec<Ix>,
    pub metadata: Metadata,
}

#[derive(Clone, Debug)]
pub struct Refund {
    pub id: Box<str>,
    pub created: i64,
    pub charge: Ix,
    pub amount: i64,
    pub currency: &'static str,
    pub reason: Option<&'static str>,
    pub status: &'static str,
    pub metadata: Metadata,
}

#[derive(Clone, Debug)]
pub struct PaymentIntent {
    pub id: Box<str>,
    pub created: i64,
    pub customer: Option<Ix>,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: &'static str,
    /// `succeeded`, `requires_payment_method`, `canceled`, `processing`.
    pub status: &'static str,
    pub latest_charge: Option<Ix>,
    pub invoice: Option<Ix>,
    pub receipt_email: Option<Arc<str>>,
    pub description: Option<Arc<str>>,
    pub last_error: Option<Decline>,
    pub canceled_at: Option<i64>,
    pub metadata: Metadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubStatus::Incomplete => "incomplete",
            SubStatus::IncompleteExpired => "incomplete_expired",
            SubStatus::Trialing => "trialing",
            SubStatus::Active => "active",
            SubStatus::PastDue => "past_due",
            SubStatus::Canceled => "canceled",
            SubStatus::Unpaid => "unpaid",
            SubStatus::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "incomplete" => SubStatus::Incomplete,
            "incomplete_expired" => SubStatus::IncompleteExpired,
            "trialing" => SubStatus::Trialing,
            "active" => SubStatus::Active,
            "past_due" => SubStatus::PastDue,
            "canceled" => SubStatus::Canceled,
            "unpaid" => SubStatus::Unpaid,
            "paused" => SubStatus::Paused,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct SubItem {
    pub id: Box<str>,
    pub created: i64,
    /// Index into the price catalog.
    pub price: u16,
    pub quantity: u32,
}

#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: Box<str>,
    pub created: i64,
    pub customer: Ix,
    pub status: SubStatus,
    pub items: Vec<SubItem>,
    pub currency: &'static str,
    pub start_date: i64,
    pub billing_cycle_anchor: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// `cancellation_details.reason`: `cancellation_requested`, `payment_failed`, …
    pub cancellation_reason: Option<&'static str>,
    pub latest_invoice: Option<Ix>,
    pub metadata: Metadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
        }
    }
}

#[derive(Clone, Debug)]
pub struct InvoiceLine {
    pub id: Box<str>,
    pub price: u16,
    pub amount: i64,
    pub quantity: u32,
    pub period_start: i64,
    pub period_end: i64,
    /// The subscription item billed, for subscription invoices.
    pub sub_item: Option<Box<str>>,
}

#[derive(Clone, Debug)]
pub struct Invoice {
    pub id: Box<str>,
    pub created: i64,
    pub customer: Ix,
    pub subscription: Option<Ix>,
    pub status: InvoiceStatus,
    /// `subscription_create`, `subscription_cycle`, `manual`, …
    pub billing_reason: &'static str,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: &'static str,
    pub customer_email: Option<Arc<str>>,
    pub customer_name: Option<Arc<str>>,
    pub charge: Option<Ix>,
    pub payment_intent: Option<Ix>,
    pub number: Option<Box<str>>,
    pub attempt_count: u32,
    pub period_start: i64,
    pub period_end: i64,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub next_payment_attempt: Option<i64>,
    pub lines: Vec<InvoiceLine>,
    pub metadata: Metadata,
}

#[derive(Clone, Debug)]
pub struct CheckoutSession {
    pub id: Box<str>,
    pub created: i64,
    pub customer: Option<Ix>,
    /// The `customer_email` the session was created with, if any.
    pub customer_email: Option<Arc<str>>,
    /// `customer_details.email` / `.name`: what the buyer entered.
    pub details_email: Option<Arc<str>>,
    pub details_name: Option<Arc<str>>,
    /// `payment`, `subscription` or `setup`.
    pub mode: &'static str,
    /// `open`, `complete` or `expired`.
    pub status: &'static str,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: &'static str,
    pub amount_total: i64,
    pub currency: &'static str,
    pub payment_intent: Option<Ix>,
    pub subscription: Option<Ix>,
    pub invoice: Option<Ix>,
    pub expires_at: i64,
    /// `always`, `if_required` (payment mode) or none.
    pub customer_creation: Option<&'static str>,
    pub metadata: Metadata,
}

/// The object an event carries, as it was when the event happened.
#[derive(Clone, Debug)]
pub enum EventObject {
    Customer(Box<Customer>),
    Charge(Box<Charge>),
    Refund(Box<Refund>),
    PaymentIntent(Box<PaymentIntent>),
    Subscription(Box<Subscription>),
    Invoice(Box<Invoice>),
    CheckoutSession(Box<CheckoutSession>),
}

#[derive(Clone, Debug)]
pub struct Event {
    pub id: Box<str>,
    pub created: i64,
    pub kind: &'static str,
    pub object: EventObject,
    /// `data.previous_attributes` of `*.updated` events.
    pub previous: Option<serde_json::Value>,
    /// The API version the object is rendered in (the account's default when it happened).
    pub api_version: Arc<str>,
    pub request_id: Option<Box<str>>,
    pub idempotency_key: Option<Box<str>>,
    pub pending_webhooks: u32,
}

#[derive(Clone, Debug)]
pub struct WebhookEndpoint {
    pub id: Box<str>,
    pub created: i64,
    pub url: Arc<str>,
    pub enabled_events: Vec<String>,
    pub secret: Arc<str>,
    pub description: Option<String>,
    pub api_version: Option<String>,
    /// `enabled` or `disabled`.
    pub status: &'static str,
    pub metadata: Metadata,
}

impl WebhookEndpoint {
    /// Whether an event of type `kind` goes to this endpoint.
    pub fn wants(&self, kind: &str) -> bool {
        self.status == "enabled" && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}
