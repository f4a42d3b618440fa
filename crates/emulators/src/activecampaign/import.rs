//! `POST /import/bulk_import` and `GET /import/info`: contacts are validated when the request
//! arrives (any invalid one rejects the whole request: "The import was not queued for
//! processing"), queued, and applied in the background after `import_delay_ms`.
//!
//! Limits (API-FACTS; bodies from the docs' examples): at most 250 contacts (400), fewer than
//! 400,000 bytes (413 — the status is unconfirmed), 100 multi-contact requests a minute and 20
//! single-contact ones (400 "Rate limit exceeded." as documented, not 429). A contact's
//! `subscribe` is skipped for lists it has unsubscribed from ("Contacts may not be subscribed to
//! lists which they have previously unsubscribed from"); `unsubscribe` is applied. Unknown field
//! ids or lists put the contact in `failure`. Status while queued: `"queued"` (unconfirmed; the
//! docs only show `"completed"`).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::common::email::valid_email;
use crate::common::iso8601::iso8601;
use crate::common::random::random_uuid;

use super::config::{IMPORT_MAX_BYTES, IMPORT_MAX_CONTACTS};
use super::emulator::ActiveCampaignEmulator;
use super::error::{AcError, AcResult};
use super::model::{ACTIVE, Actor, Import, State, UNSUBSCRIBED};
use super::ops::{ensure_contact, ensure_tag, set_field_value, set_membership, tag_contact};

fn failure(message: &str, reasons: Value) -> AcError {
    AcError::new(
        400,
        json!({"success": 0, "message": message, "failureReasons": reasons}),
    )
}

fn rejected(reasons: Vec<Value>) -> AcError {
    failure(
        "JSON payload did not pass validation. Please fix failure Reasons and retry. The import was not queued for processing.",
        Value::Array(reasons),
    )
}

