//! `/v3/contacts`: `GET` (filters, cursor pages), `POST /sign_up_form` (create or update by
//! email), `GET`/`PUT`/`DELETE /{contact_id}`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::emulator::ConstantContactEmulator;
use super::error::{CcError, CcResult, json_status};
use super::ids::is_uuid;
use super::model::{Include, Permission, Source};
use super::params::{
    Query, encode_cursor, json_object, opt_int, opt_obj, opt_str, opt_str_array, req_str,
    req_str_array, resolve_cursor, valid_anniversary,
};
use super::state::{
    AddressIn, EmailPut, MAX_FIELDS_PER_CONTACT, MAX_LISTS_PER_CONTACT, MAX_TAGS_PER_CONTACT,
    Profile, Put, SignUp, valid_email,
};
use super::time::parse_iso;

const STATUSES: &[&str] = &[
    "all",
    "active",
    "deleted",
    "not_set",
    "pending_confirmation",
    "temp_hold",
    "unsubscribed",
];

fn birthday(o: &Map<String, Value>) -> Result<(Option<i64>, Option<i64>), CcError> {
    let m = opt_int(o, "birthday_month", 1..=12)?;
    let d = opt_int(o, "birthday_day", 1..=31)?;
    if m.is_some() != d.is_some() {
        return Err(CcError::validation(
            "birthday_month and birthday_day must be used together.",
        ));
    }
    Ok((m, d))
}

fn anniversary(o: &Map<String, Value>) -> Result<Option<String>, CcError> {
    let a = opt_str(o, "anniversary", 10)?;
    if let Some(a) = &a
        && !valid_anniversary(a)
    {
        return Err(CcError::validation(format!(
            "anniversary {a} is not in a valid date format."
        )));
    }
    Ok(a)
}

fn address(o: &Map<String, Value>) -> Result<AddressIn, CcError> {
    let kind = req_str(o, "kind", 20)?;
    if !matches!(kind.as_str(), "home" | "work" | "other") {
        return Err(CcError::validation(
            "street address kind must be one of home, work, other.",
        ));
    }
    Ok(AddressIn {
        kind,
        street: opt_str(o, "street", 255)?,
        city: opt_str(o, "city", 50)?,
        state: opt_str(o, "state", 50)?,
        postal_code: opt_str(o, "postal_code", 50)?,
        country: opt_str(o, "country", 50)?,
    })
}

fn objects<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Vec<&'a Map<String, Value>>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            if a.len() > max {
                return Err(CcError::validation(format!(
                    "{key} can contain at most {max} items."
                )));
            }
            a.iter()
                .map(|v| {
                    v.as_object().ok_or_else(|| {
                        CcError::validation(format!("{key} must be an array of objects."))
                    })
                })
                .collect()
        }
        Some(_) => Err(CcError::validation(format!("{key} must be an array."))),
    }
}

fn custom_fields(o: &Map<String, Value>, max: usize) -> Result<Vec<(String, String)>, CcError> {
    objects(o, "custom_fields", max)?
        .into_iter()
        .map(|cf| {
            let id = req_str(cf, "custom_field_id", 36)?;
            let value = opt_str(cf, "value", 255)?.unwrap_or_default();
            Ok((id, value))
        })
        .collect()
}

/// `POST /v3/contacts/sign_up_form` (swagger `ContactCreateOrUpdateInput`).
pub async fn sign_up_form(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    let o = json_object(&headers, &body)?;
    let lists = req_str_array(&o, "list_memberships", 1, MAX_LISTS_PER_CONTACT)?;
    let email = match opt_str(&o, "email_address", 50)? {
        Some(e) if !e.trim().is_empty() => e.trim().to_owned(),
        _ => {
            return Err(CcError::validation(
                "email_address is required (the emulator does not support sms_channel-only contacts).",
            ));
        }
    };
    if !valid_email(&email) {
        return Err(CcError::validation(format!(
            "email_address {email} is not a valid email address."
        )));
    }
    let cfs = custom_fields(&o, 50)?;
    let (birthday_month, birthday_day) = birthday(&o)?;
    let mut profile = Profile {
        first_name: opt_str(&o, "first_name", 50)?,
        last_name: opt_str(&o, "last_name", 50)?,
        job_title: opt_str(&o, "job_title", 50)?,
        company_name: opt_str(&o, "company_name", 50)?,
        birthday_month,
        birthday_day,
        anniversary: anniversary(&o)?,
        ..Default::default()
    };
    if let Some(p) = opt_str(&o, "phone_number", 25)? {
        profile.phones.push(("other".into(), p));
    }
    if let Some(a) = opt_obj(&o, "street_address")? {
        profile.addresses.push(address(a)?);
    }
    let policy = emu.policy();
    let now = emu.now_ms();
    let (created, id) = {
        let mut st = emu.write();
        st.check_lists(&lists)?;
        st.check_fields(&cfs)?;
        st.sign_up(
            SignUp {
                email,
                profile,
                lists,
                custom_fields: cfs,
            },
            policy,
            now,
        )?
    };
    let (status, action) = if created {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "updated")
    };
    Ok(json_status(
        status,
        json!({"contact_id": id, "action": action}),
    ))
}

