//! paysync's HTTP surface, a thin shell over the engine: the Stripe webhook endpoint, status and
//! health. Handlers take the raw body, since the signature covers the exact bytes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use paysync_core::config::Config;
use paysync_engine::intake::{Intake, Rejection};
use paysync_engine::{now_ms, status};
use paysync_store::Store;
use serde_json::json;

mod listen;
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
    let header_timeout = Duration::from_secs(state.inner.config.server.header_timeout_secs);
    listen::serve(listener, router(state), header_timeout, shutdown).await
}

impl AppState {
    /// A request body within the server's size and time limits.
    pub(crate) async fn read_body(&self, body: Body) -> Result<Bytes, listen::BodyRefused> {
        let server = &self.inner.config.server;
        listen::read_body(
            body,
            server.max_body_bytes,
            Duration::from_secs(server.body_timeout_secs),
        )
        .await
    }
}

async fn stripe_webhook(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = state.inner.config.server.max_body_bytes;
    let body = match state.read_body(body).await {
        Ok(body) => body,
        Err(refused) => {
            // Too large, too slow, or the client went away mid-body: nothing was stored.
            tracing::warn!(%account, limit, reason = refused.reason_code(), "webhook rejected: body over the limit, too slow or unreadable");
            if state.inner.config.account(&account).is_some() {
                let _ = state
                    .inner
                    .store
                    .record_rejection(&account, refused.reason_code(), now_ms())
                    .await;
            }
            return error(
                refused.status(),
                refused.reason_code(),
                &refused.message(limit),
            );
        }
    };
    // Two signature headers are ambiguous (which one did Stripe send?): refused.
    if headers.get_all("stripe-signature").iter().count() > 1 {
        tracing::warn!(%account, "webhook rejected: duplicate Stripe-Signature headers");
        if state.inner.config.account(&account).is_some() {
            let _ = state
                .inner
                .store
                .record_rejection(&account, "duplicate_header", now_ms())
                .await;
        }
        return error(
            StatusCode::BAD_REQUEST,
            "duplicate_header",
            "more than one Stripe-Signature header",
        );
    }
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
