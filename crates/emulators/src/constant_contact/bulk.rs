//! `/v3/activities`: the bulk endpoints paysync uses (`contacts_json_import`,
//! `remove_list_memberships`, `contact_delete`, `contacts_taggings_add`/`_remove`), which
//! validate the request, queue an activity and answer 201 with it; and `GET` of one activity
//! or the collection.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::activities::{ImportRow, Job, Kind};
use super::emulator::ConstantContactEmulator;
use super::error::{CcError, CcResult, json_status};
use super::params::{
    Query, encode_cursor, json_object, opt_obj, opt_str_array, req_str_array, require_json,
    resolve_cursor,
};
use super::state::{AddressIn, Selector};

/// Queues `job` unless too many activities are queued already.
fn queue(
    emu: &ConstantContactEmulator,
    kind: Kind,
    job: Job,
    items: usize,
    dropped: usize,
) -> CcResult {
    let max = emu.config().max_queued_activities;
    let timing = emu.activity_timing();
    let now = emu.now_ms();
    let v = {
        let mut st = emu.write();
        if st.queued_activities() >= max {
            return Err(CcError::activities_queue_full(max));
        }
        st.enqueue(kind, job, items, dropped, timing, now).to_json()
    };
    emu.wake_worker();
    Ok(json_status(StatusCode::CREATED, v))
}

#[derive(Deserialize)]
struct ImportBody<'a> {
    #[serde(borrow, default)]
    import_data: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    list_ids: Option<Value>,
}

/// A string property of an import row (`None` when absent or null; 400 when not a string).
fn row_str(
    o: &Map<String, Value>,
    key: &str,
    max: usize,
    too_long: &mut Vec<&'static str>,
    name: &'static str,
) -> Result<Option<String>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                too_long.push(name);
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(CcError::validation(format!(
            "import_data.{key} must be a string."
        ))),
    }
}

fn parse_row(o: &Map<String, Value>) -> Result<ImportRow, CcError> {
    let mut tl = Vec::new();
    let mut row = ImportRow {
        email: row_str(o, "email", usize::MAX, &mut tl, "email")?,
        ..Default::default()
    };
    let p = &mut row.profile;
    p.first_name = row_str(o, "first_name", 50, &mut tl, "first_name")?;
    p.last_name = row_str(o, "last_name", 50, &mut tl, "last_name")?;
    p.job_title = row_str(o, "job_title", 50, &mut tl, "job_title")?;
    p.company_name = row_str(o, "company_name", 50, &mut tl, "company_name")?;
    p.anniversary = row_str(o, "anniversary", 10, &mut tl, "anniversary")?;
    for (key, name) in [("birthday_month", 12), ("birthday_day", 31)] {
        match o.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_i64() {
                Some(n) if (1..=name).contains(&n) => {
                    if key == "birthday_month" {
                        p.birthday_month = Some(n);
                    } else {
                        p.birthday_day = Some(n);
                    }
                }
                _ => {
                    return Err(CcError::validation(format!(
                        "import_data.{key} must be an integer from 1 to {name}."
                    )));
                }
            },
        }
    }
    // "phone": the default kind is other (swagger JsonImportContact).
    for (key, kind, name) in [
        ("phone", "other", "phone"),
        ("home_phone", "home", "home_phone"),
        ("work_phone", "work", "work_phone"),
        ("mobile_phone", "mobile", "mobile_phone"),
        ("other_phone", "other", "other_phone"),
    ] {
        if let Some(n) = row_str(o, key, 50, &mut tl, name)? {
            p.phones.push((kind.to_owned(), n));
        }
    }
    // "street" etc.: the default kind is home.
    for (prefix, kind) in [
        ("", "home"),
        ("home_", "home"),
        ("work_", "work"),
        ("other_", "other"),
    ] {
        let k = |s: &str| format!("{prefix}{s}");
        let street = row_str(o, &k("street"), 255, &mut tl, "street")?;
        let street2 = row_str(o, &k("street2"), 255, &mut tl, "street2")?;
        let city = row_str(o, &k("city"), 50, &mut tl, "city")?;
        let state = row_str(o, &k("state"), 50, &mut tl, "state")?;
        let zip = row_str(o, &k("zip"), 50, &mut tl, "zip")?;
        let mut country = row_str(o, &k("country"), 50, &mut tl, "country")?;
        if prefix == "home_" && country.is_none() {
            // The swagger spells this one "home country".
            country = row_str(o, "home country", 50, &mut tl, "country")?;
        }
        let street = match (street, street2) {
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.or(b),
        };
        if street.is_some()
            || city.is_some()
            || state.is_some()
            || zip.is_some()
            || country.is_some()
        {
            p.addresses.push(AddressIn {
                kind: kind.to_owned(),
                street,
                city,
                state,
                postal_code: zip,
                country,
            });
        }
    }
    for (k, v) in o {
        if let Some(name) = k.strip_prefix("cf:") {
            let value = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(CcError::validation(format!(
                        "import_data.{k} must be a string."
                    )));
                }
            };
            if value.chars().count() > 255 && !tl.contains(&"custom field") {
                tl.push("custom field");
            }
            row.custom_fields.push((name.to_owned(), value));
        }
    }
    row.too_long = tl;
    Ok(row)
}