fn include(q: &Query) -> Result<Include, CcError> {
    Include::parse(q.get("include").unwrap_or(""))
        .map_err(|bad| CcError::validation(format!("include does not have a valid value: {bad}")))
}

fn time_param(q: &Query, name: &str) -> Result<Option<i64>, CcError> {
    match q.get(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_iso(v).map(Some).ok_or_else(|| {
            CcError::validation(format!("{name} must be an ISO-8601 date-time: {v}"))
        }),
    }
}

/// `GET /v3/contacts`.
pub async fn list(State(emu): State<ConstantContactEmulator>, RawQuery(raw): RawQuery) -> CcResult {
    let (q, start) = resolve_cursor(Query::parse(raw.as_deref()))?;
    let limit = q.limit(50, 500)?;
    let statuses = q.csv("status");
    if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return Err(CcError::validation(format!(
            "status does not have a valid value: {bad}"
        )));
    }
    let lists = q.csv("lists");
    if lists.len() > 25 {
        return Err(CcError::validation("lists accepts at most 25 list ids."));
    }
    let tags = q.csv("tags");
    if tags.len() > 50 {
        return Err(CcError::validation("tags accepts at most 50 tag ids."));
    }
    let inc = include(&q)?;
    let include_count = q.bool("include_count")?;
    let email = q.get("email").map(str::trim).filter(|e| !e.is_empty());
    let updated_after = time_param(&q, "updated_after")?;
    let updated_before = time_param(&q, "updated_before")?;
    let created_after = time_param(&q, "created_after")?;
    let created_before = time_param(&q, "created_before")?;
    let optout_after = time_param(&q, "optout_after")?;
    let optout_before = time_param(&q, "optout_before")?;

    let st = emu.read();
    let matches = |c: &super::model::Contact| -> bool {
        let status_ok = if statuses.is_empty() {
            !c.is_deleted()
        } else {
            statuses.iter().any(|s| c.matches_status(s))
        };
        status_ok
            && (lists.is_empty() || c.lists.iter().any(|l| lists.contains(l)))
            && (tags.is_empty() || c.tags.iter().any(|t| tags.contains(t)))
            && updated_after.is_none_or(|t| c.updated_ms > t)
            && updated_before.is_none_or(|t| c.updated_ms < t)
            && created_after.is_none_or(|t| c.created_ms > t)
            && created_before.is_none_or(|t| c.created_ms < t)
            && ((optout_after.is_none() && optout_before.is_none())
                || (c.is_unsubscribed()
                    && c.opt_out_ms.is_some_and(|o| {
                        optout_after.is_none_or(|t| o > t) && optout_before.is_none_or(|t| o < t)
                    })))
    };
    // An email filter names at most one contact: no scan.
    let candidates: Box<dyn Iterator<Item = usize>> = match email {
        Some(e) => Box::new(
            st.contact_ix_by_email(e)
                .filter(|&ix| ix >= start)
                .into_iter(),
        ),
        None => Box::new(start..st.contacts.len()),
    };
    let mut page = Vec::with_capacity(limit.min(st.contacts.len()));
    let mut next = None;
    for ix in candidates {
        let c = &st.contacts[ix];
        if !matches(c) {
            continue;
        }
        if page.len() == limit {
            next = Some(ix);
            break;
        }
        page.push(c.to_json(inc));
    }
    let mut out = json!({"contacts": page});
    if let Some(n) = next {
        out["_links"] =
            json!({"next": {"href": format!("/v3/contacts?cursor={}", encode_cursor(&q, n))}});
    }
    if include_count {
        let n = match email {
            Some(e) => st
                .contact_by_email(e)
                .filter(|c| matches(c))
                .map_or(0, |_| 1),
            None => st.contacts.iter().filter(|c| matches(c)).count(),
        };
        out["contacts_count"] = json!(n);
    }
    Ok(json_status(StatusCode::OK, out))
}

