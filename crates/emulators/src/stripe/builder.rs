//! Creating objects the way Stripe's flows do, with the events each step produces: used by the
//! seeder (history, events only for the retention window, no webhooks) and by live activity
//! (events published and delivered).

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::ids::{self, IdKind, new_id};
use super::model::{
    Card, Charge, ChargeStatus, CheckoutSession, Customer, Decline, Event, EventObject, Invoice,
    InvoiceLine, InvoiceStatus, Ix, Metadata, PaymentIntent, Refund, SubItem, SubStatus,
    Subscription,
};
use super::reads::EVENT_RETENTION_SECS;
use super::seed_data::{CARDS, period_end, pick};
use super::state::State;
use super::webhooks::{Delivery, publish};

pub struct Builder<'a> {
    pub st: &'a mut State,
    pub rng: StdRng,
    /// Event ids have their own stream, so that a dataset's objects do not depend on whether
    /// its events are recorded.
    event_rng: StdRng,
    pub now: i64,
    /// Live: events are published (webhooks); otherwise stored quietly (seeded history).
    pub live: bool,
    /// Seeded events are kept only from here on (the Events API's 30 days).
    pub event_floor: i64,
    pub record_events: bool,
    pub deliveries: Vec<Delivery>,
    pub events: usize,
}

impl<'a> Builder<'a> {
    pub fn seeding(st: &'a mut State, mut rng: StdRng, now: i64, record_events: bool) -> Self {
        let event_rng = StdRng::seed_from_u64(rng.random());
        Self {
            st,
            rng,
            event_rng,
            now,
            live: false,
            event_floor: now - EVENT_RETENTION_SECS,
            record_events,
            deliveries: Vec::new(),
            events: 0,
        }
    }

    pub fn live(st: &'a mut State, rng: StdRng, now: i64) -> Self {
        Self {
            live: true,
            ..Self::seeding(st, rng, now, true)
        }
    }

    pub fn id(&mut self, kind: IdKind) -> Box<str> {
        new_id(&mut self.rng, kind)
    }

    fn event(&mut self, t: i64, kind: &'static str, object: EventObject, prev: Option<Value>) {
        if !self.record_events || t < self.event_floor || t > self.now {
            return;
        }
        self.events += 1;
        if self.live {
            let d = publish(self.st, t, kind, object, prev, None);
            self.deliveries.extend(d);
        } else {
            let id = new_id(&mut self.event_rng, ids::EVENT);
            let api_version = self.st.api_version.clone();
            self.st.events.insert(Event {
                id,
                created: t,
                kind,
                object,
                previous: prev,
                api_version,
                request_id: None,
                idempotency_key: None,
                pending_webhooks: 0,
            });
        }
    }

    pub fn card(&mut self) -> Card {
        *pick(&mut self.rng, CARDS)
    }

    pub fn customer(
        &mut self,
        created: i64,
        email: Option<Arc<str>>,
        name: Option<Arc<str>>,
        metadata: Metadata,
        extra: impl FnOnce(&mut Customer),
    ) -> Ix {
        let id = self.id(ids::CUSTOMER);
        let prefix: String = self
            .id(IdKind("", 8))
            .to_ascii_uppercase()
            .chars()
            .collect();
        let mut cu = Customer {
            id,
            created,
            email,
            name,
            phone: None,
            description: None,
            address: None,
            metadata,
            invoice_prefix: prefix.into(),
            next_invoice_sequence: 1,
            currency: None,
            delinquent: false,
            preferred_locales: Vec::new(),
            deleted: false,
        };
        extra(&mut cu);
        let ix = self.st.insert_customer(cu);
        let snap = self.st.snapshot_customer(ix);
        self.event(created, "customer.created", snap, None);
        ix
    }

    /// A customer change with its `customer.updated` event (`previous` built by `f`).
    pub fn update_customer(&mut self, c: Ix, t: i64, f: impl FnOnce(&mut Customer) -> Value) {
        let old_email = self.st.customers.get(c).email.clone();
        let prev = f(self.st.customers.get_mut(c));
        let new_email = self.st.customers.get(c).email.clone();
        if old_email != new_email {
            if let Some(e) = &old_email {
                self.st.unindex_email(c, e);
            }
            if let Some(e) = new_email {
                self.st.index_email(c, e);
            }
        }
        let snap = self.st.snapshot_customer(c);
        self.event(t, "customer.updated", snap, Some(prev));
    }

    pub fn delete_customer(&mut self, c: Ix, t: i64) {
        let snap = self.st.snapshot_customer(c);
        self.st.customers.get_mut(c).deleted = true;
        self.event(t, "customer.deleted", snap, None);
    }

