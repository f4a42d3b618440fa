//! Request accounting and `/_admin` helpers shared by the emulators: JSON bodies and answers,
//! and the request bodies several emulators' admin routes share (rate limit, clock).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::clock::Clock;
use super::faults::{FaultConfig, Faults};
use super::ratelimit::RateLimit;

/// Counts requests by endpoint (`"GET /v1/customers/{id}"`) and status, and records the values
/// seen of chosen headers (such as `Stripe-Version`).
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    by_endpoint: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    headers: BTreeMap<&'static str, BTreeSet<String>>,
    total: u64,
}

impl RequestLog {
    pub fn record(&self, endpoint: &str, status: u16) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.total += 1;
        match g.by_endpoint.get_mut(endpoint) {
            Some(n) => *n += 1,
            None => {
                g.by_endpoint.insert(endpoint.to_owned(), 1);
            }
        }
        *g.by_status.entry(status).or_default() += 1;
    }

    /// Remembers that header `name` was sent with `value` (distinct values only).
    pub fn saw_header(&self, name: &'static str, value: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let set = g.headers.entry(name).or_default();
        if !set.contains(value) {
            set.insert(value.to_owned());
        }
    }

    /// Distinct values seen of header `name`.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.headers
            .get(name)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests seen for one endpoint key.
    pub fn count(&self, endpoint: &str) -> u64 {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    /// Requests answered with `status`.
    pub fn status_count(&self, status: u16) -> u64 {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_status.get(&status).copied().unwrap_or(0)
    }

    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = LogInner::default();
    }

    /// `{total, by_endpoint, by_status, headers}` for `/_admin/state`.
    pub fn to_json(&self) -> Value {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let by_status: BTreeMap<String, u64> = g
            .by_status
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        json!({
            "total": g.total,
            "by_endpoint": g.by_endpoint,
            "by_status": by_status,
            "headers": g.headers,
        })
    }
}

/// A 200 JSON response.
pub fn json_ok(v: Value) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

/// An `/_admin` error: `status` with `{"error": msg}`.
pub fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// An `/_admin` request body: `T::default()` when empty, else JSON (400 `invalid JSON body`
/// when it does not parse as `T`).
pub fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, Box<Response>> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(json_error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
        ))
    })
}

/// The body of `POST /_admin/rate_limit`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitReq {
    /// Requests a second; absent or 0 = unlimited.
    pub per_sec: Option<f64>,
    /// Tokens saved up at most; absent = one second's worth (at least 1).
    pub burst: Option<f64>,
}

impl RateLimitReq {
    /// The limit asked for (`None` = unlimited).
    pub fn limit(&self) -> Option<RateLimit> {
        self.per_sec.filter(|r| *r > 0.0).map(|r| RateLimit {
            per_sec: r,
            burst: self.burst.unwrap_or(r.max(1.0)),
        })
    }
}

/// `POST /_admin/rate_limit` with a [`RateLimitReq`]: hands the limit to `set` (such as an
/// emulator's `set_rate_limit`) and answers `{"rate_limit": …}`.
pub fn rate_limit_route<S>(set: fn(&S, Option<RateLimit>)) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    post(move |State(s): State<S>, body: Bytes| async move {
        match parse_body::<RateLimitReq>(&body) {
            Ok(req) => {
                let limit = req.limit();
                set(&s, limit);
                json_ok(json!({"rate_limit": limit}))
            }
            Err(r) => *r,
        }
    })
}

/// The body of `POST /_admin/clock`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockReq {
    /// Set the clock to this unix time (seconds).
    pub set: Option<i64>,
    /// Move it by this many seconds.
    pub advance: Option<i64>,
    /// Back to the system clock.
    pub reset: bool,
}

impl ClockReq {
    /// Resets, then sets, then advances `clock`, as asked.
    pub fn apply(&self, clock: &Clock) {
        if self.reset {
            clock.reset();
        }
        if let Some(t) = self.set {
            clock.set(t);
        }
        if let Some(d) = self.advance {
            clock.advance(d);
        }
    }
}

/// `GET /_admin/faults` (current settings and counts) and `POST /_admin/faults` (a
/// [`FaultConfig`] as JSON replaces the settings; `{}` clears them).
pub fn faults_routes(faults: Arc<Faults>) -> Router {
    async fn get_faults(State(f): State<Arc<Faults>>) -> Response {
        json_ok(json!({"config": f.config(), "in_outage": f.in_outage(), "counts": f.counts()}))
    }
    async fn set_faults(State(f): State<Arc<Faults>>, body: axum::body::Bytes) -> Response {
        let cfg: FaultConfig = if body.is_empty() {
            FaultConfig::default()
        } else {
            match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid fault config: {e}"),
                    );
                }
            }
        };
        f.set(cfg);
        json_ok(json!({"config": f.config(), "in_outage": f.in_outage()}))
    }
    Router::new()
        .route("/_admin/faults", get(get_faults).post(set_faults))
        .with_state(faults)
}
