//! What each endpoint does to the account's state. Pure functions of (state, now, request):
//! the HTTP gate and the batch runner both call them.
//!
//! Behaviours where Mailchimp's documentation is silent, chosen here (and why):
//! - Consent: a member who is `unsubscribed` or `cleaned` cannot be set `subscribed` through the
//!   API (PUT, PATCH, POST, batch subscribe) → 400 "Member In Compliance State"; a `cleaned`
//!   member cannot be set `pending` either. An `unsubscribed` member *can* be set `pending`
//!   (Mailchimp sends a confirmation email: the documented way back). Real Mailchimp lets the API
//!   revert an unsubscribe that an *admin* made; the emulator refuses every one, since paysync
//!   must never re-subscribe anyone on any path.
//! - Archived members (`DELETE`) keep their consent: re-adding one through PUT/POST/batch is
//!   subject to the same rule.
//! - A permanently deleted address (`actions/delete-permanent`) is refused on every add path,
//!   whatever the status (real responses show this for `pending` too).
//! - `PUT` on a new member uses `status_if_new` (falling back to `status`); on an existing
//!   member `status` (if any) and never `status_if_new`.
//! - The path id may be the MD5 hash, the address itself or the `contact_id` (vendor spec); an
//!   `email_address` in the body whose hash differs from the path's → 400 "Invalid Resource".
//! - Unknown merge-field tags are ignored (as Mailchimp does); a `number` field given a
//!   non-number, or a required field missing on a new member (without
//!   `skip_merge_validation=true`) → 400 "Invalid Resource", "Your merge fields were invalid.".
//! - Tag names match case-insensitively and keep their first spelling; at most 100 characters.
//! - `since_last_changed` is inclusive (timestamps have 1 s resolution; "after" would lose
//!   same-second changes).

use serde_json::{Map, Value, json};

use crate::common::email::valid_email;
use crate::common::hash::is_md5_hex;
use crate::common::iso8601::{iso8601, parse_iso8601};
use crate::common::query::query_get;

use super::config::BATCH_SUBSCRIBE_MAX;
use super::error::Problem;
use super::hash::subscriber_hash;
use super::model::{
    Actor, Batch, List, Member, MergeField, State, Status, TagDef, Webhook, list_json, member_json,
    merge_field_json,
};

/// A successful answer: a status and a JSON body (`None` = 204 No Content).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    pub fn ok(v: Value) -> Self {
        Self {
            status: 200,
            body: Some(v),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
        }
    }
}

pub type OpResult = Result<Reply, Problem>;
type Query = [(String, String)];

/// Parses a request body (empty or `null` → `Value::Null`).
pub fn parse_body(body: &[u8]) -> Result<Value, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| Problem::json_parse())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, Problem> {
    v.as_object().ok_or_else(|| {
        Problem::invalid_fields(vec![(
            String::new(),
            format!("Schema describes object, {} found instead", kind_name(v)),
        )])
    })
}

fn opt_str<'a>(o: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, Problem> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(v) => Err(Problem::invalid_fields(vec![(
            k.to_owned(),
            format!("Schema describes string, {} found instead", kind_name(v)),
        )])),
    }
}

fn opt_bool(o: &Map<String, Value>, k: &str) -> Result<Option<bool>, Problem> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(Problem::invalid_fields(vec![(
            k.to_owned(),
            format!("Schema describes boolean, {} found instead", kind_name(v)),
        )])),
    }
}

fn status_field(o: &Map<String, Value>, k: &str) -> Result<Option<Status>, Problem> {
    match opt_str(o, k)? {
        None => Ok(None),
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| {
            Problem::invalid_fields(vec![(
                k.to_owned(),
                format!(
                    "Data did not match any of the schemas described in anyOf. Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional (\"{s}\" given)"
                ),
            )])
        }),
    }
}

