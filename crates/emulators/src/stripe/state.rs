//! Everything the emulator holds, behind one lock: the tables, the email index, the catalog,
//! webhook endpoints, idempotency records and the id generator.

use std::collections::HashMap;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::catalog::Catalog;
use super::idempotency::Idempotency;
use super::ids::{self, IdKind, new_id};
use super::model::{
    Charge, CheckoutSession, Customer, Event, EventObject, Invoice, Ix, PaymentIntent, Refund,
    Subscription, WebhookEndpoint,
};
use super::table::Table;

/// Who made the request that caused an event (`event.request`).
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub id: Option<Box<str>>,
    pub idempotency_key: Option<Box<str>>,
}

#[derive(Debug)]
pub struct State {
    pub customers: Table<Customer>,
    pub charges: Table<Charge>,
    pub refunds: Table<Refund>,
    pub payment_intents: Table<PaymentIntent>,
    pub subscriptions: Table<Subscription>,
    pub invoices: Table<Invoice>,
    pub sessions: Table<CheckoutSession>,
    pub events: Table<Event>,
    pub endpoints: Vec<WebhookEndpoint>,
    /// Customer rows by exact email (Stripe's `email=` filter is exact and case-sensitive),
    /// ascending by key; deleted customers included (the list filter drops them).
    pub by_email: HashMap<Arc<str>, Vec<Ix>>,
    pub catalog: Catalog,
    pub idempotency: Idempotency,
    pub rng: StdRng,
    /// The account's default API version: events are rendered in it.
    pub api_version: Arc<str>,
}

impl State {
    pub fn new(api_version: &str, seed: u64) -> Self {
        Self {
            customers: Table::default(),
            charges: Table::default(),
            refunds: Table::default(),
            payment_intents: Table::default(),
            subscriptions: Table::default(),
            invoices: Table::default(),
            sessions: Table::default(),
            events: Table::default(),
            endpoints: Vec::new(),
            by_email: HashMap::new(),
            catalog: Catalog::standard(),
            idempotency: Idempotency::default(),
            rng: StdRng::seed_from_u64(seed),
            api_version: api_version.into(),
        }
    }

    pub fn new_id(&mut self, kind: IdKind) -> Box<str> {
        new_id(&mut self.rng, kind)
    }

    /// Drops every object (not the webhook endpoints, the catalog or the idempotency records).
    pub fn clear_objects(&mut self) {
        self.customers.clear();
        self.charges.clear();
        self.refunds.clear();
        self.payment_intents.clear();
        self.subscriptions.clear();
        self.invoices.clear();
        self.sessions.clear();
        self.events.clear();
        self.by_email.clear();
    }

    pub fn begin_bulk(&mut self) {
        self.customers.begin_bulk();
        self.charges.begin_bulk();
        self.refunds.begin_bulk();
        self.payment_intents.begin_bulk();
        self.subscriptions.begin_bulk();
        self.invoices.begin_bulk();
        self.sessions.begin_bulk();
        self.events.begin_bulk();
    }

    pub fn end_bulk(&mut self) {
        self.customers.end_bulk();
        self.charges.end_bulk();
        self.refunds.end_bulk();
        self.payment_intents.end_bulk();
        self.subscriptions.end_bulk();
        self.invoices.end_bulk();
        self.sessions.end_bulk();
        self.events.end_bulk();
        let customers = &self.customers;
        for v in self.by_email.values_mut() {
            v.sort_unstable_by_key(|&ix| customers.key(ix));
        }
    }

    /// Adds a customer (and indexes its email).
    pub fn insert_customer(&mut self, c: Customer) -> Ix {
        let email = c.email.clone();
        let ix = self.customers.insert(c);
        if let Some(e) = email {
            self.index_email(ix, e);
        }
        ix
    }

    pub fn index_email(&mut self, ix: Ix, email: Arc<str>) {
        let key = self.customers.key(ix);
        let customers = &self.customers;
        let v = self.by_email.entry(email).or_default();
        let pos = v.partition_point(|&j| customers.key(j) < key);
        v.insert(pos, ix);
    }

    pub fn unindex_email(&mut self, ix: Ix, email: &str) {
        if let Some(v) = self.by_email.get_mut(email) {
            v.retain(|&j| j != ix);
            if v.is_empty() {
                self.by_email.remove(email);
            }
        }
    }

    /// A snapshot of one object for an event.
    pub fn snapshot_customer(&self, ix: Ix) -> EventObject {
        EventObject::Customer(Box::new(self.customers.get(ix).clone()))
    }
    pub fn snapshot_charge(&self, ix: Ix) -> EventObject {
        EventObject::Charge(Box::new(self.charges.get(ix).clone()))
    }
    pub fn snapshot_refund(&self, ix: Ix) -> EventObject {
        EventObject::Refund(Box::new(self.refunds.get(ix).clone()))
    }
    pub fn snapshot_payment_intent(&self, ix: Ix) -> EventObject {
        EventObject::PaymentIntent(Box::new(self.payment_intents.get(ix).clone()))
    }
    pub fn snapshot_subscription(&self, ix: Ix) -> EventObject {
        EventObject::Subscription(Box::new(self.subscriptions.get(ix).clone()))
    }
    pub fn snapshot_invoice(&self, ix: Ix) -> EventObject {
        EventObject::Invoice(Box::new(self.invoices.get(ix).clone()))
    }
    pub fn snapshot_session(&self, ix: Ix) -> EventObject {
        EventObject::CheckoutSession(Box::new(self.sessions.get(ix).clone()))
    }

    /// Stores an event (no delivery: see `webhooks::publish`).
    pub fn record_event(
        &mut self,
        created: i64,
        kind: &'static str,
        object: EventObject,
        previous: Option<serde_json::Value>,
        request: Option<&RequestInfo>,
    ) -> Ix {
        let id = self.new_id(ids::EVENT);
        let api_version = self.api_version.clone();
        self.events.insert(Event {
            id,
            created,
            kind,
            object,
            previous,
            api_version,
            request_id: request.and_then(|r| r.id.clone()),
            idempotency_key: request.and_then(|r| r.idempotency_key.clone()),
            pending_webhooks: 0,
        })
    }
}
