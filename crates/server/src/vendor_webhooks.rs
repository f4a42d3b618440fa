//! `/webhooks/destinations/{name}?secret=…`: Mailchimp's and ActiveCampaign's consent webhooks.
//! Neither vendor signs them, so the URL carries a secret (`webhook_secret` of the destination),
//! compared in constant time. Mailchimp checks the URL with a GET first. Every accepted webhook
//! also wakes the destination's change-feed poller, so edits reach two-way sync at once. Polling
//! stays the fallback: a webhook lost here (ActiveCampaign never retries) is still learnt.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use paysync_core::config::{DestinationConfig, DestinationKind};
use paysync_destinations::webhooks::{WebhookFact, parse_activecampaign, parse_mailchimp};
use paysync_engine::now_ms;
use paysync_engine::unsubscribes::ConsentSink;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{AppState, error, same_secret};

const SOURCE: &str = "destination_webhook";

fn secret_of(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
}

/// The destination, when it exists, takes webhooks, and `query` carries its secret.
fn authorised(
    state: &AppState,
    name: &str,
    query: Option<&str>,
) -> Result<DestinationConfig, Box<Response>> {
    let running = state.running();
    let config = &running.config;
    let Some(dest) = config.destination(name) else {
        tracing::warn!(destination = %name, "destination webhook rejected: unknown destination");
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "unknown_destination",
            "no such destination",
        )));
    };
    let Some(expected) = &dest.webhook_secret else {
        tracing::warn!(destination = %name, "destination webhook rejected: the destination has no webhook_secret");
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "webhooks_off",
            "this destination takes no webhooks",
        )));
    };
    let given = secret_of(query).unwrap_or_default();
    if !same_secret(given.as_bytes(), expected.expose_secret().as_bytes()) {
        tracing::warn!(destination = %name, "destination webhook rejected: missing or wrong secret");
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "bad_secret",
            "missing or wrong secret",
        )));
    }
    Ok(dest.clone())
}

pub(crate) async fn destination_webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    body: Body,
) -> Response {
    let dest = match authorised(&state, &name, query.as_deref()) {
        Ok(d) => d,
        Err(response) => return *response,
    };
    if method == Method::GET {
        // Mailchimp's check that the URL answers before it saves the webhook.
        return Json(json!({ "ok": true })).into_response();
    }
    let limit = state.running().config.server.max_body_bytes;
    let body = match state.read_body(body).await {
        Ok(body) => body,
        Err(refused) => {
            tracing::warn!(destination = %name, limit, reason = refused.reason_code(), "destination webhook rejected: body over the limit, too slow or unreadable");
            return error(
                refused.status(),
                refused.reason_code(),
                &refused.message(limit),
            );
        }
    };
    let parsed = match &dest.kind {
        DestinationKind::Mailchimp { list_id, .. } => parse_mailchimp(&body, list_id),
        DestinationKind::ActiveCampaign { .. } => parse_activecampaign(&body),
        DestinationKind::ConstantContact { .. } => {
            return error(
                StatusCode::NOT_FOUND,
                "webhooks_off",
                "this destination takes no webhooks",
            );
        }
    };
    let fact = match parsed {
        Ok(fact) => fact,
        Err(e) => {
            tracing::warn!(destination = %name, reason = e.reason_code(), error = %e, "destination webhook rejected");
            return error(StatusCode::BAD_REQUEST, e.reason_code(), &e.to_string());
        }
    };
    // Whatever it says, the feed has news (an edit for two-way sync, an unsubscribe to confirm):
    // read it now rather than at the next poll. The feed's own de-duplication applies.
    if let Some(wakeup) = state.running().feed_wakeups.get(&name) {
        wakeup.notify_one();
    }
    let sink = ConsentSink::new(
        state.running().store.clone(),
        &state.running().config,
        &name,
    );
    let details = json!({ "via": "webhook" });
    let recorded = match &fact {
        WebhookFact::Unsubscribed(email) => {
            sink.unsubscribed(email, now_ms(), SOURCE, details).await
        }
        WebhookFact::Subscribed(email) => sink.subscribed(email, now_ms(), SOURCE, details).await,
        WebhookFact::Ignored(kind) => {
            tracing::debug!(destination = %name, %kind, "destination webhook of no consent interest");
            Ok(false)
        }
    };
    match recorded {
        Ok(changed) => Json(json!({ "received": true, "changed": changed })).into_response(),
        Err(e) => {
            tracing::error!(destination = %name, error = %e, "destination webhook not stored");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "try again later",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert_eq!(secret_of(Some("x=1&secret=s%20t")), Some("s t".into()));
        assert_eq!(secret_of(None), None);
    }
}
