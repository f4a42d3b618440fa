//! The HTTP surface: routes, and the gate every `/v1` request passes (faults, authentication,
//! API version, rate limit, request accounting, `Request-Id` and `Stripe-Version` headers).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::common::FaultAction;
use crate::common::http::endpoint_key;

use super::admin;
use super::customers;
use super::emulator::StripeEmulator;
use super::endpoints;
use super::error::StripeError;
use super::ids::{self, new_id};
use super::reads::{self, Kind};

/// What the gate learned about a request, for the handlers.
#[derive(Clone, Debug)]
pub struct ReqCtx {
    /// `Stripe-Version`, or the account's default.
    pub version: Arc<str>,
    /// `Stripe-Account`, or "" for the platform account.
    pub account: Arc<str>,
    pub request_id: Arc<str>,
    pub idempotency_key: Option<String>,
}

const MISSING_API_KEY: &str = "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";
const PUBLISHABLE_KEY: &str = "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.";

pub fn router(emu: StripeEmulator) -> Router {
    let list = |k: Kind| {
        move |s: State<StripeEmulator>, c: Extension<ReqCtx>, q: RawQuery| reads::list(s, c, q, k)
    };
    let one = |k: Kind| {
        move |s: State<StripeEmulator>, c: Extension<ReqCtx>, p: Path<String>, q: RawQuery| {
            reads::retrieve(s, c, p, q, k)
        }
    };
    let api = Router::new()
        .route(
            "/v1/customers",
            get(list(Kind::Customers)).post(customers::create),
        )
        .route(
            "/v1/customers/{id}",
            get(one(Kind::Customers))
                .post(customers::update)
                .delete(customers::delete),
        )
        .route("/v1/charges", get(list(Kind::Charges)))
        .route("/v1/charges/{id}", get(one(Kind::Charges)))
        .route("/v1/refunds", get(list(Kind::Refunds)))
        .route("/v1/refunds/{id}", get(one(Kind::Refunds)))
        .route("/v1/payment_intents", get(list(Kind::PaymentIntents)))
        .route("/v1/payment_intents/{id}", get(one(Kind::PaymentIntents)))
        .route("/v1/subscriptions", get(list(Kind::Subscriptions)))
        .route("/v1/subscriptions/{id}", get(one(Kind::Subscriptions)))
        .route("/v1/invoices", get(list(Kind::Invoices)))
        .route("/v1/invoices/{id}", get(one(Kind::Invoices)))
        .route("/v1/checkout/sessions", get(list(Kind::CheckoutSessions)))
        .route(
            "/v1/checkout/sessions/{id}",
            get(one(Kind::CheckoutSessions)),
        )
        .route("/v1/events", get(list(Kind::Events)))
        .route("/v1/events/{id}", get(one(Kind::Events)))
        .route("/v1/prices", get(list(Kind::Prices)))
        .route("/v1/prices/{id}", get(one(Kind::Prices)))
        .route("/v1/products", get(list(Kind::Products)))
        .route("/v1/products/{id}", get(one(Kind::Products)))
        .route(
            "/v1/webhook_endpoints",
            get(list(Kind::WebhookEndpoints)).post(endpoints::create),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            get(one(Kind::WebhookEndpoints))
                .post(endpoints::update)
                .delete(endpoints::delete),
        )
        .route_layer(middleware::from_fn_with_state(emu.clone(), gate))
        .fallback(unrecognized)
        .with_state(emu.clone());
    api.merge(admin::router(emu))
}

async fn unrecognized(State(emu): State<StripeEmulator>, req: Request) -> Response {
    emu.requests().record("unrecognized", 404);
    StripeError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!(
            "Unrecognized request URL ({}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            req.method(),
            req.uri().path()
        ),
    )
    .into_response()
}

fn valid_version(v: &str) -> bool {
    let b = v.as_bytes();
    let date = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    date && (b.len() == 10
        || (b[10] == b'.' && b.len() > 11 && b[11..].iter().all(|c| c.is_ascii_lowercase())))
}

