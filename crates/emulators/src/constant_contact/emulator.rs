//! [`ConstantContactEmulator`]: the shared state and controls of one emulated Constant Contact
//! account, usable from code (tokens, unsubscribes, clock, faults, activities) and served over
//! HTTP by `server`.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::common::{Clock, EmulatorHandle, Faults, KeyedLimiter, RateLimit, RequestLog};

use super::config::{ActivityTiming, ConstantContactConfig};
use super::oauth::{AuthState, TokenPair};
use super::state::{Policy, State};
use super::time::{self, fmt_date, fmt_ms};

/// One emulated Constant Contact account. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ConstantContactEmulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: ConstantContactConfig,
    pub state: RwLock<State>,
    pub auth: Mutex<AuthState>,
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub limiter: KeyedLimiter,
    pub quota: Mutex<Quota>,
    pub log: RequestLog,
    pub timing: Mutex<ActivityTiming>,
    /// Wakes the activity worker when something is queued.
    pub wake: Arc<Notify>,
}

/// Requests counted against the daily quota, per OAuth client, for the current UTC day.
#[derive(Debug)]
pub(crate) struct Quota {
    pub limit: Option<u64>,
    pub day: i64,
    pub used: BTreeMap<String, u64>,
}

impl Quota {
    fn roll(&mut self, now_ms: i64) {
        let day = time::day_of(now_ms);
        if day != self.day {
            self.day = day;
            self.used.clear();
        }
    }

    /// Whether `client` has requests left today (without using one).
    pub fn has_left(&mut self, client: &str, now_ms: i64) -> bool {
        self.roll(now_ms);
        match self.limit {
            None => true,
            Some(l) => self.used.get(client).copied().unwrap_or(0) < l,
        }
    }

    pub fn take(&mut self, client: &str, now_ms: i64) {
        self.roll(now_ms);
        *self.used.entry(client.to_owned()).or_default() += 1;
    }
}

