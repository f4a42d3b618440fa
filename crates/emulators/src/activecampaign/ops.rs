//! What each endpoint does to the account's state: pure functions of (state, now, request).
//!
//! Behaviours where the docs are silent or unconfirmed, chosen here (and why):
//! - `contact/sync` matches contacts by address case-insensitively, updates only the attributes
//!   given, answers 201 when it creates and 200 when it updates. An invalid or missing address
//!   → 422 (`email_invalid` / `field_missing`). A `fieldValues` entry naming a field that does
//!   not exist → 422 `related_missing` (stricter than ignoring it: paysync should notice).
//!   Arrays as values are stored as `||a||b||`.
//! - `contactLists` upserts the membership. Moving an unsubscribed (2) membership back to
//!   active (1) is allowed, as the docs warn; the emulator counts it (`resubscriptions` in the
//!   state dump) so tests can assert paysync never does it.
//! - `contactTags` on a contact that already has the tag returns the existing contact tag
//!   (201) instead of a duplicate. Tag and field-value changes do not move the contact's
//!   `udate`; contact attribute and field-value changes do.
//! - Duplicate tag names and list `stringid`s → 422 `duplicate` (unconfirmed).
//! - `filters[updated_after]`/`[created_after]` are inclusive; a bare date is taken at midnight
//!   in the account's time zone.
//! - Deep Data: required fields are the ones the docs list (connection: service, externalid,
//!   name, logoUrl, linkUrl; ecomCustomer: connectionid, externalid, email; ecomOrder: one of
//!   externalid/externalcheckoutid, source, email, totalPrice, currency, connectionid,
//!   customerid, externalCreatedDate, and abandonedDate with externalcheckoutid; each
//!   orderProduct: name, price, quantity, externalid). Amounts must be integers (cents) ≥ 0,
//!   `source` 0 or 1, `currency` three letters. Creating an ecomCustomer creates the contact if
//!   the address is new (without any list membership). A second customer with the same
//!   (connectionid, externalid), or order with the same (connectionid, externalid) → 422
//!   `duplicate` (unconfirmed).

use serde_json::{Map, Value, json};

use crate::common::email::valid_email;
use crate::common::hash::md5_hex;
use crate::common::iso8601::parse_iso8601;
use crate::common::query::query_get;

use super::error::{AcError, AcResult};
use super::model::{
    ACTIVE, AcList, Actor, Connection, Contact, ContactList, ContactTag, EcomCustomer, EcomOrder,
    Field, FieldRel, FieldValue, Fmt, State, Tag, UNSUBSCRIBED, connection_json, contact_json,
    contact_list_json, contact_tag_json, ecom_customer_json, ecom_order_json, field_json,
    field_rel_json, field_value_json, list_json, tag_json,
};

type Query = [(String, String)];

pub fn parse_body(body: &[u8]) -> Result<Value, AcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| AcError::bad_json())
}

/// The resource object inside its envelope (`{"contact": {...}}`); absent → empty.
fn env<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, AcError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match body.get(key) {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(_) => Err(AcError::invalid(
            key,
            format!("The {key} attribute must be an object."),
        )),
    }
}

