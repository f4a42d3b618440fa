//! [`MailchimpEmulator`]: the shared state and controls of one emulated Mailchimp account,
//! usable from code and served over HTTP by `server`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::iso8601::sql_datetime;
use crate::common::{
    Clock, ConcurrencyLimiter, EmulatorHandle, Faults, RequestLog, bind_loopback, serve,
};

use super::config::MailchimpConfig;
use super::error::Problem;
use super::hash::subscriber_hash;
use super::model::{Actor, State, Status, list_dump};
use super::ops;

/// One emulated Mailchimp account. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct MailchimpEmulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: MailchimpConfig,
    pub state: RwLock<State>,
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub log: RequestLog,
    pub conns: Arc<ConcurrencyLimiter>,
    pub batch_delay_ms: AtomicU64,
    pub http: OnceLock<reqwest::Client>,
    pub webhooks_sent: AtomicU64,
    pub webhooks_failed: AtomicU64,
}

/// Why an `/_admin` action on a member failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("no list with id or name {0:?}")]
    NoList(String),
    #[error("{0} is not a member of that list")]
    NoMember(String),
}

impl MailchimpEmulator {
    pub fn new(cfg: MailchimpConfig) -> Self {
        let faults = Arc::new(Faults::new(cfg.faults.clone()));
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(State::new(cfg.rng_seed)),
                clock: Clock::new(),
                faults,
                log: RequestLog::default(),
                conns: Arc::new(ConcurrencyLimiter::new(cfg.max_concurrent)),
                batch_delay_ms: AtomicU64::new(cfg.batch_delay_ms),
                http: OnceLock::new(),
                webhooks_sent: AtomicU64::new(0),
                webhooks_failed: AtomicU64::new(0),
                cfg,
            }),
        }
    }

    /// Binds 127.0.0.1 and serves the API (`/3.0`) and `/_admin`.
    pub async fn serve(self) -> io::Result<EmulatorHandle<Self>> {
        let listener = bind_loopback(self.inner.cfg.port).await?;
        let router = super::server::router(self.clone());
        serve(listener, router, self)
    }

    pub fn config(&self) -> &MailchimpConfig {
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

    /// Requests by endpoint (`"PUT /3.0/lists/{list_id}/members/{subscriber_hash}"`) and status.
    pub fn requests(&self) -> &RequestLog {
        &self.inner.log
    }

    /// Simultaneous requests allowed per key (`None` = unlimited).
    pub fn set_max_concurrent(&self, limit: Option<usize>) {
        self.inner.conns.set_limit(limit);
    }

    pub fn max_concurrent(&self) -> Option<usize> {
        self.inner.conns.limit()
    }

    pub fn set_batch_delay(&self, d: Duration) {
        self.inner
            .batch_delay_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn batch_delay(&self) -> Duration {
        Duration::from_millis(self.inner.batch_delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        self.inner.http.get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_millis(self.inner.cfg.webhook_timeout_ms))
                .build()
                .unwrap_or_default()
        })
    }

    /// Forgets every list, member and batch (running batches stop) and the request counts;
    /// faults and limits stay.
    pub fn reset(&self) {
        let mut st = self.write();
        let generation = st.generation + 1;
        *st = State::new(self.inner.cfg.rng_seed);
        st.generation = generation;
        drop(st);
        self.inner.log.clear();
    }

    /// Creates an audience with placeholder contact details (as `POST /3.0/lists` would);
    /// returns its id.
    pub fn create_list(&self, name: &str) -> String {
        let body = json!({
            "name": name,
            "contact": {"company": "paysync", "address1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US"},
            "permission_reminder": "You bought something from us.",
            "email_type_option": false,
            "campaign_defaults": {"from_name": "paysync", "from_email": "hello@paysync.example", "subject": "", "language": "en"},
        });
        let now = self.now();
        let r = ops::create_list(&mut self.write(), now, &body).expect("valid list");
        r.body.expect("body")["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Simulates the person behind `email` unsubscribing from `list` (id or name), as an
    /// unsubscribe link would; the change is theirs, so the API can never undo it. Sends the
    /// list's `unsubscribe` webhooks (source `user`).
    pub fn unsubscribe(
        &self,
        email: &str,
        list: &str,
        reason: Option<&str>,
    ) -> Result<(), AdminError> {
        self.person_status(email, list, Status::Unsubscribed, reason)
    }

    /// Simulates a hard bounce: the member becomes `cleaned`. Sends `cleaned` webhooks.
    pub fn clean(&self, email: &str, list: &str) -> Result<(), AdminError> {
        self.person_status(email, list, Status::Cleaned, None)
    }

    fn person_status(
        &self,
        email: &str,
        list: &str,
        to: Status,
        reason: Option<&str>,
    ) -> Result<(), AdminError> {
        let now = self.now();
        let hash = subscriber_hash(email);
        let hooks = {
            let mut st = self.write();
            let ix = st
                .list_by_id_or_name(list)
                .ok_or_else(|| AdminError::NoList(list.to_owned()))?;
            let l = &mut st.lists[ix];
            let list_id = l.id.clone();
            let m = l
                .member_mut(&hash)
                .ok_or_else(|| AdminError::NoMember(email.to_owned()))?;
            m.status = to;
            m.archived = false;
            m.status_actor = Actor::Person;
            m.last_changed = now;
            if to == Status::Unsubscribed {
                m.unsubscribe_reason =
                    Some(reason.unwrap_or("N/A (Unsubscribed by user)").to_owned());
            }
            let mut form = vec![
                (
                    "type".to_owned(),
                    if to == Status::Unsubscribed {
                        "unsubscribe"
                    } else {
                        "cleaned"
                    }
                    .to_owned(),
                ),
                ("fired_at".to_owned(), sql_datetime(now)),
                ("data[id]".to_owned(), m.unique_email_id.clone()),
                ("data[list_id]".to_owned(), list_id.clone()),
                ("data[email]".to_owned(), m.email.clone()),
                ("data[email_type]".to_owned(), m.email_type.clone()),
                ("data[merges][EMAIL]".to_owned(), m.email.clone()),
            ];
            for (k, v) in &m.merge_fields {
                if let Some(s) = v.as_str() {
                    form.push((format!("data[merges][{k}]"), s.to_owned()));
                }
            }
            if to == Status::Unsubscribed {
                form.push(("data[action]".to_owned(), "unsub".to_owned()));
                form.push(("data[reason]".to_owned(), "manual".to_owned()));
            } else {
                form.push(("data[reason]".to_owned(), "hard".to_owned()));
            }
            if to == Status::Unsubscribed {
                l.last_unsub_date = Some(now);
            }
            let event = if to == Status::Unsubscribed {
                "unsubscribe"
            } else {
                "cleaned"
            };
            let urls: Vec<String> = l
                .webhooks
                .iter()
                .filter(|w| {
                    w.events
                        .get(event)
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .filter(|w| {
                    to == Status::Cleaned
                        || w.sources
                            .get("user")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                })
                .map(|w| w.url.clone())
                .collect();
            (urls, form)
        };
        let (urls, form) = hooks;
        for url in urls {
            let emu = self.clone();
            let form = form.clone();
            tokio::spawn(async move {
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .finish();
                let r = emu
                    .http()
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("user-agent", "MailChimp")
                    .body(body)
                    .send()
                    .await;
                let c = if r.is_ok_and(|r| r.status().is_success()) {
                    &emu.inner.webhooks_sent
                } else {
                    &emu.inner.webhooks_failed
                };
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        Ok(())
    }

    /// Checks a webhook URL with a GET, as Mailchimp does before saving one.
    pub(crate) async fn check_webhook_url(&self, url: &str) -> Result<(), Problem> {
        let ok = match self
            .http()
            .get(url)
            .header("user-agent", "MailChimp")
            .send()
            .await
        {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Problem::invalid_fields(vec![(
                "url".into(),
                "We couldn't verify the URL is working. Please double check and try again.".into(),
            )]))
        }
    }

    /// What `GET /_admin/state` shows: every list with its members (status, tags, merge
    /// fields), batches, request counts, limits and faults.
    pub fn state_json(&self) -> Value {
        let st = self.read();
        let batches: Vec<Value> = st
            .batches
            .iter()
            .map(|b| {
                json!({
                    "id": b.id,
                    "status": b.status,
                    "total_operations": b.total,
                    "finished_operations": b.finished,
                    "errored_operations": b.errored,
                })
            })
            .collect();
        json!({
            "now": self.now(),
            "lists": st.lists.iter().map(list_dump).collect::<Vec<_>>(),
            "batches": batches,
            "compliance_rejections": st.compliance_rejections,
            "requests": self.inner.log.to_json(),
            "limits": {
                "max_concurrent": self.max_concurrent(),
                "concurrency_rejections": self.inner.conns.rejected(),
                "peak_concurrent": self.inner.conns.peak(),
                "batch_delay_ms": self.batch_delay().as_millis() as u64,
            },
            "webhooks": {
                "sent": self.inner.webhooks_sent.load(Ordering::Relaxed),
                "failed": self.inner.webhooks_failed.load(Ordering::Relaxed),
            },
            "faults": {"config": self.inner.faults.config(), "counts": self.inner.faults.counts()},
        })
    }

    /// A member's status on a list (`"archived"` if archived), for tests.
    pub fn member_status(&self, list: &str, email: &str) -> Option<String> {
        let st = self.read();
        let l = &st.lists[st.list_by_id_or_name(list)?];
        let m = l.member(&subscriber_hash(email))?;
        Some(if m.archived {
            "archived".into()
        } else {
            m.status.as_str().into()
        })
    }
}

/// Starts a Mailchimp emulator on 127.0.0.1 (port 0 = a free port).
pub async fn serve_mailchimp(
    cfg: MailchimpConfig,
) -> io::Result<EmulatorHandle<MailchimpEmulator>> {
    MailchimpEmulator::new(cfg).serve().await
}