/// `POST /v3/activities/contacts_json_import` (swagger `ContactsJsonImport`). Beyond
/// 40,000 contacts or 4 MB the excess is dropped without an error (API-FACTS); the activity's
/// counts cover what was kept and `/_admin/state` shows `dropped_rows`.
pub async fn json_import(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    require_json(&headers)?;
    let parsed: ImportBody<'_> = serde_json::from_slice(&body)
        .map_err(|e| CcError::bad_request(format!("Malformed JSON: {e}")))?;
    let list_ids = {
        let mut m = Map::new();
        m.insert(
            "list_ids".into(),
            parsed.list_ids.clone().unwrap_or(Value::Null),
        );
        req_str_array(&m, "list_ids", 1, 50)?
    };
    let Some(raw_rows) = parsed.import_data else {
        return Err(CcError::validation("import_data is required."));
    };
    if raw_rows.is_empty() {
        return Err(CcError::validation(
            "import_data must contain at least one contact.",
        ));
    }
    let (max_rows, max_bytes) = (
        emu.config().import_max_contacts,
        emu.config().import_max_bytes,
    );
    let base = body.as_ptr() as usize;
    let mut rows = Vec::with_capacity(raw_rows.len().min(max_rows));
    for raw in raw_rows.iter().take(max_rows) {
        let end = raw.get().as_ptr() as usize - base + raw.get().len();
        if end > max_bytes {
            break;
        }
        let v: Value = serde_json::from_str(raw.get())
            .map_err(|e| CcError::bad_request(format!("Malformed JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(CcError::validation(
                "import_data must be an array of objects.",
            ));
        };
        rows.push(parse_row(&o)?);
    }
    let dropped = raw_rows.len() - rows.len();
    emu.read().check_lists(&list_ids)?;
    let n = rows.len();
    queue(
        &emu,
        Kind::JsonImport,
        Job::Import { rows, list_ids },
        n,
        dropped,
    )
}