/// A string attribute; numbers are taken as their text.
fn text(o: &Map<String, Value>, k: &str) -> Option<String> {
    match o.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

fn present(o: &Map<String, Value>, k: &str) -> bool {
    text(o, k).is_some_and(|s| !s.trim().is_empty())
}

/// An id attribute: a positive integer or its string.
fn id_attr(o: &Map<String, Value>, k: &str) -> Option<u64> {
    match o.get(k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int_attr(o: &Map<String, Value>, k: &str) -> Result<Option<i64>, ()> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

fn require(o: &Map<String, Value>, entity: &str, keys: &[&str]) -> Result<(), AcError> {
    for k in keys {
        if !present(o, k) {
            return Err(AcError::missing(entity, k));
        }
    }
    Ok(())
}

/// `limit` (default 20, at most 100) and `offset`.
fn paging(q: &Query) -> (usize, usize) {
    let limit = query_get(q, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize)
        .clamp(1, 100);
    let offset = query_get(q, "offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0usize);
    (limit, offset)
}

fn page(items: Vec<Value>, q: &Query) -> Vec<Value> {
    let (limit, offset) = paging(q);
    items.into_iter().skip(offset).take(limit).collect()
}

fn meta(total: usize) -> Value {
    json!({"total": total.to_string()})
}

fn field_value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Value::Array(a) => {
            let parts: Vec<String> = a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect();
            Some(format!("||{}||", parts.join("||")))
        }
        Value::Null => Some(String::new()),
        Value::Object(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Contacts

/// Creates a contact for `email` (already validated) or returns the existing one's id.
pub fn ensure_contact(st: &mut State, now: i64, email: &str) -> (u64, bool) {
    if let Some(id) = st.contact_by_email(email) {
        return (id, false);
    }
    let id = st.contacts.len() as u64 + 1;
    st.contacts.push(Some(Contact {
        id,
        email: email.to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        phone: String::new(),
        cdate: now,
        udate: now,
        hash: md5_hex(email.to_lowercase().as_bytes()),
    }));
    st.by_email.insert(email.to_lowercase(), id);
    (id, true)
}

/// Upserts a field value; returns its index and whether it changed.
pub fn set_field_value(
    st: &mut State,
    now: i64,
    contact: u64,
    field: u64,
    value: String,
) -> (usize, bool) {
    if let Some(&ix) = st.fv_ix.get(&(contact, field)) {
        let fv = &mut st.field_values[ix];
        let changed = fv.value != value;
        if changed {
            fv.value = value;
            fv.udate = now;
        }
        return (ix, changed);
    }
    let ix = st.field_values.len();
    st.field_values.push(FieldValue {
        id: ix as u64 + 1,
        contact,
        field,
        value,
        cdate: now,
        udate: now,
    });
    st.fv_ix.insert((contact, field), ix);
    (ix, true)
}

fn check_email(o: &Map<String, Value>, entity: &str) -> Result<String, AcError> {
    let Some(email) = text(o, "email").map(|e| e.trim().to_owned()) else {
        return Err(AcError::missing(entity, "email"));
    };
    if email.is_empty() {
        return Err(AcError::missing(entity, "email"));
    }
    if !valid_email(&email) {
        return Err(AcError::new(
            422,
            json!({"errors": [{"title": "Contact Email Address is not valid.", "detail": "", "code": "email_invalid", "error": "must_be_valid_email_address", "source": {"pointer": "/data/attributes/email"}}]}),
        ));
    }
    Ok(email)
}

/// `POST /contact/sync`.
pub fn contact_sync(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let c = env(body, "contact")?;
    let email = check_email(c, "contact")?;
    let mut values = Vec::new();
    if let Some(fvs) = c.get("fieldValues") {
        let Some(arr) = fvs.as_array() else {
            return Err(AcError::invalid(
                "fieldValues",
                "fieldValues must be an array of {field, value}.",
            ));
        };
        for fv in arr {
            let Some(o) = fv.as_object() else {
                return Err(AcError::invalid(
                    "fieldValues",
                    "fieldValues must be an array of {field, value}.",
                ));
            };
            let Some(field) = id_attr(o, "field") else {
                return Err(AcError::missing("fieldValue", "field"));
            };
            if st.field(field).is_none() {
                return Err(AcError::related_missing(
                    "fieldValues",
                    format!("Field with id {field} does not exist."),
                ));
            }
            let Some(value) = o.get("value").and_then(field_value_text) else {
                return Err(AcError::invalid(
                    "fieldValues",
                    "A field value must be a string.",
                ));
            };
            values.push((field, value));
        }
    }
    let (id, created) = ensure_contact(st, now, &email);
    let mut changed = false;
    {
        let contact = st.contact_mut(id).expect("contact");
        for (k, slot) in [
            ("firstName", &mut contact.first_name),
            ("lastName", &mut contact.last_name),
            ("phone", &mut contact.phone),
        ] {
            if let Some(v) = text(c, k)
                && *slot != v
            {
                *slot = v;
                changed = true;
            }
        }
    }
    let mut fv_json = Vec::new();
    for (field, value) in values {
        let (ix, c2) = set_field_value(st, now, id, field, value);
        changed |= c2;
        fv_json.push(field_value_json(&st.field_values[ix], f));
    }
    if changed && !created {
        st.contact_mut(id).expect("contact").udate = now;
    }
    let contact = st.contact(id).expect("contact");
    let mut cj = contact_json(contact, f);
    cj["fieldValues"] = json!(fv_json.iter().map(|v| v["id"].clone()).collect::<Vec<_>>());
    Ok((
        if created { 201 } else { 200 },
        json!({"fieldValues": fv_json, "contact": cj}),
    ))
}

fn time_filter(q: &Query, k: &str, f: Fmt) -> Result<Option<i64>, AcError> {
    match query_get(q, k).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => parse_iso8601(v, f.0).map(Some).ok_or_else(|| {
            AcError::new(
                422,
                json!({"errors": [{"status": 422, "title": "Invalid attribute", "detail": format!("Invalid date for {k}: \"{v}\""), "source": {"pointer": format!("/data/attributes/{k}")}}]}),
            )
        }),
    }
}

/// `GET /contacts`.
pub fn list_contacts(st: &State, f: Fmt, q: &Query) -> AcResult {
    let email = query_get(q, "email").map(|e| e.trim().to_lowercase());
    let email_like = query_get(q, "email_like").map(str::to_lowercase);
    let search = query_get(q, "search").map(str::to_lowercase);
    let listid = query_get(q, "listid").and_then(|v| v.parse::<u64>().ok());
    let tagid = query_get(q, "tagid").and_then(|v| v.parse::<u64>().ok());
    let status = query_get(q, "status")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|s| *s >= 0);
    let id_greater = query_get(q, "id_greater").and_then(|v| v.parse::<u64>().ok());
    let id_less = query_get(q, "id_less").and_then(|v| v.parse::<u64>().ok());
    let ids: Vec<u64> = q
        .iter()
        .filter(|(k, _)| k == "ids" || k == "ids[]")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    let updated_after = time_filter(q, "filters[updated_after]", f)?;
    let updated_before = time_filter(q, "filters[updated_before]", f)?;
    let created_after = time_filter(q, "filters[created_after]", f)?;
    let created_before = time_filter(q, "filters[created_before]", f)?;
    let desc = query_get(q, "orders[id]").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    // Contacts with a membership matching `listid`/`status`, found in one pass.
    let members: Option<std::collections::HashSet<u64>> = (listid.is_some() || status.is_some())
        .then(|| {
            st.contact_lists
                .iter()
                .filter(|cl| listid.is_none_or(|l| cl.list == l))
                .filter(|cl| status.is_none_or(|s| cl.status as i64 == s))
                .map(|cl| cl.contact)
                .collect()
        });
    let membership = |c: &Contact| members.as_ref().is_none_or(|m| m.contains(&c.id));
    let mut matched: Vec<&Contact> = st
        .live_contacts()
        .filter(|c| email.as_ref().is_none_or(|e| c.email.to_lowercase() == *e))
        .filter(|c| {
            email_like
                .as_ref()
                .is_none_or(|e| c.email.to_lowercase().contains(e.as_str()))
        })
        .filter(|c| {
            search.as_ref().is_none_or(|s| {
                c.email.to_lowercase().contains(s.as_str())
                    || c.first_name.to_lowercase().contains(s.as_str())
                    || c.last_name.to_lowercase().contains(s.as_str())
                    || c.phone.contains(s.as_str())
            })
        })
        .filter(|c| id_greater.is_none_or(|g| c.id > g))
        .filter(|c| id_less.is_none_or(|l| c.id < l))
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .filter(|c| updated_after.is_none_or(|t| c.udate >= t))
        .filter(|c| updated_before.is_none_or(|t| c.udate <= t))
        .filter(|c| created_after.is_none_or(|t| c.cdate >= t))
        .filter(|c| created_before.is_none_or(|t| c.cdate <= t))
        .filter(|c| tagid.is_none_or(|t| st.ct_ix.contains_key(&(c.id, t))))
        .filter(|c| membership(c))
        .collect();
    if desc {
        matched.reverse();
    }
    let total = matched.len();
    let (limit, offset) = paging(q);
    let contacts: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| contact_json(c, f))
        .collect();
    Ok((
        200,
        json!({
            "scoreValues": [],
            "contacts": contacts,
            "meta": {
                "total": total.to_string(),
                "page_input": {"limit": limit, "offset": offset, "listid": listid.unwrap_or(0), "tagid": tagid.unwrap_or(0), "status": status.unwrap_or(-1)},
            },
        }),
    ))
}

fn contact_or_404(st: &State, id: &str) -> Result<u64, AcError> {
    id.parse::<u64>()
        .ok()
        .filter(|i| st.contact(*i).is_some())
        .ok_or_else(|| AcError::not_found("Subscriber", id))
}

/// `GET /contacts/{id}`.
pub fn get_contact(st: &State, f: Fmt, id: &str) -> AcResult {
    let cid = contact_or_404(st, id)?;
    let c = st.contact(cid).expect("contact");
    let cls: Vec<&ContactList> = st
        .contact_lists
        .iter()
        .filter(|cl| cl.contact == cid)
        .collect();
    let fvs: Vec<&FieldValue> = st
        .field_values
        .iter()
        .filter(|v| v.contact == cid)
        .collect();
    let mut cj = contact_json(c, f);
    cj["contactLists"] = json!(cls.iter().map(|cl| cl.id.to_string()).collect::<Vec<_>>());
    cj["fieldValues"] = json!(fvs.iter().map(|v| v.id.to_string()).collect::<Vec<_>>());
    cj["contactAutomations"] = json!([]);
    cj["geoIps"] = json!([]);
    cj["deals"] = json!([]);
    cj["accountContacts"] = json!([]);
    Ok((
        200,
        json!({
            "contactAutomations": [],
            "contactData": [],
            "contactGoals": [],
            "contactLists": cls.iter().map(|cl| contact_list_json(cl, Some(c), f)).collect::<Vec<_>>(),
            "deals": [],
            "fieldValues": fvs.iter().map(|v| field_value_json(v, f)).collect::<Vec<_>>(),
            "geoAddresses": [],
            "geoIps": [],
            "contact": cj,
        }),
    ))
}

pub fn contact_contact_lists(st: &State, f: Fmt, id: &str) -> AcResult {
    let cid = contact_or_404(st, id)?;
    let c = st.contact(cid);
    let cls: Vec<Value> = st
        .contact_lists
        .iter()
        .filter(|cl| cl.contact == cid)
        .map(|cl| contact_list_json(cl, c, f))
        .collect();
    Ok((200, json!({"contactLists": cls})))
}

pub fn contact_contact_tags(st: &State, f: Fmt, id: &str) -> AcResult {
    let cid = contact_or_404(st, id)?;
    let cts: Vec<Value> = st
        .contact_tags
        .iter()
        .flatten()
        .filter(|ct| ct.contact == cid)
        .map(|ct| contact_tag_json(ct, f))
        .collect();
    Ok((200, json!({"contactTags": cts})))
}

pub fn contact_field_values(st: &State, f: Fmt, id: &str) -> AcResult {
    let cid = contact_or_404(st, id)?;
    let fvs: Vec<Value> = st
        .field_values
        .iter()
        .filter(|v| v.contact == cid)
        .map(|v| field_value_json(v, f))
        .collect();
    Ok((200, json!({"fieldValues": fvs})))
}

// ---------------------------------------------------------------------------------------------
// Lists and memberships

pub fn create_list(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let l = env(body, "list")?;
    require(
        l,
        "list",
        &["name", "stringid", "sender_url", "sender_reminder"],
    )?;
    let stringid = text(l, "stringid").unwrap_or_default();
    if st
        .lists
        .iter()
        .any(|x| x.stringid.eq_ignore_ascii_case(&stringid))
    {
        return Err(AcError::duplicate(
            "stringid",
            format!("A list with the stringid \"{stringid}\" already exists."),
        ));
    }
    let id = st.lists.len() as u64 + 1;
    let mut extra = l.clone();
    for k in ["name", "stringid", "sender_url", "sender_reminder"] {
        extra.remove(k);
    }
    let list = AcList {
        id,
        name: text(l, "name").unwrap_or_default(),
        stringid,
        sender_url: text(l, "sender_url").unwrap_or_default(),
        sender_reminder: text(l, "sender_reminder").unwrap_or_default(),
        cdate: now,
        udate: now,
        extra,
    };
    let v = list_json(&list, f);
    st.lists.push(list);
    Ok((200, json!({"list": v})))
}

pub fn get_lists(st: &State, f: Fmt, q: &Query) -> AcResult {
    let name = query_get(q, "filters[name]").map(str::to_lowercase);
    let all: Vec<Value> = st
        .lists
        .iter()
        .filter(|l| name.as_ref().is_none_or(|n| l.name.to_lowercase() == *n))
        .map(|l| list_json(l, f))
        .collect();
    let total = all.len();
    Ok((200, json!({"lists": page(all, q), "meta": meta(total)})))
}

pub fn get_list(st: &State, f: Fmt, id: &str) -> AcResult {
    let l = id
        .parse::<u64>()
        .ok()
        .and_then(|i| st.list(i))
        .ok_or_else(|| AcError::not_found("_List", id))?;
    Ok((200, json!({"list": list_json(l, f)})))
}

/// Sets a membership's status; returns its index. Counts re-subscriptions.
pub fn set_membership(
    st: &mut State,
    now: i64,
    contact: u64,
    list: u64,
    status: u8,
    actor: Actor,
    sourceid: u64,
) -> usize {
    if let Some(&ix) = st.cl_ix.get(&(contact, list)) {
        let cl = &mut st.contact_lists[ix];
        if cl.status != status {
            if cl.status == UNSUBSCRIBED && status == ACTIVE {
                cl.resubscribed += 1;
                st.resubscriptions += 1;
            }
            let cl = &mut st.contact_lists[ix];
            cl.status = status;
            cl.udate = now;
            cl.changed_by = actor;
            cl.sourceid = sourceid;
            if status == ACTIVE {
                cl.sdate = Some(now);
                cl.unsubreason = None;
            }
        }
        return ix;
    }
    let ix = st.contact_lists.len();
    st.contact_lists.push(ContactList {
        id: ix as u64 + 1,
        contact,
        list,
        status,
        sdate: (status == ACTIVE).then_some(now),
        udate: now,
        unsubreason: None,
        sourceid,
        changed_by: actor,
        resubscribed: 0,
    });
    st.cl_ix.insert((contact, list), ix);
    ix
}

/// `POST /contactLists`.
pub fn post_contact_list(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "contactList")?;
    require(o, "contactList", &["list", "contact", "status"])?;
    let Some(contact) = id_attr(o, "contact").filter(|c| st.contact(*c).is_some()) else {
        return Err(AcError::not_found(
            "Subscriber",
            &text(o, "contact").unwrap_or_default(),
        ));
    };
    let Some(list) = id_attr(o, "list").filter(|l| st.list(*l).is_some()) else {
        return Err(AcError::not_found(
            "_List",
            &text(o, "list").unwrap_or_default(),
        ));
    };
    let status = match id_attr(o, "status") {
        Some(1) => ACTIVE,
        Some(2) => UNSUBSCRIBED,
        _ => {
            return Err(AcError::invalid(
                "status",
                "Status must be 1 (subscribed) or 2 (unsubscribed).",
            ));
        }
    };
    let sourceid = id_attr(o, "sourceid").unwrap_or(0);
    let ix = set_membership(st, now, contact, list, status, Actor::Api, sourceid);
    let c = st.contact(contact);
    Ok((
        200,
        json!({
            "contacts": [contact_json(c.expect("contact"), f)],
            "contactList": contact_list_json(&st.contact_lists[ix], c, f),
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Tags

/// The id of tag `name`, created (type contact) if new.
pub fn ensure_tag(st: &mut State, now: i64, name: &str) -> u64 {
    if let Some(id) = st.tag_by_name(name) {
        return id;
    }
    let id = st.tags.len() as u64 + 1;
    st.tags.push(Tag {
        id,
        tag: name.trim().to_owned(),
        tag_type: "contact".into(),
        description: String::new(),
        cdate: now,
    });
    id
}

pub fn create_tag(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "tag")?;
    require(o, "tag", &["tag"])?;
    let name = text(o, "tag").unwrap_or_default().trim().to_owned();
    let tag_type = text(o, "tagType").unwrap_or_else(|| "contact".into());
    if tag_type != "contact" && tag_type != "template" {
        return Err(AcError::invalid(
            "tagType",
            "tagType must be contact or template.",
        ));
    }
    if st.tag_by_name(&name).is_some() {
        return Err(AcError::duplicate(
            "tag",
            format!("A tag named \"{name}\" already exists."),
        ));
    }
    let id = st.tags.len() as u64 + 1;
    let t = Tag {
        id,
        tag: name,
        tag_type,
        description: text(o, "description").unwrap_or_default(),
        cdate: now,
    };
    let v = tag_json(&t, f);
    st.tags.push(t);
    Ok((201, json!({"tag": v})))
}

pub fn get_tags(st: &State, f: Fmt, q: &Query) -> AcResult {
    let search = query_get(q, "search").map(str::to_lowercase);
    let ops: Vec<(&str, String)> = q
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("filters[search][")
                .and_then(|r| r.strip_suffix(']'))
                .map(|op| (op, v.to_lowercase()))
        })
        .collect();
    let all: Vec<Value> = st
        .tags
        .iter()
        .filter(|t| {
            let n = t.tag.to_lowercase();
            search.as_ref().is_none_or(|s| n.contains(s.as_str()))
                && ops.iter().all(|(op, v)| match *op {
                    "eq" => n == *v,
                    "neq" => n != *v,
                    "starts_with" => n.starts_with(v.as_str()),
                    "contains" => n.contains(v.as_str()),
                    "lt" => n < *v,
                    "lte" => n <= *v,
                    "gt" => n > *v,
                    "gte" => n >= *v,
                    _ => true,
                })
        })
        .map(|t| tag_json(t, f))
        .collect();
    let total = all.len();
    Ok((200, json!({"tags": page(all, q), "meta": meta(total)})))
}

pub fn get_tag(st: &State, f: Fmt, id: &str) -> AcResult {
    let t = id
        .parse::<u64>()
        .ok()
        .and_then(|i| st.tag(i))
        .ok_or_else(|| AcError::not_found("Tag", id))?;
    Ok((200, json!({"tag": tag_json(t, f)})))
}

/// Tags contact `contact` with `tag` (both exist); returns the contact tag's id.
pub fn tag_contact(st: &mut State, now: i64, contact: u64, tag: u64) -> u64 {
    if let Some(&id) = st.ct_ix.get(&(contact, tag)) {
        return id;
    }
    let id = st.contact_tags.len() as u64 + 1;
    st.contact_tags.push(Some(ContactTag {
        id,
        contact,
        tag,
        cdate: now,
    }));
    st.ct_ix.insert((contact, tag), id);
    id
}

pub fn post_contact_tag(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "contactTag")?;
    for k in ["contact", "tag"] {
        if !present(o, k) {
            return Err(AcError::new(
                422,
                json!({"errors": [{"status": 422, "title": "Missing attribute", "source": {"pointer": format!("/data/attributes/{k}")}}]}),
            ));
        }
    }
    let Some(contact) = id_attr(o, "contact").filter(|c| st.contact(*c).is_some()) else {
        return Err(AcError::new(
            404,
            json!({"errors": [{"status": 404, "title": "Not Found", "detail": "Contact not found"}]}),
        ));
    };
    let Some(tag) = id_attr(o, "tag").filter(|t| st.tag(*t).is_some()) else {
        return Err(AcError::new(
            404,
            json!({"errors": [{"status": 404, "title": "Not Found", "detail": "Tag not found"}]}),
        ));
    };
    let id = tag_contact(st, now, contact, tag);
    let ct = st.contact_tags[id as usize - 1]
        .as_ref()
        .expect("contact tag");
    Ok((201, json!({"contactTag": contact_tag_json(ct, f)})))
}

pub fn delete_contact_tag(st: &mut State, id: &str) -> AcResult {
    let slot = id
        .parse::<u64>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| st.contact_tags.get_mut(i as usize))
        .filter(|s| s.is_some())
        .ok_or_else(|| AcError::not_found("SubscriberTag", id))?;
    let ct = slot.take().expect("checked");
    st.ct_ix.remove(&(ct.contact, ct.tag));
    Ok((200, json!({})))
}

// ---------------------------------------------------------------------------------------------
// Custom fields

const FIELD_TYPES: &[&str] = &[
    "dropdown", "hidden", "checkbox", "date", "text", "datetime", "textarea", "NULL", "listbox",
    "radio", "number",
];

/// Field types holding several values (`||a||b||`).
pub fn multi_valued(kind: &str) -> bool {
    kind == "checkbox" || kind == "listbox"
}

pub fn create_field(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "field")?;
    require(o, "field", &["title", "type"])?;
    let title = text(o, "title").unwrap_or_default().trim().to_owned();
    let kind = text(o, "type").unwrap_or_default();
    if !FIELD_TYPES.contains(&kind.as_str()) {
        return Err(AcError::invalid(
            "type",
            format!("Field type must be one of: {}", FIELD_TYPES.join(", ")),
        ));
    }
    if st
        .fields
        .iter()
        .any(|x| x.title.eq_ignore_ascii_case(&title))
    {
        return Err(AcError::new(
            422,
            json!({"errors": [{"title": "There is already a field with this title", "detail": format!("There is already a field named '{title}' -- choose another name"), "code": "duplicate"}]}),
        ));
    }
    let perstag = text(o, "perstag")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            title
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        });
    let id = st.fields.len() as u64 + 1;
    let fl = Field {
        id,
        title,
        kind,
        descript: text(o, "descript").unwrap_or_default(),
        perstag,
        defval: text(o, "defval").unwrap_or_default(),
        visible: text(o, "visible").is_none_or(|v| v != "0" && v != "false"),
        ordernum: id_attr(o, "ordernum").unwrap_or(id),
        cdate: now,
        udate: now,
    };
    let v = field_json(&fl, &[], f);
    st.fields.push(fl);
    Ok((201, json!({"field": v})))
}

