//! Delivery workers: one per destination, draining its outbox rows when they fall due.
//!
//! A worker leases a batch of due rows (oldest first), sends all their operations in one
//! `Destination::apply` (the connector groups them into its bulk endpoints), and settles each
//! row from its operations' outcomes:
//! - applied operations become the new acknowledged state (`core::reconcile::acknowledge`);
//! - a consent refusal is not an error: the destination's opt-out is recorded in the
//!   acknowledged state so the diff never asks again, and the refusal is logged;
//! - transient failures (network, 5xx, 429) are retried with exponential backoff and full
//!   jitter, never sooner than the vendor's `Retry-After`;
//! - an exhausted quota or revoked credentials pause the whole destination (until the quota
//!   resets, or for [`AUTH_PAUSE_MS`] before trying the credentials again) without counting
//!   against the rows;
//! - validation errors and other permanent failures make the row a dead letter, with the reason.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use paysync_core::UnixMs;
use paysync_core::contact::{RemoteConsent, RemoteContact};
use paysync_core::ops::Op;
use paysync_core::reconcile::acknowledge;
use paysync_destinations::{Destination, ErrorKind, ItemOutcome};
use paysync_store::{Claimed, Delivered, Level, LogEntry, Next, Store, StoreError};
use rand::Rng;
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::alerts::{Alert, AlertKind, Alerter};
use crate::now_ms;

/// How long a destination whose credentials were refused waits before trying them again.
pub const AUTH_PAUSE_MS: i64 = 5 * 60_000;

/// Retry and leasing settings of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First retry waits up to this long.
    pub base_ms: i64,
    /// No retry waits longer than this (unless the vendor says so).
    pub cap_ms: i64,
    /// How long a claimed row is held; the worker renews it every third of this while it
    /// works on the row (heartbeat), and a worker that dies releases its rows when it runs out.
    pub lease_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 1_000,
            cap_ms: 10 * 60_000,
            lease_ms: 30_000,
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniformly in [0, min(cap, base·2^attempts)], and never before `retry_after`.
    pub fn delay_ms(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> i64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1_i64 << attempts.min(30))
            .min(self.cap_ms);
        let jittered = rng.random_range(0..=ceiling.max(0));
        let floor = retry_after.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        jittered.max(floor)
    }
}

/// Counts of one delivery round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    pub rows: usize,
    pub ops: usize,
    pub done: usize,
    pub retried: usize,
    pub dead: usize,
}

/// What a worker has settled since the process started, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryTotals {
    pub ops: AtomicU64,
    pub rows_done: AtomicU64,
    pub rows_retried: AtomicU64,
    pub rows_dead: AtomicU64,
}

impl DeliveryTotals {
    fn add(&self, round: &RoundStats) {
        let add = |n: &AtomicU64, v: usize| n.fetch_add(v as u64, Ordering::Relaxed);
        add(&self.ops, round.ops);
        add(&self.rows_done, round.done);
        add(&self.rows_retried, round.retried);
        add(&self.rows_dead, round.dead);
    }
}

/// The worker of one destination.
pub struct Deliverer {
    pub store: Arc<dyn Store>,
    /// The destination's name in the configuration.
    pub destination: String,
    pub connector: Arc<dyn Destination>,
    pub policy: RetryPolicy,
    /// Rows per round.
    pub batch: usize,
    /// A round also takes rows due within this many ms, so one bulk call carries them (a
    /// quarter of the shortest coalescing window of the destination's syncs by default).
    pub lookahead_ms: i64,
    /// Until when the destination is paused (quota, credentials), ms; 0 when it is not.
    paused_until: AtomicI64,
    /// Woken when rows may have become due sooner than the worker planned.
    pub wake: Arc<Notify>,
    /// Where dead letters, pauses and finished bulk imports are reported.
    pub alerter: Option<Alerter>,
    /// Whether a pause (quota used up, credentials refused) is shared through the store with
    /// the other workers of this destination (PostgreSQL), so they stop calling it too.
    pub shares_pauses: bool,
    pub totals: DeliveryTotals,
}

