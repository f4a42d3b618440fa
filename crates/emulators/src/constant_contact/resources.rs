//! `/v3/contact_lists`, `/v3/contact_tags`, `/v3/contact_custom_fields`: collections (cursor
//! pages), create, retrieve.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::emulator::ConstantContactEmulator;
use super::error::{CcError, CcResult, json_status};
use super::params::{
    Query, encode_cursor, json_object, opt_bool, opt_str, req_str, resolve_cursor,
};

/// Items `keep` accepts from position `start`, at most `limit`, and where the next page
/// starts (only when there is one).
fn page<T>(
    items: &[T],
    start: usize,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<&T>, Option<usize>) {
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate().skip(start) {
        if !keep(x) {
            continue;
        }
        if out.len() == limit {
            return (out, Some(i));
        }
        out.push(x);
    }
    (out, None)
}

fn next_link(out: &mut Value, path: &str, q: &Query, next: Option<usize>) {
    if let Some(n) = next {
        out["_links"] = json!({"next": {"href": format!("{path}?cursor={}", encode_cursor(q, n))}});
    }
}

// ---- lists ---------------------------------------------------------------------------------

/// `GET /v3/contact_lists`.
pub async fn lists(
    State(emu): State<ConstantContactEmulator>,
    RawQuery(raw): RawQuery,
) -> CcResult {
    let (q, start) = resolve_cursor(Query::parse(raw.as_deref()))?;
    let limit = q.limit(50, 1000)?;
    let include_count = q.bool("include_count")?;
    let membership = match q.get("include_membership_count") {
        None => None,
        Some(v @ ("all" | "active")) => Some(v == "active"),
        Some(_) => {
            return Err(CcError::validation(
                "include_membership_count does not have a valid value",
            ));
        }
    };
    let statuses = q.csv("status");
    if let Some(bad) = statuses
        .iter()
        .find(|s| !matches!(s.as_str(), "all" | "active" | "deleted"))
    {
        return Err(CcError::validation(format!(
            "status does not have a valid value: {bad}"
        )));
    }
    // Lists are never deleted here: `status=deleted` alone matches none.
    let active_wanted = statuses.is_empty() || statuses.iter().any(|s| s != "deleted");
    let name = q.get("name");
    let st = emu.read();
    let counts = membership.map(|_| st.list_counts());
    let keep = |l: &&super::model::ContactList| active_wanted && name.is_none_or(|n| l.name == n);
    let (items, next) = page(&st.lists, start, limit, |l| keep(&l));
    let lists: Vec<Value> = items
        .iter()
        .map(|l| {
            let n = match (&counts, membership) {
                (Some(c), Some(active)) => {
                    let (all, act) = c.get(l.id.as_str()).copied().unwrap_or((0, 0));
                    Some(if active { act } else { all })
                }
                _ => None,
            };
            l.to_json(n)
        })
        .collect();
    let mut out = json!({"lists": lists});
    if include_count {
        out["lists_count"] = json!(st.lists.iter().filter(|l| keep(l)).count());
    }
    next_link(&mut out, "/v3/contact_lists", &q, next);
    Ok(json_status(StatusCode::OK, out))
}

/// `POST /v3/contact_lists` (swagger `ListInput`): 201, or 409 for a name in use.
pub async fn create_list(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let name = req_str(&o, "name", 255)?;
    let description = opt_str(&o, "description", 2000)?;
    let favorite = opt_bool(&o, "favorite")?.unwrap_or(false);
    let now = emu.now_ms();
    let mut st = emu.write();
    let l = st.create_list(name, description, favorite, now)?;
    Ok(json_status(StatusCode::CREATED, l.to_json(None)))
}