fn query_bool(q: &Query, k: &str) -> bool {
    query_get(q, k).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `count` (default 10, at most 1000) and `offset` (default 0).
fn paging(q: &Query) -> Result<(usize, usize), Problem> {
    let num = |k: &str, d: usize| -> Result<usize, Problem> {
        match query_get(q, k) {
            None | Some("") => Ok(d),
            Some(v) => v.parse().map_err(|_| {
                Problem::invalid_fields(vec![(k.to_owned(), format!("{k} must be an integer"))])
            }),
        }
    };
    let count = num("count", 10)?;
    if count > 1000 {
        return Err(Problem::invalid_fields(vec![(
            "count".into(),
            "count must be less than or equal to 1000".into(),
        )]));
    }
    Ok((count, num("offset", 0)?))
}

fn page<T>(items: Vec<T>, count: usize, offset: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(count).collect()
}

fn list_ix(st: &State, id: &str) -> Result<usize, Problem> {
    st.lists
        .iter()
        .position(|l| l.id == id)
        .ok_or_else(Problem::not_found)
}

/// Whether the API may move a member from `from` to `to` (see the module docs).
pub fn transition_allowed(from: Status, to: Status) -> bool {
    !matches!(
        (from, to),
        (Status::Unsubscribed | Status::Cleaned, Status::Subscribed)
            | (Status::Cleaned, Status::Pending)
    )
}

// ---------------------------------------------------------------------------------------------
// Lists

pub fn create_list(st: &mut State, now: i64, body: &Value) -> OpResult {
    let o = object(body)?;
    let mut missing = Vec::new();
    for k in [
        "name",
        "contact",
        "permission_reminder",
        "email_type_option",
        "campaign_defaults",
    ] {
        if o.get(k).is_none_or(Value::is_null) {
            missing.push(k);
        }
    }
    if !missing.is_empty() {
        return Err(Problem::missing(&missing));
    }
    let name = opt_str(o, "name")?.unwrap_or_default().trim().to_owned();
    if name.is_empty() {
        return Err(Problem::invalid_fields(vec![(
            "name".into(),
            "This value should not be blank.".into(),
        )]));
    }
    let contact = o["contact"].clone();
    let co = object(&contact)?;
    let missing: Vec<&str> = ["company", "address1", "city", "state", "zip", "country"]
        .into_iter()
        .filter(|k| co.get(*k).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(Problem::missing(
            &missing
                .iter()
                .map(|k| format!("contact.{k}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ));
    }
    let defaults = o["campaign_defaults"].clone();
    let dobj = object(&defaults)?;
    let missing: Vec<String> = ["from_name", "from_email", "subject", "language"]
        .into_iter()
        .filter(|k| dobj.get(*k).is_none_or(Value::is_null))
        .map(|k| format!("campaign_defaults.{k}"))
        .collect();
    if !missing.is_empty() {
        return Err(Problem::missing(
            &missing.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
    }
    let email_type_option = opt_bool(o, "email_type_option")?.unwrap_or(false);
    let id = st.hex(10);
    let web_id = st.web_id();
    let text_field = |merge_id: u32, tag: &str, name: &str| MergeField {
        merge_id,
        tag: tag.into(),
        name: name.into(),
        kind: "text".into(),
        required: false,
        default_value: String::new(),
        public: true,
        display_order: merge_id + 1,
        options: json!({"size": 25}),
        help_text: String::new(),
    };
    let list = List {
        id,
        web_id,
        name,
        contact,
        permission_reminder: opt_str(o, "permission_reminder")?
            .unwrap_or_default()
            .to_owned(),
        use_archive_bar: opt_bool(o, "use_archive_bar")?.unwrap_or(false),
        campaign_defaults: defaults,
        notify_on_subscribe: opt_str(o, "notify_on_subscribe")?
            .unwrap_or_default()
            .to_owned(),
        notify_on_unsubscribe: opt_str(o, "notify_on_unsubscribe")?
            .unwrap_or_default()
            .to_owned(),
        email_type_option,
        double_optin: opt_bool(o, "double_optin")?.unwrap_or(false),
        marketing_permissions: opt_bool(o, "marketing_permissions")?.unwrap_or(false),
        visibility: opt_str(o, "visibility")?.unwrap_or("pub").to_owned(),
        date_created: now,
        // New audiences come with FNAME and LNAME (real ones also get ADDRESS, PHONE and
        // BIRTHDAY; left out: paysync does not use them).
        merge_fields: vec![
            text_field(1, "FNAME", "First Name"),
            text_field(2, "LNAME", "Last Name"),
        ],
        next_merge_id: 3,
        members: Vec::new(),
        member_ix: Default::default(),
        contact_ix: Default::default(),
        tags: Vec::new(),
        forgotten: Default::default(),
        webhooks: Vec::new(),
        last_sub_date: None,
        last_unsub_date: None,
    };
    let v = list_json(&list, false);
    st.lists.push(list);
    Ok(Reply::ok(v))
}

pub fn get_lists(st: &State, q: &Query) -> OpResult {
    let (count, offset) = paging(q)?;
    let lists: Vec<Value> = page(
        st.lists.iter().map(|l| list_json(l, false)).collect(),
        count,
        offset,
    );
    Ok(Reply::ok(json!({
        "lists": lists,
        "total_items": st.lists.len(),
        "constraints": {"may_create": true, "max_instances": 100, "current_total_instances": st.lists.len()},
        "_links": [],
    })))
}

pub fn get_list(st: &State, id: &str, q: &Query) -> OpResult {
    let l = st.list(id).ok_or_else(Problem::not_found)?;
    Ok(Reply::ok(list_json(
        l,
        query_bool(q, "include_total_contacts"),
    )))
}

pub fn delete_list(st: &mut State, id: &str) -> OpResult {
    let ix = list_ix(st, id)?;
    st.lists.remove(ix);
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------------------------
// Merge fields

const MERGE_TYPES: &[&str] = &[
    "text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown",
    "birthday", "zip",
];

pub fn get_merge_fields(st: &State, list_id: &str, q: &Query) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let (count, offset) = paging(q)?;
    let ty = query_get(q, "type");
    let req = query_get(q, "required").map(|v| v == "true");
    let all: Vec<Value> = l
        .merge_fields
        .iter()
        .filter(|f| ty.is_none_or(|t| f.kind == t) && req.is_none_or(|r| f.required == r))
        .map(|f| merge_field_json(&l.id, f))
        .collect();
    let total = all.len();
    Ok(Reply::ok(json!({
        "merge_fields": page(all, count, offset),
        "list_id": l.id,
        "total_items": total,
        "_links": [],
    })))
}

/// `GET /lists/{list_id}/tag-search`: tags whose name starts with `name` (case-insensitive), or
/// all of the list's tags without it (spec: lists "tag-search").
pub fn search_tags(st: &State, list_id: &str, q: &Query) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let prefix = query_get(q, "name").map(str::to_lowercase);
    let tags: Vec<Value> = l
        .tags
        .iter()
        .filter(|t| {
            prefix
                .as_ref()
                .is_none_or(|p| t.name.to_lowercase().starts_with(p))
        })
        .map(|t| json!({ "id": t.id, "name": t.name }))
        .collect();
    let total = tags.len();
    Ok(Reply::ok(json!({ "tags": tags, "total_items": total })))
}

pub fn get_merge_field(st: &State, list_id: &str, merge_id: &str) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let f = l
        .merge_fields
        .iter()
        .find(|f| f.merge_id.to_string() == merge_id || f.tag == merge_id)
        .ok_or_else(Problem::not_found)?;
    Ok(Reply::ok(merge_field_json(&l.id, f)))
}

/// `PATCH /lists/{list_id}/merge-fields/{merge_id}`: the name, whether it is required, its
/// default value and whether it is public may change; its type and tag may not (the vendor's
/// documentation lists only the former as patchable).
pub fn update_merge_field(st: &mut State, list_id: &str, merge_id: &str, body: &Value) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let name = opt_str(o, "name")?.map(|n| n.trim().to_owned());
    if name.as_deref() == Some("") {
        return Err(Problem::invalid_fields(vec![(
            "name".into(),
            "This value should not be blank.".into(),
        )]));
    }
    let required = opt_bool(o, "required")?;
    let public = opt_bool(o, "public")?;
    let default_value = opt_str(o, "default_value")?.map(str::to_owned);
    let l = &mut st.lists[ix];
    let list = l.id.clone();
    let f = l
        .merge_fields
        .iter_mut()
        .find(|f| f.merge_id.to_string() == merge_id || f.tag == merge_id)
        .ok_or_else(Problem::not_found)?;
    if let Some(name) = name {
        f.name = name;
    }
    if let Some(required) = required {
        f.required = required;
    }
    if let Some(public) = public {
        f.public = public;
    }
    if let Some(default_value) = default_value {
        f.default_value = default_value;
    }
    Ok(Reply::ok(merge_field_json(&list, f)))
}

pub fn create_merge_field(st: &mut State, list_id: &str, body: &Value) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let mut missing = Vec::new();
    if o.get("name").is_none_or(Value::is_null) {
        missing.push("name");
    }
    if o.get("type").is_none_or(Value::is_null) {
        missing.push("type");
    }
    if !missing.is_empty() {
        return Err(Problem::missing(&missing));
    }
    let name = opt_str(o, "name")?.unwrap_or_default().trim().to_owned();
    let kind = opt_str(o, "type")?.unwrap_or_default().to_owned();
    if !MERGE_TYPES.contains(&kind.as_str()) {
        return Err(Problem::invalid_fields(vec![(
            "type".into(),
            format!(
                "Value must be one of: {} (\"{kind}\" given)",
                MERGE_TYPES.join(", ")
            ),
        )]));
    }
    if name.is_empty() {
        return Err(Problem::invalid_fields(vec![(
            "name".into(),
            "This value should not be blank.".into(),
        )]));
    }
    let l = &mut st.lists[ix];
    let tag = match opt_str(o, "tag")? {
        Some(t) => t.trim().to_uppercase(),
        None => {
            let t: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect::<String>()
                .to_uppercase();
            if t.is_empty() || l.merge_fields.iter().any(|f| f.tag == t) {
                format!("MMERGE{}", l.next_merge_id)
            } else {
                t
            }
        }
    };
    if tag.is_empty()
        || tag.len() > 10
        || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Problem::invalid_fields(vec![(
            "tag".into(),
            "The merge tag must be 1 to 10 letters, digits or underscores.".into(),
        )]));
    }
    if tag == "EMAIL" || l.merge_fields.iter().any(|f| f.tag == tag) {
        return Err(Problem::invalid(format!(
            "A Merge Field with the tag \"{tag}\" already exists for this list."
        )));
    }
    let merge_id = l.next_merge_id;
    l.next_merge_id += 1;
    let f = MergeField {
        merge_id,
        tag,
        name,
        kind,
        required: opt_bool(o, "required")?.unwrap_or(false),
        default_value: opt_str(o, "default_value")?.unwrap_or_default().to_owned(),
        public: opt_bool(o, "public")?.unwrap_or(false),
        display_order: o
            .get("display_order")
            .and_then(Value::as_u64)
            .map_or(merge_id + 1, |n| n as u32),
        options: o.get("options").cloned().unwrap_or_else(|| json!({})),
        help_text: opt_str(o, "help_text")?.unwrap_or_default().to_owned(),
    };
    let v = merge_field_json(&l.id, &f);
    l.merge_fields.push(f);
    Ok(Reply::ok(v))
}

/// Writes `given` merge fields into `target`; returns whether anything changed.
fn apply_merges(
    list: &List,
    target: &mut Map<String, Value>,
    given: Option<&Value>,
    is_new: bool,
    skip_validation: bool,
) -> Result<bool, Problem> {
    let mut errors = Vec::new();
    let mut changed = false;
    match given {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let Some(f) = list
                    .merge_fields
                    .iter()
                    .find(|f| f.tag.eq_ignore_ascii_case(k))
                else {
                    continue;
                };
                let ok = match f.kind.as_str() {
                    "number" => match v {
                        Value::Number(_) | Value::Null => true,
                        Value::String(s) => s.is_empty() || s.trim().parse::<f64>().is_ok(),
                        _ => false,
                    },
                    "address" => v.is_object() || v.is_string() || v.is_null(),
                    _ => !v.is_object() && !v.is_array(),
                };
                if !ok {
                    errors.push((f.tag.clone(), "Please enter a valid value".to_owned()));
                    continue;
                }
                if target.get(&f.tag) != Some(v) {
                    target.insert(f.tag.clone(), v.clone());
                    changed = true;
                }
            }
        }
        Some(v) => {
            return Err(Problem::invalid_fields(vec![(
                "merge_fields".into(),
                format!("Schema describes object, {} found instead", kind_name(v)),
            )]));
        }
    }
    if is_new && !skip_validation {
        for f in list.merge_fields.iter().filter(|f| f.required) {
            let empty = target
                .get(&f.tag)
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if empty {
                errors.push((f.tag.clone(), "Please enter a value".to_owned()));
            }
        }
    }
    if errors.is_empty() {
        Ok(changed)
    } else {
        let mut p = Problem::invalid_fields(errors);
        p.detail = "Your merge fields were invalid.".into();
        Err(p)
    }
}

