//! The account's data and its JSON. Ids are sequential integers shown as strings, as
//! ActiveCampaign does; timestamps are shown at the account's UTC offset.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use crate::common::iso8601::{iso8601, sql_datetime};

/// Contact-list statuses (docs: 1 active, 2 unsubscribed; 0 unconfirmed, 3 bounced).
pub const ACTIVE: u8 = 1;
pub const UNSUBSCRIBED: u8 = 2;

#[derive(Clone, Debug)]
pub struct Contact {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub cdate: i64,
    pub udate: i64,
    pub hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Api,
    Import,
    /// The person, simulated through `/_admin/unsubscribe`.
    Person,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Api => "api",
            Actor::Import => "import",
            Actor::Person => "person",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ContactList {
    pub id: u64,
    pub contact: u64,
    pub list: u64,
    pub status: u8,
    pub sdate: Option<i64>,
    pub udate: i64,
    pub unsubreason: Option<String>,
    pub sourceid: u64,
    pub changed_by: Actor,
    /// Times this membership went from unsubscribed back to active (0 is what paysync must
    /// achieve; the API allows it).
    pub resubscribed: u32,
}

#[derive(Clone, Debug)]
pub struct AcList {
    pub id: u64,
    pub name: String,
    pub stringid: String,
    pub sender_url: String,
    pub sender_reminder: String,
    pub cdate: i64,
    pub udate: i64,
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Tag {
    pub id: u64,
    pub tag: String,
    pub tag_type: String,
    pub description: String,
    pub cdate: i64,
}

#[derive(Clone, Debug)]
pub struct ContactTag {
    pub id: u64,
    pub contact: u64,
    pub tag: u64,
    pub cdate: i64,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub id: u64,
    pub title: String,
    pub kind: String,
    pub descript: String,
    pub perstag: String,
    pub defval: String,
    pub visible: bool,
    pub ordernum: u64,
    pub cdate: i64,
    pub udate: i64,
}

#[derive(Clone, Debug)]
pub struct FieldRel {
    pub id: u64,
    pub field: u64,
    pub relid: u64,
    pub cdate: i64,
}

#[derive(Clone, Debug)]
pub struct FieldValue {
    pub id: u64,
    pub contact: u64,
    pub field: u64,
    pub value: String,
    pub cdate: i64,
    pub udate: i64,
}

#[derive(Clone, Debug)]
pub struct Connection {
    pub id: u64,
    pub service: String,
    pub externalid: String,
    pub name: String,
    pub logo_url: String,
    pub link_url: String,
    pub list_id: Option<String>,
    pub cdate: i64,
    pub udate: i64,
}

#[derive(Clone, Debug)]
pub struct EcomCustomer {
    pub id: u64,
    pub connectionid: u64,
    pub externalid: String,
    pub email: String,
    pub accepts_marketing: u8,
    pub udate: i64,
}

#[derive(Clone, Debug)]
pub struct EcomOrder {
    pub id: u64,
    pub fields: Map<String, Value>,
    pub products: Vec<Value>,
    pub discounts: Vec<Value>,
    pub connectionid: u64,
    pub customerid: u64,
    pub cdate: i64,
    pub udate: i64,
}

#[derive(Clone, Debug)]
pub struct Import {
    pub batch_id: String,
    pub status: &'static str,
    pub contacts: Vec<Value>,
    pub queued: usize,
    pub success: Vec<String>,
    pub failure: Vec<String>,
    /// Subscriptions left out because the contact had unsubscribed from that list.
    pub skipped_resubscribes: usize,
    pub submitted: i64,
    pub completed: Option<i64>,
}

#[derive(Debug)]
pub struct State {
    pub rng: StdRng,
    /// By id - 1; a deleted contact's slot is `None` (ids are never reused).
    pub contacts: Vec<Option<Contact>>,
    pub by_email: HashMap<String, u64>,
    pub contact_lists: Vec<ContactList>,
    pub cl_ix: HashMap<(u64, u64), usize>,
    pub lists: Vec<AcList>,
    pub tags: Vec<Tag>,
    pub contact_tags: Vec<Option<ContactTag>>,
    pub ct_ix: HashMap<(u64, u64), u64>,
    pub fields: Vec<Field>,
    pub field_rels: Vec<FieldRel>,
    pub field_values: Vec<FieldValue>,
    pub fv_ix: HashMap<(u64, u64), usize>,
    pub connections: Vec<Option<Connection>>,
    pub ecom_customers: Vec<Option<EcomCustomer>>,
    pub ecom_orders: Vec<Option<EcomOrder>>,
    pub imports: Vec<Import>,
    pub import_calls: VecDeque<(Instant, bool)>,
    pub resubscriptions: u64,
    pub generation: u64,
}

impl State {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            contacts: Vec::new(),
            by_email: HashMap::new(),
            contact_lists: Vec::new(),
            cl_ix: HashMap::new(),
            lists: Vec::new(),
            tags: Vec::new(),
            contact_tags: Vec::new(),
            ct_ix: HashMap::new(),
            fields: Vec::new(),
            field_rels: Vec::new(),
            field_values: Vec::new(),
            fv_ix: HashMap::new(),
            connections: Vec::new(),
            ecom_customers: Vec::new(),
            ecom_orders: Vec::new(),
            imports: Vec::new(),
            import_calls: VecDeque::new(),
            resubscriptions: 0,
            generation: 0,
        }
    }