/// Why a row was not settled in full.
enum Trouble {
    Transient(String, Option<Duration>),
    Pause(AlertKind, String, UnixMs),
    Dead(String),
}

/// Rounds delivering at least this many contacts through an asynchronous bulk job are reported
/// when they finish.
const BULK_IMPORT_ALERT: usize = 1_000;

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        destination: impl Into<String>,
        connector: Arc<dyn Destination>,
        policy: RetryPolicy,
    ) -> Self {
        let caps = connector.capabilities();
        // Enough rows to fill the bulk calls the vendor lets run at once (Mailchimp: 10 batch
        // subscribes of 500, sent together), bounded so a round stays well within its lease and
        // memory (DESIGN P5: 150 MB). Constant Contact's imports take 40,000: 5,000 rows a round
        // groups a deep backlog into few imports (one per set of lists); 10,000 measured 164 MB
        // peak. A vendor without a concurrency figure gets one bulk call a round.
        let batch = caps
            .max_bulk_contacts
            .saturating_mul(caps.max_concurrency.max(1))
            .clamp(1, 5_000);
        Deliverer {
            store,
            destination: destination.into(),
            connector,
            policy,
            batch,
            lookahead_ms: 0,
            paused_until: AtomicI64::new(0),
            wake: Arc::new(Notify::new()),
            alerter: None,
            shares_pauses: false,
            totals: DeliveryTotals::default(),
        }
    }

    /// Until when the destination is paused, if it is.
    pub fn paused_until(&self, now: UnixMs) -> Option<UnixMs> {
        let until = self.paused_until.load(Ordering::Relaxed);
        (until > now).then_some(until)
    }

    /// Delivers rounds until nothing is due; returns the totals.
    pub async fn drain(&self) -> Result<RoundStats, StoreError> {
        let mut total = RoundStats::default();
        loop {
            let round = self.round().await?;
            total.rows += round.rows;
            total.ops += round.ops;
            total.done += round.done;
            total.retried += round.retried;
            total.dead += round.dead;
            if round.rows < self.batch {
                return Ok(total);
            }
        }
    }

    /// Runs until `shutdown` turns true: rounds while rows are due, otherwise sleeps until the
    /// next row falls due (at most `idle`) or the worker is woken.
    pub async fn run(self: Arc<Self>, idle: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            let wait = match self.drain().await {
                Ok(_) => self.next_wait(idle).await,
                Err(e) => {
                    tracing::error!(destination = %self.destination, error = %e, "delivery failed");
                    idle
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn next_wait(&self, idle: Duration) -> Duration {
        let now = now_ms();
        if let Some(until) = self.paused_until(now) {
            return Duration::from_millis((until - now) as u64).min(idle);
        }
        match self.store.next_due(&self.destination).await {
            Ok(Some(due)) => Duration::from_millis((due - now).max(0) as u64).min(idle),
            _ => idle,
        }
    }

    /// One round: lease due rows, send their operations, settle them.
    pub async fn round(&self) -> Result<RoundStats, StoreError> {
        let now = now_ms();
        if self.shares_pauses
            && let Some(until) = self.store.rate_held_until(&self.pause_key()).await?
        {
            self.paused_until.fetch_max(until, Ordering::Relaxed);
        }
        let paused_before = self.paused_until.load(Ordering::Relaxed);
        if self.paused_until(now).is_some() {
            return Ok(RoundStats::default());
        }
        let lease = self.lease_from(now);
        let claimed = self
            .store
            .claim(
                &self.destination,
                now,
                now + self.lookahead_ms,
                lease,
                self.batch,
            )
            .await?;
        if claimed.is_empty() {
            return Ok(RoundStats::default());
        }
        let mut ops = Vec::new();
        let mut ranges = Vec::with_capacity(claimed.len());
        for c in &claimed {
            let start = ops.len();
            ops.extend(c.entry.ops.iter().cloned());
            ranges.push(start..ops.len());
        }
        let started = Instant::now();
        let current_lease = AtomicI64::new(lease);
        let outcomes = tokio::select! {
            outcomes = self.connector.apply(&ops) => outcomes,
            never = self.keep_leases(&current_lease) => match never {},
        };
        let lease = current_lease.load(Ordering::Relaxed);
        let latency_ms = started.elapsed().as_millis() as i64;
        let mut stats = RoundStats {
            rows: claimed.len(),
            ops: ops.len(),
            ..RoundStats::default()
        };
        let done_at = now_ms();
        let mut alerts: Vec<Alert> = Vec::new();
        let results: Vec<Delivered> = claimed
            .iter()
            .zip(ranges)
            .map(|(c, range)| {
                let (mut delivered, alert) =
                    self.settle(c, &ops, &outcomes, range, done_at, latency_ms);
                delivered.lease = lease;
                if let Some(a) = alert
                    && !alerts.iter().any(|b| b.kind == a.kind)
                {
                    alerts.push(a);
                }
                delivered
            })
            .inspect(|d| match d.next {
                Next::Done => stats.done += 1,
                Next::Retry { .. } => stats.retried += 1,
                Next::Dead { .. } => stats.dead += 1,
            })
            .collect();
        // Operators watching the process log (not only the sync log) see why rows wait.
        if stats.retried + stats.dead > 0 {
            let error = results.iter().find_map(|d| match &d.next {
                Next::Retry { error, .. } | Next::Dead { error, .. } => Some(error.as_str()),
                Next::Done => None,
            });
            tracing::warn!(
                destination = %self.destination,
                retried = stats.retried,
                dead = stats.dead,
                error = error.unwrap_or_default(),
                "some operations were not delivered"
            );
        }
        self.store.finish(results, done_at).await?;
        let paused = self.paused_until.load(Ordering::Relaxed);
        if self.shares_pauses && paused > paused_before {
            self.store
                .hold_rate_until(&self.pause_key(), paused)
                .await?;
        }
        let used_jobs = outcomes
            .iter()
            .any(|o| matches!(o, ItemOutcome::Ok(ack) if ack.job.is_some()));
        if used_jobs && stats.done >= BULK_IMPORT_ALERT {
            alerts.push(Alert {
                kind: AlertKind::BulkImportFinished,
                subject: self.destination.clone(),
                summary: format!(
                    "bulk import of {} contacts into {} finished",
                    stats.done, self.destination
                ),
                detail: json!({"destination": self.destination, "contacts": stats.done,
                               "retried": stats.retried, "dead": stats.dead}),
            });
        }
        if let Some(alerter) = &self.alerter {
            for alert in alerts {
                alerter.raise(alert).await;
            }
        }
        self.totals.add(&stats);
        Ok(stats)
    }

    /// The store's key of this destination's shared pause.
    fn pause_key(&self) -> String {
        format!("pause:{}", self.destination)
    }

    /// A lease ending `lease_ms` from `now`, made distinct from other workers' leases taken in
    /// the same millisecond by up to a second more (a heartbeat moves the rows of one lease).
    fn lease_from(&self, now: UnixMs) -> UnixMs {
        now + self.policy.lease_ms + rand::rng().random_range(0..1_000)
    }

    /// The heartbeat of a round: every third of the lease, moves the lease on the rows this
    /// worker still holds. Runs until the round's calls return (it is dropped then).
    async fn keep_leases(&self, current: &AtomicI64) -> std::convert::Infallible {
        let every =
            Duration::from_millis(u64::try_from(self.policy.lease_ms / 3).unwrap_or(1).max(1));
        loop {
            tokio::time::sleep(every).await;
            let lease = current.load(Ordering::Relaxed);
            let next = self.lease_from(now_ms());
            match self
                .store
                .extend_leases(&self.destination, lease, next)
                .await
            {
                Ok(rows) => {
                    current.store(next, Ordering::Relaxed);
                    tracing::debug!(destination = %self.destination, rows, "renewed the round's lease");
                }
                // Tried again at the next beat; the rows stay this worker's until the lease
                // runs out, and its results are then recorded only for rows still its own.
                Err(e) => {
                    tracing::warn!(destination = %self.destination, error = %e, "cannot renew the round's lease")
                }
            }
        }
    }

    fn settle(
        &self,
        claimed: &Claimed,
        ops: &[Op],
        outcomes: &[ItemOutcome],
        range: Range<usize>,
        now: UnixMs,
        latency_ms: i64,
    ) -> (Delivered, Option<Alert>) {
        let entry = &claimed.entry;
        let before = claimed.acknowledged.as_ref().map(|a| &a.contact);
        let mut applied = Vec::new();
        let mut left = Vec::new();
        let mut remote_id = before.map(|b| b.remote_id.clone());
        let mut learnt: Option<RemoteConsent> = None;
        let mut refusals = Vec::new();
        let mut trouble: Option<Trouble> = None;
        for i in range {
            let op = &ops[i];
            let outcome = outcomes.get(i).cloned().unwrap_or_else(|| {
                ItemOutcome::Invalid("the connector returned no outcome".into())
            });
            match outcome {
                ItemOutcome::Ok(ack) => {
                    applied.push(op.clone());
                    remote_id = ack.remote_id.or(remote_id);
                    learnt = ack.consent.or(learnt);
                }
                ItemOutcome::ConsentRefused { refusal, ack } => {
                    if let Some(ack) = ack {
                        remote_id = ack.remote_id.or(remote_id);
                    }
                    learnt = Some(refusal.current);
                    refusals.push(refusal.reason);
                }
                ItemOutcome::Invalid(why) => {
                    left.push(op.clone());
                    trouble = worse(trouble, Trouble::Dead(why));
                }
                ItemOutcome::Failed(e) => {
                    left.push(op.clone());
                    let t = match e.kind {
                        ErrorKind::Transient | ErrorKind::RateLimited => {
                            Trouble::Transient(e.to_string(), e.retry_after)
                        }
                        ErrorKind::QuotaExhausted => {
                            let reset = e.retry_after.unwrap_or(Duration::from_secs(3600));
                            Trouble::Pause(
                                AlertKind::QuotaExhausted,
                                e.to_string(),
                                now + reset.as_millis() as i64,
                            )
                        }
                        ErrorKind::AuthRevoked => Trouble::Pause(
                            AlertKind::AuthRevoked,
                            e.to_string(),
                            now + AUTH_PAUSE_MS,
                        ),
                        ErrorKind::Permanent | ErrorKind::Config => Trouble::Dead(e.to_string()),
                    };
                    trouble = worse(trouble, t);
                }
            }
        }
        let acknowledged = self.acknowledged(claimed, &applied, remote_id, learnt);
        let alert = |kind: AlertKind, summary: String, error: &str| Alert {
            kind,
            subject: self.destination.clone(),
            summary,
            detail: json!({"destination": self.destination, "sync": entry.sync,
                           "person": entry.person, "error": error}),
        };
        let mut raised = None;
        let (next, level, outcome) = match trouble {
            None => (Next::Done, Level::Info, "delivered".to_owned()),
            Some(Trouble::Transient(error, retry_after)) => {
                let delay = self
                    .policy
                    .delay_ms(entry.attempts, retry_after, &mut rand::rng());
                let next = Next::Retry {
                    ops: left,
                    due_at: now + delay,
                    error: error.clone(),
                    count_attempt: true,
                };
                (next, Level::Warn, format!("retry in {delay} ms: {error}"))
            }
            Some(Trouble::Pause(kind, error, until)) => {
                self.paused_until.fetch_max(until, Ordering::Relaxed);
                let why = match kind {
                    AlertKind::QuotaExhausted => "its quota is used up",
                    _ => "it refused paysync's credentials: reconnect it",
                };
                raised = Some(alert(
                    kind,
                    format!("{} paused: {why}", self.destination),
                    &error,
                ));
                let next = Next::Retry {
                    ops: left,
                    due_at: until,
                    error: error.clone(),
                    count_attempt: false,
                };
                (next, Level::Error, format!("destination paused: {error}"))
            }
            Some(Trouble::Dead(error)) => {
                raised = Some(alert(
                    AlertKind::DeadLetters,
                    format!(
                        "{} refused operations for good (dead letters): {error}",
                        self.destination
                    ),
                    &error,
                ));
                (
                    Next::Dead {
                        ops: left,
                        error: error.clone(),
                    },
                    Level::Error,
                    format!("dead letter: {error}"),
                )
            }
        };
        let message = format!(
            "{} → {}: {} {}",
            entry.sync, self.destination, entry.person, outcome
        );
        let log = LogEntry {
            at: now,
            account: Some(entry.account.clone()),
            kind: "delivery".into(),
            level,
            message,
            detail: Some(json!({
                "sync": entry.sync,
                "destination": self.destination,
                "person": entry.person,
                "outbox_id": entry.id,
                "ops": ops_summary(&entry.ops),
                "attempt": entry.attempts + 1,
                "latency_ms": latency_ms,
                "consent_refusals": refusals,
            })),
        };
        let delivered = Delivered {
            id: entry.id,
            lease: claimed.lease,
            sync: entry.sync.clone(),
            person: entry.person.clone(),
            acknowledged,
            next,
            log,
        };
        (delivered, raised)
    }

    /// The acknowledged state after `applied`, with the consent the destination reported.
    fn acknowledged(
        &self,
        claimed: &Claimed,
        applied: &[Op],
        remote_id: Option<String>,
        learnt: Option<RemoteConsent>,
    ) -> Option<RemoteContact> {
        if applied.is_empty() && learnt.is_none() {
            return None;
        }
        let before = claimed.acknowledged.as_ref().map(|a| &a.contact);
        let id = remote_id.unwrap_or_default();
        let mut state = acknowledge(before, &id, applied).or_else(|| before.cloned());
        if let Some(consent) = learnt {
            let email = claimed.entry.ops.first().map(|op| op.email().clone())?;
            let contact = state.get_or_insert_with(|| RemoteContact::new(id, email, consent));
            contact.consent = consent;
        }
        state
    }
}

/// The more serious of two troubles: dead over paused over transient.
fn worse(a: Option<Trouble>, b: Trouble) -> Option<Trouble> {
    let rank = |t: &Trouble| match t {
        Trouble::Transient(..) => 0,
        Trouble::Pause(..) => 1,
        Trouble::Dead(..) => 2,
    };
    match a {
        Some(a) if rank(&a) >= rank(&b) => Some(a),
        _ => Some(b),
    }
}

/// A dead letter as the CLI and the management API show it (operations summarised).
pub fn dead_letter_view(e: &paysync_store::OutboxEntry) -> serde_json::Value {
    json!({
        "id": e.id,
        "account": e.account,
        "sync": e.sync,
        "destination": e.destination,
        "person": e.person,
        "ops": ops_summary(&e.ops),
        "attempts": e.attempts,
        "error": e.last_error,
    })
}

/// What the operations were, without personal data: kinds with the lists, tags and field keys.
pub fn ops_summary(ops: &[Op]) -> Vec<serde_json::Value> {
    ops.iter()
        .map(|op| match op {
            Op::Upsert(c) => json!({"op": "upsert", "consent": c.consent,
                                    "lists": c.lists.len(), "fields": c.fields.keys().collect::<Vec<_>>()}),
            Op::AddToLists(m) => json!({"op": "add_to_lists", "lists": m.lists}),
            Op::RemoveFromLists(m) => json!({"op": "remove_from_lists", "lists": m.lists}),
            Op::AddTags(t) => json!({"op": "add_tags", "tags": t.tags}),
            Op::RemoveTags(t) => json!({"op": "remove_tags", "tags": t.tags}),
            Op::SetFields(f) => json!({"op": "set_fields", "fields": f.fields.keys().collect::<Vec<_>>()}),
            Op::RecordPurchase(p) => json!({"op": "record_purchase", "order": p.order_ref}),
            Op::Remove(r) => json!({"op": "remove", "how": r.how}),
        })
        .collect()
}
