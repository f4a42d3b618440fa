//! `/api/v1/destinations`: list, connect with an API key (checked with a live call before it is
//! saved), disconnect, and the destination's lists, tags and fields for the mapping editor.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use paysync_core::config::{RawDestination, STORED_SECRET_PREFIX};
use paysync_store::{ManagedItem, ManagedKind, destination_secret_prefix};
use secrecy::SecretString;
use serde_json::json;

use super::{body, conflict, managed_items, not_found, reload, store_error, with_change};
use crate::{AppState, error};

/// Whether a destination of this name runs, or was saved and is about to.
pub(super) async fn taken(state: &AppState, name: &str) -> Result<bool, Response> {
    Ok(state.running().config.destination(name).is_some()
        || managed_items(state, ManagedKind::Destination)
            .await?
            .iter()
            .any(|i| i.name == name))
}

/// The running destinations, and those saved that `serve` is about to start: `running` says
/// which; `managed` whether the dashboard added it (else the configuration file did).
pub(super) async fn list(State(state): State<AppState>) -> Result<Response, Response> {
    let managed = managed_items(&state, ManagedKind::Destination).await?;
    let running = state.running();
    let outbox = running
        .store
        .outbox_summary(paysync_engine::now_ms())
        .await
        .map_err(store_error)?;
    let in_file = |name: &str| {
        state
            .shared
            .file
            .destinations
            .iter()
            .any(|d| d.name() == name)
    };
    let mut destinations: Vec<_> = running
        .config
        .destinations
        .iter()
        // One disconnected a moment ago is still running until the loops restart.
        .filter(|d| in_file(&d.name) || managed.iter().any(|m| m.name == d.name))
        .map(|d| {
            json!({
                "name": d.name,
                "kind": d.kind.as_str(),
                "managed": !in_file(&d.name),
                "running": true,
                "outbox": outbox.iter().find(|o| o.destination == d.name),
            })
        })
        .collect();
    for item in &managed {
        if running.config.destination(&item.name).is_some() || in_file(&item.name) {
            continue;
        }
        let kind = serde_json::from_str::<RawDestination>(&item.body)
            .map(|d| d.kind())
            .unwrap_or("unreadable");
        destinations
            .push(json!({"name": item.name, "kind": kind, "managed": true, "running": false}));
    }
    Ok(Json(json!({ "destinations": destinations })).into_response())
}

/// Connects an ActiveCampaign or Mailchimp account: the body is the destination's table as the
/// configuration file writes it, secrets in clear (or `env:NAME`). They are sealed in the store
/// once a live call with them succeeded.
pub(super) async fn connect(
    State(state): State<AppState>,
    parsed: Result<Json<RawDestination>, JsonRejection>,
) -> Result<Response, Response> {
    let mut destination = body(parsed)?;
    if matches!(destination, RawDestination::ConstantContact(_)) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "use_oauth",
            "Constant Contact is connected through its authorization page: POST /api/v1/oauth/constant-contact",
        ));
    }
    let name = destination.name().to_owned();
    if destination
        .secrets_mut()
        .iter()
        .any(|(_, v)| v.starts_with(STORED_SECRET_PREFIX))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "stored: references are paysync's own; send the secret itself or env:NAME",
        ));
    }
    if taken(&state, &name).await? {
        return Err(conflict("a destination with this name exists"));
    }
    let config = with_change(&state, |raw| raw.destinations.push(destination.clone())).await?;
    let resolved = config
        .destination(&name)
        .ok_or_else(|| not_found("the destination did not resolve"))?;
    check_live(resolved).await?;
    save(&state, &name, &mut destination).await?;
    reload(&state);
    tracing::info!(destination = %name, kind = destination.kind(), "destination connected through the management API");
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": name, "kind": destination.kind()})),
    )
        .into_response())
}

/// A call that needs valid credentials (`paysync_engine::connect::probe`).
async fn check_live(destination: &paysync_core::config::DestinationConfig) -> Result<(), Response> {
    paysync_engine::connect::probe(destination)
        .await
        .map_err(|e| {
            tracing::warn!(destination = %destination.name, error = %e, "destination refused the connection");
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused_by_destination",
                &format!("the destination refused the connection: {e}"),
            )
        })
}

/// Seals the destination's clear-text secrets in the store (an `env:` reference stays as it is),
/// puts `stored:` references in their place and stores the destination.
pub(super) async fn save(
    state: &AppState,
    name: &str,
    destination: &mut RawDestination,
) -> Result<(), Response> {
    let store = &state.shared.store;
    let now = paysync_engine::now_ms();
    for (key, value) in destination.secrets_mut() {
        if value.starts_with("env:") {
            continue;
        }
        let secret_name = format!("{}{key}", destination_secret_prefix(name));
        store
            .put_secret(&secret_name, &SecretString::from(value.clone()), now)
            .await
            .map_err(store_error)?;
        *value = format!("{STORED_SECRET_PREFIX}{secret_name}");
    }
    let body = serde_json::to_string(&*destination).map_err(super::unexpected)?;
    store
        .put_managed(ManagedItem {
            kind: ManagedKind::Destination,
            name: name.to_owned(),
            body,
            updated_at: now,
        })
        .await
        .map_err(store_error)
}

/// Disconnects a destination added through the dashboard: its syncs stop and its secrets are
/// forgotten; the contacts it holds stay there, and paysync's record of what it acknowledged
/// stays too, so that connecting it again under the same name carries on.
pub(super) async fn disconnect(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    let removed = state
        .shared
        .store
        .disconnect_destination(&name)
        .await
        .map_err(store_error)?;
    let Some(syncs) = removed else {
        return Err(if state.running().config.destination(&name).is_some() {
            conflict("this destination is in the configuration file; remove it there")
        } else {
            not_found("no such destination")
        });
    };
    reload(&state);
    tracing::info!(destination = %name, syncs = ?syncs, "destination disconnected through the management API");
    Ok(Json(json!({"name": name, "syncs_removed": syncs})).into_response())
}

/// The destination's lists, tags and fields, read live: the mapping editor's choices.
pub(super) async fn catalog(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    let running = state.running();
    // The running worker's connector: Constant Contact's refresh tokens rotate, and a second
    // connector refreshing on its own would spend the worker's.
    let Some(deliverer) = running.deliverers.iter().find(|d| d.destination == name) else {
        return Err(not_found("no such destination"));
    };
    let connector = &deliverer.connector;
    let unavailable = |e: paysync_destinations::DestinationError| {
        tracing::warn!(destination = %name, error = %e, "cannot read the destination's catalog");
        error(
            StatusCode::BAD_GATEWAY,
            "destination_unavailable",
            &format!("the destination did not answer: {e}"),
        )
    };
    let lists = connector.lists().await.map_err(unavailable)?;
    let tags = connector.tags().await.map_err(unavailable)?;
    let fields = connector.fields().await.map_err(unavailable)?;
    Ok(Json(json!({"lists": lists, "tags": tags, "fields": fields})).into_response())
}