impl ConstantContactEmulator {
    /// An emulator with an empty account; not yet serving.
    pub fn new(cfg: ConstantContactConfig) -> Self {
        let inner = Inner {
            state: RwLock::new(State::new(cfg.rng_seed)),
            auth: Mutex::new(AuthState::new(cfg.rng_seed ^ 0x0a07_4000)),
            clock: Clock::new(),
            faults: Arc::new(Faults::new(cfg.faults.clone())),
            limiter: KeyedLimiter::new(cfg.rate_limit),
            quota: Mutex::new(Quota {
                limit: cfg.daily_quota,
                day: 0,
                used: BTreeMap::new(),
            }),
            log: RequestLog::default(),
            timing: Mutex::new(cfg.activities),
            wake: Arc::new(Notify::new()),
            cfg,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Serves on 127.0.0.1 (the configured port, 0 = free) and starts the activity worker.
    pub async fn serve(&self) -> io::Result<EmulatorHandle<ConstantContactEmulator>> {
        let listener = crate::common::bind_loopback(self.inner.cfg.port).await?;
        self.start_worker();
        let router = super::server::router(self.clone());
        crate::common::serve(listener, router, self.clone())
    }

    /// Starts the task that advances bulk activities (needs a tokio runtime). It holds the
    /// emulator weakly and ends once the emulator is dropped.
    pub fn start_worker(&self) {
        let weak = Arc::downgrade(&self.inner);
        let wake = self.inner.wake.clone();
        tokio::spawn(async move {
            loop {
                let next = {
                    let Some(inner) = weak.upgrade() else { break };
                    let emu = ConstantContactEmulator { inner };
                    emu.advance(false)
                };
                let wait = next
                    .map(|t| t.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                }
            }
        });
    }

    fn advance(&self, force: bool) -> Option<Instant> {
        let timing = self.activity_timing();
        let now = self.now_ms();
        self.write()
            .advance_activities(Instant::now(), now, timing, force)
    }

    pub fn config(&self) -> &ConstantContactConfig {
        &self.inner.cfg
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Unix milliseconds on the emulator's clock.
    pub fn now_ms(&self) -> i64 {
        time::now_ms(&self.inner.clock)
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

    /// Changes the daily quota (`None` = unlimited).
    pub fn set_daily_quota(&self, limit: Option<u64>) {
        self.quota().limit = limit;
    }

    /// Sets how many requests `client_id` has used today (e.g. to test exhaustion quickly).
    pub fn set_quota_used(&self, client_id: &str, used: u64) {
        let now = self.now_ms();
        let mut q = self.quota();
        q.roll(now);
        q.used.insert(client_id.to_owned(), used);
    }

    /// Requests `client_id` has used today.
    pub fn quota_used(&self, client_id: &str) -> u64 {
        let now = self.now_ms();
        let mut q = self.quota();
        q.roll(now);
        q.used.get(client_id).copied().unwrap_or(0)
    }

    pub fn activity_timing(&self) -> ActivityTiming {
        *self.inner.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_activity_timing(&self, t: ActivityTiming) {
        *self.inner.timing.lock().unwrap_or_else(|e| e.into_inner()) = t;
        self.inner.wake.notify_one();
    }

    pub(crate) fn policy(&self) -> Policy {
        Policy {
            confirmed_opt_in: self.inner.cfg.confirmed_opt_in,
            sign_up_form_resubscribes: self.inner.cfg.sign_up_form_resubscribes,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn auth(&self) -> MutexGuard<'_, AuthState> {
        self.inner.auth.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn quota(&self) -> MutexGuard<'_, Quota> {
        self.inner.quota.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn wake_worker(&self) {
        self.inner.wake.notify_one();
    }

    /// Issues tokens directly, as if the OAuth flow had run for the first configured client
    /// with scope `contact_data offline_access`.
    pub fn issue_token(&self) -> TokenPair {
        let client = self
            .inner
            .cfg
            .clients
            .first()
            .map(|c| c.client_id.clone())
            .unwrap_or_default();
        let now = self.now_ms();
        let ttl = self.inner.cfg.access_token_ttl_secs;
        self.auth()
            .issue(&client, "contact_data offline_access", true, ttl, now)
    }

    /// Every access token issued so far expires now (refresh tokens stay valid).
    pub fn expire_access_tokens(&self) -> usize {
        let now = self.now_ms();
        self.auth().expire_access(now)
    }

    /// The contact with this email unsubscribes themselves (as through an unsubscribe link):
    /// `permission_to_send: unsubscribed`, `opt_out_source: Contact`, off every list. `false`
    /// if there is no such contact.
    pub fn unsubscribe_contact(&self, email: &str, reason: Option<String>) -> bool {
        let now = self.now_ms();
        self.write().self_unsubscribe(email, reason, now).is_some()
    }

    /// Completes every queued activity now.
    pub fn flush_activities(&self) {
        self.advance(true);
    }

    /// Waits until no activity is queued, or `timeout`.
    pub async fn wait_activities_idle(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.read().queued_activities() == 0 {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One contact as `/_admin/state` shows it, by email.
    pub fn contact_by_email(&self, email: &str) -> Option<Value> {
        let st = self.read();
        st.contact_by_email(email).map(|c| st.contact_dump(c))
    }

    /// Empties the account (contacts, lists, tags, fields, activities, consent log), the
    /// request log and quota usage, and clears faults. Tokens stay valid unless
    /// `revoke_tokens`.
    pub fn reset(&self, revoke_tokens: bool) {
        {
            let mut st = self.write();
            let seed = self.inner.cfg.rng_seed;
            *st = State::new(seed);
        }
        self.quota().used.clear();
        self.inner.log.clear();
        self.inner.faults.clear();
        self.inner.limiter.set_limit(self.inner.limiter.limit());
        if revoke_tokens {
            self.auth().revoke_all();
        }
    }

    /// What `GET /_admin/state` shows (`contacts: false` leaves the contact list out).
    pub fn state_json(&self, contacts: bool) -> Value {
        let now = self.now_ms();
        let quota = {
            let mut q = self.quota();
            q.roll(now);
            json!({
                "daily_limit": q.limit,
                "day": fmt_date(q.day * 86_400_000),
                "used": q.used,
                "total_used": q.used.values().sum::<u64>(),
            })
        };
        let st = self.read();
        let counts_by_status = {
            let mut m: BTreeMap<&str, usize> = BTreeMap::new();
            for c in &st.contacts {
                let s = if c.is_deleted() {
                    "deleted"
                } else {
                    c.permission.as_str()
                };
                *m.entry(s).or_default() += 1;
            }
            m
        };
        let list_counts = st.list_counts();
        let tag_counts = st.tag_counts();
        let lists: Vec<Value> = st
            .lists
            .iter()
            .map(|l| {
                let mut v = l.to_json(Some(list_counts.get(l.id.as_str()).map_or(0, |c| c.0)));
                v["active_count"] = json!(list_counts.get(l.id.as_str()).map_or(0, |c| c.1));
                v
            })
            .collect();
        let tags: Vec<Value> = st
            .tags
            .iter()
            .map(|t| t.to_json(Some(tag_counts.get(t.id.as_str()).copied().unwrap_or(0))))
            .collect();
        let fields: Vec<Value> = st.fields.iter().map(|f| f.to_json()).collect();
        let activities: Vec<Value> = st.activities.iter().map(|a| a.dump()).collect();
        let mut out = json!({
            "now": fmt_ms(now),
            "clock_offset_secs": self.inner.clock.offset(),
            "counts": {
                "contacts": st.contacts.len(),
                "by_status": counts_by_status,
                "lists": st.lists.len(),
                "tags": st.tags.len(),
                "custom_fields": st.fields.len(),
                "activities": st.activities.len(),
                "activities_queued": st.queued_activities(),
            },
            "lists": lists,
            "tags": tags,
            "custom_fields": fields,
            "activities": activities,
            "consent": st.consent.to_json(),
            "quota": quota,
            "rate_limit": self.rate_limit(),
            "activity_timing": self.activity_timing(),
            "tokens": self.auth().stats(now),
            "requests": self.inner.log.to_json(),
            "faults": {"config": self.inner.faults.config(), "counts": self.inner.faults.counts()},
        });
        if contacts {
            out["contacts"] =
                Value::Array(st.contacts.iter().map(|c| st.contact_dump(c)).collect());
        }
        out
    }
}

/// Starts a Constant Contact emulator on 127.0.0.1 (port 0 = a free port). The API is under
/// `{url}/v3`, OAuth under `{url}/oauth2/default/v1/{authorize,token}`, admin under
/// `{url}/_admin`.
pub async fn serve_constant_contact(
    cfg: ConstantContactConfig,
) -> io::Result<EmulatorHandle<ConstantContactEmulator>> {
    ConstantContactEmulator::new(cfg).serve().await
}
