//! What paysync is doing and did: the overview (accounts, destinations, queues, backfill
//! progress), the sync log, dead letters and their replay, and the contacts report.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use paysync_engine::now_ms;
use paysync_store::{Level, LogQuery};
use serde::Deserialize;
use serde_json::json;

use super::{body, store_error};
use crate::{AppState, error};

/// Largest page of log entries or dead letters answered at once.
const MAX_PAGE: usize = 1000;

pub(super) async fn overview(State(state): State<AppState>) -> Result<Response, Response> {
    let running = state.running();
    let mut accounts = Vec::new();
    for account in &running.config.accounts {
        accounts.push(
            paysync_engine::status::account_status(&running.store, account)
                .await
                .map_err(store_error)?,
        );
    }
    let outbox = running
        .store
        .outbox_summary(now_ms())
        .await
        .map_err(store_error)?;
    let contacts = running
        .store
        .contacts_per_sync()
        .await
        .map_err(store_error)?;
    let syncs: Vec<_> = running
        .config
        .syncs
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "account": s.account,
                "destination": s.destination,
                "consent": s.rules.consent,
                "segments": s.rules.segments.len(),
                "contacts": contacts.iter().find(|(n, _)| *n == s.name).map_or(0, |(_, c)| *c),
            })
        })
        .collect();
    Ok(Json(json!({
        "accounts": accounts,
        "destinations": running.config.destinations.iter().map(|d| json!({
            "name": d.name,
            "kind": d.kind.as_str(),
            "outbox": outbox.iter().find(|o| o.destination == d.name),
        })).collect::<Vec<_>>(),
        "syncs": syncs,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogFilter {
    account: Option<String>,
    kind: Option<String>,
    level: Option<String>,
    person: Option<String>,
    destination: Option<String>,
    sync: Option<String>,
    /// Entries older than this id (the next page).
    before_id: Option<i64>,
    limit: Option<usize>,
}

fn bad_query(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// A page size: 100 unless asked, at most [`MAX_PAGE`].
fn page_size(limit: Option<usize>) -> Result<usize, Response> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(bad_query("limit must be between 1 and 1000")),
    }
}

pub(super) async fn log(
    State(state): State<AppState>,
    filter: Result<Query<LogFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(filter) = filter.map_err(|e| bad_query(&e.body_text()))?;
    let min_level = filter
        .level
        .as_deref()
        .map(Level::parse)
        .transpose()
        .map_err(|e| bad_query(&e))?;
    let person = match filter.person.as_deref() {
        None => None,
        Some(email) => Some(
            paysync_core::object::normalise_email(email)
                .ok_or_else(|| bad_query("person is not an email address"))?,
        ),
    };
    let records = state
        .shared
        .store
        .query_log(LogQuery {
            account: filter.account,
            kind: filter.kind,
            min_level,
            person,
            destination: filter.destination,
            sync: filter.sync,
            since: None,
            before_id: filter.before_id,
            limit: page_size(filter.limit)?,
        })
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "entries": records })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeadLetterFilter {
    destination: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn dead_letters(
    State(state): State<AppState>,
    filter: Result<Query<DeadLetterFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(filter) = filter.map_err(|e| bad_query(&e.body_text()))?;
    let dead = state
        .shared
        .store
        .dead_letters(filter.destination.as_deref(), page_size(filter.limit)?)
        .await
        .map_err(store_error)?;
    let rows: Vec<_> = dead
        .iter()
        .map(paysync_engine::deliver::dead_letter_view)
        .collect();
    Ok(Json(json!({ "dead_letters": rows })).into_response())
}

/// `{"id": 12}` replays one dead letter, `{"all": true}` every one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    id: Option<i64>,
    #[serde(default)]
    all: bool,
}

pub(super) async fn replay(
    State(state): State<AppState>,
    parsed: Result<axum::Json<ReplayRequest>, JsonRejection>,
) -> Result<Response, Response> {
    let request = body(parsed)?;
    let id = match (request.id, request.all) {
        (Some(id), false) => Some(id),
        (None, true) => None,
        _ => return Err(bad_query("say which: {\"id\": <id>} or {\"all\": true}")),
    };
    let replayed = state
        .shared
        .store
        .replay(id, now_ms())
        .await
        .map_err(store_error)?;
    if id.is_some() && replayed == 0 {
        return Err(super::not_found("no dead letter with this id"));
    }
    for deliverer in &state.running().deliverers {
        deliverer.wake.notify_one();
    }
    tracing::info!(
        ?id,
        replayed,
        "dead letters replayed through the management API"
    );
    Ok(Json(json!({ "replayed": replayed })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportFilter {
    account: Option<String>,
    /// At most this many rows per account in the JSON report (its `people` says how many
    /// there are); the CSV always has everyone.
    limit: Option<usize>,
}

async fn reports(
    state: &AppState,
    filter: &ReportFilter,
) -> Result<Vec<paysync_engine::report::AccountReport>, Response> {
    let running = state.running();
    let accounts: Vec<_> = running
        .config
        .accounts
        .iter()
        .filter(|a| filter.account.as_ref().is_none_or(|name| a.name == *name))
        .collect();
    if accounts.is_empty() {
        return Err(super::not_found("no such account"));
    }
    paysync_engine::report::contacts(
        running.store.as_ref(),
        &running.config,
        &accounts,
        now_ms() / 1000,
    )
    .await
    .map_err(store_error)
}

pub(super) async fn report(
    State(state): State<AppState>,
    filter: Result<Query<ReportFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(filter) = filter.map_err(|e| bad_query(&e.body_text()))?;
    let limit = match filter.limit {
        None => usize::MAX,
        Some(n) if n >= 1 => n,
        Some(_) => return Err(bad_query("limit must be at least 1")),
    };
    let accounts: Vec<_> = reports(&state, &filter)
        .await?
        .into_iter()
        .map(|mut r| {
            let people = r.rows.len();
            r.rows.truncate(limit);
            json!({"account": r.account, "columns": r.columns, "rows": r.rows, "people": people})
        })
        .collect();
    Ok(Json(json!({ "accounts": accounts })).into_response())
}

pub(super) async fn report_csv(
    State(state): State<AppState>,
    filter: Result<Query<ReportFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(filter) = filter.map_err(|e| bad_query(&e.body_text()))?;
    let reports = reports(&state, &filter).await?;
    let csv: String = reports.iter().map(|r| r.csv()).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"paysync-contacts.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
