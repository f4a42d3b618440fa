//! `POST /api/v1/accounts/{account}/backfill`: reads a Stripe account's history — the last N
//! days, since a date, or all of it. The backfill is queued in the store, split into units (per
//! resource, and per time slice when the window has a start), which the workers (`serve`, or
//! `paysync worker` processes) read in the background, each unit by one of them, resumably.
//! Its progress is in the overview; its end is in the sync log (`backfill.finished`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use paysync_engine::backfill::{self, Window};
use serde::Deserialize;
use serde_json::json;

use super::{body, conflict, not_found};
use crate::{AppState, error};

/// Exactly one of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackfillRequest {
    days: Option<u32>,
    /// `YYYY-MM-DD` (UTC).
    since: Option<String>,
    #[serde(default)]
    all: bool,
}

impl BackfillRequest {
    fn window(&self, now_ms: i64) -> Result<Window, String> {
        match (self.days, &self.since, self.all) {
            (Some(days), None, false) if days >= 1 => Ok(Window::last_days(days, now_ms)),
            (None, Some(since), false) => paysync_core::dates::parse_date(since).map(Window::Since),
            (None, None, true) => Ok(Window::All),
            _ => Err("say how far back: {\"days\": N ≥ 1}, {\"since\": \"YYYY-MM-DD\"} or {\"all\": true}".into()),
        }
    }
}

pub(super) async fn start(
    State(state): State<AppState>,
    Path(account): Path<String>,
    parsed: Result<Json<BackfillRequest>, JsonRejection>,
) -> Result<Response, Response> {
    let request = body(parsed)?;
    let now = paysync_engine::now_ms();
    let window = request
        .window(now)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_request", &e))?;
    let running = state.running();
    if running.config.account(&account).is_none() {
        return Err(not_found("no such Stripe account"));
    }
    let store = running.store.as_ref();
    let unavailable = |e: backfill::BackfillError| {
        tracing::warn!(%account, error = %e, "cannot queue a backfill");
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store cannot take the backfill now; try again",
        )
    };
    if backfill::queued(store, &account)
        .await
        .map_err(unavailable)?
    {
        return Err(conflict("a backfill of this account is running"));
    }
    let units = backfill::queue(store, &account, window, now)
        .await
        .map_err(unavailable)?;
    tracing::info!(%account, ?window, units, "backfill queued from the management API");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"account": account, "window": window, "units": units})),
    )
        .into_response())
}
