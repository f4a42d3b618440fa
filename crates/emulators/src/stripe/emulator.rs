//! [`StripeEmulator`]: the shared state and controls of one emulated Stripe account, usable from
//! code (seed, emit activity, set faults, move the clock) and served over HTTP by `server`.

use std::io;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Clock, EmulatorHandle, Faults, KeyedLimiter, RateLimit, RequestLog};

use super::activity::{self, StreamHandle};
use super::config::StripeEmulatorConfig;
use super::ids;
use super::model::WebhookEndpoint;
use super::reads::Kind as ObjectKind;
use super::seed::{self, SeedReport, SeedSpec};
use super::state::State;
use super::table::{Row, Table};
use super::webhooks::{Delivery, Dispatcher, WebhookStats};

/// One emulated Stripe account. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct StripeEmulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: StripeEmulatorConfig,
    pub state: Arc<RwLock<State>>,
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub limiter: KeyedLimiter,
    pub log: RequestLog,
    pub hooks: Dispatcher,
    pub stream: Mutex<Option<StreamHandle>>,
}

/// Object counts by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub customers: usize,
    pub deleted_customers: usize,
    pub charges: usize,
    pub refunds: usize,
    pub payment_intents: usize,
    pub subscriptions: usize,
    pub invoices: usize,
    pub checkout_sessions: usize,
    pub events: usize,
    pub webhook_endpoints: usize,
}

impl StripeEmulator {
    /// An emulator with the configuration's dataset seeded (if any); not yet serving.
    pub fn new(cfg: StripeEmulatorConfig) -> Self {
        let state = State::new(&cfg.api_version, cfg.rng_seed);
        let inner = Inner {
            state: Arc::new(RwLock::new(state)),
            clock: Clock::new(),
            faults: Arc::new(Faults::new(cfg.faults.clone())),
            limiter: KeyedLimiter::new(cfg.rate_limit),
            log: RequestLog::default(),
            hooks: Dispatcher::new(cfg.webhooks.clone()),
            stream: Mutex::new(None),
            cfg,
        };
        let emu = Self {
            inner: Arc::new(inner),
        };
        if let Some(spec) = emu.inner.cfg.seed.clone() {
            emu.seed(&spec);
        }
        emu
    }

    /// Serves on 127.0.0.1 (the configured port, 0 = free) and starts webhook sending.
    pub async fn serve(&self) -> io::Result<EmulatorHandle<StripeEmulator>> {
        let listener = crate::common::bind_loopback(self.inner.cfg.port).await?;
        self.start_webhooks();
        let router = super::server::router(self.clone());
        crate::common::serve(listener, router, self.clone())
    }

    /// Starts webhook sending without serving HTTP (needs a tokio runtime).
    pub fn start_webhooks(&self) {
        self.inner.hooks.start(self.inner.state.clone());
    }

    pub fn config(&self) -> &StripeEmulatorConfig {
        &self.inner.cfg
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Unix seconds on the emulator's clock.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub fn faults(&self) -> &Arc<Faults> {
        &self.inner.faults
    }

    pub fn requests(&self) -> &RequestLog {
        &self.inner.log
    }

    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.inner.limiter.set_limit(limit);
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.limiter.limit()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn dispatch(&self, deliveries: Vec<Delivery>) {
        if !deliveries.is_empty() {
            self.inner.hooks.enqueue(deliveries);
        }
    }

    /// Generates a dataset (replacing the objects unless `spec.reset` is false).
    pub fn seed(&self, spec: &SeedSpec) -> SeedReport {
        let now = spec.now.unwrap_or_else(|| self.now());
        let mut st = self.write();
        seed::seed(&mut st, spec, now)
    }

    /// Generates live activity now worth at least `events` events (new charges, refunds,
    /// subscription and customer updates…), stores them and sends their webhooks. Returns the
    /// number of events created.
    pub fn emit(&self, events: usize) -> usize {
        let now = self.now();
        let (n, deliveries) = {
            let mut st = self.write();
            activity::generate(&mut st, now, events)
        };
        self.dispatch(deliveries);
        n
    }

    /// Starts (or retunes) a live stream of `per_sec` events a second; 0 stops it.
    pub fn start_stream(&self, per_sec: f64) {
        let mut g = self.inner.stream.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = g.take() {
            h.stop();
        }
        if per_sec > 0.0 {
            *g = Some(activity::start_stream(self.clone(), per_sec));
        }
    }

    pub fn stop_stream(&self) {
        self.start_stream(0.0);
    }