pub fn get_fields(st: &State, f: Fmt, q: &Query) -> AcResult {
    let all: Vec<Value> = st
        .fields
        .iter()
        .map(|fl| {
            let rels: Vec<&FieldRel> = st.field_rels.iter().filter(|r| r.field == fl.id).collect();
            field_json(fl, &rels, f)
        })
        .collect();
    let total = all.len();
    let rels: Vec<Value> = st.field_rels.iter().map(|r| field_rel_json(r, f)).collect();
    Ok((
        200,
        json!({"fieldOptions": [], "fieldRels": rels, "fields": page(all, q), "meta": meta(total)}),
    ))
}

pub fn get_field(st: &State, f: Fmt, id: &str) -> AcResult {
    let fl = id
        .parse::<u64>()
        .ok()
        .and_then(|i| st.field(i))
        .ok_or_else(|| AcError::not_found("Field", id))?;
    let rels: Vec<&FieldRel> = st.field_rels.iter().filter(|r| r.field == fl.id).collect();
    Ok((200, json!({"field": field_json(fl, &rels, f)})))
}

pub fn create_field_rel(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "fieldRel")?;
    require(o, "fieldRel", &["field", "relid"])?;
    let Some(field) = id_attr(o, "field").filter(|x| st.field(*x).is_some()) else {
        return Err(AcError::not_found(
            "Field",
            &text(o, "field").unwrap_or_default(),
        ));
    };
    let relid = id_attr(o, "relid").unwrap_or(u64::MAX);
    if relid != 0 && st.list(relid).is_none() {
        return Err(AcError::not_found(
            "_List",
            &text(o, "relid").unwrap_or_default(),
        ));
    }
    let r = FieldRel {
        id: st.field_rels.len() as u64 + 1,
        field,
        relid,
        cdate: now,
    };
    let v = field_rel_json(&r, f);
    st.field_rels.push(r);
    Ok((201, json!({"fieldRel": v})))
}