// ---------------------------------------------------------------------------------------------
// Members

/// Fresh ids for a new member, taken before the list is borrowed.
struct NewIds {
    unique_email_id: String,
    contact_id: String,
    web_id: u64,
}

fn new_ids(st: &mut State) -> NewIds {
    NewIds {
        unique_email_id: st.hex(10),
        contact_id: st.hex(32),
        web_id: st.web_id(),
    }
}

fn new_member(ids: NewIds, hash: String, email: &str, status: Status, now: i64) -> Member {
    Member {
        hash,
        email: email.to_owned(),
        unique_email_id: ids.unique_email_id,
        contact_id: ids.contact_id,
        web_id: ids.web_id,
        email_type: "html".into(),
        status,
        archived: false,
        merge_fields: Map::new(),
        tags: Vec::new(),
        language: String::new(),
        vip: false,
        ip_signup: String::new(),
        timestamp_signup: None,
        ip_opt: String::new(),
        timestamp_opt: (status == Status::Subscribed).then_some(now),
        last_changed: now,
        created: now,
        unsubscribe_reason: None,
        status_actor: Actor::Api,
    }
}

/// Applies a status change (already checked) and its side effects.
fn set_status(list: &mut List, hash: &str, to: Status, now: i64, actor: Actor) -> bool {
    let Some(m) = list.member_mut(hash) else {
        return false;
    };
    let unarchive = m.archived;
    if m.status == to && !unarchive {
        return false;
    }
    let from = m.status;
    m.status = to;
    m.archived = false;
    m.status_actor = actor;
    m.last_changed = now;
    if to == Status::Subscribed && from != Status::Subscribed {
        m.timestamp_opt = Some(now);
    }
    if to != Status::Unsubscribed {
        m.unsubscribe_reason = None;
    }
    match to {
        Status::Subscribed => list.last_sub_date = Some(now),
        Status::Unsubscribed => list.last_unsub_date = Some(now),
        _ => {}
    }
    true
}

