//! Live activity: new customers and payments, failed payments, refunds, subscription changes and
//! customer edits happening "now", stored as events and sent as webhooks — on demand
//! ([`generate`]) or as a steady stream of N events a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinHandle;

use super::builder::Builder;
use super::emulator::StripeEmulator;
use super::model::{ChargeStatus, DECLINES, Ix, Metadata, SubStatus};
use super::seed_data::{email, person, pick};
use super::state::State;
use super::webhooks::Delivery;

/// Creates activity worth at least `budget` events at `now`; returns the events created and
/// their deliveries.
pub fn generate(st: &mut State, now: i64, budget: usize) -> (usize, Vec<Delivery>) {
    // The builder's own stream for object ids; event ids come from the state's.
    let rng = StdRng::seed_from_u64(st.rng.random());
    let mut b = Builder::live(st, rng, now);
    let mut guard = 0;
    while b.events < budget && guard < budget * 4 + 16 {
        guard += 1;
        one(&mut b, now);
    }
    let events = b.events;
    (events, b.deliveries)
}

fn live_customer(b: &mut Builder<'_>) -> Option<Ix> {
    let n = b.st.customers.len();
    if n == 0 {
        return None;
    }
    for _ in 0..8 {
        let ix = b.rng.random_range(0..n) as Ix;
        if !b.st.customers.get(ix).deleted {
            return Some(ix);
        }
    }
    None
}

fn new_customer(b: &mut Builder<'_>, now: i64) -> Ix {
    let (first, last) = person(&mut b.rng);
    let n = b.st.customers.len();
    let e = email(&mut b.rng, first, last, n);
    b.customer(
        now,
        Some(Arc::from(e)),
        Some(Arc::from(format!("{first} {last}"))),
        Metadata::new(),
        |_| {},
    )
}

fn one(b: &mut Builder<'_>, now: i64) {
    let r: f64 = b.rng.random();
    let c = match live_customer(b) {
        Some(c) if r >= 0.10 => c,
        _ => {
            new_customer(b, now);
            return;
        }
    };
    let (email, name) = {
        let cu = b.st.customers.get(c);
        (cu.email.clone(), cu.name.clone())
    };
    let one_time: Vec<u16> = b.st.catalog.one_time_prices().collect();
    let price = *pick(&mut b.rng, &one_time);
    let amount = b.st.catalog.prices[price as usize].unit_amount;
    let desc: Arc<str> =
        Arc::from(b.st.catalog.products[b.st.catalog.prices[price as usize].product as usize].name);
    if r < 0.45 {
        b.payment(now, Some(c), amount, Some(desc), email, name, None, None);
    } else if r < 0.52 {
        let d = *pick(&mut b.rng, &DECLINES);
        b.payment(now, Some(c), amount, Some(desc), email, name, Some(d), None);
    } else if r < 0.62 {
        let refundable =
            b.st.charges
                .of_customer(c)
                .iter()
                .rev()
                .take(5)
                .copied()
                .find(|&ch| {
                    let x = b.st.charges.get(ch);
                    x.status == ChargeStatus::Succeeded && x.amount_refunded < x.amount
                });
        match refundable {
            Some(ch) => {
                let x = b.st.charges.get(ch);
                let left = x.amount - x.amount_refunded;
                b.refund(ch, now, left, Some("requested_by_customer"));
            }
            None => {
                b.payment(now, Some(c), amount, Some(desc), email, name, None, None);
            }
        }
    } else if r < 0.80 {
        let sub =
            b.st.subscriptions
                .of_customer(c)
                .iter()
                .rev()
                .copied()
                .find(|&s| b.st.subscriptions.get(s).status != SubStatus::Canceled);
        match sub {
            Some(s) if b.st.subscriptions.get(s).cancel_at_period_end => b.resume(s, now),
            Some(s) => {
                if b.rng.random::<f64>() < 0.3 {
                    b.end(s, now, "cancellation_requested");
                } else {
                    b.cancel_at_period_end(s, now);
                }
            }
            None => {
                let recurring: Vec<u16> = b.st.catalog.recurring_prices().collect();
                let p = *pick(&mut b.rng, &recurring);
                b.subscribe(c, now, p, 1, None);
            }
        }
    } else if b.rng.random::<f64>() < 0.5 {
        let (f, l) = person(&mut b.rng);
        let new_name: Arc<str> = Arc::from(format!("{f} {l}"));
        b.update_customer(c, now, |cu| {
            let old = cu.name.replace(new_name);
            json!({"name": old.as_deref()})
        });
    } else {
        b.update_customer(c, now, |cu| {
            let old = cu.metadata.insert("last_seen".into(), now.to_string());
            json!({"metadata": {"last_seen": old}})
        });
    }
}

/// A running stream; stops when dropped or [`StreamHandle::stop`]ped.
#[derive(Debug)]
pub struct StreamHandle {
    rate: f64,
    emitted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl StreamHandle {
    pub fn stop(self) {
        self.task.abort();
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Emits about `per_sec` events a second until stopped (needs a tokio runtime).
pub fn start_stream(emu: StripeEmulator, per_sec: f64) -> StreamHandle {
    let emitted = Arc::new(AtomicU64::new(0));
    let counter = emitted.clone();
    // Weak, so that a forgotten stream does not keep the emulator alive.
    let weak = Arc::downgrade(&emu.inner);
    drop(emu);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        let mut tokens = 0.0f64;
        loop {
            tick.tick().await;
            let now = Instant::now();
            tokens += per_sec * now.duration_since(last).as_secs_f64();
            last = now;
            // Never save up more than a second's worth.
            tokens = tokens.min(per_sec.max(1.0));
            if tokens >= 1.0 {
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let n = StripeEmulator { inner }.emit(tokens as usize);
                tokens -= n as f64;
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    StreamHandle {
        rate: per_sec,
        emitted,
        task,
    }
}