pub fn post_field_value(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "fieldValue")?;
    require(o, "fieldValue", &["contact", "field"])?;
    let Some(contact) = id_attr(o, "contact").filter(|c| st.contact(*c).is_some()) else {
        return Err(AcError::not_found(
            "Subscriber",
            &text(o, "contact").unwrap_or_default(),
        ));
    };
    let Some(field) = id_attr(o, "field").filter(|x| st.field(*x).is_some()) else {
        return Err(AcError::not_found(
            "Field",
            &text(o, "field").unwrap_or_default(),
        ));
    };
    let Some(value) = o.get("value").and_then(field_value_text) else {
        return Err(AcError::missing("fieldValue", "value"));
    };
    let (ix, changed) = set_field_value(st, now, contact, field, value);
    if changed {
        st.contact_mut(contact).expect("contact").udate = now;
    }
    Ok((
        200,
        json!({
            "contacts": [contact_json(st.contact(contact).expect("contact"), f)],
            "fieldValue": field_value_json(&st.field_values[ix], f),
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Deep Data

pub fn create_connection(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "connection")?;
    require(
        o,
        "connection",
        &["service", "externalid", "name", "logoUrl", "linkUrl"],
    )?;
    let service = text(o, "service").unwrap_or_default();
    let externalid = text(o, "externalid").unwrap_or_default();
    if st
        .connections
        .iter()
        .flatten()
        .any(|c| c.service == service && c.externalid == externalid)
    {
        return Err(AcError::duplicate(
            "externalid",
            "A connection for this service and externalid already exists.",
        ));
    }
    let c = Connection {
        id: st.connections.len() as u64 + 1,
        service,
        externalid,
        name: text(o, "name").unwrap_or_default(),
        logo_url: text(o, "logoUrl").unwrap_or_default(),
        link_url: text(o, "linkUrl").unwrap_or_default(),
        list_id: text(o, "listId"),
        cdate: now,
        udate: now,
    };
    let v = connection_json(&c, f);
    st.connections.push(Some(c));
    Ok((201, json!({"connection": v})))
}

pub fn get_connections(st: &State, f: Fmt, q: &Query) -> AcResult {
    let service = query_get(q, "filters[service]");
    let ext = query_get(q, "filters[externalid]");
    let all: Vec<Value> = st
        .connections
        .iter()
        .flatten()
        .filter(|c| service.is_none_or(|s| c.service == s) && ext.is_none_or(|e| c.externalid == e))
        .map(|c| connection_json(c, f))
        .collect();
    let total = all.len();
    Ok((
        200,
        json!({"connections": page(all, q), "meta": meta(total)}),
    ))
}

pub fn get_connection(st: &State, f: Fmt, id: &str) -> AcResult {
    let c = id
        .parse::<u64>()
        .ok()
        .and_then(|i| st.connection(i))
        .ok_or_else(|| AcError::not_found("Connection", id))?;
    Ok((200, json!({"connection": connection_json(c, f)})))
}

pub fn delete_connection(st: &mut State, id: &str) -> AcResult {
    let slot = id
        .parse::<u64>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| st.connections.get_mut(i as usize))
        .filter(|s| s.is_some())
        .ok_or_else(|| AcError::not_found("Connection", id))?;
    *slot = None;
    Ok((200, json!({})))
}

fn accepts_marketing(o: &Map<String, Value>) -> Result<Option<u8>, AcError> {
    match o.get("acceptsMarketing") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b as u8)),
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(n @ (0 | 1)) => Ok(Some(n as u8)),
            _ => Err(AcError::invalid(
                "acceptsMarketing",
                "acceptsMarketing must be 0 or 1.",
            )),
        },
    }
}