    /// Events a second of the running stream (0 if none) and events it has created.
    pub fn stream_status(&self) -> (f64, u64) {
        let g = self.inner.stream.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map_or((0.0, 0), |h| (h.rate(), h.emitted()))
    }

    /// Registers a webhook endpoint (as `POST /v1/webhook_endpoints` does) and returns its id
    /// and signing secret.
    pub fn add_webhook_endpoint(&self, url: &str, enabled_events: &[&str]) -> (String, String) {
        let now = self.now();
        let mut st = self.write();
        let id = st.new_id(ids::WEBHOOK_ENDPOINT);
        let secret = st.new_id(ids::WEBHOOK_SECRET);
        st.endpoints.push(WebhookEndpoint {
            id: id.clone(),
            created: now,
            url: url.into(),
            enabled_events: enabled_events.iter().map(|s| s.to_string()).collect(),
            secret: Arc::from(&*secret),
            description: None,
            api_version: None,
            status: "enabled",
            metadata: Default::default(),
        });
        (id.into(), secret.into())
    }

    pub fn webhook_stats(&self) -> WebhookStats {
        self.inner.hooks.stats()
    }

    /// Waits until every queued webhook is delivered or abandoned, or `timeout`.
    pub async fn wait_webhooks_idle(&self, timeout: Duration) -> bool {
        self.inner.hooks.wait_idle(timeout).await
    }

    /// Every id of `kind`, newest first (deleted customers left out), as a full walk of its
    /// list with `status=all` would return them (events: all stored, whatever their age).
    pub fn ids(&self, kind: ObjectKind) -> Vec<String> {
        let st = self.read();
        fn all<T: Row>(t: &Table<T>, keep: impl Fn(&T) -> bool) -> Vec<String> {
            t.order()
                .iter()
                .rev()
                .map(|&ix| t.get(ix))
                .filter(|x| keep(x))
                .map(|x| x.id().to_owned())
                .collect()
        }
        match kind {
            ObjectKind::Customers => all(&st.customers, |c| !c.deleted),
            ObjectKind::Charges => all(&st.charges, |_| true),
            ObjectKind::Refunds => all(&st.refunds, |_| true),
            ObjectKind::PaymentIntents => all(&st.payment_intents, |_| true),
            ObjectKind::Subscriptions => all(&st.subscriptions, |_| true),
            ObjectKind::Invoices => all(&st.invoices, |_| true),
            ObjectKind::CheckoutSessions => all(&st.sessions, |_| true),
            ObjectKind::Events => all(&st.events, |_| true),
            ObjectKind::Prices => st
                .catalog
                .prices
                .iter()
                .rev()
                .map(|p| p.id.to_string())
                .collect(),
            ObjectKind::Products => st
                .catalog
                .products
                .iter()
                .rev()
                .map(|p| p.id.to_string())
                .collect(),
            ObjectKind::WebhookEndpoints => st
                .endpoints
                .iter()
                .rev()
                .map(|e| e.id.to_string())
                .collect(),
        }
    }

    pub fn counts(&self) -> Counts {
        let st = self.read();
        let deleted = st.customers.rows().iter().filter(|c| c.deleted).count();
        Counts {
            customers: st.customers.len() - deleted,
            deleted_customers: deleted,
            charges: st.charges.len(),
            refunds: st.refunds.len(),
            payment_intents: st.payment_intents.len(),
            subscriptions: st.subscriptions.len(),
            invoices: st.invoices.len(),
            checkout_sessions: st.sessions.len(),
            events: st.events.len(),
            webhook_endpoints: st.endpoints.len(),
        }
    }

    /// What `GET /_admin/state` shows.
    pub fn state_json(&self) -> Value {
        let (rate, emitted) = self.stream_status();
        json!({
            "now": self.now(),
            "clock_offset_secs": self.inner.clock.offset(),
            "api_version": self.inner.cfg.api_version,
            "counts": self.counts(),
            "requests": self.inner.log.to_json(),
            "webhooks": self.webhook_stats(),
            "stream": {"events_per_sec": rate, "emitted": emitted},
            "rate_limit": self.rate_limit(),
            "idempotency_keys": self.read().idempotency.len(),
            "faults": {"config": self.inner.faults.config(), "counts": self.inner.faults.counts()},
        })
    }
}

/// Starts a Stripe emulator on 127.0.0.1 (port 0 = a free port).
pub async fn serve_stripe(cfg: StripeEmulatorConfig) -> io::Result<EmulatorHandle<StripeEmulator>> {
    StripeEmulator::new(cfg).serve().await
}
