//! The management REST API under `/api/v1` (described by `/api/openapi.json`); the dashboard is
//! built on it. Every route is behind [`crate::auth::require_operator`].
//!
//! Changes to destinations and syncs are checked the way the configuration file is (the whole
//! configuration with the change applied is resolved; every problem is answered with its path),
//! stored as managed entries, and `serve` restarts its sync loops on them.

// Handlers and their helpers return `Result<_, Response>`: the error is the answer axum sends
// as it is, and boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use paysync_core::config::{Config, ConfigProblem, RawConfig};
use paysync_engine::managed::{self, ManagedError};
use paysync_store::{ManagedItem, ManagedKind, StoreError};
use serde_json::json;

use crate::{AppState, error};

mod activity;
mod backfill;
mod destinations;
mod oauth;
mod syncs;

pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/overview", get(activity::overview))
        .route("/api/v1/accounts/{account}/backfill", post(backfill::start))
        .route(
            "/api/v1/destinations",
            get(destinations::list).post(destinations::connect),
        )
        .route(
            "/api/v1/destinations/{name}",
            axum::routing::delete(destinations::disconnect),
        )
        .route(
            "/api/v1/destinations/{name}/catalog",
            get(destinations::catalog),
        )
        .route("/api/v1/oauth/constant-contact", post(oauth::start))
        .route("/api/v1/syncs", get(syncs::list))
        .route("/api/v1/syncs/preview", post(syncs::preview))
        .route(
            "/api/v1/syncs/{name}",
            put(syncs::save).delete(syncs::remove),
        )
        .route("/api/v1/log", get(activity::log))
        .route("/api/v1/dead-letters", get(activity::dead_letters))
        .route("/api/v1/dead-letters/replay", post(activity::replay))
        .route("/api/v1/report", get(activity::report))
        .route("/api/v1/report.csv", get(activity::report_csv))
}

/// The callback Constant Contact's authorization server sends the browser to. Not behind a
/// session: it arrives from another site, so the `SameSite=Strict` cookie is not sent with it;
/// the single-use, sealed `state` it carries is what authorises it.
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new().route("/oauth/constant-contact/callback", get(oauth::callback))
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// A JSON body, or the 400 saying why it is not one.
pub(crate) fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    parsed.map(|Json(v)| v).map_err(|rejection| {
        tracing::warn!(reason = %rejection.body_text(), "management request refused: bad body");
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &rejection.body_text(),
        )
    })
}

/// The answer to a store failure: a secret that cannot be sealed or opened (no master key, or
/// another one) is the operator's to fix (422, saying which); anything else is the store not
/// answering (503).
pub(crate) fn store_error(e: StoreError) -> Response {
    if let StoreError::Secret(message) = &e {
        tracing::warn!(error = %e, "management request refused: secrets cannot be kept");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "secrets_unavailable",
            message,
        );
    }
    tracing::error!(error = %e, "management request failed in the store");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the store does not answer",
    )
}

/// Turning paysync's own values into JSON cannot fail; should it, the request fails (500).
pub(crate) fn unexpected(e: serde_json::Error) -> Response {
    tracing::error!(error = %e, "management request failed: cannot write JSON");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "paysync could not write its answer",
    )
}

fn invalid(problems: &[ConfigProblem]) -> Response {
    let list: Vec<_> = problems
        .iter()
        .filter(|p| p.severity == paysync_core::config::Severity::Error)
        .map(|p| json!({"path": p.path, "message": p.message}))
        .collect();
    tracing::warn!(problems = ?list, "management change refused: invalid configuration");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": {
            "code": "invalid",
            "message": "the configuration with this change has problems",
            "problems": list,
        }})),
    )
        .into_response()
}

/// The configuration that would run with `edit` applied to the file's plus the managed
/// entries, or the 422 listing its problems.
pub(crate) async fn with_change(
    state: &AppState,
    edit: impl FnOnce(&mut RawConfig),
) -> Result<Config, Response> {
    let store = state.shared.store.as_ref();
    let mut raw = managed::with_managed(&state.shared.file, store)
        .await
        .map_err(store_error)?;
    edit(&mut raw);
    match managed::resolve(&raw, store, state.shared.env.as_ref()).await {
        Ok((config, _warnings)) => Ok(config),
        Err(ManagedError::Invalid(problems)) => Err(invalid(&problems)),
        Err(ManagedError::Store(e)) => Err(store_error(e)),
    }
}

/// The destinations (or syncs) added through the dashboard.
pub(crate) async fn managed_items(
    state: &AppState,
    kind: ManagedKind,
) -> Result<Vec<ManagedItem>, Response> {
    Ok(state
        .shared
        .store
        .managed_config()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|i| i.kind == kind)
        .collect())
}

/// Asks `serve` to restart its sync loops on the changed configuration.
pub(crate) fn reload(state: &AppState) {
    state.shared.reload.notify_one();
}

pub(crate) fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", what)
}

pub(crate) fn conflict(message: &str) -> Response {
    error(StatusCode::CONFLICT, "conflict", message)
}