/// Stripe shows a bad key with its middle masked.
fn masked(key: &str) -> String {
    let prefix = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .find(|p| key.starts_with(**p))
        .copied()
        .unwrap_or("");
    let rest = &key[prefix.len()..];
    if rest.len() <= 4 || !rest.is_char_boundary(rest.len() - 4) {
        return format!("{prefix}{}", "*".repeat(rest.len()));
    }
    format!(
        "{prefix}{}{}",
        "*".repeat(rest.len() - 4),
        &rest[rest.len() - 4..]
    )
}

fn authenticate(emu: &StripeEmulator, headers: &HeaderMap) -> Result<(), StripeError> {
    let unauthorized =
        |m: String| StripeError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", m);
    let Some(auth) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    else {
        return Err(unauthorized(MISSING_API_KEY.to_owned()));
    };
    let key = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() {
        return Err(unauthorized(MISSING_API_KEY.to_owned()));
    }
    if key.starts_with("pk_") {
        return Err(unauthorized(PUBLISHABLE_KEY.to_owned()));
    }
    let keys = &emu.config().api_keys;
    let ok = if keys.is_empty() {
        (key.starts_with("sk_test_") || key.starts_with("rk_test_")) && key.len() > 8
    } else {
        keys.iter().any(|k| k == key)
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized(format!(
            "Invalid API Key provided: {}",
            masked(key)
        )))
    }
}

async fn gate(State(emu): State<StripeEmulator>, mut req: Request, next: Next) -> Response {
    let endpoint = endpoint_key(&req);
    let request_id: Arc<str> = Arc::from(&*new_id(&mut rand::rng(), ids::REQUEST));
    let headers = req.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let version_hdr = header("stripe-version");
    let account = header("stripe-account").unwrap_or_default();
    let idempotency_key = header("idempotency-key");
    let log = emu.requests();
    if let Some(v) = &version_hdr {
        log.saw_header("stripe-version", v);
    }
    if !account.is_empty() {
        log.saw_header("stripe-account", &account);
    }
    let version: Arc<str> = match &version_hdr {
        Some(v) => Arc::from(v.as_str()),
        None => Arc::from(emu.config().api_version.as_str()),
    };

    let decision = emu.faults().decide();
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = match decision.action {
        Some(FaultAction::Outage) => {
            StripeError::api_error(StatusCode::SERVICE_UNAVAILABLE).into_response()
        }
        Some(FaultAction::Error(s)) => StripeError::api_error(
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .into_response(),
        Some(FaultAction::Throttle) => StripeError::rate_limited().into_response(),
        None => {
            if let Err(e) = authenticate(&emu, req.headers()) {
                e.into_response()
            } else if version_hdr.as_deref().is_some_and(|v| !valid_version(v)) {
                StripeError::invalid(format!(
                    "Invalid Stripe API version: {}",
                    version_hdr.as_deref().unwrap_or("")
                ))
                .into_response()
            } else if !emu.inner.limiter.check(if account.is_empty() {
                "platform"
            } else {
                &account
            }) {
                StripeError::rate_limited().into_response()
            } else {
                req.extensions_mut().insert(ReqCtx {
                    version: version.clone(),
                    account: Arc::from(account.as_str()),
                    request_id: request_id.clone(),
                    idempotency_key,
                });
                next.run(req).await
            }
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.entry("request-id").or_insert(v);
    }
    if let Ok(v) = HeaderValue::from_str(&version) {
        h.insert("stripe-version", v);
    }
    log.record(&endpoint, resp.status().as_u16());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(valid_version("2025-03-31.basil"));
        assert!(valid_version("2022-11-15"));
        assert!(!valid_version("2025-3-31"));
        assert!(!valid_version("latest"));
        assert!(!valid_version("2025-03-31."));
    }

    #[test]
    fn masks() {
        assert_eq!(masked("sk_test_abcdef1234"), "sk_test_******1234");
        assert_eq!(masked("xyz"), "***");
    }
}
