//! paysync's HTTP surface, a thin shell over the engine: the Stripe and vendor webhook
//! endpoints, opt-in confirmation pages, health checks — the only routes that answer without
//! authentication — and the operator surface: the dashboard, the management API, `/status` and
//! `/metrics` (see `auth`). Webhook handlers take the raw body, since the signature covers the
//! exact bytes.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use paysync_core::config::{Config, RawConfig};
use paysync_engine::intake::{Intake, Rejection};
use paysync_engine::now_ms;
use paysync_store::Store;
use serde_json::json;

mod api;
pub mod auth;
mod listen;
mod operator;
mod opt_in;
mod pages;
mod vendor_webhooks;

pub use auth::hash_password;

/// What the handlers share. The running part (configuration, intake, loops) is replaced as a
/// whole when the dashboard changes the configuration and `serve` restarts its loops; a request
/// works on the generation it started with.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    /// The configuration file as written: the management API adds its entries to it.
    file: RawConfig,
    /// Resolves the file's `env:` secrets when a change is checked.
    env: Env,
    logins: auth::throttle::LoginThrottle,
    running: RwLock<Arc<Running>>,
    /// Notified when the management API changed the managed configuration: `serve` restarts its
    /// sync loops on the new one.
    reload: Arc<tokio::sync::Notify>,
}

struct Running {
    intake: Intake,
    store: Arc<dyn Store>,
    config: Config,
    /// Per destination: wakes its change-feed poller (a vendor webhook said something changed).
    feed_wakeups: paysync_engine::Wakeups,
    /// The delivery workers, whose totals `/metrics` reports.
    deliverers: Vec<Arc<paysync_engine::deliver::Deliverer>>,
}

/// Resolves `env:` secrets (the process environment, or the demo's own).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl AppState {
    /// `file`: the configuration file as written, `env` its secrets' source, `config` what runs
    /// now (the file's plus the managed entries); `wakeups`: per Stripe account, the applier's;
    /// `syncs`: the running sync loops (their change-feed pollers are woken by vendor webhooks,
    /// their workers' totals are metrics).
    pub fn new(
        store: Arc<dyn Store>,
        (file, env): (RawConfig, Env),
        config: Config,
        wakeups: paysync_engine::Wakeups,
        syncs: &paysync_engine::runner::SyncLoops,
    ) -> Self {
        let running = Running::new(store.clone(), config, wakeups, syncs);
        AppState {
            shared: Arc::new(Shared {
                store,
                file,
                env,
                logins: auth::throttle::LoginThrottle::default(),
                running: RwLock::new(Arc::new(running)),
                reload: Arc::new(tokio::sync::Notify::new()),
            }),
        }
    }

    /// Puts a new generation of configuration and loops in place (after a reload).
    pub fn install(
        &self,
        config: Config,
        wakeups: paysync_engine::Wakeups,
        syncs: &paysync_engine::runner::SyncLoops,
    ) {
        let running = Running::new(self.shared.store.clone(), config, wakeups, syncs);
        *self
            .shared
            .running
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(running);
    }

    /// Resolves when the managed configuration changed and the loops should restart.
    pub async fn reload_requested(&self) {
        self.shared.reload.notified().await
    }

    fn running(&self) -> Arc<Running> {
        self.shared
            .running
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Running {
    fn new(
        store: Arc<dyn Store>,
        config: Config,
        wakeups: paysync_engine::Wakeups,
        syncs: &paysync_engine::runner::SyncLoops,
    ) -> Self {
        Running {
            intake: Intake::new(store.clone(), &config, wakeups),
            store,
            config,
            feed_wakeups: syncs.feed_wakeups.clone(),
            deliverers: syncs.deliverers.clone(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let operator = Router::new()
        .route("/status", get(operator::status_json))
        .route("/metrics", get(operator::metrics))
        .route("/logout", post(auth::logout))
        .merge(api::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        ));
    Router::new()
        .route("/webhooks/stripe/{account}", post(stripe_webhook))
        .route(
            "/webhooks/destinations/{name}",
            get(vendor_webhooks::destination_webhook).post(vendor_webhooks::destination_webhook),
        )
        .route("/consent/confirm", get(opt_in::show).post(opt_in::confirm))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(operator::readyz))
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(auth::login))
        .route(
            "/assets/dashboard.js",
            get(|| async { pages::asset("text/javascript; charset=utf-8", pages::SCRIPT) }),
        )
        .route(
            "/assets/dashboard.css",
            get(|| async { pages::asset("text/css; charset=utf-8", pages::STYLE) }),
        )
        .route(
            "/assets/icon.svg",
            get(|| async { pages::asset("image/svg+xml", pages::ICON) }),
        )
        .merge(api::public_routes())
        .merge(operator)
        .with_state(state)
}

/// The dashboard for a signed-in administrator; the login page for anyone else.
async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match auth::authenticate(&state, &axum::http::Method::GET, &headers).await {
        Ok(auth::Operator::Session { username, csrf }) => pages::dashboard(&username, &csrf),
        // A bearer token is for the API: the dashboard needs a session (its CSRF token).
        _ => (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response(),
    }
}

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match auth::authenticate(&state, &axum::http::Method::GET, &headers).await {
        Ok(auth::Operator::Session { .. }) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
        }
        _ => pages::login(StatusCode::OK, None),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_secs(state.running().config.server.header_timeout_secs);
    listen::serve(listener, router(state), header_timeout, shutdown).await
}

impl AppState {
    /// A request body within the server's size and time limits.
    pub(crate) async fn read_body(&self, body: Body) -> Result<Bytes, listen::BodyRefused> {
        let running = self.running();
        let server = &running.config.server;
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
    let limit = state.running().config.server.max_body_bytes;
    let body = match state.read_body(body).await {
        Ok(body) => body,
        Err(refused) => {
            // Too large, too slow, or the client went away mid-body: nothing was stored.
            tracing::warn!(%account, limit, reason = refused.reason_code(), "webhook rejected: body over the limit, too slow or unreadable");
            if state.running().config.account(&account).is_some() {
                let _ = state
                    .running()
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
        if state.running().config.account(&account).is_some() {
            let _ = state
                .running()
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
        .running()
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

/// Equal without an early exit (only the length can show through).
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