    pub fn contact(&self, id: u64) -> Option<&Contact> {
        id.checked_sub(1)
            .and_then(|i| self.contacts.get(i as usize))
            .and_then(Option::as_ref)
    }

    pub fn contact_mut(&mut self, id: u64) -> Option<&mut Contact> {
        id.checked_sub(1)
            .and_then(|i| self.contacts.get_mut(i as usize))
            .and_then(Option::as_mut)
    }

    /// Every live contact, in id order.
    pub fn live_contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.iter().flatten()
    }

    /// `DELETE /contacts/{id}`: the contact is gone with its tags and field values; rows keyed by
    /// its id (list statuses) stay orphaned, holding nothing personal. Its e-commerce customers are
    /// separate resources and stay.
    pub fn delete_contact(&mut self, id: u64) -> bool {
        let Some(contact) = id
            .checked_sub(1)
            .and_then(|i| self.contacts.get_mut(i as usize))
            .and_then(Option::take)
        else {
            return false;
        };
        self.by_email.remove(&contact.email.to_lowercase());
        for ct in &mut self.contact_tags {
            if ct.as_ref().is_some_and(|t| t.contact == id) {
                *ct = None;
            }
        }
        self.ct_ix.retain(|(contact, _), _| *contact != id);
        for v in self.field_values.iter_mut().filter(|v| v.contact == id) {
            v.value.clear();
        }
        true
    }

    pub fn contact_by_email(&self, email: &str) -> Option<u64> {
        self.by_email.get(&email.trim().to_lowercase()).copied()
    }

    pub fn list(&self, id: u64) -> Option<&AcList> {
        id.checked_sub(1).and_then(|i| self.lists.get(i as usize))
    }

    pub fn tag(&self, id: u64) -> Option<&Tag> {
        id.checked_sub(1).and_then(|i| self.tags.get(i as usize))
    }

    pub fn tag_by_name(&self, name: &str) -> Option<u64> {
        self.tags
            .iter()
            .find(|t| t.tag.eq_ignore_ascii_case(name.trim()))
            .map(|t| t.id)
    }

    pub fn field(&self, id: u64) -> Option<&Field> {
        id.checked_sub(1).and_then(|i| self.fields.get(i as usize))
    }

    pub fn connection(&self, id: u64) -> Option<&Connection> {
        id.checked_sub(1)
            .and_then(|i| self.connections.get(i as usize))
            .and_then(Option::as_ref)
    }

    pub fn ecom_customer(&self, id: u64) -> Option<&EcomCustomer> {
        id.checked_sub(1)
            .and_then(|i| self.ecom_customers.get(i as usize))
            .and_then(Option::as_ref)
    }

    pub fn list_by_id_or_name(&self, key: &str) -> Option<u64> {
        key.parse::<u64>()
            .ok()
            .filter(|id| self.list(*id).is_some())
            .or_else(|| self.lists.iter().find(|l| l.name == key).map(|l| l.id))
    }
}

/// Renders times at the account's offset.
#[derive(Clone, Copy, Debug)]
pub struct Fmt(pub i32);

impl Fmt {
    pub fn t(self, t: i64) -> String {
        iso8601(t, self.0)
    }

    pub fn opt(self, t: Option<i64>) -> Value {
        t.map_or(Value::Null, |t| Value::String(self.t(t)))
    }
}

