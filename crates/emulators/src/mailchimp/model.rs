//! The account's data: audiences (lists) with their merge fields, members, tags, webhooks and
//! forgotten (permanently deleted) addresses; batch operations. Rendering to the API's JSON.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use crate::common::iso8601::iso8601;
use crate::common::random::random_hex;

/// A member's subscription status (vendor spec enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Subscribed,
    Unsubscribed,
    Cleaned,
    Pending,
    Transactional,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "subscribed" => Self::Subscribed,
            "unsubscribed" => Self::Unsubscribed,
            "cleaned" => Self::Cleaned,
            "pending" => Self::Pending,
            "transactional" => Self::Transactional,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribed => "subscribed",
            Self::Unsubscribed => "unsubscribed",
            Self::Cleaned => "cleaned",
            Self::Pending => "pending",
            Self::Transactional => "transactional",
        }
    }
}

/// Who last changed a member's status (kept for the state dump; Mailchimp shows it as the
/// unsubscribe reason / source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Api,
    /// The person (an unsubscribe link, a bounce), simulated through `/_admin`.
    Person,
}

#[derive(Clone, Debug)]
pub struct MergeField {
    pub merge_id: u32,
    pub tag: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub default_value: String,
    pub public: bool,
    pub display_order: u32,
    pub options: Value,
    pub help_text: String,
}

#[derive(Clone, Debug)]
pub struct Member {
    /// Subscriber hash: MD5 of the lowercased address.
    pub hash: String,
    pub email: String,
    pub unique_email_id: String,
    pub contact_id: String,
    pub web_id: u64,
    pub email_type: String,
    pub status: Status,
    /// Archived (`DELETE`): hidden from lists, `status` keeps the consent it had.
    pub archived: bool,
    pub merge_fields: Map<String, Value>,
    /// (tag id, date added).
    pub tags: Vec<(u64, i64)>,
    pub language: String,
    pub vip: bool,
    pub ip_signup: String,
    pub timestamp_signup: Option<i64>,
    pub ip_opt: String,
    pub timestamp_opt: Option<i64>,
    pub last_changed: i64,
    pub created: i64,
    pub unsubscribe_reason: Option<String>,
    pub status_actor: Actor,
}

#[derive(Clone, Debug)]
pub struct TagDef {
    pub id: u64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Map<String, Value>,
    pub sources: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct List {
    pub id: String,
    pub web_id: u64,
    pub name: String,
    pub contact: Value,
    pub permission_reminder: String,
    pub use_archive_bar: bool,
    pub campaign_defaults: Value,
    pub notify_on_subscribe: String,
    pub notify_on_unsubscribe: String,
    pub email_type_option: bool,
    pub double_optin: bool,
    pub marketing_permissions: bool,
    pub visibility: String,
    pub date_created: i64,
    pub merge_fields: Vec<MergeField>,
    pub next_merge_id: u32,
    pub members: Vec<Member>,
    /// hash → index in `members`.
    pub member_ix: HashMap<String, usize>,
    /// contact_id → hash.
    pub contact_ix: HashMap<String, String>,
    pub tags: Vec<TagDef>,
    /// Hashes of permanently deleted addresses.
    pub forgotten: HashSet<String>,
    pub webhooks: Vec<Webhook>,
    pub last_sub_date: Option<i64>,
    pub last_unsub_date: Option<i64>,
}

impl List {
    pub fn member(&self, hash: &str) -> Option<&Member> {
        self.member_ix.get(hash).map(|&i| &self.members[i])
    }

    pub fn member_mut(&mut self, hash: &str) -> Option<&mut Member> {
        self.member_ix.get(hash).map(|&i| &mut self.members[i])
    }

    /// The member whose hash, address or contact id is `id` (the path accepts all three).
    pub fn resolve(&self, id: &str) -> Option<String> {
        let key = if id.contains('@') {
            super::hash::subscriber_hash(id)
        } else {
            id.to_ascii_lowercase()
        };
        if self.member_ix.contains_key(&key) {
            return Some(key);
        }
        self.contact_ix.get(id).cloned()
    }

    pub fn insert_member(&mut self, m: Member) {
        self.member_ix.insert(m.hash.clone(), self.members.len());
        self.contact_ix.insert(m.contact_id.clone(), m.hash.clone());
        self.members.push(m);
    }

    pub fn remove_member(&mut self, hash: &str) -> Option<Member> {
        let ix = self.member_ix.remove(hash)?;
        let m = self.members.remove(ix);
        self.contact_ix.remove(&m.contact_id);
        for (i, mm) in self.members.iter().enumerate().skip(ix) {
            self.member_ix.insert(mm.hash.clone(), i);
        }
        Some(m)
    }

