//! `/_admin`: state dump, reset, clock, tokens, self-unsubscribes, rate limit, quota, activity
//! timing, request log, faults. No authentication, no faults, no rate limit (loopback only).
//!
//! | route | body | does |
//! | --- | --- | --- |
//! | `GET /_admin/state[?contacts=false]` | | everything (see [`ConstantContactEmulator::state_json`]) |
//! | `POST /_admin/reset` | `{"tokens": bool}` | empties the account; revokes tokens if asked |
//! | `GET/POST /_admin/faults` | [`FaultConfig`](crate::common::FaultConfig) | fault injection |
//! | `GET/POST /_admin/clock` | `{"set": unix_secs, "advance": secs, "reset": bool}` | the emulator clock |
//! | `POST /_admin/expire_tokens` | | every access token expires now |
//! | `POST /_admin/token` | | issues a token pair without the OAuth dance |
//! | `GET /_admin/contacts/{email}` | | one contact as the state dump shows it |
//! | `POST /_admin/contacts/{email}/unsubscribe` | `{"reason": "…"}` | the contact unsubscribes themselves |
//! | `POST /_admin/rate_limit` | `{"per_sec": f, "burst": f}` (absent/0 = unlimited) | the token bucket |
//! | `POST /_admin/quota` | `{"daily_limit": n\|null, "used": n, "client_id": "…"}` | the daily quota |
//! | `POST /_admin/activities` | [`ActivityTiming`] | how long activities take |
//! | `POST /_admin/activities/flush` | | completes every queued activity now |
//! | `GET /_admin/requests`, `POST /_admin/requests/reset` | | request counts per endpoint |

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::common::{
    ClockReq, captured_routes, faults_routes, json_error, json_ok, parse_body, rate_limit_route,
};

use super::config::ActivityTiming;
use super::emulator::ConstantContactEmulator;
use super::params::Query;

pub fn router(emu: ConstantContactEmulator) -> Router {
    Router::new()
        .route("/_admin/state", get(state))
        .route("/_admin/reset", post(reset))
        .route("/_admin/clock", get(clock_get).post(clock))
        .route("/_admin/expire_tokens", post(expire_tokens))
        .route("/_admin/token", post(token))
        .route("/_admin/contacts/{email}", get(contact))
        .route("/_admin/contacts/{email}/unsubscribe", post(unsubscribe))
        .route(
            "/_admin/rate_limit",
            rate_limit_route(ConstantContactEmulator::set_rate_limit),
        )
        .route("/_admin/quota", post(quota))
        .route("/_admin/activities", post(activities))
        .route("/_admin/activities/flush", post(flush))
        .route("/_admin/requests", get(requests))
        .route("/_admin/requests/reset", post(reset_requests))
        .with_state(emu.clone())
        .merge(faults_routes(emu.faults().clone()))
        .merge(captured_routes(
            emu.clone(),
            ConstantContactEmulator::requests,
        ))
}

async fn state(State(emu): State<ConstantContactEmulator>, RawQuery(q): RawQuery) -> Response {
    let q = Query::parse(q.as_deref());
    let contacts = q.get("contacts") != Some("false");
    json_ok(emu.state_json(contacts))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ResetReq {
    tokens: bool,
}

async fn reset(State(emu): State<ConstantContactEmulator>, body: Bytes) -> Response {
    let req: ResetReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    emu.reset(req.tokens);
    json_ok(json!({"ok": true}))
}

async fn clock_get(State(emu): State<ConstantContactEmulator>) -> Response {
    let now = emu.now_ms();
    json_ok(json!({
        "now": now / 1000,
        "now_iso": super::time::fmt_ms(now),
        "offset_secs": emu.clock().offset(),
    }))
}

async fn clock(State(emu): State<ConstantContactEmulator>, body: Bytes) -> Response {
    match parse_body::<ClockReq>(&body) {
        Ok(r) => r.apply(emu.clock()),
        Err(r) => return *r,
    }
    clock_get(State(emu)).await
}

async fn expire_tokens(State(emu): State<ConstantContactEmulator>) -> Response {
    let n = emu.expire_access_tokens();
    json_ok(json!({"expired": n}))
}

async fn token(State(emu): State<ConstantContactEmulator>) -> Response {
    json_ok(json!(emu.issue_token()))
}

async fn contact(
    State(emu): State<ConstantContactEmulator>,
    Path(email): Path<String>,
) -> Response {
    match emu.contact_by_email(&email) {
        Some(c) => json_ok(c),
        None => json_error(
            StatusCode::NOT_FOUND,
            format!("no contact with email {email}"),
        ),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct UnsubReq {
    reason: Option<String>,
}

async fn unsubscribe(
    State(emu): State<ConstantContactEmulator>,
    Path(email): Path<String>,
    body: Bytes,
) -> Response {
    let req: UnsubReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if emu.unsubscribe_contact(&email, req.reason) {
        contact(State(emu), Path(email)).await
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            format!("no contact with email {email}"),
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct QuotaReq {
    /// `Some(null)` = unlimited; absent = unchanged.
    #[serde(default, with = "double_option")]
    daily_limit: Option<Option<u64>>,
    /// Requests already used today by `client_id` (default: the first configured client).
    used: Option<u64>,
    client_id: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
        Option::<u64>::deserialize(d).map(Some)
    }
}

async fn quota(State(emu): State<ConstantContactEmulator>, body: Bytes) -> Response {
    let req: QuotaReq = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if let Some(l) = req.daily_limit {
        emu.set_daily_quota(l);
    }
    let client = req
        .client_id
        .or_else(|| emu.config().clients.first().map(|c| c.client_id.clone()))
        .unwrap_or_default();
    if let Some(u) = req.used {
        emu.set_quota_used(&client, u);
    }
    let limit = emu.quota().limit;
    json_ok(json!({"daily_limit": limit, "client_id": client, "used": emu.quota_used(&client)}))
}

async fn activities(State(emu): State<ConstantContactEmulator>, body: Bytes) -> Response {
    let t: ActivityTiming = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    emu.set_activity_timing(t);
    json_ok(json!({"activity_timing": t}))
}

async fn flush(State(emu): State<ConstantContactEmulator>) -> Response {
    emu.flush_activities();
    json_ok(json!({"ok": true}))
}

async fn requests(State(emu): State<ConstantContactEmulator>) -> Response {
    json_ok(emu.requests().to_json())
}

async fn reset_requests(State(emu): State<ConstantContactEmulator>) -> Response {
    emu.requests().clear();
    json_ok(json!({"ok": true}))
}
