//! `/v1/webhook_endpoints`: create (the response alone shows the `whsec_…` secret), update,
//! delete. API-FACTS "Stripe": at most 16 endpoints per account.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::emulator::StripeEmulator;
use super::error::StripeError;
use super::ids;
use super::json::Obj;
use super::model::WebhookEndpoint;
use super::mutate::{self, WriteResult};
use super::params::{FormValue, Params};
use super::render;
use super::server::ReqCtx;
use super::state::State as St;

pub const MAX_ENDPOINTS: usize = 16;

pub async fn create(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    body: Bytes,
) -> Response {
    mutate::run(
        &emu,
        &ctx,
        "POST",
        "/v1/webhook_endpoints",
        &body,
        |st, p, _req, now| create_endpoint(st, p, now),
    )
}

pub async fn update(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/v1/webhook_endpoints/{id}");
    mutate::run(&emu, &ctx, "POST", &path, &body, |st, p, _req, _now| {
        update_endpoint(st, &id, p)
    })
}

pub async fn delete(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/v1/webhook_endpoints/{id}");
    mutate::run(&emu, &ctx, "DELETE", &path, &body, |st, _p, _req, _now| {
        let pos = st
            .endpoints
            .iter()
            .position(|e| *e.id == *id)
            .ok_or_else(|| missing(&id))?;
        st.endpoints.remove(pos);
        let mut out = Vec::new();
        let mut o = Obj::new(&mut out);
        o.str("id", &id)
            .str("object", "webhook_endpoint")
            .bool("deleted", true);
        o.end();
        Ok((StatusCode::OK, out, Vec::new()))
    })
}

fn missing(id: &str) -> StripeError {
    StripeError::missing(StatusCode::NOT_FOUND, "webhook_endpoint", id, "id")
}

fn check(p: &Params, allowed: &[&str]) -> Result<(), StripeError> {
    match p.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(StripeError::unknown_param(k)),
        None => Ok(()),
    }
}

fn url_param(p: &Params) -> Result<Option<String>, StripeError> {
    match p.get("url") {
        None => Ok(None),
        Some(FormValue::Str(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some(u.clone()))
        }
        Some(_) => Err(StripeError::invalid("Invalid URL: must be an http(s) URL.")
            .code("url_invalid")
            .param("url")),
    }
}

fn events_param(p: &Params) -> Result<Option<Vec<String>>, StripeError> {
    let Some(v) = p.get("enabled_events") else {
        return Ok(None);
    };
    let list = v
        .as_list()
        .ok_or_else(|| StripeError::invalid("Invalid array").param("enabled_events"))?;
    let events: Vec<String> = list
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if events.is_empty() {
        return Err(
            StripeError::invalid("Missing required param: enabled_events.")
                .code("parameter_missing")
                .param("enabled_events"),
        );
    }
    Ok(Some(events))
}

fn metadata(p: &Params, md: &mut super::model::Metadata) {
    match p.get("metadata") {
        Some(FormValue::Str(s)) if s.is_empty() => md.clear(),
        Some(FormValue::Map(m)) => {
            for (k, v) in m {
                match v.as_str() {
                    Some("") => {
                        md.remove(k);
                    }
                    Some(v) => {
                        md.insert(k.clone(), v.to_owned());
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

pub fn create_endpoint(st: &mut St, p: &Params, now: i64) -> WriteResult {
    check(
        p,
        &[
            "api_version",
            "connect",
            "description",
            "enabled_events",
            "expand",
            "metadata",
            "url",
        ],
    )?;
    let url = url_param(p)?.ok_or_else(|| {
        StripeError::invalid("Missing required param: url.")
            .code("parameter_missing")
            .param("url")
    })?;
    let events = events_param(p)?.ok_or_else(|| {
        StripeError::invalid("Missing required param: enabled_events.")
            .code("parameter_missing")
            .param("enabled_events")
    })?;
    if st.endpoints.len() >= MAX_ENDPOINTS {
        return Err(StripeError::invalid(format!(
            "You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."
        )));
    }
    let id = st.new_id(ids::WEBHOOK_ENDPOINT);
    let secret = st.new_id(ids::WEBHOOK_SECRET);
    let mut e = WebhookEndpoint {
        id,
        created: now,
        url: Arc::from(url.as_str()),
        enabled_events: events,
        secret: Arc::from(&*secret),
        description: p
            .get("description")
            .and_then(FormValue::as_str)
            .map(str::to_owned),
        api_version: p
            .get("api_version")
            .and_then(FormValue::as_str)
            .map(str::to_owned),
        status: "enabled",
        metadata: Default::default(),
    };
    metadata(p, &mut e.metadata);
    let mut out = Vec::with_capacity(512);
    render::webhook_endpoint(&e, true, &mut out);
    st.endpoints.push(e);
    Ok((StatusCode::OK, out, Vec::new()))
}

pub fn update_endpoint(st: &mut St, id: &str, p: &Params) -> WriteResult {
    check(
        p,
        &[
            "description",
            "disabled",
            "enabled_events",
            "expand",
            "metadata",
            "url",
        ],
    )?;
    let url = url_param(p)?;
    let events = events_param(p)?;
    let e = st
        .endpoints
        .iter_mut()
        .find(|e| *e.id == *id)
        .ok_or_else(|| missing(id))?;
    if let Some(u) = url {
        e.url = Arc::from(u.as_str());
    }
    if let Some(ev) = events {
        e.enabled_events = ev;
    }
    if let Some(d) = p.get("description").and_then(FormValue::as_str) {
        e.description = (!d.is_empty()).then(|| d.to_owned());
    }
    match p.get("disabled").and_then(FormValue::as_str) {
        Some("true") => e.status = "disabled",
        Some("false") => e.status = "enabled",
        Some(_) => {
            return Err(StripeError::invalid("Invalid boolean").param("disabled"));
        }
        None => {}
    }
    metadata(p, &mut e.metadata);
    let mut out = Vec::with_capacity(512);
    render::webhook_endpoint(e, false, &mut out);
    Ok((StatusCode::OK, out, Vec::new()))
}
