//! [`ActiveCampaignEmulator`]: the shared state and controls of one emulated ActiveCampaign
//! account, usable from code and served over HTTP by `server`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    Clock, EmulatorHandle, Faults, KeyedLimiter, RateLimit, RequestLog, bind_loopback, serve,
};

use super::config::ActiveCampaignConfig;
use super::model::{Actor, Fmt, State, UNSUBSCRIBED};
use super::ops;

/// One emulated ActiveCampaign account. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ActiveCampaignEmulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: ActiveCampaignConfig,
    pub state: RwLock<State>,
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub limiter: KeyedLimiter,
    pub log: RequestLog,
    pub import_delay_ms: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// Why an `/_admin` action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("no list with id or name {0:?}")]
    NoList(String),
    #[error("no contact with email {0:?}")]
    NoContact(String),
}

impl ActiveCampaignEmulator {
    pub fn new(cfg: ActiveCampaignConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(State::new(cfg.rng_seed)),
                clock: Clock::new(),
                faults: Arc::new(Faults::new(cfg.faults.clone())),
                limiter: KeyedLimiter::new(cfg.rate_limit),
                log: RequestLog::default(),
                import_delay_ms: AtomicU64::new(cfg.import_delay_ms),
                rate_limited: AtomicU64::new(0),
                cfg,
            }),
        }
    }

    /// Binds 127.0.0.1 and serves the API (`/api/3`) and `/_admin`.
    pub async fn serve(self) -> io::Result<EmulatorHandle<Self>> {
        let listener = bind_loopback(self.inner.cfg.port).await?;
        let router = super::server::router(self.clone());
        serve(listener, router, self)
    }

    pub fn config(&self) -> &ActiveCampaignConfig {
        &self.inner.cfg
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn fmt(&self) -> Fmt {
        Fmt(self.inner.cfg.utc_offset_secs)
    }

    pub fn faults(&self) -> &Arc<Faults> {
        &self.inner.faults
    }

    /// Requests by endpoint (`"POST /api/3/contact/sync"`) and status.
    pub fn requests(&self) -> &RequestLog {
        &self.inner.log
    }

    /// The account's token bucket (`None` = unlimited); buckets start full again.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.inner.limiter.set_limit(limit);
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.limiter.limit()
    }

    pub fn set_import_delay(&self, d: Duration) {
        self.inner
            .import_delay_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn import_delay(&self) -> Duration {
        Duration::from_millis(self.inner.import_delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every contact, list, tag, field, import and Deep Data object (queued imports
    /// are dropped) and the request counts; faults and limits stay.
    pub fn reset(&self) {
        let mut st = self.write();
        let generation = st.generation + 1;
        *st = State::new(self.inner.cfg.rng_seed);
        st.generation = generation;
        drop(st);
        self.inner.log.clear();
    }

    /// Creates a list (as `POST /api/3/lists` would); returns its id.
    pub fn create_list(&self, name: &str) -> u64 {
        let stringid: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let body = json!({"list": {"name": name, "stringid": stringid, "sender_url": "https://paysync.example", "sender_reminder": "You bought something from us."}});
        let now = self.now();
        let (_, v) =
            ops::create_list(&mut self.write(), now, self.fmt(), &body).expect("valid list");
        v["list"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Simulates the person behind `email` unsubscribing from `list` (id or name), as the
    /// unsubscribe link in a campaign would.
    pub fn unsubscribe(
        &self,
        email: &str,
        list: &str,
        reason: Option<&str>,
    ) -> Result<(), AdminError> {
        let now = self.now();
        let mut st = self.write();
        let lid = st
            .list_by_id_or_name(list)
            .ok_or_else(|| AdminError::NoList(list.to_owned()))?;
        let cid = st
            .contact_by_email(email)
            .ok_or_else(|| AdminError::NoContact(email.to_owned()))?;
        let ix = ops::set_membership(&mut st, now, cid, lid, UNSUBSCRIBED, Actor::Person, 0);
        let cl = &mut st.contact_lists[ix];
        cl.changed_by = Actor::Person;
        cl.udate = now;
        cl.unsubreason = Some(reason.unwrap_or("Unsubscribed by the contact").to_owned());
        Ok(())
    }

    /// A contact's status on a list (1 active, 2 unsubscribed), for tests.
    pub fn list_status(&self, email: &str, list: &str) -> Option<u8> {
        let st = self.read();
        let lid = st.list_by_id_or_name(list)?;
        let cid = st.contact_by_email(email)?;
        st.cl_ix
            .get(&(cid, lid))
            .map(|&ix| st.contact_lists[ix].status)
    }

    /// Times the API moved an unsubscribed membership back to active.
    pub fn resubscriptions(&self) -> u64 {
        self.read().resubscriptions
    }

    /// What `GET /_admin/state` shows: every contact with its list statuses, tags and field
    /// values; lists, tags, fields, imports, Deep Data; request counts, limits and faults.
    pub fn state_json(&self) -> Value {
        let f = self.fmt();
        let st = self.read();
        // Group memberships, tags and field values by contact in one pass each.
        let mut lists_of: HashMap<u64, Vec<Value>> = HashMap::new();
        for cl in &st.contact_lists {
            lists_of.entry(cl.contact).or_default().push(json!({
                "list": cl.list,
                "list_name": st.list(cl.list).map(|l| l.name.as_str()),
                "status": cl.status,
                "changed_by": cl.changed_by.as_str(),
                "resubscribed": cl.resubscribed,
                "unsubreason": cl.unsubreason,
            }));
        }
        let mut tags_of: HashMap<u64, Vec<&str>> = HashMap::new();
        for ct in st.contact_tags.iter().flatten() {
            if let Some(t) = st.tag(ct.tag) {
                tags_of.entry(ct.contact).or_default().push(t.tag.as_str());
            }
        }
        let mut fields_of: HashMap<u64, serde_json::Map<String, Value>> = HashMap::new();
        for v in &st.field_values {
            let Some(fl) = st.field(v.field) else {
                continue;
            };
            let shown = if ops::multi_valued(&fl.kind) {
                json!(
                    v.value
                        .split("||")
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                )
            } else {
                json!(v.value)
            };
            fields_of
                .entry(v.contact)
                .or_default()
                .insert(fl.title.clone(), shown);
        }
        let contacts: Vec<Value> = st
            .live_contacts()
            .map(|c| {
                json!({
                    "id": c.id,
                    "email": c.email,
                    "firstName": c.first_name,
                    "lastName": c.last_name,
                    "phone": c.phone,
                    "udate": f.t(c.udate),
                    "lists": lists_of.remove(&c.id).unwrap_or_default(),
                    "tags": tags_of.remove(&c.id).unwrap_or_default(),
                    "fields": fields_of.remove(&c.id).unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "now": self.now(),
            "contacts": contacts,
            "lists": st.lists.iter().map(|l| json!({"id": l.id, "name": l.name, "stringid": l.stringid})).collect::<Vec<_>>(),
            "tags": st.tags.iter().map(|t| json!({"id": t.id, "tag": t.tag, "tagType": t.tag_type})).collect::<Vec<_>>(),
            "fields": st.fields.iter().map(|fl| json!({"id": fl.id, "title": fl.title, "type": fl.kind, "perstag": fl.perstag})).collect::<Vec<_>>(),
            "field_rels": st.field_rels.iter().map(|r| json!({"field": r.field, "relid": r.relid})).collect::<Vec<_>>(),
            "imports": st.imports.iter().map(|i| json!({
                "batchId": i.batch_id, "status": i.status, "queued": i.queued,
                "success": i.success.len(), "failure": i.failure, "skipped_resubscribes": i.skipped_resubscribes,
            })).collect::<Vec<_>>(),
            "connections": st.connections.iter().flatten().map(|c| json!({"id": c.id, "service": c.service, "externalid": c.externalid})).collect::<Vec<_>>(),
            "ecom_customers": st.ecom_customers.iter().flatten().map(|c| json!({"id": c.id, "connectionid": c.connectionid, "externalid": c.externalid, "email": c.email, "acceptsMarketing": c.accepts_marketing})).collect::<Vec<_>>(),
            "ecom_orders": st.ecom_orders.iter().flatten().map(|o| json!({
                "id": o.id, "connectionid": o.connectionid, "customerid": o.customerid,
                "externalid": o.fields.get("externalid"), "source": o.fields.get("source"),
                "totalPrice": o.fields.get("totalPrice"), "currency": o.fields.get("currency"),
                "products": o.products.len(),
            })).collect::<Vec<_>>(),
            "resubscriptions": st.resubscriptions,
            "requests": self.inner.log.to_json(),
            "limits": {
                "rate_limit": self.rate_limit(),
                "rate_limited": self.inner.rate_limited.load(Ordering::Relaxed),
                "import_delay_ms": self.import_delay().as_millis() as u64,
            },
            "faults": {"config": self.inner.faults.config(), "counts": self.inner.faults.counts()},
        })
    }
}

/// Starts an ActiveCampaign emulator on 127.0.0.1 (port 0 = a free port).
pub async fn serve_activecampaign(
    cfg: ActiveCampaignConfig,
) -> io::Result<EmulatorHandle<ActiveCampaignEmulator>> {
    ActiveCampaignEmulator::new(cfg).serve().await
}
