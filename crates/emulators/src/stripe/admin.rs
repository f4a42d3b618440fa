//! `/_admin`: state dump, seeding, clock, live stream, on-demand activity, rate limit, faults.
//! No authentication, no faults, no rate limit (loopback only).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::common::{
    ClockReq, captured_routes, faults_routes, json_ok, parse_body, rate_limit_route,
};

use super::emulator::StripeEmulator;
use super::seed::SeedSpec;

pub fn router(emu: StripeEmulator) -> Router {
    Router::new()
        .route("/_admin/state", get(state))
        .route("/_admin/seed", post(seed))
        .route("/_admin/clock", get(clock_get).post(clock))
        .route("/_admin/stream", get(stream_get).post(stream))
        .route("/_admin/emit", post(emit))
        .route(
            "/_admin/rate_limit",
            rate_limit_route(StripeEmulator::set_rate_limit),
        )
        .route("/_admin/requests/reset", post(reset_requests))
        .with_state(emu.clone())
        .merge(faults_routes(emu.faults().clone()))
        .merge(captured_routes(emu.clone(), StripeEmulator::requests))
}

async fn state(State(emu): State<StripeEmulator>) -> Response {
    json_ok(emu.state_json())
}

async fn seed(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let spec: SeedSpec = match parse_body(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let e = emu.clone();
    match tokio::task::spawn_blocking(move || e.seed(&spec)).await {
        Ok(report) => json_ok(json!(report)),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn clock_get(State(emu): State<StripeEmulator>) -> Response {
    json_ok(json!({"now": emu.now(), "offset_secs": emu.clock().offset()}))
}

async fn clock(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    match parse_body::<ClockReq>(&body) {
        Ok(r) => r.apply(emu.clock()),
        Err(r) => return *r,
    }
    clock_get(State(emu)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StreamReq {
    /// Events a second; 0 stops.
    events_per_sec: f64,
}

async fn stream_get(State(emu): State<StripeEmulator>) -> Response {
    let (rate, emitted) = emu.stream_status();
    json_ok(json!({"events_per_sec": rate, "emitted": emitted}))
}

async fn stream(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let req: StreamReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    emu.start_stream(req.events_per_sec);
    stream_get(State(emu)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct EmitReq {
    events: usize,
}

async fn emit(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let req: EmitReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let n = emu.emit(req.events);
    json_ok(json!({"events": n}))
}

async fn reset_requests(State(emu): State<StripeEmulator>) -> Response {
    emu.requests().clear();
    json_ok(json!({"ok": true}))
}