fn customer_orders(st: &State, id: u64) -> Vec<&EcomOrder> {
    st.ecom_orders
        .iter()
        .flatten()
        .filter(|o| o.customerid == id)
        .collect()
}

pub fn create_ecom_customer(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "ecomCustomer")?;
    require(o, "ecomCustomer", &["connectionid", "externalid", "email"])?;
    let email = check_email(o, "ecomCustomer")?;
    let Some(conn) = id_attr(o, "connectionid").filter(|c| st.connection(*c).is_some()) else {
        return Err(AcError::related_missing(
            "connectionid",
            "The related connection does not exist.",
        ));
    };
    let externalid = text(o, "externalid").unwrap_or_default();
    if st
        .ecom_customers
        .iter()
        .flatten()
        .any(|c| c.connectionid == conn && c.externalid == externalid)
    {
        return Err(AcError::duplicate(
            "externalid",
            "A customer with this externalid already exists for this connection.",
        ));
    }
    let am = accepts_marketing(o)?.unwrap_or(0);
    ensure_contact(st, now, &email);
    let c = EcomCustomer {
        id: st.ecom_customers.len() as u64 + 1,
        connectionid: conn,
        externalid,
        email,
        accepts_marketing: am,
        udate: now,
    };
    let v = ecom_customer_json(&c, &[], f);
    st.ecom_customers.push(Some(c));
    Ok((201, json!({"ecomCustomer": v})))
}