pub fn contact_json(c: &Contact, f: Fmt) -> Value {
    let id = c.id;
    let link = |what: &str| format!("/api/3/contacts/{id}/{what}");
    let (local, domain) = c.email.rsplit_once('@').unwrap_or((&c.email, ""));
    let links = json!({
            "bounceLogs": link("bounceLogs"),
            "contactAutomations": link("contactAutomations"),
            "contactData": link("contactData"),
            "contactGoals": link("contactGoals"),
            "contactLists": link("contactLists"),
            "contactLogs": link("contactLogs"),
            "contactTags": link("contactTags"),
            "contactDeals": link("contactDeals"),
            "deals": link("deals"),
            "fieldValues": link("fieldValues"),
            "geoIps": link("geoIps"),
            "notes": link("notes"),
            "organization": link("organization"),
            "plusAppend": link("plusAppend"),
            "trackingLogs": link("trackingLogs"),
            "scoreValues": link("scoreValues"),
    });
    json!({
        "cdate": f.t(c.cdate),
        "email": c.email,
        "phone": c.phone,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "orgid": "0",
        "orgname": "",
        "segmentio_id": "",
        "bounced_hard": "0",
        "bounced_soft": "0",
        "bounced_date": null,
        "ip": "0",
        "ua": null,
        "hash": c.hash,
        "socialdata_lastcheck": null,
        "email_local": local,
        "email_domain": domain,
        "sentcnt": "0",
        "rating_tstamp": null,
        "gravatar": "0",
        "deleted": "0",
        "anonymized": "0",
        "adate": null,
        "udate": f.t(c.udate),
        "edate": null,
        "deleted_at": null,
        "created_utc_timestamp": sql_datetime(c.cdate),
        "updated_utc_timestamp": sql_datetime(c.udate),
        "email_empty": c.email.is_empty(),
        "links": links,
        "id": id.to_string(),
        "organization": null,
    })
}

pub fn contact_list_json(cl: &ContactList, c: Option<&Contact>, f: Fmt) -> Value {
    let id = cl.id;
    json!({
        "contact": cl.contact.to_string(),
        "list": cl.list.to_string(),
        "form": null,
        "seriesid": "0",
        "sdate": f.opt(cl.sdate),
        "udate": f.t(cl.udate),
        "status": cl.status.to_string(),
        "responder": "1",
        "sync": "0",
        "unsubreason": cl.unsubreason,
        "campaign": null,
        "message": null,
        "first_name": c.map_or("", |c| c.first_name.as_str()),
        "last_name": c.map_or("", |c| c.last_name.as_str()),
        "ip4Sub": "0",
        "sourceid": cl.sourceid.to_string(),
        "autosyncLog": null,
        "ip4_last": "0",
        "ip4Unsub": "0",
        "created_timestamp": sql_datetime(cl.sdate.unwrap_or(cl.udate)),
        "updated_timestamp": sql_datetime(cl.udate),
        "created_by": null,
        "updated_by": null,
        "unsubscribeAutomation": null,
        "links": {
            "automation": format!("/api/3/contactLists/{id}/automation"),
            "list": format!("/api/3/contactLists/{id}/list"),
            "contact": format!("/api/3/contactLists/{id}/contact"),
        },
        "id": id.to_string(),
        "automation": null,
    })
}

pub fn list_json(l: &AcList, f: Fmt) -> Value {
    let mut v = json!({
        "stringid": l.stringid,
        "userid": "1",
        "name": l.name,
        "cdate": f.t(l.cdate),
        "udate": f.t(l.udate),
        "sender_url": l.sender_url,
        "sender_reminder": l.sender_reminder,
        "send_last_broadcast": "0",
        "private": "0",
        "optinoptout": "1",
        "links": {
            "contactGoalLists": format!("/api/3/lists/{}/contactGoalLists", l.id),
            "user": format!("/api/3/lists/{}/user", l.id),
            "addressLists": format!("/api/3/lists/{}/addressLists", l.id),
        },
        "id": l.id.to_string(),
    });
    for (k, x) in &l.extra {
        if v.get(k).is_none() {
            v[k] = x.clone();
        }
    }
    v
}

pub fn tag_json(t: &Tag, f: Fmt) -> Value {
    json!({
        "tagType": t.tag_type,
        "tag": t.tag,
        "description": t.description,
        "cdate": f.t(t.cdate),
        "links": {"contactGoalTags": format!("/api/3/tags/{}/contactGoalTags", t.id)},
        "id": t.id.to_string(),
    })
}

pub fn contact_tag_json(ct: &ContactTag, f: Fmt) -> Value {
    json!({
        "cdate": f.t(ct.cdate),
        "contact": ct.contact.to_string(),
        "id": ct.id.to_string(),
        "links": {
            "contact": format!("/api/3/contactTags/{}/contact", ct.id),
            "tag": format!("/api/3/contactTags/{}/tag", ct.id),
        },
        "tag": ct.tag.to_string(),
    })
}