    /// A card payment (PaymentIntent + Charge) that succeeds, or fails with `fail`.
    #[allow(clippy::too_many_arguments)]
    pub fn payment(
        &mut self,
        t: i64,
        customer: Option<Ix>,
        amount: i64,
        description: Option<Arc<str>>,
        email: Option<Arc<str>>,
        name: Option<Arc<str>>,
        fail: Option<Decline>,
        invoice: Option<Ix>,
    ) -> (Ix, Ix) {
        let card = self.card();
        let pi_id = self.id(ids::PAYMENT_INTENT);
        let pi = self.st.payment_intents.insert(PaymentIntent {
            id: pi_id,
            created: t,
            customer,
            amount,
            amount_received: 0,
            currency: "usd",
            status: "requires_payment_method",
            latest_charge: None,
            invoice,
            receipt_email: if customer.is_none() {
                email.clone()
            } else {
                None
            },
            description: description.clone(),
            last_error: None,
            canceled_at: None,
            metadata: Metadata::new(),
        });
        let snap = self.st.snapshot_payment_intent(pi);
        self.event(t, "payment_intent.created", snap, None);
        let ch_id = self.id(ids::CHARGE);
        let ch = self.st.charges.insert(Charge {
            id: ch_id,
            created: t,
            customer,
            amount,
            amount_refunded: 0,
            currency: "usd",
            status: if fail.is_some() {
                ChargeStatus::Failed
            } else {
                ChargeStatus::Succeeded
            },
            description,
            receipt_email: if customer.is_none() {
                email.clone()
            } else {
                None
            },
            billing_email: email,
            billing_name: name,
            failure: fail,
            payment_intent: Some(pi),
            invoice,
            card,
            refunds: Vec::new(),
            metadata: Metadata::new(),
        });
        {
            let p = self.st.payment_intents.get_mut(pi);
            p.latest_charge = Some(ch);
            match fail {
                None => {
                    p.status = "succeeded";
                    p.amount_received = amount;
                }
                Some(d) => p.last_error = Some(d),
            }
        }
        if let Some(c) = customer {
            self.st.customers.get_mut(c).currency = Some("usd");
        }
        let snap = self.st.snapshot_charge(ch);
        self.event(
            t,
            if fail.is_some() {
                "charge.failed"
            } else {
                "charge.succeeded"
            },
            snap,
            None,
        );
        let snap = self.st.snapshot_payment_intent(pi);
        self.event(
            t,
            if fail.is_some() {
                "payment_intent.payment_failed"
            } else {
                "payment_intent.succeeded"
            },
            snap,
            None,
        );
        (pi, ch)
    }

    pub fn refund(&mut self, ch: Ix, t: i64, amount: i64, reason: Option<&'static str>) -> Ix {
        let id = self.id(ids::REFUND);
        let re = self.st.refunds.insert(Refund {
            id,
            created: t,
            charge: ch,
            amount,
            currency: "usd",
            reason,
            status: "succeeded",
            metadata: Metadata::new(),
        });
        let old = {
            let c = self.st.charges.get_mut(ch);
            let old = c.amount_refunded;
            c.amount_refunded += amount;
            c.refunds.push(re);
            old
        };
        let snap = self.st.snapshot_refund(re);
        self.event(t, "refund.created", snap, None);
        let snap = self.st.snapshot_charge(ch);
        self.event(
            t,
            "charge.refunded",
            snap,
            Some(json!({"amount_refunded": old})),
        );
        re
    }

    #[allow(clippy::too_many_arguments)]
    pub fn checkout(
        &mut self,
        t: i64,
        customer: Option<Ix>,
        mode: &'static str,
        email: Option<Arc<str>>,
        name: Option<Arc<str>>,
        amount: i64,
        payment_intent: Option<Ix>,
        subscription: Option<Ix>,
        invoice: Option<Ix>,
    ) -> Ix {
        let id = self.id(ids::CHECKOUT_SESSION);
        let s = self.st.sessions.insert(CheckoutSession {
            id,
            created: t.saturating_sub(self.rng.random_range(30..900)),
            customer,
            customer_email: None,
            details_email: email,
            details_name: name,
            mode,
            status: "complete",
            payment_status: "paid",
            amount_total: amount,
            currency: "usd",
            payment_intent,
            subscription,
            invoice,
            expires_at: t + 86_400,
            customer_creation: (mode == "payment").then_some("if_required"),
            metadata: Metadata::new(),
        });
        let snap = self.st.snapshot_session(s);
        self.event(t, "checkout.session.completed", snap, None);
        s
    }

