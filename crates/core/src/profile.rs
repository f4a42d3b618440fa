//! A person's profile: the pure fold of their Stripe objects into identity and payment facts.
//!
//! The fold is order-independent (objects are taken in id order, totals are sums, "first"/"last"
//! are minima/maxima with the object id as tiebreak), so the same objects give the same profile
//! however they reached the ledger. Objects are read through small typed views that tolerate both
//! current and older API shapes (localstripe renders 2017 shapes: plan-based subscriptions,
//! `refunds` embedded in charges; newer versions move subscription periods onto the items).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::object::{ObjectKind, normalise_email};

/// One ledger object of the person, as the fold needs it.
#[derive(Debug, Clone)]
pub struct PersonObject<'a> {
    pub kind: ObjectKind,
    pub object_id: &'a str,
    pub body: &'a str,
    pub deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub identity: Identity,
    /// Totals per lowercase currency code, in minor units.
    pub money: BTreeMap<String, CurrencyTotals>,
    pub payments: PaymentFacts,
    /// Every charge (succeeded or failed) and refund, oldest first, for windowed conditions.
    pub charges: Vec<ChargeRecord>,
    pub refunds: Vec<RefundRecord>,
    pub subscriptions: Vec<SubscriptionFact>,
    pub invoices: InvoiceFacts,
    pub checkouts: CheckoutFacts,
    /// Event types seen for this person, with the last time (unix seconds) each was seen.
    pub events_seen: BTreeMap<String, i64>,
    /// Objects whose body could not be read (kept out of the facts, counted for status).
    pub unreadable_objects: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Normalised (trimmed, lowercase).
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    /// Metadata of the person's customers; on a key clash the newest customer wins.
    pub metadata: BTreeMap<String, String>,
    /// The person's Stripe customer ids, oldest first.
    pub customer_ids: Vec<String>,
    /// When the oldest customer was created (unix seconds).
    pub created: Option<i64>,
    /// Every customer of the person is deleted (and there was at least one).
    pub deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    /// Sum of successful payments, before refunds.
    pub paid: i64,
    pub refunded: i64,
    pub payments: u32,
    pub refunds: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PaymentFacts {
    pub first_payment_at: Option<i64>,
    pub last_payment_at: Option<i64>,
    pub last_refund_at: Option<i64>,
    pub failed_payments: u32,
    pub last_failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub at: i64,
    /// Stripe's failure code (e.g. `card_declined`), if any.
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeRecord {
    pub id: String,
    pub amount: i64,
    /// Lowercase currency code.
    pub currency: String,
    pub created: i64,
    pub succeeded: bool,
    pub amount_refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRecord {
    pub amount: i64,
    pub currency: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionFact {
    pub id: String,
    pub status: String,
    pub items: Vec<SubscriptionItem>,
    pub started_at: Option<i64>,
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub cancel_at: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionItem {
    /// The price id, or the plan id in older API versions.
    pub price: Option<String>,
    pub product: Option<String>,
    pub nickname: Option<String>,
    pub interval: Option<String>,
    pub unit_amount: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvoiceFacts {
    pub paid: u32,
    /// Open invoices that a payment attempt failed on, and uncollectible ones.
    pub failed: u32,
    pub last_paid_at: Option<i64>,
    pub last_failed_at: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckoutFacts {
    pub completed: u32,
    pub last_completed_at: Option<i64>,
}

/// `customer`-like fields: an id, or the expanded object.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn id(&self) -> &str {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

#[derive(Deserialize)]
struct CustomerView {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    address: Option<Address>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    created: Option<i64>,
}

#[derive(Deserialize)]
struct ChargeView {
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    amount_refunded: i64,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    failure_code: Option<String>,
    #[serde(default)]
    failure_message: Option<String>,
}

#[derive(Deserialize)]
struct RefundView {
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    charge: Option<IdOrObject>,
}

#[derive(Deserialize)]
struct PaymentIntentView {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
    #[serde(default)]
    latest_charge: Option<IdOrObject>,
}

#[derive(Deserialize)]
struct PaymentError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct SubscriptionView {
    #[serde(default)]
    status: String,
    #[serde(default)]
    items: Option<ItemList>,
    /// Older API versions: one plan per subscription.
    #[serde(default)]
    plan: Option<PriceView>,
    #[serde(default)]
    start_date: Option<i64>,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
    #[serde(default)]
    trial_end: Option<i64>,
    #[serde(default)]
    cancel_at: Option<i64>,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    canceled_at: Option<i64>,
    #[serde(default)]
    ended_at: Option<i64>,
}

#[derive(Deserialize)]
struct ItemList {
    #[serde(default)]
    data: Vec<ItemView>,
}

#[derive(Deserialize)]
struct ItemView {
    #[serde(default)]
    price: Option<PriceView>,
    #[serde(default)]
    plan: Option<PriceView>,
    /// From API 2025-03-31 the period lives on the items.
    #[serde(default)]
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct PriceView {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    product: Option<IdOrObject>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    recurring: Option<Recurring>,
    /// Plans call the interval and amount differently from prices.
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    unit_amount: Option<i64>,
    #[serde(default)]
    amount: Option<i64>,
}

#[derive(Deserialize)]
struct Recurring {
    #[serde(default)]
    interval: Option<String>,
}

#[derive(Deserialize)]
struct InvoiceView {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    attempt_count: u32,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    status_transitions: Option<StatusTransitions>,
}

#[derive(Deserialize)]
struct StatusTransitions {
    #[serde(default)]
    paid_at: Option<i64>,
}

#[derive(Deserialize)]
struct CheckoutView {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    customer_details: Option<EmailHolder>,
}

#[derive(Deserialize)]
struct EmailHolder {
    #[serde(default)]
    email: Option<String>,
}

fn max_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.max(b)))
}

fn min_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl PriceView {
    fn item(&self) -> SubscriptionItem {
        SubscriptionItem {
            price: self.id.clone(),
            product: self.product.as_ref().map(|p| p.id().to_owned()),
            nickname: self.nickname.clone(),
            interval: self
                .recurring
                .as_ref()
                .and_then(|r| r.interval.clone())
                .or_else(|| self.interval.clone()),
            unit_amount: self.unit_amount.or(self.amount),
        }
    }
}

/// Folds a person's objects (in any order) and the event types seen for them into a profile.
pub fn fold(objects: &[PersonObject<'_>], events_seen: &[(String, i64)]) -> Profile {
    let mut sorted: Vec<&PersonObject<'_>> = objects.iter().collect();
    sorted.sort_by(|a, b| a.object_id.cmp(b.object_id));
    let mut p = Profile::default();
    let mut fold = Fold::default();
    for object in sorted {
        if fold.add(&mut p, object).is_err() {
            p.unreadable_objects += 1;
        }
    }
    fold.finish(&mut p);
    for (event_type, at) in events_seen {
        let last = p.events_seen.entry(event_type.clone()).or_insert(*at);
        *last = (*last).max(*at);
    }
    p
}

/// State the fold keeps beside the profile until every object has been seen.
#[derive(Default)]
struct Fold {
    /// (created, customer id, deleted, view) of every customer.
    customers: Vec<(i64, String, bool, CustomerView)>,
    /// Charges with their refunded amount, for refunds known only through the charge.
    charge_refunds: BTreeMap<String, (String, i64, i64)>,
    charges_with_refund_objects: std::collections::BTreeSet<String>,
    /// Failed payment intents (id of their charge, if any), counted only when no failed charge is.
    failed_intents: Vec<(Option<String>, Failure)>,
    failed_charges: std::collections::BTreeSet<String>,
    /// Emails seen on guest objects, used when the person has no customer.
    guest_emails: Vec<String>,
}

impl Fold {
    fn add(&mut self, p: &mut Profile, o: &PersonObject<'_>) -> serde_json::Result<()> {
        match o.kind {
            ObjectKind::Customer => {
                let v: CustomerView = serde_json::from_str(o.body)?;
                self.customers
                    .push((v.created.unwrap_or(0), o.object_id.to_owned(), o.deleted, v));
            }
            ObjectKind::Charge => {
                let v: ChargeView = serde_json::from_str(o.body)?;
                let currency = v.currency.to_lowercase();
                if matches!(v.status.as_deref(), Some("succeeded" | "failed")) {
                    p.charges.push(ChargeRecord {
                        id: o.object_id.to_owned(),
                        amount: v.amount,
                        currency: currency.clone(),
                        created: v.created,
                        succeeded: v.status.as_deref() == Some("succeeded"),
                        amount_refunded: v.amount_refunded,
                    });
                }
                match v.status.as_deref() {
                    Some("succeeded") => {
                        let t = p.money.entry(currency.clone()).or_default();
                        t.paid += v.amount;
                        t.payments += 1;
                        p.payments.first_payment_at =
                            min_opt(p.payments.first_payment_at, v.created);
                        p.payments.last_payment_at = max_opt(p.payments.last_payment_at, v.created);
                        if v.amount_refunded > 0 {
                            self.charge_refunds.insert(
                                o.object_id.to_owned(),
                                (currency, v.amount_refunded, v.created),
                            );
                        }
                    }
                    Some("failed") => {
                        self.failed_charges.insert(o.object_id.to_owned());
                        record_failure(
                            p,
                            Failure {
                                at: v.created,
                                code: v.failure_code,
                                message: v.failure_message,
                            },
                        );
                    }
                    _ => {}
                }
            }
            ObjectKind::Refund => {
                let v: RefundView = serde_json::from_str(o.body)?;
                if matches!(v.status.as_deref(), Some("failed" | "canceled")) {
                    return Ok(());
                }
                if let Some(charge) = &v.charge {
                    self.charges_with_refund_objects
                        .insert(charge.id().to_owned());
                }
                let currency = v.currency.to_lowercase();
                let t = p.money.entry(currency.clone()).or_default();
                t.refunded += v.amount;
                t.refunds += 1;
                p.payments.last_refund_at = max_opt(p.payments.last_refund_at, v.created);
                p.refunds.push(RefundRecord {
                    amount: v.amount,
                    currency,
                    created: v.created,
                });
            }
            ObjectKind::PaymentIntent => {
                let v: PaymentIntentView = serde_json::from_str(o.body)?;
                if let Some(error) = v.last_payment_error {
                    let failed_now = matches!(
                        v.status.as_deref(),
                        Some("requires_payment_method" | "canceled")
                    );
                    if failed_now {
                        let charge = v.latest_charge.as_ref().map(|c| c.id().to_owned());
                        let failure = Failure {
                            at: v.created,
                            code: error.code,
                            message: error.message,
                        };
                        self.failed_intents.push((charge, failure));
                    }
                }
            }
            ObjectKind::Subscription => {
                let v: SubscriptionView = serde_json::from_str(o.body)?;
                p.subscriptions.push(subscription_fact(o.object_id, v));
            }
            ObjectKind::Invoice => {
                let v: InvoiceView = serde_json::from_str(o.body)?;
                match v.status.as_deref() {
                    Some("paid") => {
                        p.invoices.paid += 1;
                        let at = v
                            .status_transitions
                            .and_then(|s| s.paid_at)
                            .unwrap_or(v.created);
                        p.invoices.last_paid_at = max_opt(p.invoices.last_paid_at, at);
                    }
                    Some("open") if v.attempt_count > 0 => {
                        p.invoices.failed += 1;
                        p.invoices.last_failed_at = max_opt(p.invoices.last_failed_at, v.created);
                    }
                    Some("uncollectible") => {
                        p.invoices.failed += 1;
                        p.invoices.last_failed_at = max_opt(p.invoices.last_failed_at, v.created);
                    }
                    _ => {}
                }
            }
            ObjectKind::CheckoutSession => {
                let v: CheckoutView = serde_json::from_str(o.body)?;
                if v.status.as_deref() == Some("complete")
                    && v.payment_status.as_deref() != Some("unpaid")
                {
                    p.checkouts.completed += 1;
                    p.checkouts.last_completed_at =
                        max_opt(p.checkouts.last_completed_at, v.created);
                }
                if let Some(email) = v
                    .customer_details
                    .and_then(|d| d.email)
                    .and_then(|e| normalise_email(&e))
                {
                    self.guest_emails.push(email);
                }
            }
            ObjectKind::Other(_) => {}
        }
        Ok(())
    }

    fn finish(mut self, p: &mut Profile) {
        // Refunds known only through their charge's `amount_refunded` (no refund object stored).
        for (charge, (currency, amount, created)) in &self.charge_refunds {
            if !self.charges_with_refund_objects.contains(charge) {
                let t = p.money.entry(currency.clone()).or_default();
                t.refunded += amount;
                t.refunds += 1;
                p.payments.last_refund_at = max_opt(p.payments.last_refund_at, *created);
                p.refunds.push(RefundRecord {
                    amount: *amount,
                    currency: currency.clone(),
                    created: *created,
                });
            }
        }
        p.charges
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        p.refunds.sort_by(|a, b| {
            (a.created, a.amount, &a.currency).cmp(&(b.created, b.amount, &b.currency))
        });
        // A failed payment intent whose charge is stored as failed is the same failure.
        for (charge, failure) in std::mem::take(&mut self.failed_intents) {
            if charge.is_none_or(|c| !self.failed_charges.contains(&c)) {
                record_failure(p, failure);
            }
        }
        p.subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        self.finish_identity(p);
    }

    fn finish_identity(self, p: &mut Profile) {
        let mut customers = self.customers;
        // Oldest first; the newest customer's non-empty values win.
        customers.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let identity = &mut p.identity;
        identity.deleted = !customers.is_empty() && customers.iter().all(|c| c.2);
        identity.created = customers.first().map(|c| c.0);
        for (_, id, deleted, v) in customers {
            identity.customer_ids.push(id);
            if deleted && !identity.deleted {
                // A deleted customer's details don't override those of a live one.
                continue;
            }
            let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
            if let Some(email) = v.email.as_deref().and_then(normalise_email) {
                identity.email = Some(email);
            }
            identity.name = non_empty(v.name).or(identity.name.take());
            identity.phone = non_empty(v.phone).or(identity.phone.take());
            if v.address.as_ref().is_some_and(|a| *a != Address::default()) {
                identity.address = v.address;
            }
            for (key, value) in v.metadata {
                let value = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                identity.metadata.insert(key, value);
            }
        }
        if identity.email.is_none() {
            identity.email = self.guest_emails.into_iter().min();
        }
    }
}

fn record_failure(p: &mut Profile, failure: Failure) {
    p.payments.failed_payments += 1;
    let newer = p.payments.last_failure.as_ref().is_none_or(|last| {
        (failure.at, &failure.code, &failure.message) > (last.at, &last.code, &last.message)
    });
    if newer {
        p.payments.last_failure = Some(failure);
    }
}

fn subscription_fact(id: &str, v: SubscriptionView) -> SubscriptionFact {
    let mut items: Vec<SubscriptionItem> = v
        .items
        .as_ref()
        .map(|list| {
            list.data
                .iter()
                .filter_map(|i| i.price.as_ref().or(i.plan.as_ref()).map(PriceView::item))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        items.extend(v.plan.as_ref().map(PriceView::item));
    }
    let item_period_end = v
        .items
        .as_ref()
        .and_then(|list| list.data.iter().filter_map(|i| i.current_period_end).max());
    SubscriptionFact {
        id: id.to_owned(),
        status: v.status,
        items,
        started_at: v.start_date.or(v.created),
        current_period_end: v.current_period_end.or(item_period_end),
        trial_end: v.trial_end,
        cancel_at: v.cancel_at,
        cancel_at_period_end: v.cancel_at_period_end,
        canceled_at: v.canceled_at,
        ended_at: v.ended_at,
    }
}

#[cfg(test)]
mod tests;