    pub fn tag_by_name(&self, name: &str) -> Option<&TagDef> {
        self.tags.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn tag_name(&self, id: u64) -> &str {
        self.tags
            .iter()
            .find(|t| t.id == id)
            .map_or("", |t| t.name.as_str())
    }

    pub fn count(&self, status: Status) -> usize {
        self.members
            .iter()
            .filter(|m| !m.archived && m.status == status)
            .count()
    }
}

/// A `POST /batches` request and its progress.
#[derive(Clone, Debug)]
pub struct Batch {
    pub id: String,
    pub status: &'static str,
    pub total: usize,
    pub finished: usize,
    pub errored: usize,
    pub submitted_at: i64,
    pub completed_at: Option<i64>,
    pub operations: Vec<Value>,
    /// The results archive (tar.gz), once finished.
    pub results: Option<Arc<Vec<u8>>>,
}

#[derive(Debug)]
pub struct State {
    pub rng: StdRng,
    pub lists: Vec<List>,
    pub batches: Vec<Batch>,
    pub next_web_id: u64,
    pub next_tag_id: u64,
    /// Attempts refused because they would have re-subscribed someone (compliance state,
    /// forgotten address): 0 is what paysync must achieve.
    pub compliance_rejections: u64,
    /// Bumped by `reset`, so background batch tasks of the old state stop.
    pub generation: u64,
}

impl State {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            lists: Vec::new(),
            batches: Vec::new(),
            next_web_id: 100_001,
            next_tag_id: 10_001,
            compliance_rejections: 0,
            generation: 0,
        }
    }

    pub fn hex(&mut self, n: usize) -> String {
        random_hex(&mut self.rng, n)
    }

    pub fn web_id(&mut self) -> u64 {
        self.next_web_id += 1;
        self.next_web_id
    }

    pub fn list(&self, id: &str) -> Option<&List> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// By id, or by name (for `/_admin` convenience).
    pub fn list_by_id_or_name(&self, key: &str) -> Option<usize> {
        self.lists
            .iter()
            .position(|l| l.id == key)
            .or_else(|| self.lists.iter().position(|l| l.name == key))
    }

    pub fn batch(&self, id: &str) -> Option<&Batch> {
        self.batches.iter().find(|b| b.id == id)
    }

    pub fn batch_mut(&mut self, id: &str) -> Option<&mut Batch> {
        self.batches.iter_mut().find(|b| b.id == id)
    }
}

fn ts(t: Option<i64>) -> Value {
    t.map_or(Value::String(String::new()), |t| {
        Value::String(iso8601(t, 0))
    })
}

pub fn merge_field_json(list_id: &str, f: &MergeField) -> Value {
    json!({
        "merge_id": f.merge_id,
        "tag": f.tag,
        "name": f.name,
        "type": f.kind,
        "required": f.required,
        "default_value": f.default_value,
        "public": f.public,
        "display_order": f.display_order,
        "options": f.options,
        "help_text": f.help_text,
        "list_id": list_id,
        "_links": [],
    })
}

pub fn member_json(list: &List, m: &Member) -> Value {
    let mut merges = Map::new();
    for f in &list.merge_fields {
        let v = m
            .merge_fields
            .get(&f.tag)
            .cloned()
            .unwrap_or(Value::String(String::new()));
        merges.insert(f.tag.clone(), v);
    }
    let s = |k: &str| {
        m.merge_fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let full_name = format!("{} {}", s("FNAME"), s("LNAME")).trim().to_owned();
    let tags: Vec<Value> = m
        .tags
        .iter()
        .map(|(id, _)| json!({"id": id, "name": list.tag_name(*id)}))
        .collect();
    let mut v = json!({
        "id": m.hash,
        "email_address": m.email,
        "unique_email_id": m.unique_email_id,
        "contact_id": m.contact_id,
        "full_name": full_name,
        "web_id": m.web_id,
        "email_type": m.email_type,
        "status": if m.archived { "archived" } else { m.status.as_str() },
        "consents_to_one_to_one_messaging": true,
        "merge_fields": merges,
        "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
        "ip_signup": m.ip_signup,
        "timestamp_signup": ts(m.timestamp_signup),
        "ip_opt": m.ip_opt,
        "timestamp_opt": ts(m.timestamp_opt),
        "member_rating": 2,
        "last_changed": iso8601(m.last_changed, 0),
        "language": m.language,
        "vip": m.vip,
        "email_client": "",
        "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": "", "region": ""},
        "source": "API - Generic",
        "tags_count": tags.len(),
        "tags": tags,
        "list_id": list.id,
        "_links": [],
    });
    if m.status == Status::Unsubscribed && !m.archived {
        v["unsubscribe_reason"] = Value::String(
            m.unsubscribe_reason
                .clone()
                .unwrap_or_else(|| "N/A (Unsubscribed by an admin)".into()),
        );
    }
    v
}

