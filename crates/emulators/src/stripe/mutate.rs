//! Running a write: parameters parsed, the state locked, `Idempotency-Key` honoured (the first
//! response replayed with `Idempotent-Replayed: true` and `Original-Request`; the same key with
//! other parameters is a 400 `idempotency_error`), events published after the lock is released.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::emulator::StripeEmulator;
use super::error::{StripeError, json_response};
use super::idempotency::{IdemEntry, fingerprint};
use super::params::{Params, pairs, tree};
use super::server::ReqCtx;
use super::state::{RequestInfo, State};
use super::webhooks::Delivery;

/// What a write produced: status, rendered body, and the deliveries of its events.
pub type WriteResult = Result<(StatusCode, Vec<u8>, Vec<Delivery>), StripeError>;

/// Runs `f` as the write `method path` with form `body`.
pub fn run(
    emu: &StripeEmulator,
    ctx: &ReqCtx,
    method: &str,
    path: &str,
    body: &[u8],
    f: impl FnOnce(&mut State, &Params, &RequestInfo, i64) -> WriteResult,
) -> Response {
    let raw = pairs(body);
    let params = match tree(&raw) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let now = emu.now();
    // Stripe: idempotency keys apply to POST requests only.
    let key = ctx
        .idempotency_key
        .as_deref()
        .filter(|_| method == "POST")
        .filter(|k| !k.is_empty());
    let req = RequestInfo {
        id: Some((*ctx.request_id).into()),
        idempotency_key: key.map(Into::into),
    };
    let fp = fingerprint(method, path, &raw);
    let (resp, deliveries) = {
        let mut st = emu.write();
        if let Some(key) = key
            && let Some(e) = st.idempotency.get(&ctx.account, key, now)
        {
            if e.fingerprint != fp {
                return StripeError::new(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                        ),
                    )
                    .into_response();
            }
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::OK);
            let mut r = json_response(status, e.body.to_vec());
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Ok(v) = HeaderValue::from_str(&e.request_id) {
                r.headers_mut().insert("original-request", v);
            }
            return r;
        }
        let result = f(&mut st, &params, &req, now);
        let (status, body, deliveries) = match result {
            Ok(r) => r,
            Err(e) => (e.status, e.body(), Vec::new()),
        };
        // Stripe saves results once the request started executing: successes and server errors,
        // not refused parameters.
        if let Some(key) = key
            && (status.is_success() || status.is_server_error())
        {
            st.idempotency.insert(
                &ctx.account,
                key,
                IdemEntry {
                    fingerprint: fp,
                    status: status.as_u16(),
                    body: Bytes::from(body.clone()),
                    request_id: (*ctx.request_id).into(),
                    created: now,
                },
            );
        }
        (json_response(status, body), deliveries)
    };
    emu.dispatch(deliveries);
    resp
}