/// `GET /v3/contact_lists/{list_id}`.
pub async fn get_list(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> CcResult {
    let q = Query::parse(raw.as_deref());
    let st = emu.read();
    let l = st
        .list(&id)
        .ok_or_else(|| CcError::not_found("contacts", format!("List {id} not found.")))?;
    let n = match q.get("include_membership_count") {
        Some(v @ ("all" | "active")) => {
            let (all, active) = st.list_counts().get(id.as_str()).copied().unwrap_or((0, 0));
            Some(if v == "active" { active } else { all })
        }
        _ => None,
    };
    Ok(json_status(StatusCode::OK, l.to_json(n)))
}

// ---- tags ----------------------------------------------------------------------------------

/// `GET /v3/contact_tags`.
pub async fn tags(State(emu): State<ConstantContactEmulator>, RawQuery(raw): RawQuery) -> CcResult {
    let (q, start) = resolve_cursor(Query::parse(raw.as_deref()))?;
    let limit = q.limit(50, 500)?;
    let include_count = q.bool("include_count")?;
    let st = emu.read();
    let counts = include_count.then(|| st.tag_counts());
    let (items, next) = page(&st.tags, start, limit, |_| true);
    let tags: Vec<Value> = items
        .iter()
        .map(|t| {
            t.to_json(
                counts
                    .as_ref()
                    .map(|c| c.get(t.id.as_str()).copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut out = json!({"tags": tags});
    next_link(&mut out, "/v3/contact_tags", &q, next);
    Ok(json_status(StatusCode::OK, out))
}

/// `POST /v3/contact_tags` (swagger `TagPost`): 201, or 409 for a name in use.
pub async fn create_tag(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let name = req_str(&o, "name", 255)?;
    let tag_source = opt_str(&o, "tag_source", 255)?;
    let now = emu.now_ms();
    let mut st = emu.write();
    let t = st.create_tag(name, tag_source, now)?;
    Ok(json_status(StatusCode::CREATED, t.to_json(None)))
}

/// `GET /v3/contact_tags/{tag_id}`.
pub async fn get_tag(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> CcResult {
    let q = Query::parse(raw.as_deref());
    let st = emu.read();
    let t = st
        .tag(&id)
        .ok_or_else(|| CcError::not_found("contacts", format!("Tag {id} not found.")))?;
    let n = q
        .bool("include_count")?
        .then(|| st.tag_counts().get(id.as_str()).copied().unwrap_or(0));
    Ok(json_status(StatusCode::OK, t.to_json(n)))
}

// ---- custom fields -------------------------------------------------------------------------

/// `GET /v3/contact_custom_fields`.
pub async fn fields(
    State(emu): State<ConstantContactEmulator>,
    RawQuery(raw): RawQuery,
) -> CcResult {
    let (q, start) = resolve_cursor(Query::parse(raw.as_deref()))?;
    let limit = q.limit(50, 100)?;
    let st = emu.read();
    let (items, next) = page(&st.fields, start, limit, |_| true);
    let fields: Vec<Value> = items.iter().map(|f| f.to_json()).collect();
    let mut out = json!({"custom_fields": fields});
    next_link(&mut out, "/v3/contact_custom_fields", &q, next);
    Ok(json_status(StatusCode::OK, out))
}

/// `POST /v3/contact_custom_fields` (swagger `CustomFieldRequest`): 201; 409 for a name in
/// use; 400 beyond 100 fields.
pub async fn create_field(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let label = req_str(&o, "label", 50)?;
    let kind = req_str(&o, "type", 20)?;
    let metadata = match o.get("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(CcError::validation("metadata must be an object.")),
    };
    let choices = match o.get("choices") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.len() <= 100 => {
            if !matches!(kind.as_str(), "single_select" | "multi_select") {
                return Err(CcError::validation(
                    "choices are only allowed for single_select and multi_select custom fields.",
                ));
            }
            a.clone()
        }
        Some(_) => {
            return Err(CcError::validation(
                "choices must be an array of at most 100 items.",
            ));
        }
    };
    let version = match o.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|n| matches!(n, 1 | 2))
                .ok_or_else(|| CcError::validation("version must be 1 or 2."))?,
        ),
    };
    let max = emu.config().max_custom_fields;
    let now = emu.now_ms();
    let mut st = emu.write();
    let f = st.create_field(label, kind, metadata, choices, version, max, now)?;
    Ok(json_status(StatusCode::CREATED, f.to_json()))
}

/// `GET /v3/contact_custom_fields/{custom_field_id}`.
pub async fn get_field(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
) -> CcResult {
    let st = emu.read();
    let f = st
        .field(&id)
        .ok_or_else(|| CcError::not_found("contacts", format!("Custom field {id} not found.")))?;
    Ok(json_status(StatusCode::OK, f.to_json()))
}
