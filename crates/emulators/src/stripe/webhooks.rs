//! Event publication and webhook delivery: events are stored, rendered once, signed with each
//! endpoint's secret (`Stripe-Signature`, `t` = the wall-clock time of sending, as Stripe does)
//! and POSTed concurrently over a keep-alive client. Failed deliveries are retried with backoff a
//! few times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::common::system_now;

use super::config::WebhookConfig;
use super::model::EventObject;
use super::render::{self, Ctx};
use super::state::{RequestInfo, State};

/// One POST of one event to one endpoint.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub endpoint: Arc<str>,
    pub url: Arc<str>,
    pub secret: Arc<str>,
    pub event: Arc<str>,
    pub payload: Bytes,
    pub attempt: u32,
}

/// Stores an event and returns the deliveries it needs (one per endpoint that wants its type).
pub fn publish(
    st: &mut State,
    created: i64,
    kind: &'static str,
    object: EventObject,
    previous: Option<serde_json::Value>,
    request: Option<&RequestInfo>,
) -> Vec<Delivery> {
    let ix = st.record_event(created, kind, object, previous, request);
    let targets: Vec<usize> = st
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| e.wants(kind))
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    st.events.get_mut(ix).pending_webhooks = targets.len() as u32;
    let ev = st.events.get(ix);
    let mut buf = Vec::with_capacity(4096);
    render::event(&Ctx::new(st, &ev.api_version, &[]), ev, &mut buf);
    let payload = Bytes::from(buf);
    let event: Arc<str> = Arc::from(&*ev.id);
    targets
        .into_iter()
        .map(|i| {
            let e = &st.endpoints[i];
            Delivery {
                endpoint: Arc::from(&*e.id),
                url: e.url.clone(),
                secret: e.secret.clone(),
                event: event.clone(),
                payload: payload.clone(),
                attempt: 0,
            }
        })
        .collect()
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    in_flight: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
}

/// Webhook delivery counts, for `/_admin/state` and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Deliveries created (first attempts).
    pub enqueued: u64,
    pub in_flight: u64,
    /// Answered 2xx.
    pub delivered: u64,
    /// Attempts that failed (non-2xx, timeout, connection error).
    pub failed_attempts: u64,
    pub retries: u64,
    /// Deliveries abandoned after the last retry.
    pub gave_up: u64,
    /// Neither delivered nor abandoned yet.
    pub pending: u64,
}

/// The sending side: a queue, a concurrency limit and a keep-alive client.
#[derive(Debug)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Delivery>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    counters: Arc<Counters>,
    cfg: WebhookConfig,
}

impl Dispatcher {
    pub fn new(cfg: WebhookConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            counters: Arc::default(),
            cfg,
        }
    }

    /// Queues deliveries (sent once [`Dispatcher::start`] has run).
    pub fn enqueue(&self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
            let _ = self.tx.send(d);
        }
    }

    pub fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        let enqueued = c.enqueued.load(Ordering::Relaxed);
        let delivered = c.delivered.load(Ordering::Relaxed);
        let gave_up = c.gave_up.load(Ordering::Relaxed);
        WebhookStats {
            enqueued,
            in_flight: c.in_flight.load(Ordering::Relaxed),
            delivered,
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            gave_up,
            pending: enqueued.saturating_sub(delivered + gave_up),
        }
    }

    /// Waits until nothing is pending, or `timeout`. Returns whether it is idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.stats().pending == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Starts the sending task (once; later calls do nothing). Needs a tokio runtime.
    pub fn start(&self, state: Arc<RwLock<State>>) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let concurrency = self.cfg.concurrency.max(1);
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_millis(self.cfg.timeout_ms.max(1)))
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client");
                return;
            }
        };
        let sem = Arc::new(Semaphore::new(concurrency));
        let counters = self.counters.clone();
        // Weak: once the emulator (the only strong sender) is gone, the loop ends.
        let tx = self.tx.downgrade();
        let delays: Arc<[u64]> = self.cfg.retry_delays_ms.clone().into();
        tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    break;
                };
                let client = client.clone();
                let counters = counters.clone();
                let tx = tx.clone();
                let delays = delays.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    counters.in_flight.fetch_add(1, Ordering::Relaxed);
                    let ok = send(&client, &d).await;
                    counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                    if ok {
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                        delivered(&state, &d.event);
                        return;
                    }
                    counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    match delays.get(d.attempt as usize) {
                        Some(&ms) => {
                            counters.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            match tx.upgrade() {
                                Some(tx) => {
                                    let _ = tx.send(Delivery {
                                        attempt: d.attempt + 1,
                                        ..d
                                    });
                                }
                                None => {
                                    counters.gave_up.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        None => {
                            counters.gave_up.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
    }
}

async fn send(client: &reqwest::Client, d: &Delivery) -> bool {
    let sig = paysync_stripe::signature::sign_header(&d.secret, system_now(), &d.payload);
    let r = client
        .post(&*d.url)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("cache-control", "no-cache")
        .header("stripe-signature", sig)
        .body(d.payload.clone())
        .send()
        .await;
    match r {
        Ok(resp) => {
            let ok = resp.status().is_success();
            // Read the body so the connection goes back to the pool.
            let _ = resp.bytes().await;
            ok
        }
        Err(e) => {
            tracing::debug!(endpoint = %d.endpoint, url = %d.url, error = %e, "webhook delivery failed");
            false
        }
    }
}

fn delivered(state: &RwLock<State>, event: &str) {
    let mut st = state.write().unwrap_or_else(|e| e.into_inner());
    if let Some(ix) = st.events.lookup(event) {
        let ev = st.events.get_mut(ix);
        ev.pending_webhooks = ev.pending_webhooks.saturating_sub(1);
    }
}
