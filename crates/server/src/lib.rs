//! paysync's HTTP surface, a thin shell over the engine: the Stripe webhook endpoint, status and
//! health. Handlers take the raw body, since the signature covers the exact bytes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use paysync_core::config::Config;
use paysync_engine::intake::{Intake, Rejection};
use paysync_engine::{now_ms, status};
use paysync_store::Store;
use serde_json::json;

mod opt_in;
mod vendor_webhooks;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    intake: Intake,
    store: Arc<dyn Store>,
    config: Config,
    /// Per destination: wakes its change-feed poller (a vendor webhook said something changed).
    feed_wakeups: paysync_engine::Wakeups,
}

impl AppState {
    /// `wakeups`: per Stripe account, the applier's; `feed_wakeups`: per destination, the
    /// change-feed poller's.
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        wakeups: paysync_engine::Wakeups,
        feed_wakeups: paysync_engine::Wakeups,
    ) -> Self {
        let intake = Intake::new(store.clone(), &config, wakeups);
        AppState {
            inner: Arc::new(Inner {
                intake,
                store,
                config,
                feed_wakeups,
            }),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/stripe/{account}", post(stripe_webhook))
        .route(
            "/webhooks/destinations/{name}",
            get(vendor_webhooks::destination_webhook).post(vendor_webhooks::destination_webhook),
        )
        .route("/consent/confirm", get(opt_in::show).post(opt_in::confirm))
        .route("/status", get(status_json))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn stripe_webhook(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = state.inner.config.server.max_body_bytes;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(e) => {
            // Too large, or the client went away mid-body: either way nothing was stored.
            tracing::warn!(%account, limit, error = %e, "webhook rejected: body unreadable or over the limit");
            if state.inner.config.account(&account).is_some() {
                let _ = state
                    .inner
                    .store
                    .record_rejection(&account, "body_too_large", now_ms())
                    .await;
            }
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("body over {limit} bytes or unreadable"),
            );
        }
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    match state
        .inner
        .intake
        .receive(&account, signature, &body, now_ms())
        .await
    {
        Ok(receipt) => {
            Json(json!({ "received": true, "duplicate": receipt.duplicate })).into_response()
        }
        Err(rejection) => {
            let status = match &rejection {
                Rejection::UnknownAccount(_) => StatusCode::NOT_FOUND,
                // Our fault, not the sender's: Stripe will retry.
                Rejection::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            error(status, rejection.reason_code(), &rejection.to_string())
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

async fn status_json(State(state): State<AppState>) -> Response {
    let mut accounts = Vec::new();
    for account in &state.inner.config.accounts {
        match status::account_status(&state.inner.store, account).await {
            Ok(s) => accounts.push(s),
            Err(e) => {
                tracing::error!(account = %account.name, error = %e, "status unavailable");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    &e.to_string(),
                );
            }
        }
    }
    Json(json!({ "accounts": accounts })).into_response()
}