fn contact_ix(emu: &ConstantContactEmulator, id: &str) -> Result<usize, CcError> {
    if !is_uuid(id) {
        return Err(CcError::not_found(
            "contacts",
            "contact_id is in an invalid format.",
        ));
    }
    emu.read()
        .contact_ix(id)
        .ok_or_else(|| CcError::not_found("contacts", format!("Contact {id} not found.")))
}

/// `GET /v3/contacts/{contact_id}`.
pub async fn get(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> CcResult {
    let q = Query::parse(raw.as_deref());
    let inc = include(&q)?;
    let ix = contact_ix(&emu, &id)?;
    let v = emu.read().contacts[ix].to_json(inc);
    Ok(json_status(StatusCode::OK, v))
}

fn parse_put(o: &Map<String, Value>) -> Result<Put, CcError> {
    let update_source = match opt_str(o, "update_source", 10)? {
        Some(s) => Source::parse(&s)
            .ok_or_else(|| CcError::validation("update_source must be Account or Contact."))?,
        None => return Err(CcError::validation("update_source is required.")),
    };
    let email = match opt_obj(o, "email_address")? {
        None => None,
        Some(e) => {
            let address = req_str(e, "address", 80)?;
            if !valid_email(address.trim()) {
                return Err(CcError::validation(format!(
                    "email_address.address {address} is not a valid email address."
                )));
            }
            let permission = match opt_str(e, "permission_to_send", 30)? {
                None => None,
                Some(p) => Some(Permission::parse(&p).ok_or_else(|| {
                    CcError::validation(format!("permission_to_send {p} is not valid."))
                })?),
            };
            Some(EmailPut {
                address,
                permission,
                opt_out_reason: opt_str(e, "opt_out_reason", 255)?,
            })
        }
    };
    let (birthday_month, birthday_day) = birthday(o)?;
    let custom_fields = o
        .get("custom_fields")
        .is_some_and(|v| !v.is_null())
        .then(|| custom_fields(o, MAX_FIELDS_PER_CONTACT))
        .transpose()?;
    let phones = o
        .get("phone_numbers")
        .is_some_and(|v| !v.is_null())
        .then(|| {
            objects(o, "phone_numbers", 3)?
                .into_iter()
                .map(|p| {
                    let number = req_str(p, "phone_number", 25)?;
                    let kind = opt_str(p, "kind", 10)?.unwrap_or_else(|| "other".into());
                    if !matches!(kind.as_str(), "home" | "work" | "mobile" | "other") {
                        return Err(CcError::validation(
                            "phone number kind must be one of home, work, mobile, other.",
                        ));
                    }
                    Ok((kind, number))
                })
                .collect::<Result<Vec<_>, CcError>>()
        })
        .transpose()?;
    let addresses = o
        .get("street_addresses")
        .is_some_and(|v| !v.is_null())
        .then(|| {
            objects(o, "street_addresses", 3)?
                .into_iter()
                .map(address)
                .collect::<Result<Vec<_>, CcError>>()
        })
        .transpose()?;
    Ok(Put {
        update_source,
        email,
        first_name: opt_str(o, "first_name", 50)?,
        last_name: opt_str(o, "last_name", 50)?,
        job_title: opt_str(o, "job_title", 50)?,
        company_name: opt_str(o, "company_name", 50)?,
        birthday_month,
        birthday_day,
        anniversary: anniversary(o)?,
        custom_fields,
        phones,
        addresses,
        lists: opt_str_array(o, "list_memberships", MAX_LISTS_PER_CONTACT)?,
        tags: opt_str_array(o, "taggings", MAX_TAGS_PER_CONTACT)?,
    })
}

/// `PUT /v3/contacts/{contact_id}` (swagger `ContactPutRequest`).
pub async fn put(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> CcResult {
    contact_ix(&emu, &id)?;
    let o = json_object(&headers, &body)?;
    let req = parse_put(&o)?;
    let now = emu.now_ms();
    let mut st = emu.write();
    if let Some(l) = &req.lists {
        st.check_lists(l)?;
    }
    if let Some(t) = &req.tags {
        st.check_tags(t)?;
    }
    if let Some(cfs) = &req.custom_fields {
        st.check_fields(cfs)?;
    }
    let c = st.put(&id, req, now)?;
    Ok(json_status(StatusCode::OK, c.to_json(Include::ALL)))
}

/// `DELETE /v3/contacts/{contact_id}`: 204 (also for a contact already deleted).
pub async fn delete(
    State(emu): State<ConstantContactEmulator>,
    Path(id): Path<String>,
) -> CcResult {
    let ix = contact_ix(&emu, &id)?;
    let now = emu.now_ms();
    emu.write().delete_ix(ix, now);
    Ok(StatusCode::NO_CONTENT.into_response())
}
