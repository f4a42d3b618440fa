//! `/consent/confirm?t=…`: where the opt-in email's link leads. GET verifies the link and shows a
//! button; only the POST it sends records the consent — mail scanners that fetch every link in a
//! message must not subscribe anyone. A tampered link gets 400, an expired one 410, each logged.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use paysync_engine::now_ms;
use paysync_engine::opt_in::{LinkClaims, LinkError, LinkKey, verify};
use paysync_store::OptInConfirmation;

use crate::AppState;

/// The `t` of a query string or form body; empty (hence malformed, refused and logged by
/// `check`) when absent, whatever else the bytes hold.
fn token_of(form: &[u8]) -> String {
    form_urlencoded::parse(form)
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The claims of a genuine, unexpired link for a sync that asks for opt-in, or the page saying
/// why not.
fn check(state: &AppState, token: &str) -> Result<LinkClaims, Box<Response>> {
    let running = state.running();
    let config = &running.config;
    let refused = |status, reason: &str, message: &str| {
        tracing::warn!(reason, "opt-in confirmation refused");
        Box::new(crate::pages::message(
            status,
            "This link does not work",
            message,
        ))
    };
    let Some(secret) = &config.secret_key else {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "opt_in_off",
            "<p>Nothing to confirm here.</p>",
        ));
    };
    let claims = match verify(&LinkKey::derive(secret), token, now_ms()) {
        Ok(c) => c,
        Err(LinkError::Expired) => {
            return Err(refused(
                StatusCode::GONE,
                "expired",
                "<p>This confirmation link has expired. Nothing was changed.</p>",
            ));
        }
        Err(e) => {
            let reason = if e == LinkError::Malformed {
                "malformed"
            } else {
                "bad_signature"
            };
            return Err(refused(
                StatusCode::BAD_REQUEST,
                reason,
                "<p>This confirmation link is not valid. Nothing was changed.</p>",
            ));
        }
    };
    if !config
        .syncs
        .iter()
        .any(|s| s.name == claims.sync && s.opt_in.is_some())
    {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "unknown_sync",
            "<p>This confirmation link is no longer in use. Nothing was changed.</p>",
        ));
    }
    Ok(claims)
}

pub(crate) async fn show(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let token = token_of(query.unwrap_or_default().as_bytes());
    if let Err(page) = check(&state, &token) {
        return *page;
    }
    crate::pages::message(
        StatusCode::OK,
        "Confirm your subscription",
        &format!(
            "<form method=\"post\" action=\"/consent/confirm\"><input type=\"hidden\" name=\"t\" \
             value=\"{}\"><button type=\"submit\">Yes, send me emails</button></form>",
            crate::pages::escape(&token)
        ),
    )
}

pub(crate) async fn confirm(State(state): State<AppState>, body: Body) -> Response {
    let body = match state.read_body(body).await {
        Ok(body) => body,
        Err(refused) => {
            tracing::warn!(
                reason = refused.reason_code(),
                "opt-in confirmation refused: body over the limit, too slow or unreadable"
            );
            return crate::pages::message(refused.status(), "This link does not work", "");
        }
    };
    let token = token_of(&body);
    let claims = match check(&state, &token) {
        Ok(c) => c,
        Err(page) => return *page,
    };
    let running = state.running();
    let Some(sync) = running.config.syncs.iter().find(|s| s.name == claims.sync) else {
        return crate::pages::message(StatusCode::BAD_REQUEST, "This link does not work", "");
    };
    let details = serde_json::json!({ "link_issued_ms": claims.issued_ms });
    let confirmation = OptInConfirmation {
        sync: sync.name.clone(),
        destination: sync.destination.clone(),
        person: claims.person.clone(),
        at: now_ms(),
        details: Some(details.to_string()),
        accounts: vec![sync.account.clone()],
    };
    match running.store.confirm_opt_in(confirmation).await {
        Ok(new) => {
            tracing::info!(sync = %sync.name, new, "opt-in confirmed");
            crate::pages::message(
                StatusCode::OK,
                "Thank you",
                "<p>You are subscribed. You can unsubscribe from any email we send.</p>",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "opt-in confirmation not stored");
            crate::pages::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>We could not record your answer just now. Please try the link again later.</p>",
            )
        }
    }
}