/// Checks consent for moving member `hash` (if present) to `to`.
fn check_consent(
    st: &mut State,
    ix: usize,
    hash: &str,
    email: &str,
    to: Status,
) -> Result<(), Problem> {
    if let Some(m) = st.lists[ix].member(hash)
        && !transition_allowed(m.status, to)
    {
        st.compliance_rejections += 1;
        return Err(Problem::compliance(&m.email));
    }
    if st.lists[ix].member(hash).is_none() && st.lists[ix].forgotten.contains(hash) {
        st.compliance_rejections += 1;
        return Err(Problem::forgotten(email));
    }
    Ok(())
}

/// Common optional member attributes (email_type, language, vip, ip_*).
fn apply_attrs(m: &mut Member, o: &Map<String, Value>, now: i64) -> Result<bool, Problem> {
    let mut changed = false;
    if let Some(t) = opt_str(o, "email_type")? {
        if t != "html" && t != "text" {
            return Err(Problem::invalid_fields(vec![(
                "email_type".into(),
                "Value must be one of: html, text".into(),
            )]));
        }
        changed |= m.email_type != t;
        m.email_type = t.to_owned();
    }
    if let Some(l) = opt_str(o, "language")? {
        changed |= m.language != l;
        m.language = l.to_owned();
    }
    if let Some(v) = opt_bool(o, "vip")? {
        changed |= m.vip != v;
        m.vip = v;
    }
    if let Some(ip) = opt_str(o, "ip_signup")? {
        m.ip_signup = ip.to_owned();
    }
    if let Some(ip) = opt_str(o, "ip_opt")? {
        m.ip_opt = ip.to_owned();
    }
    if let Some(t) = opt_str(o, "timestamp_signup")? {
        m.timestamp_signup = parse_iso8601(t, 0).or(Some(now));
    }
    Ok(changed)
}

/// The hash the path names: a member's hash, address or contact id; for a new member, the
/// hash (or the address given in its place).
fn path_hash(list: &List, id: &str) -> Option<String> {
    list.resolve(id).or_else(|| {
        if id.contains('@') {
            Some(subscriber_hash(id))
        } else if is_md5_hex(id) {
            Some(id.to_ascii_lowercase())
        } else {
            None
        }
    })
}

fn email_field(o: &Map<String, Value>) -> Result<Option<String>, Problem> {
    match opt_str(o, "email_address")? {
        None => Ok(None),
        Some(e) => {
            let e = e.trim();
            if valid_email(e) {
                Ok(Some(e.to_owned()))
            } else {
                Err(Problem::invalid_email())
            }
        }
    }
}

/// `PUT /lists/{list_id}/members/{subscriber_hash}`: add or update.
pub fn put_member(
    st: &mut State,
    now: i64,
    list_id: &str,
    id: &str,
    body: &Value,
    q: &Query,
) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let hash = path_hash(&st.lists[ix], id).ok_or_else(Problem::not_found)?;
    let email = email_field(o)?;
    if let Some(e) = &email
        && subscriber_hash(e) != hash
    {
        return Err(Problem::invalid(
            "The subscriber hash in the URL does not match the email_address in the request body.",
        ));
    }
    let status = status_field(o, "status")?;
    let status_if_new = status_field(o, "status_if_new")?;
    let skip = query_bool(q, "skip_merge_validation");
    let existing = st.lists[ix].member(&hash).map(|m| m.archived);
    match existing {
        None => {
            let Some(email) = email else {
                return Err(Problem::missing(&["email_address"]));
            };
            let Some(to) = status_if_new.or(status) else {
                return Err(Problem::missing(&["status_if_new"]));
            };
            check_consent(st, ix, &hash, &email, to)?;
            let ids = new_ids(st);
            let list = &st.lists[ix];
            let mut m = new_member(ids, hash.clone(), &email, to, now);
            apply_merges(list, &mut m.merge_fields, o.get("merge_fields"), true, skip)?;
            apply_attrs(&mut m, o, now)?;
            let list = &mut st.lists[ix];
            if to == Status::Subscribed {
                list.last_sub_date = Some(now);
            }
            list.insert_member(m);
        }
        Some(archived) => {
            let to = if archived {
                status.or(status_if_new)
            } else {
                status
            };
            if let Some(to) = to {
                check_consent(st, ix, &hash, email.as_deref().unwrap_or(""), to)?;
            }
            let list = &st.lists[ix];
            let mut merges = list
                .member(&hash)
                .map(|m| m.merge_fields.clone())
                .unwrap_or_default();
            let merges_changed =
                apply_merges(list, &mut merges, o.get("merge_fields"), false, skip)?;
            let list = &mut st.lists[ix];
            let mut changed = match to {
                Some(to) => set_status(list, &hash, to, now, Actor::Api),
                None if archived => {
                    // Re-adding an archived member without a status restores it as it was.
                    let m = list.member_mut(&hash).expect("member");
                    m.archived = false;
                    m.last_changed = now;
                    true
                }
                None => false,
            };
            let m = list.member_mut(&hash).expect("member");
            changed |= apply_attrs(m, o, now)?;
            if merges_changed {
                m.merge_fields = merges;
                changed = true;
            }
            if changed {
                m.last_changed = now;
            }
        }
    }
    let list = &st.lists[ix];
    Ok(Reply::ok(member_json(
        list,
        list.member(&hash).expect("member"),
    )))
}

