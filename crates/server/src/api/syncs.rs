//! `/api/v1/syncs`: list, create or replace, remove, and preview a sync's rules (how many people
//! each segment holds and what the change would send) before saving them.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use paysync_core::config::{RawConfig, RawSync};
use paysync_store::{ManagedItem, ManagedKind};
use serde_json::json;

use super::{body, conflict, managed_items, not_found, reload, store_error, with_change};
use crate::{AppState, error};

pub(super) async fn list(State(state): State<AppState>) -> Result<Response, Response> {
    let mut syncs: Vec<_> = state
        .shared
        .file
        .syncs
        .iter()
        .map(|s| json!({"name": s.name, "managed": false, "config": s}))
        .collect();
    for item in managed_items(&state, ManagedKind::Sync).await? {
        if let Ok(config) = serde_json::from_str::<serde_json::Value>(&item.body) {
            syncs.push(json!({"name": item.name, "managed": true, "config": config}));
        }
    }
    Ok(Json(json!({ "syncs": syncs })).into_response())
}

/// `raw` with `sync` in place of the one of its name (or added).
fn put_sync(raw: &mut RawConfig, sync: RawSync) {
    raw.syncs.retain(|s| s.name != sync.name);
    raw.syncs.push(sync);
}

fn in_file(state: &AppState, name: &str) -> bool {
    state.shared.file.syncs.iter().any(|s| s.name == name)
}

/// Creates or replaces a sync: the body is its table as the configuration file writes it. It is
/// kept as it was written (not as parsed, which would spell out every default).
pub(super) async fn save(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parsed: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, Response> {
    let written = body(parsed)?;
    let sync: RawSync = serde_json::from_value(written.clone()).map_err(|e| {
        tracing::warn!(reason = %e, "management request refused: not a sync");
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("not a sync: {e}"),
        )
    })?;
    if sync.name != name {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body's name differs from the path's",
        ));
    }
    if in_file(&state, &name) {
        return Err(conflict(
            "this sync is in the configuration file; change it there",
        ));
    }
    let created = state.running().config.syncs.iter().all(|s| s.name != name);
    with_change(&state, |raw| put_sync(raw, sync.clone())).await?;
    let body = written.to_string();
    state
        .shared
        .store
        .put_managed(ManagedItem {
            kind: ManagedKind::Sync,
            name: name.clone(),
            body,
            updated_at: paysync_engine::now_ms(),
        })
        .await
        .map_err(store_error)?;
    reload(&state);
    tracing::info!(sync = %name, created, "sync saved through the management API");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"name": name, "created": created}))).into_response())
}

pub(super) async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    if in_file(&state, &name) {
        return Err(conflict(
            "this sync is in the configuration file; remove it there",
        ));
    }
    if !state
        .shared
        .store
        .delete_managed_sync(&name)
        .await
        .map_err(store_error)?
    {
        return Err(not_found("no such sync"));
    }
    reload(&state);
    tracing::info!(sync = %name, "sync removed through the management API");
    Ok(Json(json!({"name": name})).into_response())
}

/// What a sync's rules (as in the body) would do now: members per list and tag, and the
/// operations they would send compared with what the destination acknowledged. Nothing is
/// saved or sent.
pub(super) async fn preview(
    State(state): State<AppState>,
    parsed: Result<Json<RawSync>, JsonRejection>,
) -> Result<Response, Response> {
    let sync = body(parsed)?;
    let name = sync.name.clone();
    let config = with_change(&state, |raw| put_sync(raw, sync)).await?;
    let resolved = config
        .syncs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| not_found("the sync did not resolve"))?;
    let store = state.shared.store.as_ref();
    let plan = paysync_engine::connect::offline_plan(store, resolved)
        .await
        .map_err(store_error)?;
    let mut impact = paysync_engine::impact::impact(
        store,
        &resolved.account,
        &[plan],
        config.consent.carry_unsubscribes,
        paysync_engine::now_ms(),
    )
    .await
    .map_err(store_error)?;
    Ok(Json(impact.pop()).into_response())
}