pub fn list_json(l: &List, include_total: bool) -> Value {
    let mut stats = json!({
        "member_count": l.count(Status::Subscribed),
        "unsubscribe_count": l.count(Status::Unsubscribed),
        "cleaned_count": l.count(Status::Cleaned),
        "member_count_since_send": l.count(Status::Subscribed),
        "unsubscribe_count_since_send": l.count(Status::Unsubscribed),
        "cleaned_count_since_send": l.count(Status::Cleaned),
        "campaign_count": 0,
        "campaign_last_sent": "",
        "merge_field_count": l.merge_fields.len(),
        "avg_sub_rate": 0,
        "avg_unsub_rate": 0,
        "target_sub_rate": 0,
        "open_rate": 0,
        "click_rate": 0,
        "last_sub_date": ts(l.last_sub_date),
        "last_unsub_date": ts(l.last_unsub_date),
    });
    if include_total {
        stats["total_contacts"] = json!(l.members.len());
    }
    json!({
        "id": l.id,
        "web_id": l.web_id,
        "name": l.name,
        "contact": l.contact,
        "permission_reminder": l.permission_reminder,
        "use_archive_bar": l.use_archive_bar,
        "campaign_defaults": l.campaign_defaults,
        "notify_on_subscribe": l.notify_on_subscribe,
        "notify_on_unsubscribe": l.notify_on_unsubscribe,
        "date_created": iso8601(l.date_created, 0),
        "list_rating": 0,
        "email_type_option": l.email_type_option,
        "subscribe_url_short": format!("http://eepurl.com/{}", &l.id[..6.min(l.id.len())]),
        "subscribe_url_long": format!("https://emulator.us1.list-manage.com/subscribe?u=0&id={}", l.id),
        "beamer_address": format!("us1-{}@inbound.mailchimp.com", l.id),
        "visibility": l.visibility,
        "double_optin": l.double_optin,
        "has_welcome": false,
        "marketing_permissions": l.marketing_permissions,
        "modules": [],
        "stats": stats,
        "_links": [],
    })
}

pub fn webhook_json(list_id: &str, w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "sources": w.sources,
        "list_id": list_id,
        "_links": [],
    })
}

pub fn batch_json(b: &Batch, results_base: &str) -> Value {
    json!({
        "id": b.id,
        "status": b.status,
        "total_operations": b.total,
        "finished_operations": b.finished,
        "errored_operations": b.errored,
        "submitted_at": iso8601(b.submitted_at, 0),
        "completed_at": ts(b.completed_at),
        "response_body_url": if b.results.is_some() {
            format!("{results_base}/_batch-results/{}.tar.gz", b.id)
        } else {
            String::new()
        },
        "_links": [],
    })
}

/// Everything about a list for `/_admin/state`.
pub fn list_dump(l: &List) -> Value {
    let members: Vec<Value> = l
        .members
        .iter()
        .map(|m| {
            let tags: Vec<&str> = m.tags.iter().map(|(id, _)| l.tag_name(*id)).collect();
            json!({
                "email": m.email,
                "hash": m.hash,
                "status": m.status.as_str(),
                "archived": m.archived,
                "status_changed_by": match m.status_actor { Actor::Api => "api", Actor::Person => "person" },
                "unsubscribe_reason": m.unsubscribe_reason,
                "merge_fields": m.merge_fields,
                "tags": tags,
                "last_changed": iso8601(m.last_changed, 0),
            })
        })
        .collect();
    let mut forgotten: Vec<&String> = l.forgotten.iter().collect();
    forgotten.sort();
    json!({
        "id": l.id,
        "name": l.name,
        "merge_fields": l.merge_fields.iter().map(|f| json!({"tag": f.tag, "name": f.name, "type": f.kind, "required": f.required})).collect::<Vec<_>>(),
        "tags": l.tags.iter().map(|t| json!({"id": t.id, "name": t.name})).collect::<Vec<_>>(),
        "webhooks": l.webhooks.iter().map(|w| webhook_json(&l.id, w)).collect::<Vec<_>>(),
        "forgotten_hashes": forgotten,
        "counts": {
            "members": l.members.len(),
            "subscribed": l.count(Status::Subscribed),
            "unsubscribed": l.count(Status::Unsubscribed),
            "cleaned": l.count(Status::Cleaned),
            "pending": l.count(Status::Pending),
            "transactional": l.count(Status::Transactional),
            "archived": l.members.iter().filter(|m| m.archived).count(),
        },
        "members": members,
    })
}