    fn invoice_number(&mut self, c: Ix) -> Box<str> {
        let cu = self.st.customers.get_mut(c);
        let n = cu.next_invoice_sequence;
        cu.next_invoice_sequence += 1;
        format!("{}-{:04}", cu.invoice_prefix, n).into()
    }

    /// A subscription invoice for one period, paid (or failed with `fail`).
    fn sub_invoice(
        &mut self,
        s: Ix,
        t: i64,
        reason: &'static str,
        amount: i64,
        fail: Option<Decline>,
    ) -> Ix {
        let (c, price, qty, sub_item, ps, pe) = {
            let sub = self.st.subscriptions.get(s);
            let it = &sub.items[0];
            (
                sub.customer,
                it.price,
                it.quantity,
                it.id.clone(),
                sub.current_period_start,
                sub.current_period_end,
            )
        };
        let (email, name) = {
            let cu = self.st.customers.get(c);
            (cu.email.clone(), cu.name.clone())
        };
        let number = self.invoice_number(c);
        let id = self.id(ids::INVOICE);
        let line_id = self.id(ids::INVOICE_LINE);
        let inv = self.st.invoices.insert(Invoice {
            id,
            created: t,
            customer: c,
            subscription: Some(s),
            status: InvoiceStatus::Open,
            billing_reason: reason,
            amount_due: amount,
            amount_paid: 0,
            currency: "usd",
            customer_email: email.clone(),
            customer_name: name.clone(),
            charge: None,
            payment_intent: None,
            number: Some(number),
            attempt_count: 0,
            period_start: ps,
            period_end: pe,
            finalized_at: Some(t),
            paid_at: None,
            next_payment_attempt: None,
            lines: vec![InvoiceLine {
                id: line_id,
                price,
                amount,
                quantity: qty,
                period_start: ps,
                period_end: pe,
                sub_item: Some(sub_item),
            }],
            metadata: Metadata::new(),
        });
        self.st.subscriptions.get_mut(s).latest_invoice = Some(inv);
        let snap = self.st.snapshot_invoice(inv);
        self.event(t, "invoice.created", snap, None);
        let snap = self.st.snapshot_invoice(inv);
        self.event(t, "invoice.finalized", snap, None);
        if amount > 0 {
            let desc: Arc<str> = Arc::from(if reason == "subscription_create" {
                "Subscription creation"
            } else {
                "Subscription update"
            });
            let (pi, ch) =
                self.payment(t, Some(c), amount, Some(desc), email, name, fail, Some(inv));
            let i = self.st.invoices.get_mut(inv);
            i.charge = Some(ch);
            i.payment_intent = Some(pi);
            i.attempt_count = 1;
        }
        match fail {
            None => {
                let i = self.st.invoices.get_mut(inv);
                i.status = InvoiceStatus::Paid;
                i.amount_paid = amount;
                i.paid_at = Some(t);
                let snap = self.st.snapshot_invoice(inv);
                self.event(t, "invoice.paid", snap.clone(), None);
                self.event(t, "invoice.payment_succeeded", snap, None);
            }
            Some(_) => {
                let i = self.st.invoices.get_mut(inv);
                i.next_payment_attempt = Some(t + 3 * 86_400);
                let snap = self.st.snapshot_invoice(inv);
                self.event(t, "invoice.payment_failed", snap, None);
            }
        }
        inv
    }

    /// Starts a subscription at `start` (a trial until `trial_end` if given), with its first
    /// invoice.
    pub fn subscribe(
        &mut self,
        c: Ix,
        start: i64,
        price: u16,
        qty: u32,
        trial_end: Option<i64>,
    ) -> Ix {
        let (interval, count) = self.st.catalog.prices[price as usize]
            .recurring
            .unwrap_or(("month", 1));
        let unit = self.st.catalog.prices[price as usize].unit_amount;
        let first_end = trial_end.unwrap_or_else(|| period_end(start, interval, count));
        let id = self.id(ids::SUBSCRIPTION);
        let item_id = self.id(ids::SUBSCRIPTION_ITEM);
        let s = self.st.subscriptions.insert(Subscription {
            id,
            created: start,
            customer: c,
            status: if trial_end.is_some() {
                SubStatus::Trialing
            } else {
                SubStatus::Active
            },
            items: vec![SubItem {
                id: item_id,
                created: start,
                price,
                quantity: qty,
            }],
            currency: "usd",
            start_date: start,
            billing_cycle_anchor: trial_end.unwrap_or(start),
            current_period_start: start,
            current_period_end: first_end,
            trial_start: trial_end.map(|_| start),
            trial_end,
            cancel_at_period_end: false,
            cancel_at: None,
            canceled_at: None,
            ended_at: None,
            cancellation_reason: None,
            latest_invoice: None,
            metadata: Metadata::new(),
        });
        self.st.customers.get_mut(c).currency = Some("usd");
        let snap = self.st.snapshot_subscription(s);
        self.event(start, "customer.subscription.created", snap, None);
        let amount = if trial_end.is_some() {
            0
        } else {
            unit * qty as i64
        };
        self.sub_invoice(s, start, "subscription_create", amount, None);
        s
    }