pub fn update_ecom_customer(st: &mut State, now: i64, f: Fmt, id: &str, body: &Value) -> AcResult {
    let cid = id
        .parse::<u64>()
        .ok()
        .filter(|i| st.ecom_customer(*i).is_some())
        .ok_or_else(|| AcError::not_found("EcomCustomer", id))?;
    let o = env(body, "ecomCustomer")?;
    let email = if o.contains_key("email") {
        Some(check_email(o, "ecomCustomer")?)
    } else {
        None
    };
    let am = accepts_marketing(o)?;
    if let Some(e) = &email {
        ensure_contact(st, now, e);
    }
    let c = st.ecom_customers[cid as usize - 1]
        .as_mut()
        .expect("customer");
    if let Some(e) = email {
        c.email = e;
    }
    if let Some(x) = text(o, "externalid") {
        c.externalid = x;
    }
    if let Some(a) = am {
        c.accepts_marketing = a;
    }
    c.udate = now;
    let c = st.ecom_customer(cid).expect("customer");
    Ok((
        200,
        json!({"ecomCustomer": ecom_customer_json(c, &customer_orders(st, cid), f)}),
    ))
}

pub fn get_ecom_customers(st: &State, f: Fmt, q: &Query) -> AcResult {
    let email = query_get(q, "filters[email]").map(str::to_lowercase);
    let ext = query_get(q, "filters[externalid]");
    let conn = query_get(q, "filters[connectionid]").and_then(|c| c.parse::<u64>().ok());
    let matched: Vec<&EcomCustomer> = st
        .ecom_customers
        .iter()
        .flatten()
        .filter(|c| email.as_ref().is_none_or(|e| c.email.to_lowercase() == *e))
        .filter(|c| ext.is_none_or(|e| c.externalid == e))
        .filter(|c| conn.is_none_or(|x| c.connectionid == x))
        .collect();
    let total = matched.len();
    let (limit, offset) = paging(q);
    let page: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| ecom_customer_json(c, &customer_orders(st, c.id), f))
        .collect();
    Ok((200, json!({"ecomCustomers": page, "meta": meta(total)})))
}

