//! `/_admin`: state dump, reset, a person unsubscribing, list creation, rate limit and import
//! delay, request counts, faults. No authentication, no faults, no rate limit (loopback only).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::common::{
    captured_routes, faults_routes, json_error, json_ok, parse_body, rate_limit_route,
};

use super::emulator::ActiveCampaignEmulator;

pub fn router(emu: ActiveCampaignEmulator) -> Router {
    Router::new()
        .route("/_admin/state", get(state))
        .route("/_admin/reset", post(reset))
        .route("/_admin/unsubscribe", post(unsubscribe))
        .route("/_admin/lists", post(create_list))
        .route(
            "/_admin/rate_limit",
            rate_limit_route(ActiveCampaignEmulator::set_rate_limit),
        )
        .route("/_admin/limits", get(limits_get).post(limits))
        .route("/_admin/requests", get(requests))
        .route("/_admin/requests/reset", post(reset_requests))
        .with_state(emu.clone())
        .merge(faults_routes(emu.faults().clone()))
        .merge(captured_routes(
            emu.clone(),
            ActiveCampaignEmulator::requests,
        ))
}

async fn state(State(emu): State<ActiveCampaignEmulator>) -> Response {
    json_ok(emu.state_json())
}

async fn reset(State(emu): State<ActiveCampaignEmulator>) -> Response {
    emu.reset();
    json_ok(json!({"ok": true}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct UnsubReq {
    email: String,
    /// List id or name.
    list: String,
    reason: Option<String>,
}

async fn unsubscribe(State(emu): State<ActiveCampaignEmulator>, body: Bytes) -> Response {
    let req: UnsubReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match emu.unsubscribe(&req.email, &req.list, req.reason.as_deref()) {
        Ok(()) => json_ok(json!({"ok": true, "status": 2})),
        Err(e) => json_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListReq {
    name: String,
}

async fn create_list(State(emu): State<ActiveCampaignEmulator>, body: Bytes) -> Response {
    let req: ListReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if req.name.trim().is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "name is required");
    }
    json_ok(json!({"id": emu.create_list(&req.name).to_string()}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsReq {
    import_delay_ms: Option<u64>,
}

async fn limits_get(State(emu): State<ActiveCampaignEmulator>) -> Response {
    json_ok(json!({
        "rate_limit": emu.rate_limit(),
        "import_delay_ms": emu.import_delay().as_millis() as u64,
    }))
}

async fn limits(State(emu): State<ActiveCampaignEmulator>, body: Bytes) -> Response {
    let req: LimitsReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if let Some(ms) = req.import_delay_ms {
        emu.set_import_delay(std::time::Duration::from_millis(ms));
    }
    limits_get(State(emu)).await
}

async fn requests(State(emu): State<ActiveCampaignEmulator>) -> Response {
    json_ok(emu.requests().to_json())
}

async fn reset_requests(State(emu): State<ActiveCampaignEmulator>) -> Response {
    emu.requests().clear();
    json_ok(json!({"ok": true}))
}