/// `POST /lists/{list_id}/members`: add a new member.
pub fn add_member(st: &mut State, now: i64, list_id: &str, body: &Value, q: &Query) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let mut missing = Vec::new();
    if o.get("email_address").is_none_or(Value::is_null) {
        missing.push("email_address");
    }
    if o.get("status").is_none_or(Value::is_null) {
        missing.push("status");
    }
    if !missing.is_empty() {
        return Err(Problem::missing(&missing));
    }
    let email = email_field(o)?.expect("checked");
    let to = status_field(o, "status")?.expect("checked");
    let hash = subscriber_hash(&email);
    if st.lists[ix].member(&hash).is_some_and(|m| !m.archived) {
        return Err(Problem::member_exists(&email));
    }
    let mut body = body.clone();
    if let Some(b) = body.as_object_mut() {
        b.remove("status_if_new");
    }
    let r = put_member(st, now, list_id, &hash, &body, q)?;
    if let Some(tags) = o.get("tags").and_then(Value::as_array) {
        let names: Vec<(String, bool)> = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|t| (t.to_owned(), true))
            .collect();
        tag_member(st, now, ix, &hash, &names)?;
        let list = &st.lists[ix];
        return Ok(Reply::ok(member_json(
            list,
            list.member(&hash).expect("member"),
        )));
    }
    let _ = to;
    Ok(r)
}

/// `PATCH /lists/{list_id}/members/{subscriber_hash}`.
pub fn patch_member(
    st: &mut State,
    now: i64,
    list_id: &str,
    id: &str,
    body: &Value,
    q: &Query,
) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let mut hash = st.lists[ix].resolve(id).ok_or_else(Problem::not_found)?;
    let status = status_field(o, "status")?;
    let skip = query_bool(q, "skip_merge_validation");
    if let Some(new_email) = email_field(o)? {
        let new_hash = subscriber_hash(&new_email);
        if new_hash != hash {
            if st.lists[ix].member(&new_hash).is_some() {
                return Err(Problem::member_exists(&new_email));
            }
            if st.lists[ix].forgotten.contains(&new_hash) {
                st.compliance_rejections += 1;
                return Err(Problem::forgotten(&new_email));
            }
        }
        let current = st.lists[ix].member(&hash).expect("member").email.clone();
        if let Some(to) = status {
            check_consent(st, ix, &hash, &current, to)?;
        }
        let list = &mut st.lists[ix];
        if new_hash != hash {
            let mut m = list.remove_member(&hash).expect("member");
            m.hash = new_hash.clone();
            m.email = new_email;
            m.last_changed = now;
            list.insert_member(m);
            hash = new_hash;
        } else if current != new_email {
            let m = list.member_mut(&hash).expect("member");
            m.email = new_email;
            m.last_changed = now;
        }
    } else if let Some(to) = status {
        let current = st.lists[ix].member(&hash).expect("member").email.clone();
        check_consent(st, ix, &hash, &current, to)?;
    }
    let list = &st.lists[ix];
    let mut merges = list.member(&hash).expect("member").merge_fields.clone();
    let merges_changed = apply_merges(list, &mut merges, o.get("merge_fields"), false, skip)?;
    let list = &mut st.lists[ix];
    let mut changed = status.is_some_and(|to| set_status(list, &hash, to, now, Actor::Api));
    let m = list.member_mut(&hash).expect("member");
    changed |= apply_attrs(m, o, now)?;
    if merges_changed {
        m.merge_fields = merges;
        changed = true;
    }
    if changed {
        m.last_changed = now;
    }
    let list = &st.lists[ix];
    Ok(Reply::ok(member_json(
        list,
        list.member(&hash).expect("member"),
    )))
}

pub fn get_member(st: &State, list_id: &str, id: &str) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let hash = l.resolve(id).ok_or_else(Problem::not_found)?;
    Ok(Reply::ok(member_json(l, l.member(&hash).expect("member"))))
}

/// `DELETE …/members/{hash}`: archive.
pub fn archive_member(st: &mut State, now: i64, list_id: &str, id: &str) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let l = &mut st.lists[ix];
    let hash = l.resolve(id).ok_or_else(Problem::not_found)?;
    let m = l.member_mut(&hash).expect("member");
    if m.archived {
        return Err(Problem::not_found());
    }
    m.archived = true;
    m.last_changed = now;
    Ok(Reply::no_content())
}

/// `POST …/members/{hash}/actions/delete-permanent`.
pub fn delete_permanent(st: &mut State, list_id: &str, id: &str) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let l = &mut st.lists[ix];
    let hash = l.resolve(id).ok_or_else(Problem::not_found)?;
    l.remove_member(&hash);
    l.forgotten.insert(hash);
    Ok(Reply::no_content())
}

