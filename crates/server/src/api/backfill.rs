//! `POST /api/v1/accounts/{account}/backfill`: reads a Stripe account's history — the last N
//! days, since a date, or all of it — in the background of `serve`. Its progress is in the
//! overview (per resource, resumable: starting again after a stop carries on where it was);
//! its end is in the sync log (`backfill.finished`).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use paysync_engine::backfill::{Backfill, Window};
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

/// Takes the account's place in the set of running backfills; gives it back when dropped.
struct Running {
    state: AppState,
    account: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.backfills().remove(&self.account);
    }
}

pub(super) async fn start(
    State(state): State<AppState>,
    Path(account): Path<String>,
    parsed: Result<Json<BackfillRequest>, JsonRejection>,
) -> Result<Response, Response> {
    let request = body(parsed)?;
    let window = request
        .window(paysync_engine::now_ms())
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_request", &e))?;
    let running = state.running();
    let Some(config) = running.config.account(&account) else {
        return Err(not_found("no such Stripe account"));
    };
    let client = paysync_engine::runner::client_for(config).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("the account's Stripe client cannot be built: {e}"),
        )
    })?;
    if !state.backfills().insert(account.clone()) {
        return Err(conflict("a backfill of this account is running"));
    }
    let guard = Running {
        state: state.clone(),
        account: account.clone(),
    };
    let backfill = Backfill {
        store: running.store.clone(),
        client,
        account: account.clone(),
        window,
    };
    tracing::info!(%account, ?window, "backfill started from the management API");
    tokio::spawn(async move {
        let _guard = guard;
        match backfill.run(Arc::new(|_| {})).await {
            Ok(report) => {
                let total: u64 = report.resources.iter().map(|(_, p)| p.stored).sum();
                tracing::info!(account = %backfill.account, total, "backfill finished");
            }
            Err(e) => {
                tracing::warn!(account = %backfill.account, error = %e, "backfill stopped; starting it again resumes it")
            }
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"account": account, "window": window})),
    )
        .into_response())
}