/// The `source` object of list-membership and tagging activities.
fn selector(o: &Map<String, Value>) -> Result<Selector, CcError> {
    let Some(src) = opt_obj(o, "source")? else {
        return Err(CcError::validation("source is required."));
    };
    let mut found = Vec::new();
    if let Some(ids) = opt_str_array(src, "contact_ids", 500)? {
        found.push(Selector::ContactIds(ids));
    }
    if let Some(ids) = opt_str_array(src, "list_ids", 50)? {
        found.push(Selector::ListIds(ids));
    }
    if let Some(ids) = opt_str_array(src, "tag_ids", 50)? {
        found.push(Selector::TagIds(ids));
    }
    if src.get("all_active_contacts").and_then(Value::as_bool) == Some(true) {
        found.push(Selector::AllActive);
    }
    for unsupported in ["engagement_level", "segment_id", "new_subscriber"] {
        if src
            .get(unsupported)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        {
            return Err(CcError::validation(format!(
                "source.{unsupported} is not supported by the emulator."
            )));
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(CcError::validation(
            "source must name contact_ids, list_ids, tag_ids or all_active_contacts.",
        )),
        _ => Err(CcError::validation(
            "source properties are mutually exclusive.",
        )),
    }
}

fn exclude(o: &Map<String, Value>) -> Result<Vec<String>, CcError> {
    Ok(match opt_obj(o, "exclude")? {
        Some(e) => opt_str_array(e, "contact_ids", 500)?.unwrap_or_default(),
        None => Vec::new(),
    })
}

fn check_selector(emu: &ConstantContactEmulator, sel: &Selector) -> Result<(), CcError> {
    let st = emu.read();
    match sel {
        Selector::ListIds(l) => st.check_lists(l),
        Selector::TagIds(t) => st.check_tags(t),
        _ => Ok(()),
    }
}

fn selector_items(sel: &Selector) -> usize {
    match sel {
        Selector::ContactIds(ids) => ids.len(),
        _ => 0,
    }
}

/// `POST /v3/activities/remove_list_memberships` (swagger `ListActivityRemoveContacts`).
pub async fn remove_list_memberships(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let list_ids = req_str_array(&o, "list_ids", 1, 50)?;
    let source = selector(&o)?;
    let exclude = exclude(&o)?;
    check_selector(&emu, &source)?;
    emu.read().check_lists(&list_ids)?;
    let n = selector_items(&source);
    queue(
        &emu,
        Kind::RemoveListMemberships,
        Job::RemoveLists {
            source,
            exclude,
            list_ids,
        },
        n,
        0,
    )
}

/// `POST /v3/activities/contact_delete` (swagger `ContactDelete`): `contact_ids` (≤ 500) or
/// `list_ids` (≤ 50), not both.
pub async fn contact_delete(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let ids = opt_str_array(&o, "contact_ids", 500)?;
    let lists = opt_str_array(&o, "list_ids", 50)?;
    let source = match (ids, lists) {
        (Some(ids), None) if !ids.is_empty() => Selector::ContactIds(ids),
        (None, Some(l)) if !l.is_empty() => Selector::ListIds(l),
        (Some(_), Some(_)) => {
            return Err(CcError::validation(
                "contact_ids and list_ids are mutually exclusive.",
            ));
        }
        _ => {
            return Err(CcError::validation("contact_ids or list_ids is required."));
        }
    };
    check_selector(&emu, &source)?;
    let n = selector_items(&source);
    queue(&emu, Kind::ContactDelete, Job::Delete { source }, n, 0)
}

async fn taggings(
    emu: ConstantContactEmulator,
    headers: HeaderMap,
    body: Bytes,
    add: bool,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let tag_ids = req_str_array(&o, "tag_ids", 1, 50)?;
    let source = selector(&o)?;
    let exclude = exclude(&o)?;
    check_selector(&emu, &source)?;
    emu.read().check_tags(&tag_ids)?;
    let n = selector_items(&source);
    let kind = if add { Kind::TagsAdd } else { Kind::TagsRemove };
    queue(
        &emu,
        kind,
        Job::Tags {
            add,
            source,
            exclude,
            tag_ids,
        },
        n,
        0,
    )
}

/// `POST /v3/activities/contacts_taggings_add` (swagger `TagAddRemoveContacts`).
pub async fn taggings_add(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    taggings(emu, headers, body, true).await
}

/// `POST /v3/activities/contacts_taggings_remove`.
pub async fn taggings_remove(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    taggings(emu, headers, body, false).await
}

/// `GET /v3/activities/{activity_id}`.
pub async fn get(State(emu): State<ConstantContactEmulator>, Path(id): Path<String>) -> CcResult {
    let st = emu.read();
    let a = st.activity(&id).ok_or_else(|| {
        CcError::not_found(
            "activities",
            format!("Resource not found for the activity_id provided: {id}"),
        )
    })?;
    Ok(json_status(StatusCode::OK, a.to_json()))
}

/// `GET /v3/activities`: newest first, `limit` 1–500, `state` filter.
pub async fn list(State(emu): State<ConstantContactEmulator>, RawQuery(raw): RawQuery) -> CcResult {
    let (q, start) = resolve_cursor(Query::parse(raw.as_deref()))?;
    let limit = q.limit(50, 500)?;
    let state = q.get("state");
    if let Some(s) = state
        && !matches!(
            s,
            "initialized" | "processing" | "completed" | "cancelled" | "failed" | "timed_out"
        )
    {
        return Err(CcError::validation(format!(
            "state does not have a valid value: {s}"
        )));
    }
    let st = emu.read();
    let mut out_items = Vec::new();
    let mut next = None;
    for (pos, a) in st.activities.iter().rev().enumerate().skip(start) {
        if state.is_some_and(|s| a.phase.as_str() != s) {
            continue;
        }
        if out_items.len() == limit {
            next = Some(pos);
            break;
        }
        out_items.push(a.to_json());
    }
    let mut out = json!({"activities": out_items});
    if let Some(n) = next {
        out["_links"] =
            json!({"next": {"href": format!("/v3/activities?cursor={}", encode_cursor(&q, n))}});
    }
    Ok(json_status(StatusCode::OK, out))
}
