//! `/_admin`: state dump, reset, a person unsubscribing or bouncing, limits, request counts,
//! faults. No authentication, no faults, no limits (loopback only).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::common::{captured_routes, faults_routes, json_error, json_ok, parse_body};

use super::emulator::MailchimpEmulator;

pub fn router(emu: MailchimpEmulator) -> Router {
    Router::new()
        .route("/_admin/state", get(state))
        .route("/_admin/reset", post(reset))
        .route("/_admin/unsubscribe", post(unsubscribe))
        .route("/_admin/clean", post(clean))
        .route("/_admin/lists", post(create_list))
        .route("/_admin/limits", get(limits_get).post(limits))
        .route("/_admin/requests", get(requests))
        .route("/_admin/requests/reset", post(reset_requests))
        .with_state(emu.clone())
        .merge(faults_routes(emu.faults().clone()))
        .merge(captured_routes(emu.clone(), MailchimpEmulator::requests))
}

async fn state(State(emu): State<MailchimpEmulator>) -> Response {
    json_ok(emu.state_json())
}

async fn reset(State(emu): State<MailchimpEmulator>) -> Response {
    emu.reset();
    json_ok(json!({"ok": true}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PersonReq {
    email: String,
    /// List id or name.
    list: String,
    reason: Option<String>,
}

async fn unsubscribe(State(emu): State<MailchimpEmulator>, body: Bytes) -> Response {
    let req: PersonReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match emu.unsubscribe(&req.email, &req.list, req.reason.as_deref()) {
        Ok(()) => json_ok(json!({"ok": true, "status": "unsubscribed"})),
        Err(e) => json_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn clean(State(emu): State<MailchimpEmulator>, body: Bytes) -> Response {
    let req: PersonReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match emu.clean(&req.email, &req.list) {
        Ok(()) => json_ok(json!({"ok": true, "status": "cleaned"})),
        Err(e) => json_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListReq {
    name: String,
}

async fn create_list(State(emu): State<MailchimpEmulator>, body: Bytes) -> Response {
    let req: ListReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if req.name.trim().is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "name is required");
    }
    json_ok(json!({"id": emu.create_list(&req.name)}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsReq {
    /// Simultaneous requests per key; 0 = unlimited. Absent = unchanged.
    max_concurrent: Option<usize>,
    batch_delay_ms: Option<u64>,
}

async fn limits_get(State(emu): State<MailchimpEmulator>) -> Response {
    json_ok(json!({
        "max_concurrent": emu.max_concurrent(),
        "batch_delay_ms": emu.batch_delay().as_millis() as u64,
    }))
}

async fn limits(State(emu): State<MailchimpEmulator>, body: Bytes) -> Response {
    let req: LimitsReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if let Some(n) = req.max_concurrent {
        emu.set_max_concurrent((n > 0).then_some(n));
    }
    if let Some(ms) = req.batch_delay_ms {
        emu.set_batch_delay(std::time::Duration::from_millis(ms));
    }
    limits_get(State(emu)).await
}

async fn requests(State(emu): State<MailchimpEmulator>) -> Response {
    json_ok(emu.requests().to_json())
}

async fn reset_requests(State(emu): State<MailchimpEmulator>) -> Response {
    emu.requests().clear();
    json_ok(json!({"ok": true}))
}