pub fn get_ecom_customer(st: &State, f: Fmt, id: &str) -> AcResult {
    let c = id
        .parse::<u64>()
        .ok()
        .and_then(|i| st.ecom_customer(i))
        .ok_or_else(|| AcError::not_found("EcomCustomer", id))?;
    Ok((
        200,
        json!({"ecomCustomer": ecom_customer_json(c, &customer_orders(st, c.id), f)}),
    ))
}

fn cents(
    o: &Map<String, Value>,
    k: &str,
    required: bool,
    entity: &str,
) -> Result<Option<i64>, AcError> {
    match int_attr(o, k) {
        Ok(None) if required => Err(AcError::missing(entity, k)),
        Ok(None) => Ok(None),
        Ok(Some(n)) if n >= 0 => Ok(Some(n)),
        _ => Err(AcError::invalid(
            k,
            format!("{k} must be an integer number of cents greater than or equal to zero."),
        )),
    }
}

/// An order's validated parts: stored fields, products and discounts (if given),
/// connection and customer ids.
struct OrderParts(
    Map<String, Value>,
    Option<Vec<Value>>,
    Option<Vec<Value>>,
    u64,
    u64,
);

/// Validates an order (all of it on create; what is given on update) into its stored fields.
fn order_fields(
    st: &State,
    o: &Map<String, Value>,
    create: bool,
    existing: Option<&EcomOrder>,
) -> Result<OrderParts, AcError> {
    let e = "ecomOrder";
    let mut out = existing.map(|x| x.fields.clone()).unwrap_or_default();
    let has_ext =
        present(o, "externalid") || existing.is_some_and(|x| x.fields.contains_key("externalid"));
    let has_checkout = present(o, "externalcheckoutid")
        || existing.is_some_and(|x| x.fields.contains_key("externalcheckoutid"));
    if create && !has_ext && !has_checkout {
        return Err(AcError::missing(e, "externalid"));
    }
    if create {
        require(
            o,
            e,
            &[
                "source",
                "email",
                "currency",
                "connectionid",
                "customerid",
                "externalCreatedDate",
            ],
        )?;
        if present(o, "externalcheckoutid") && !present(o, "abandonedDate") {
            return Err(AcError::missing(e, "abandonedDate"));
        }
    }
    for k in [
        "externalid",
        "externalcheckoutid",
        "orderUrl",
        "shippingMethod",
        "orderNumber",
    ] {
        if let Some(v) = text(o, k) {
            out.insert(k.into(), Value::String(v));
        }
    }
    if o.contains_key("source") {
        match int_attr(o, "source") {
            Ok(Some(s @ (0 | 1))) => {
                out.insert("source".into(), Value::String(s.to_string()));
            }
            _ => {
                return Err(AcError::invalid(
                    "source",
                    "source must be 0 (historical) or 1 (real time).",
                ));
            }
        }
    }
    if o.contains_key("email") {
        let email = check_email(o, e)?;
        out.insert("email".into(), Value::String(email));
    }
    if let Some(c) = text(o, "currency") {
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(AcError::invalid(
                "currency",
                "currency must be a 3-letter ISO code.",
            ));
        }
        out.insert("currency".into(), Value::String(c.to_uppercase()));
    }
    for (k, req) in [
        ("totalPrice", create),
        ("shippingAmount", false),
        ("taxAmount", false),
        ("discountAmount", false),
    ] {
        if let Some(n) = cents(o, k, req, e)? {
            out.insert(k.into(), json!(n));
        }
    }
    for k in [
        "externalCreatedDate",
        "externalUpdatedDate",
        "abandonedDate",
    ] {
        if let Some(d) = text(o, k) {
            if parse_iso8601(&d, 0).is_none() {
                return Err(AcError::invalid(
                    k,
                    format!("{k} must be an ISO 8601 date."),
                ));
            }
            out.insert(k.into(), Value::String(d));
        }
    }
    if let Some(d) = out.get("externalCreatedDate").cloned() {
        out.insert("orderDate".into(), d);
    }
    let conn = match id_attr(o, "connectionid") {
        Some(c) if st.connection(c).is_some() => c,
        Some(_) => {
            return Err(AcError::related_missing(
                "connectionid",
                "The related connection does not exist.",
            ));
        }
        None => existing.map_or(0, |x| x.connectionid),
    };
    let cust = match id_attr(o, "customerid") {
        Some(c) => match st.ecom_customer(c) {
            Some(cu) if cu.connectionid == conn => c,
            Some(_) => {
                return Err(AcError::invalid(
                    "customerid",
                    "The customer does not belong to this connection.",
                ));
            }
            None => {
                return Err(AcError::related_missing(
                    "customerid",
                    "The related customer does not exist.",
                ));
            }
        },
        None => existing.map_or(0, |x| x.customerid),
    };
    let products = match o.get("orderProducts") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let mut ps = Vec::with_capacity(a.len());
            for (i, p) in a.iter().enumerate() {
                let Some(po) = p.as_object() else {
                    return Err(AcError::invalid(
                        "orderProducts",
                        "orderProducts must be objects.",
                    ));
                };
                for k in ["name", "externalid"] {
                    if !present(po, k) {
                        return Err(AcError::missing(
                            "orderProduct",
                            &format!("orderProducts[{i}].{k}"),
                        ));
                    }
                }
                let price = cents(po, "price", true, "orderProduct")?.expect("required");
                let qty = match int_attr(po, "quantity") {
                    Ok(Some(q)) if q >= 1 => q,
                    Ok(None) => {
                        return Err(AcError::missing(
                            "orderProduct",
                            &format!("orderProducts[{i}].quantity"),
                        ));
                    }
                    _ => {
                        return Err(AcError::invalid(
                            "quantity",
                            "quantity must be a positive integer.",
                        ));
                    }
                };
                let mut pv = po.clone();
                pv.insert("price".into(), json!(price));
                pv.insert("quantity".into(), json!(qty));
                ps.push(Value::Object(pv));
            }
            Some(ps)
        }
        Some(_) => {
            return Err(AcError::invalid(
                "orderProducts",
                "orderProducts must be an array.",
            ));
        }
    };
    let discounts = match o.get("orderDiscounts") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => {
            return Err(AcError::invalid(
                "orderDiscounts",
                "orderDiscounts must be an array.",
            ));
        }
    };
    Ok(OrderParts(out, products, discounts, conn, cust))
}