pub fn get_members(st: &State, list_id: &str, q: &Query) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let (count, offset) = paging(q)?;
    let status = query_get(q, "status").filter(|s| !s.is_empty());
    if let Some(s) = status
        && s != "archived"
        && Status::parse(s).is_none()
    {
        return Err(Problem::invalid_fields(vec![(
            "status".into(),
            "Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional, archived".into(),
        )]));
    }
    let time = |k: &str| -> Result<Option<i64>, Problem> {
        match query_get(q, k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_iso8601(v, 0).map(Some).ok_or_else(|| {
                Problem::invalid_fields(vec![(
                    k.to_owned(),
                    "Please provide a valid ISO 8601 date and time.".into(),
                )])
            }),
        }
    };
    let since_changed = time("since_last_changed")?;
    let before_changed = time("before_last_changed")?;
    let since_opt = time("since_timestamp_opt")?;
    let before_opt = time("before_timestamp_opt")?;
    let email_type = query_get(q, "email_type");
    let vip_only = query_bool(q, "vip_only");
    let mut ms: Vec<&Member> = l
        .members
        .iter()
        .filter(|m| match status {
            Some("archived") => m.archived,
            Some(s) => !m.archived && m.status.as_str() == s,
            None => !m.archived,
        })
        .filter(|m| since_changed.is_none_or(|t| m.last_changed >= t))
        .filter(|m| before_changed.is_none_or(|t| m.last_changed <= t))
        .filter(|m| since_opt.is_none_or(|t| m.timestamp_opt.is_some_and(|o| o >= t)))
        .filter(|m| before_opt.is_none_or(|t| m.timestamp_opt.is_some_and(|o| o <= t)))
        .filter(|m| email_type.is_none_or(|t| m.email_type == t))
        .filter(|m| !vip_only || m.vip)
        .collect();
    if let Some(f) = query_get(q, "sort_field") {
        let key = |m: &Member| match f {
            "timestamp_signup" => m.timestamp_signup.unwrap_or(m.created),
            "last_changed" => m.last_changed,
            _ => m.timestamp_opt.unwrap_or(0),
        };
        ms.sort_by_key(|m| key(m));
        if query_get(q, "sort_dir").is_some_and(|d| d.eq_ignore_ascii_case("DESC")) {
            ms.reverse();
        }
    }
    let total = ms.len();
    let members: Vec<Value> = ms
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|m| member_json(l, m))
        .collect();
    Ok(Reply::ok(json!({
        "members": members,
        "list_id": l.id,
        "total_items": total,
        "_links": [],
    })))
}

// ---------------------------------------------------------------------------------------------
// Tags

/// Adds (`true`) or removes (`false`) tags by name on one member; creates tags on first use.
fn tag_member(
    st: &mut State,
    now: i64,
    ix: usize,
    hash: &str,
    tags: &[(String, bool)],
) -> Result<(), Problem> {
    let mut changed = false;
    for (name, active) in tags {
        let id = match st.lists[ix].tag_by_name(name) {
            Some(t) => Some(t.id),
            None if *active => {
                st.next_tag_id += 1;
                let id = st.next_tag_id;
                st.lists[ix].tags.push(TagDef {
                    id,
                    name: name.clone(),
                });
                Some(id)
            }
            None => None,
        };
        let Some(id) = id else { continue };
        let m = st.lists[ix]
            .member_mut(hash)
            .ok_or_else(Problem::not_found)?;
        let has = m.tags.iter().any(|(t, _)| *t == id);
        if *active && !has {
            m.tags.push((id, now));
            changed = true;
        } else if !*active && has {
            m.tags.retain(|(t, _)| *t != id);
            changed = true;
        }
    }
    if changed && let Some(m) = st.lists[ix].member_mut(hash) {
        m.last_changed = now;
    }
    Ok(())
}

fn tag_name(v: &Value, field: &str) -> Result<String, Problem> {
    let name = v.as_str().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(Problem::invalid_fields(vec![(
            field.to_owned(),
            "Tag name must be a non-empty string".into(),
        )]));
    }
    if name.chars().count() > 100 {
        return Err(Problem::invalid_fields(vec![(
            field.to_owned(),
            "Tag name must be at most 100 characters".into(),
        )]));
    }
    Ok(name.to_owned())
}

/// `POST …/members/{hash}/tags` `{tags: [{name, status}], is_syncing}` → 204.
pub fn post_tags(st: &mut State, now: i64, list_id: &str, id: &str, body: &Value) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let Some(tags) = o.get("tags") else {
        return Err(Problem::missing(&["tags"]));
    };
    let Some(arr) = tags.as_array() else {
        return Err(Problem::invalid_fields(vec![(
            "tags".into(),
            format!("Schema describes array, {} found instead", kind_name(tags)),
        )]));
    };
    opt_bool(o, "is_syncing")?;
    let mut parsed = Vec::with_capacity(arr.len());
    for (i, t) in arr.iter().enumerate() {
        let to = object(t)?;
        let name = tag_name(
            to.get("name").unwrap_or(&Value::Null),
            &format!("tags.{i}.name"),
        )?;
        let active = match opt_str(to, "status")? {
            Some("active") => true,
            Some("inactive") => false,
            _ => {
                return Err(Problem::invalid_fields(vec![(
                    format!("tags.{i}.status"),
                    "Value must be one of: active, inactive".into(),
                )]));
            }
        };
        parsed.push((name, active));
    }
    let hash = st.lists[ix].resolve(id).ok_or_else(Problem::not_found)?;
    tag_member(st, now, ix, &hash, &parsed)?;
    Ok(Reply::no_content())
}

pub fn get_tags(st: &State, list_id: &str, id: &str, q: &Query) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let hash = l.resolve(id).ok_or_else(Problem::not_found)?;
    let (count, offset) = paging(q)?;
    let m = l.member(&hash).expect("member");
    let tags: Vec<Value> = m
        .tags
        .iter()
        .map(|(tid, added)| {
            json!({"id": tid, "name": l.tag_name(*tid), "date_added": iso8601(*added, 0)})
        })
        .collect();
    let total = tags.len();
    Ok(Reply::ok(json!({
        "tags": page(tags, count, offset),
        "total_items": total,
        "_links": [],
    })))
}