    /// The next period starts at the current period's end: invoice and payment (failing with
    /// `fail`, which makes the subscription `past_due`).
    pub fn renew(&mut self, s: Ix, fail: Option<Decline>) {
        let (t, price, qty, old_status, old_invoice) = {
            let sub = self.st.subscriptions.get(s);
            (
                sub.current_period_end,
                sub.items[0].price,
                sub.items[0].quantity,
                sub.status,
                sub.latest_invoice,
            )
        };
        let p = &self.st.catalog.prices[price as usize];
        let (interval, count) = p.recurring.unwrap_or(("month", 1));
        let amount = p.unit_amount * qty as i64;
        {
            let sub = self.st.subscriptions.get_mut(s);
            sub.current_period_start = t;
            sub.current_period_end = period_end(t, interval, count);
        }
        self.sub_invoice(s, t, "subscription_cycle", amount, fail);
        let new_status = match (old_status, fail) {
            (_, Some(_)) => SubStatus::PastDue,
            (SubStatus::Trialing | SubStatus::PastDue, None) => SubStatus::Active,
            (st, None) => st,
        };
        let mut prev = serde_json::Map::new();
        if new_status != old_status {
            prev.insert("status".into(), Value::String(old_status.as_str().into()));
        }
        if let Some(old) = old_invoice {
            prev.insert(
                "latest_invoice".into(),
                Value::String(self.st.invoices.get(old).id.to_string()),
            );
        }
        let c = {
            let sub = self.st.subscriptions.get_mut(s);
            sub.status = new_status;
            sub.customer
        };
        if fail.is_some() {
            self.st.customers.get_mut(c).delinquent = true;
        }
        let snap = self.st.snapshot_subscription(s);
        self.event(
            t,
            "customer.subscription.updated",
            snap,
            Some(Value::Object(prev)),
        );
    }

    pub fn trial_will_end(&mut self, s: Ix, t: i64) {
        let snap = self.st.snapshot_subscription(s);
        self.event(t, "customer.subscription.trial_will_end", snap, None);
    }

    /// The customer asks to cancel at the end of the current period.
    pub fn cancel_at_period_end(&mut self, s: Ix, t: i64) {
        let sub = self.st.subscriptions.get_mut(s);
        sub.cancel_at_period_end = true;
        sub.cancel_at = Some(sub.current_period_end);
        sub.canceled_at = Some(t);
        sub.cancellation_reason = Some("cancellation_requested");
        let snap = self.st.snapshot_subscription(s);
        self.event(
            t,
            "customer.subscription.updated",
            snap,
            Some(json!({
                "cancel_at": null, "cancel_at_period_end": false, "canceled_at": null,
                "cancellation_details": {"reason": null},
            })),
        );
    }

    /// Undoes a scheduled cancellation.
    pub fn resume(&mut self, s: Ix, t: i64) {
        let sub = self.st.subscriptions.get_mut(s);
        let prev = json!({
            "cancel_at": sub.cancel_at, "cancel_at_period_end": true, "canceled_at": sub.canceled_at,
            "cancellation_details": {"reason": sub.cancellation_reason},
        });
        sub.cancel_at_period_end = false;
        sub.cancel_at = None;
        sub.canceled_at = None;
        sub.cancellation_reason = None;
        let snap = self.st.snapshot_subscription(s);
        self.event(t, "customer.subscription.updated", snap, Some(prev));
    }

    /// The subscription ends now (`customer.subscription.deleted`).
    pub fn end(&mut self, s: Ix, t: i64, reason: &'static str) {
        let sub = self.st.subscriptions.get_mut(s);
        sub.status = SubStatus::Canceled;
        sub.ended_at = Some(t);
        sub.canceled_at = Some(sub.canceled_at.unwrap_or(t));
        sub.cancellation_reason = Some(sub.cancellation_reason.unwrap_or(reason));
        let snap = self.st.snapshot_subscription(s);
        self.event(t, "customer.subscription.deleted", snap, None);
    }
}
