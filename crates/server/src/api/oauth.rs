//! Connecting Constant Contact: OAuth2 authorization code with PKCE. `POST
//! /api/v1/oauth/constant-contact` checks the destination, keeps the PKCE verifier and the
//! draft sealed in the store under a random single-use `state`, and answers the authorization
//! URL the dashboard sends the browser to; the authorization server sends it back to
//! `/oauth/constant-contact/callback`, where the code is traded for tokens (sealed at once, as
//! every rotation after) and the destination is saved.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paysync_core::config::{RawCommon, RawConstantContact, RawDestination};
use paysync_destinations::constant_contact::{OAuth, OAuthClientConfig, Pkce, authorization_url};
use paysync_engine::now_ms;
use paysync_engine::token_store::StoredTokens;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{body, conflict, reload, store_error, with_change};
use crate::{AppState, error, pages};

/// How long the owner has to grant access.
const PENDING_TTL_MS: i64 = 10 * 60_000;
pub(crate) const CALLBACK_PATH: &str = "/oauth/constant-contact/callback";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartRequest {
    name: String,
    client_id: String,
    /// Absent for a public (PKCE-only) application.
    client_secret: Option<String>,
    /// The list every subscribed contact joins.
    default_list: Option<String>,
    /// Constant Contact's by default; another (the emulator's) for tests and the demo.
    api_base: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
}

/// What waits, sealed, for the callback.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    destination: RawConstantContact,
    verifier: String,
    created_ms: i64,
}

fn pending_secret(state: &str) -> String {
    format!("oauth-pending.{state}")
}

/// Where the authorization server sends the browser back: `server.public_url`, else the host
/// this request was sent to.
fn callback_url(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let base = match &state.running().config.server.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", headers.get(header::HOST)?.to_str().ok()?),
    };
    Some(format!("{base}{CALLBACK_PATH}"))
}

fn oauth_config(d: &RawConstantContact) -> OAuthClientConfig {
    OAuthClientConfig::new(
        &d.client_id,
        d.client_secret.clone().map(SecretString::from),
        &d.redirect_uri,
    )
    .with_urls(d.authorize_url.as_deref(), d.token_url.as_deref())
}

pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    parsed: Result<Json<StartRequest>, JsonRejection>,
) -> Result<Response, Response> {
    let request = body(parsed)?;
    let Some(redirect_uri) = callback_url(&state, &headers) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "no Host header and no server.public_url: cannot tell where to come back to",
        ));
    };
    if super::destinations::taken(&state, &request.name).await? {
        return Err(conflict("a destination with this name exists"));
    }
    let draft = RawConstantContact {
        name: request.name,
        api_base: request.api_base,
        authorize_url: request.authorize_url,
        token_url: request.token_url,
        client_id: request.client_id,
        client_secret: request.client_secret,
        redirect_uri,
        refresh_token: None,
        default_list: request.default_list,
        common: RawCommon::default(),
    };
    with_change(&state, |raw| {
        raw.destinations
            .push(RawDestination::ConstantContact(draft.clone()))
    })
    .await?;
    let pkce = Pkce::generate();
    let oauth_state = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let url = authorization_url(&oauth_config(&draft), &oauth_state, &pkce)
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &e.to_string()))?;
    let pending = Pending {
        destination: draft,
        verifier: pkce.verifier.expose_secret().to_owned(),
        created_ms: now_ms(),
    };
    let sealed = serde_json::to_string(&pending).map_err(super::unexpected)?;
    state
        .shared
        .store
        .put_secret(
            &pending_secret(&oauth_state),
            &SecretString::from(sealed),
            now_ms(),
        )
        .await
        .map_err(store_error)?;
    tracing::info!(destination = %pending.destination.name, "Constant Contact authorization started");
    Ok(Json(json!({ "authorize_url": url.as_str() })).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn failed(status: StatusCode, reason: &str) -> Response {
    tracing::warn!(reason, "Constant Contact authorization failed");
    pages::message(
        status,
        "Constant Contact was not connected",
        &format!(
            "<p>{}</p><p><a href=\"/#destinations\">Back to the dashboard</a></p>",
            pages::escape(reason)
        ),
    )
}

pub(super) async fn callback(
    State(state): State<AppState>,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(callback)) = query else {
        return failed(
            StatusCode::BAD_REQUEST,
            "The callback's parameters could not be read.",
        );
    };
    let oauth_state = callback.state.unwrap_or_default();
    if oauth_state.is_empty()
        || oauth_state.len() > 64
        || !oauth_state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return failed(
            StatusCode::BAD_REQUEST,
            "The callback carries no valid state.",
        );
    }
    let store = &state.shared.store;
    let name = pending_secret(&oauth_state);
    let pending = match store.get_secret(&name).await {
        Ok(Some(sealed)) => serde_json::from_str::<Pending>(sealed.expose_secret()).ok(),
        // No master key (or another one): no authorization can have been started with it.
        Ok(None) | Err(paysync_store::StoreError::Secret(_)) => None,
        Err(e) => return store_error(e),
    };
    // Single use, whatever happens next.
    if let Err(e) = store.delete_secret(&name).await {
        return store_error(e);
    }
    let Some(pending) = pending else {
        return failed(
            StatusCode::BAD_REQUEST,
            "This authorization is unknown or was already used. Start again from the dashboard.",
        );
    };
    if now_ms() - pending.created_ms > PENDING_TTL_MS {
        return failed(
            StatusCode::BAD_REQUEST,
            "This authorization took longer than 10 minutes. Start again from the dashboard.",
        );
    }
    if let Some(e) = callback.error {
        let detail = callback.error_description.unwrap_or_default();
        return failed(
            StatusCode::BAD_REQUEST,
            &format!("Constant Contact answered {e}: {detail}"),
        );
    }
    let Some(code) = callback.code else {
        return failed(StatusCode::BAD_REQUEST, "The callback carries no code.");
    };
    let destination_name = pending.destination.name.clone();
    if state
        .running()
        .config
        .destination(&destination_name)
        .is_some()
    {
        return failed(
            StatusCode::CONFLICT,
            "A destination with this name was connected meanwhile.",
        );
    }
    let tokens = Arc::new(StoredTokens::new(store.clone(), &destination_name));
    let exchanged = match OAuth::new(oauth_config(&pending.destination), tokens) {
        Ok(oauth) => {
            oauth
                .exchange_code(&code, &SecretString::from(pending.verifier))
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = exchanged {
        return failed(
            StatusCode::BAD_GATEWAY,
            &format!("Constant Contact refused the code: {e}"),
        );
    }
    let mut destination = RawDestination::ConstantContact(pending.destination);
    if let Err(refused) =
        super::destinations::save(&state, &destination_name, &mut destination).await
    {
        return refused;
    }
    reload(&state);
    tracing::info!(destination = %destination_name, "Constant Contact connected");
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/#destinations")],
    )
        .into_response()
}