// ---------------------------------------------------------------------------------------------
// Batch subscribe: POST /lists/{list_id}

fn batch_error(email: &str, error: String, code: &str, field: &str, field_message: &str) -> Value {
    json!({
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": field,
        "field_message": field_message,
    })
}

pub fn batch_subscribe(
    st: &mut State,
    now: i64,
    list_id: &str,
    body: &Value,
    q: &Query,
) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let o = object(body)?;
    let Some(members) = o.get("members") else {
        return Err(Problem::missing(&["members"]));
    };
    let Some(members) = members.as_array() else {
        return Err(Problem::invalid_fields(vec![(
            "members".into(),
            format!(
                "Schema describes array, {} found instead",
                kind_name(members)
            ),
        )]));
    };
    if members.len() > BATCH_SUBSCRIBE_MAX {
        return Err(Problem::invalid_fields(vec![(
            "members".into(),
            format!(
                "You may only add or update {BATCH_SUBSCRIBE_MAX} members at a time ({} given).",
                members.len()
            ),
        )]));
    }
    let update_existing = opt_bool(o, "update_existing")?.unwrap_or(false);
    let sync_tags = opt_bool(o, "sync_tags")?.unwrap_or(false);
    let skip_dupes = query_bool(q, "skip_duplicate_check");
    let skip_merge = query_bool(q, "skip_merge_validation");
    let mut new_members = Vec::new();
    let mut updated = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for mv in members {
        let Some(mo) = mv.as_object() else {
            errors.push(batch_error(
                "",
                "Member must be an object".into(),
                "ERROR_GENERIC",
                "",
                "",
            ));
            continue;
        };
        let raw = mo
            .get("email_address")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if !valid_email(raw) {
            errors.push(batch_error(
                raw,
                format!("{raw} looks fake or invalid, please enter a real email address."),
                "ERROR_GENERIC",
                "email_address",
                "Invalid email address",
            ));
            continue;
        }
        let hash = subscriber_hash(raw);
        if !seen.insert(hash.clone()) {
            if !skip_dupes {
                errors.push(batch_error(
                    raw,
                    format!("{raw} appears more than once in this request."),
                    "ERROR_GENERIC",
                    "email_address",
                    "Duplicate email address",
                ));
            }
            continue;
        }
        let status = match mo.get("status").and_then(Value::as_str) {
            None => None,
            Some(s) => match Status::parse(s) {
                Some(s) => Some(s),
                None => {
                    errors.push(batch_error(
                        raw,
                        format!("\"{s}\" is not a valid status."),
                        "ERROR_GENERIC",
                        "status",
                        "Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional",
                    ));
                    continue;
                }
            },
        };
        let existing = st.lists[ix].member(&hash).map(|m| m.archived);
        if existing == Some(false) && !update_existing {
            errors.push(batch_error(
                raw,
                format!("{raw} is already a list member, do you want to update? please provide update_existing:true in the request body"),
                "ERROR_CONTACT_EXISTS",
                "",
                "",
            ));
            continue;
        }
        if existing.is_none() && status.is_none() {
            errors.push(batch_error(
                raw,
                "Required fields were not provided: status".into(),
                "ERROR_GENERIC",
                "status",
                "Required fields were not provided: status",
            ));
            continue;
        }
        if let Some(to) = status
            && let Err(p) = check_consent(st, ix, &hash, raw, to)
        {
            errors.push(batch_error(raw, p.detail, "ERROR_GENERIC", "", ""));
            continue;
        }
        // Validate merge fields before touching anything.
        let mut merges = st.lists[ix]
            .member(&hash)
            .map(|m| m.merge_fields.clone())
            .unwrap_or_default();
        let merges_changed = match apply_merges(
            &st.lists[ix],
            &mut merges,
            mo.get("merge_fields"),
            existing.is_none(),
            skip_merge,
        ) {
            Ok(c) => c,
            Err(p) => {
                let field = p
                    .errors
                    .as_ref()
                    .and_then(|e| e.first())
                    .and_then(|e| e["field"].as_str())
                    .unwrap_or("")
                    .to_owned();
                errors.push(batch_error(
                    raw,
                    p.detail,
                    "ERROR_GENERIC",
                    &field,
                    "Please enter a value",
                ));
                continue;
            }
        };
        let is_new = existing.is_none();
        if is_new {
            let ids = new_ids(st);
            let mut m = new_member(ids, hash.clone(), raw, status.expect("checked"), now);
            m.merge_fields = merges;
            if let Err(p) = apply_attrs(&mut m, mo, now) {
                errors.push(batch_error(raw, p.detail, "ERROR_GENERIC", "", ""));
                continue;
            }
            let list = &mut st.lists[ix];
            if m.status == Status::Subscribed {
                list.last_sub_date = Some(now);
            }
            list.insert_member(m);
        } else {
            let list = &mut st.lists[ix];
            let mut changed = status.is_some_and(|to| set_status(list, &hash, to, now, Actor::Api));
            let m = list.member_mut(&hash).expect("member");
            if m.archived {
                m.archived = false;
                changed = true;
            }
            changed |= apply_attrs(m, mo, now).unwrap_or(false);
            if merges_changed {
                m.merge_fields = merges;
                changed = true;
            }
            if changed {
                m.last_changed = now;
            }
        }
        if let Some(tags) = mo.get("tags").and_then(Value::as_array) {
            let wanted: Vec<String> = tags
                .iter()
                .filter_map(|t| tag_name(t, "tags").ok())
                .collect();
            let mut ops: Vec<(String, bool)> = wanted.iter().map(|t| (t.clone(), true)).collect();
            if sync_tags {
                let list = &st.lists[ix];
                let m = list.member(&hash).expect("member");
                for (tid, _) in &m.tags {
                    let n = list.tag_name(*tid);
                    if !wanted.iter().any(|w| w.eq_ignore_ascii_case(n)) {
                        ops.push((n.to_owned(), false));
                    }
                }
            }
            tag_member(st, now, ix, &hash, &ops)?;
        }
        let list = &st.lists[ix];
        let v = member_json(list, list.member(&hash).expect("member"));
        if is_new {
            new_members.push(v);
        } else {
            updated.push(v);
        }
    }
    Ok(Reply::ok(json!({
        "total_created": new_members.len(),
        "total_updated": updated.len(),
        "error_count": errors.len(),
        "new_members": new_members,
        "updated_members": updated,
        "errors": errors,
        "_links": [],
    })))
}