pub fn create_ecom_order(st: &mut State, now: i64, f: Fmt, body: &Value) -> AcResult {
    let o = env(body, "ecomOrder")?;
    let OrderParts(fields, products, discounts, conn, cust) = order_fields(st, o, true, None)?;
    if let Some(ext) = fields.get("externalid").and_then(Value::as_str)
        && st.ecom_orders.iter().flatten().any(|x| {
            x.connectionid == conn
                && x.fields.get("externalid").and_then(Value::as_str) == Some(ext)
        })
    {
        return Err(AcError::duplicate(
            "externalid",
            "An order with this externalid already exists for this connection.",
        ));
    }
    let order = EcomOrder {
        id: st.ecom_orders.len() as u64 + 1,
        fields,
        products: products.unwrap_or_default(),
        discounts: discounts.unwrap_or_default(),
        connectionid: conn,
        customerid: cust,
        cdate: now,
        udate: now,
    };
    let v = order_response(st, &order, f);
    st.ecom_orders.push(Some(order));
    Ok((201, v))
}

fn order_response(st: &State, o: &EcomOrder, f: Fmt) -> Value {
    json!({
        "connections": st.connection(o.connectionid).map(|c| vec![connection_json(c, f)]).unwrap_or_default(),
        "ecomOrderProducts": o.products,
        "ecomOrderDiscounts": o.discounts,
        "ecomOrder": ecom_order_json(o, f),
    })
}

fn order_ix(st: &State, id: &str) -> Result<usize, AcError> {
    id.parse::<u64>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .map(|i| i as usize)
        .filter(|i| st.ecom_orders.get(*i).is_some_and(Option::is_some))
        .ok_or_else(|| AcError::not_found("EcomOrder", id))
}

pub fn update_ecom_order(st: &mut State, now: i64, f: Fmt, id: &str, body: &Value) -> AcResult {
    let ix = order_ix(st, id)?;
    let o = env(body, "ecomOrder")?;
    let existing = st.ecom_orders[ix].clone();
    let OrderParts(fields, products, discounts, conn, cust) =
        order_fields(st, o, false, existing.as_ref())?;
    let order = st.ecom_orders[ix].as_mut().expect("order");
    order.fields = fields;
    if let Some(p) = products {
        order.products = p;
    }
    if let Some(d) = discounts {
        order.discounts = d;
    }
    order.connectionid = conn;
    order.customerid = cust;
    order.udate = now;
    let order = st.ecom_orders[ix].clone().expect("order");
    Ok((200, order_response(st, &order, f)))
}

pub fn get_ecom_order(st: &State, f: Fmt, id: &str) -> AcResult {
    let ix = order_ix(st, id)?;
    let o = st.ecom_orders[ix].as_ref().expect("order");
    Ok((200, json!({"ecomOrder": ecom_order_json(o, f)})))
}

pub fn delete_contact(st: &mut State, id: &str) -> AcResult {
    let cid = contact_or_404(st, id)?;
    st.delete_contact(cid);
    Ok((200, json!({})))
}

/// `DELETE /ecomCustomers/{id}`: the customer and its orders.
pub fn delete_ecom_customer(st: &mut State, id: &str) -> AcResult {
    let slot = id
        .parse::<u64>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| st.ecom_customers.get_mut(i as usize))
        .filter(|s| s.is_some())
        .ok_or_else(|| AcError::not_found("EcomCustomer", id))?;
    let customer = slot.take().map(|c| c.id);
    for order in &mut st.ecom_orders {
        if order.as_ref().map(|o| o.customerid) == customer {
            *order = None;
        }
    }
    Ok((200, json!({})))
}

pub fn delete_ecom_order(st: &mut State, id: &str) -> AcResult {
    let ix = order_ix(st, id)?;
    st.ecom_orders[ix] = None;
    Ok((200, json!({})))
}

pub fn get_ecom_orders(st: &State, f: Fmt, q: &Query) -> AcResult {
    let conn = query_get(q, "filters[connectionid]").and_then(|c| c.parse::<u64>().ok());
    let cust = query_get(q, "filters[customerid]").and_then(|c| c.parse::<u64>().ok());
    let email = query_get(q, "filters[email]").map(str::to_lowercase);
    let ext = query_get(q, "filters[externalid]");
    let all: Vec<Value> = st
        .ecom_orders
        .iter()
        .flatten()
        .filter(|o| conn.is_none_or(|c| o.connectionid == c))
        .filter(|o| cust.is_none_or(|c| o.customerid == c))
        .filter(|o| {
            email.as_ref().is_none_or(|e| {
                o.fields
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_deref()
                    == Some(e)
            })
        })
        .filter(|o| {
            ext.is_none_or(|e| o.fields.get("externalid").and_then(Value::as_str) == Some(e))
        })
        .map(|o| ecom_order_json(o, f))
        .collect();
    let total = all.len();
    Ok((
        200,
        json!({"ecomOrders": page(all, q), "meta": meta(total)}),
    ))
}
