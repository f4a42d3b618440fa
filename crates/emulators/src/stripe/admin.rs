//! `/_admin`: state dump, seeding, clock, live stream, on-demand activity, rate limit, faults.
//! No authentication, no faults, no rate limit (loopback only).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::common::{RateLimit, faults_routes, json_ok};

use super::emulator::StripeEmulator;
use super::seed::SeedSpec;

pub fn router(emu: StripeEmulator) -> Router {
    Router::new()
        .route("/_admin/state", get(state))
        .route("/_admin/seed", post(seed))
        .route("/_admin/clock", get(clock_get).post(clock))
        .route("/_admin/stream", get(stream_get).post(stream))
        .route("/_admin/emit", post(emit))
        .route("/_admin/rate_limit", post(rate_limit))
        .route("/_admin/requests/reset", post(reset_requests))
        .with_state(emu.clone())
        .merge(faults_routes(emu.faults().clone()))
}

fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, Box<Response>> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("invalid JSON body: {e}")})),
            )
                .into_response(),
        )
    })
}

async fn state(State(emu): State<StripeEmulator>) -> Response {
    json_ok(emu.state_json())
}

async fn seed(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let spec: SeedSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let e = emu.clone();
    match tokio::task::spawn_blocking(move || e.seed(&spec)).await {
        Ok(report) => json_ok(json!(report)),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ClockReq {
    /// Set the clock to this unix time.
    set: Option<i64>,
    /// Move it by this many seconds.
    advance: Option<i64>,
    /// Back to the system clock.
    reset: bool,
}

async fn clock_get(State(emu): State<StripeEmulator>) -> Response {
    json_ok(json!({"now": emu.now(), "offset_secs": emu.clock().offset()}))
}

async fn clock(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let req: ClockReq = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if req.reset {
        emu.clock().reset();
    }
    if let Some(t) = req.set {
        emu.clock().set(t);
    }
    if let Some(d) = req.advance {
        emu.clock().advance(d);
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
    let req: StreamReq = match parse(&body) {
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
    let req: EmitReq = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let n = emu.emit(req.events);
    json_ok(json!({"events": n}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RateReq {
    /// Requests a second; absent or 0 = unlimited.
    per_sec: Option<f64>,
    burst: Option<f64>,
}

async fn rate_limit(State(emu): State<StripeEmulator>, body: Bytes) -> Response {
    let req: RateReq = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let limit = req.per_sec.filter(|r| *r > 0.0).map(|r| RateLimit {
        per_sec: r,
        burst: req.burst.unwrap_or(r.max(1.0)),
    });
    emu.set_rate_limit(limit);
    json_ok(json!({"rate_limit": limit}))
}

async fn reset_requests(State(emu): State<StripeEmulator>) -> Response {
    emu.requests().clear();
    json_ok(json!({"ok": true}))
}