// ---------------------------------------------------------------------------------------------
// Webhooks (the URL check happens before, in the async caller)

/// A webhook's URL, events and sources.
pub type WebhookSpec = (String, Map<String, Value>, Map<String, Value>);

/// Validates a webhook body.
pub fn parse_webhook(body: &Value) -> Result<WebhookSpec, Problem> {
    let o = object(body)?;
    let Some(url) = opt_str(o, "url")? else {
        return Err(Problem::missing(&["url"]));
    };
    let url = url.trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Problem::invalid_fields(vec![(
            "url".into(),
            "Please provide a valid URL.".into(),
        )]));
    }
    let flags = |k: &str, names: &[&str], default: bool| -> Result<Map<String, Value>, Problem> {
        let given = match o.get(k) {
            None | Some(Value::Null) => None,
            Some(v) => Some(object(v)?),
        };
        let mut m = Map::new();
        for n in names {
            let v = given
                .and_then(|g| g.get(*n))
                .and_then(Value::as_bool)
                .unwrap_or(default);
            m.insert((*n).to_owned(), Value::Bool(v));
        }
        Ok(m)
    };
    let events = flags(
        "events",
        &[
            "subscribe",
            "unsubscribe",
            "profile",
            "cleaned",
            "upemail",
            "campaign",
        ],
        false,
    )?;
    let sources = flags("sources", &["user", "admin", "api"], false)?;
    Ok((url, events, sources))
}

pub fn add_webhook(
    st: &mut State,
    list_id: &str,
    url: String,
    events: Map<String, Value>,
    sources: Map<String, Value>,
) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let id = st.hex(10);
    let l = &mut st.lists[ix];
    if l.webhooks.iter().any(|w| w.url == url) {
        return Err(Problem::invalid_fields(vec![(
            "url".into(),
            "A webhook with this URL already exists for this list.".into(),
        )]));
    }
    let w = Webhook {
        id,
        url,
        events,
        sources,
    };
    let v = super::model::webhook_json(&l.id, &w);
    l.webhooks.push(w);
    Ok(Reply::ok(v))
}

pub fn get_webhooks(st: &State, list_id: &str) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let hooks: Vec<Value> = l
        .webhooks
        .iter()
        .map(|w| super::model::webhook_json(&l.id, w))
        .collect();
    Ok(Reply::ok(json!({
        "webhooks": hooks,
        "list_id": l.id,
        "total_items": l.webhooks.len(),
        "_links": [],
    })))
}

pub fn get_webhook(st: &State, list_id: &str, id: &str) -> OpResult {
    let l = st.list(list_id).ok_or_else(Problem::not_found)?;
    let w = l
        .webhooks
        .iter()
        .find(|w| w.id == id)
        .ok_or_else(Problem::not_found)?;
    Ok(Reply::ok(super::model::webhook_json(&l.id, w)))
}

pub fn delete_webhook(st: &mut State, list_id: &str, id: &str) -> OpResult {
    let ix = list_ix(st, list_id)?;
    let l = &mut st.lists[ix];
    let before = l.webhooks.len();
    l.webhooks.retain(|w| w.id != id);
    if l.webhooks.len() == before {
        return Err(Problem::not_found());
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------------------------
// Batches (the runner is in `batches`)

const BATCH_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Validates a `POST /batches` body and stores the batch as `pending`.
pub fn create_batch(st: &mut State, now: i64, body: &Value) -> Result<Batch, Problem> {
    let o = object(body)?;
    let Some(ops) = o.get("operations") else {
        return Err(Problem::missing(&["operations"]));
    };
    let Some(ops) = ops.as_array() else {
        return Err(Problem::invalid_fields(vec![(
            "operations".into(),
            format!("Schema describes array, {} found instead", kind_name(ops)),
        )]));
    };
    for (i, op) in ops.iter().enumerate() {
        let oo = object(op)?;
        let method = oo.get("method").and_then(Value::as_str);
        if !method.is_some_and(|m| BATCH_METHODS.contains(&m)) {
            return Err(Problem::invalid_fields(vec![(
                format!("operations.{i}.method"),
                "Value must be one of: GET, POST, PUT, PATCH, DELETE".into(),
            )]));
        }
        if oo.get("path").and_then(Value::as_str).is_none() {
            return Err(Problem::invalid_fields(vec![(
                format!("operations.{i}.path"),
                "Required fields were not provided: path".into(),
            )]));
        }
        if let Some(b) = oo.get("body")
            && !b.is_string()
            && !b.is_null()
        {
            return Err(Problem::invalid_fields(vec![(
                format!("operations.{i}.body"),
                format!("Schema describes string, {} found instead", kind_name(b)),
            )]));
        }
    }
    let b = Batch {
        id: st.hex(10),
        status: "pending",
        total: ops.len(),
        finished: 0,
        errored: 0,
        submitted_at: now,
        completed_at: None,
        operations: ops.clone(),
        results: None,
    };
    st.batches.push(b.clone());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_rules() {
        use Status::*;
        assert!(!transition_allowed(Unsubscribed, Subscribed));
        assert!(!transition_allowed(Cleaned, Subscribed));
        assert!(!transition_allowed(Cleaned, Pending));
        assert!(transition_allowed(Unsubscribed, Pending));
        assert!(transition_allowed(Subscribed, Unsubscribed));
        assert!(transition_allowed(Pending, Subscribed));
        assert!(transition_allowed(Transactional, Subscribed));
    }
}