pub fn field_json(fl: &Field, rels: &[&FieldRel], f: Fmt) -> Value {
    json!({
        "title": fl.title,
        "descript": fl.descript,
        "type": fl.kind,
        "isrequired": "0",
        "perstag": fl.perstag,
        "defval": fl.defval,
        "show_in_list": "0",
        "rows": "0",
        "cols": "0",
        "visible": if fl.visible { "1" } else { "0" },
        "service": "",
        "ordernum": fl.ordernum.to_string(),
        "cdate": f.t(fl.cdate),
        "udate": f.t(fl.udate),
        "options": [],
        "relations": rels.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(),
        "links": {
            "options": format!("/api/3/fields/{}/options", fl.id),
            "relations": format!("/api/3/fields/{}/relations", fl.id),
        },
        "id": fl.id.to_string(),
    })
}

pub fn field_rel_json(r: &FieldRel, f: Fmt) -> Value {
    json!({
        "relid": r.relid,
        "field": r.field,
        "cdate": f.t(r.cdate),
        "links": [],
        "id": r.id.to_string(),
    })
}

pub fn field_value_json(v: &FieldValue, f: Fmt) -> Value {
    json!({
        "contact": v.contact.to_string(),
        "field": v.field.to_string(),
        "value": v.value,
        "cdate": f.t(v.cdate),
        "udate": f.t(v.udate),
        "created_by": null,
        "updated_by": null,
        "links": {
            "owner": format!("/api/3/fieldValues/{}/owner", v.id),
            "field": format!("/api/3/fieldValues/{}/field", v.id),
        },
        "id": v.id.to_string(),
        "owner": v.contact.to_string(),
    })
}

pub fn connection_json(c: &Connection, f: Fmt) -> Value {
    json!({
        "isInternal": "0",
        "service": c.service,
        "externalid": c.externalid,
        "name": c.name,
        "logoUrl": c.logo_url,
        "linkUrl": c.link_url,
        "listId": c.list_id,
        "connectionType": "ecommerce",
        "status": "1",
        "syncStatus": "0",
        "cdate": f.t(c.cdate),
        "udate": f.t(c.udate),
        "links": {"customers": format!("/api/3/connections/{}/customers", c.id)},
        "id": c.id.to_string(),
    })
}

pub fn ecom_customer_json(c: &EcomCustomer, orders: &[&EcomOrder], f: Fmt) -> Value {
    let revenue: i64 = orders
        .iter()
        .filter_map(|o| o.fields.get("totalPrice").and_then(Value::as_i64))
        .sum();
    let products: usize = orders.iter().map(|o| o.products.len()).sum();
    json!({
        "connectionid": c.connectionid.to_string(),
        "externalid": c.externalid,
        "email": c.email,
        "acceptsMarketing": c.accepts_marketing.to_string(),
        "totalRevenue": revenue.to_string(),
        "totalOrders": orders.len().to_string(),
        "totalProducts": products.to_string(),
        "avgRevenuePerOrder": if orders.is_empty() { "0".to_owned() } else { (revenue / orders.len() as i64).to_string() },
        "tstamp": f.t(c.udate),
        "links": {
            "connection": format!("/api/3/ecomCustomers/{}/connection", c.id),
            "orders": format!("/api/3/ecomCustomers/{}/orders", c.id),
        },
        "id": c.id.to_string(),
        "connection": c.connectionid.to_string(),
    })
}

pub fn ecom_order_json(o: &EcomOrder, f: Fmt) -> Value {
    let mut v = Value::Object(o.fields.clone());
    v["connectionid"] = json!(o.connectionid.to_string());
    v["customerid"] = json!(o.customerid.to_string());
    v["connection"] = json!(o.connectionid.to_string());
    v["customer"] = json!(o.customerid.to_string());
    v["totalProducts"] = json!(o.products.len());
    v["createdDate"] = json!(f.t(o.cdate));
    v["updatedDate"] = json!(f.t(o.udate));
    v["tstamp"] = json!(f.t(o.udate));
    v["orderProducts"] = json!(
        (1..=o.products.len())
            .map(|i| format!("{}-{i}", o.id))
            .collect::<Vec<_>>()
    );
    v["links"] = json!({
        "connection": format!("/api/3/ecomOrders/{}/connection", o.id),
        "customer": format!("/api/3/ecomOrders/{}/customer", o.id),
        "orderProducts": format!("/api/3/ecomOrders/{}/orderProducts", o.id),
    });
    v["id"] = json!(o.id.to_string());
    v
}