/// Validates and queues an import; returns the response body and the new batch id.
pub fn create(
    st: &mut State,
    now: i64,
    body_len: usize,
    body: &Value,
    multi_per_min: usize,
    single_per_min: usize,
) -> Result<(Value, String), AcError> {
    if body_len >= IMPORT_MAX_BYTES {
        return Err(AcError::new(
            413,
            json!({"success": 0, "message": format!("The request payload must be smaller than {IMPORT_MAX_BYTES} bytes ({body_len} sent). Please batch contacts into smaller requests.")}),
        ));
    }
    let Some(contacts) = body.get("contacts").and_then(Value::as_array) else {
        return Err(rejected(vec![json!(
            "'contacts' is a required field and must be an array."
        )]));
    };
    if contacts.is_empty() {
        return Err(rejected(vec![json!(
            "'contacts' must contain at least one contact."
        )]));
    }
    if contacts.len() > IMPORT_MAX_CONTACTS {
        return Err(rejected(vec![json!(format!(
            "Up to {IMPORT_MAX_CONTACTS} contacts may be included in a single request ({} sent).",
            contacts.len()
        ))]));
    }
    let mut reasons = Vec::new();
    for (i, c) in contacts.iter().enumerate() {
        let Some(o) = c.as_object() else {
            reasons.push(json!({"contact": i, "failureReason": "Contact must be an object"}));
            continue;
        };
        let email = o.get("email").and_then(Value::as_str).unwrap_or("").trim();
        if !valid_email(email) {
            reasons.push(json!({"contact": i, "failureReason": "Field 'email' incorrect format"}));
        }
        for k in ["tags", "fields", "subscribe", "unsubscribe"] {
            if o.get(k).is_some_and(|v| !v.is_array() && !v.is_null()) {
                reasons.push(
                    json!({"contact": i, "failureReason": format!("Field '{k}' must be an array")}),
                );
            }
        }
        if let Some(fields) = o.get("fields").and_then(Value::as_array) {
            for fv in fields {
                if fv.get("id").is_none() || fv.get("value").is_none() {
                    reasons.push(json!({"contact": i, "failureReason": "Each field must contain 'id' and 'value'"}));
                }
            }
        }
    }
    if !reasons.is_empty() {
        return Err(rejected(reasons));
    }
    // Per-minute limits on import requests.
    let multi = contacts.len() > 1;
    let cutoff = Instant::now() - Duration::from_secs(60);
    while st.import_calls.front().is_some_and(|(t, _)| *t < cutoff) {
        st.import_calls.pop_front();
    }
    let recent = st.import_calls.iter().filter(|(_, m)| *m == multi).count();
    let (limit, what) = if multi {
        (multi_per_min, "imports")
    } else {
        (single_per_min, "single-contact imports")
    };
    if recent >= limit {
        return Err(failure(
            "Rate limit exceeded.",
            json!([format!(
                "Up to {limit} {what} may be requested per minute. Please batch contacts into larger requests, or retry this request in a minute."
            )]),
        ));
    }
    st.import_calls.push_back((Instant::now(), multi));
    let batch_id = random_uuid(&mut st.rng);
    st.imports.push(Import {
        batch_id: batch_id.clone(),
        status: "queued",
        contacts: contacts.clone(),
        queued: contacts.len(),
        success: Vec::new(),
        failure: Vec::new(),
        skipped_resubscribes: 0,
        submitted: now,
        completed: None,
    });
    Ok((
        json!({"success": 1, "queued_contacts": contacts.len(), "batchId": batch_id, "message": "Contact import queued"}),
        batch_id,
    ))
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn list_ids(o: &Map<String, Value>, k: &str) -> Result<Vec<u64>, ()> {
    let Some(a) = o.get(k).and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    a.iter()
        .map(|x| x.get("listid").and_then(id_of).ok_or(()))
        .collect()
}

/// Applies one imported contact; `Err` puts it in `failure`.
fn apply_contact(st: &mut State, now: i64, o: &Map<String, Value>) -> Result<(u64, usize), ()> {
    let email = o
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    let subscribe = list_ids(o, "subscribe")?;
    let unsubscribe = list_ids(o, "unsubscribe")?;
    if subscribe
        .iter()
        .chain(&unsubscribe)
        .any(|l| st.list(*l).is_none())
    {
        return Err(());
    }
    let mut fields = Vec::new();
    if let Some(a) = o.get("fields").and_then(Value::as_array) {
        for fv in a {
            let id = fv.get("id").and_then(id_of).ok_or(())?;
            if st.field(id).is_none() {
                return Err(());
            }
            let value = match &fv["value"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            fields.push((id, value));
        }
    }
    let (id, created) = ensure_contact(st, now, &email);
    let mut changed = false;
    {
        let c = st.contact_mut(id).expect("contact");
        for (k, slot) in [
            ("first_name", &mut c.first_name),
            ("last_name", &mut c.last_name),
            ("phone", &mut c.phone),
        ] {
            if let Some(v) = o.get(k).and_then(Value::as_str)
                && *slot != v
            {
                *slot = v.to_owned();
                changed = true;
            }
        }
    }
    for (field, value) in fields {
        changed |= set_field_value(st, now, id, field, value).1;
    }
    if changed && !created {
        st.contact_mut(id).expect("contact").udate = now;
    }
    if let Some(tags) = o.get("tags").and_then(Value::as_array) {
        for t in tags
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        {
            let tag = ensure_tag(st, now, t);
            tag_contact(st, now, id, tag);
        }
    }
    let mut skipped = 0;
    for l in subscribe {
        let was = st
            .cl_ix
            .get(&(id, l))
            .map(|&ix| st.contact_lists[ix].status);
        if was == Some(UNSUBSCRIBED) {
            skipped += 1;
            continue;
        }
        set_membership(st, now, id, l, ACTIVE, Actor::Import, 0);
    }
    for l in unsubscribe {
        set_membership(st, now, id, l, UNSUBSCRIBED, Actor::Import, 0);
    }
    Ok((id, skipped))
}

/// Applies import `batch_id` after the configured delay.
pub fn spawn(emu: ActiveCampaignEmulator, batch_id: String) {
    let generation = emu.read().generation;
    let delay = emu.import_delay();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let now = emu.now();
        let mut st = emu.write();
        if st.generation != generation {
            return;
        }
        let Some(ix) = st.imports.iter().position(|i| i.batch_id == batch_id) else {
            return;
        };
        let contacts = std::mem::take(&mut st.imports[ix].contacts);
        let mut success = Vec::new();
        let mut failure = Vec::new();
        let mut skipped = 0;
        for c in &contacts {
            let o = c.as_object().cloned().unwrap_or_default();
            match apply_contact(&mut st, now, &o) {
                Ok((id, s)) => {
                    success.push(id.to_string());
                    skipped += s;
                }
                Err(()) => failure.push(
                    o.get("email")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ),
            }
        }
        let imp = &mut st.imports[ix];
        imp.success = success;
        imp.failure = failure;
        imp.skipped_resubscribes = skipped;
        imp.status = "completed";
        imp.completed = Some(now);
    });
}

/// `GET /import/info?batchId=`.
pub fn info(st: &State, batch_id: Option<&str>) -> AcResult {
    let Some(id) = batch_id.filter(|b| !b.trim().is_empty()) else {
        return Err(AcError::new(
            400,
            json!({"success": 0, "message": "'batchId' is a required field."}),
        ));
    };
    let imp = st
        .imports
        .iter()
        .find(|i| i.batch_id == id)
        .ok_or_else(|| {
            AcError::new(
                404,
                json!({"success": 0, "message": format!("No import found with batchId {id}.")}),
            )
        })?;
    Ok((
        200,
        json!({"status": imp.status, "success": imp.success, "failure": imp.failure}),
    ))
}

/// `GET /import/bulk_import`: outstanding and recently completed imports by day.
pub fn summary(st: &State, offset_secs: i32) -> AcResult {
    let day = |t: i64| iso8601(t, offset_secs)[..10].to_owned();
    let mut outstanding: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut done: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for i in &st.imports {
        let (map, t) = match i.completed {
            Some(t) => (&mut done, t),
            None => (&mut outstanding, i.submitted),
        };
        let e = map.entry(day(t)).or_default();
        e.0 += 1;
        e.1 += i.queued;
    }
    let render = |m: std::collections::BTreeMap<String, (usize, usize)>| -> Vec<Value> {
        m.into_iter()
            .map(|(d, (b, c))| json!({"forDate": d, "batches": b.to_string(), "contacts": c.to_string()}))
            .collect()
    };
    Ok((
        200,
        json!({"outstanding": render(outstanding), "recentlyCompleted": render(done)}),
    ))
}
