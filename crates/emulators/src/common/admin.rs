//! Request accounting and `/_admin` helpers shared by the emulators: JSON bodies and answers,
//! and the request bodies several emulators' admin routes share (rate limit, clock).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
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

use super::capture::{self, CapturedRequest};
use super::clock::Clock;
use super::faults::{FaultConfig, Faults};
use super::ratelimit::RateLimit;

/// Counts requests by endpoint (`"GET /v1/customers/{id}"`) and status, and records the values
/// seen of chosen headers (such as `Stripe-Version`). On request ([`RequestLog::capture`]) it
/// also keeps every request whole (see [`super::capture`]).
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<LogInner>,
    capturing: AtomicBool,
    captured: Mutex<Vec<CapturedRequest>>,
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
        drop(g);
        self.capture_current(endpoint, status);
    }

    /// Keeps the request being served whole, when this log captures or the environment names a
    /// capture file (and the call runs under the capture layer of [`super::serve`]).
    fn capture_current(&self, endpoint: &str, status: u16) {
        let mine = self.capturing.load(Ordering::SeqCst);
        if !mine && !capture::sink_wanted() {
            return;
        }
        let Some(req) = capture::in_flight() else {
            return;
        };
        let entry = req.captured(endpoint, status);
        capture::write_to_sink(&entry);
        if mine {
            self.captured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(entry);
        }
    }

    /// Starts (`true`) or stops keeping every request this log records whole: method, path,
    /// query, `Content-Type`, body ([`RequestLog::captured`]). Off by default; while off the
    /// emulator does not even buffer bodies. Captured requests stay in memory until
    /// [`RequestLog::clear`] or [`RequestLog::take_captured`].
    pub fn capture(&self, on: bool) {
        let was = self.capturing.swap(on, Ordering::SeqCst);
        match (was, on) {
            (false, true) => capture::log_starts_capturing(),
            (true, false) => capture::log_stops_capturing(),
            _ => {}
        }
    }

    /// Whether [`RequestLog::capture`] is on.
    pub fn is_capturing(&self) -> bool {
        self.capturing.load(Ordering::SeqCst)
    }

    /// The requests captured so far, oldest first.
    pub fn captured(&self) -> Vec<CapturedRequest> {
        self.captured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The requests captured so far, oldest first, forgetting them.
    pub fn take_captured(&self) -> Vec<CapturedRequest> {
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `{capturing, requests: [CapturedRequest::to_json …]}` for `GET /_admin/requests/captured`.
    pub fn captured_json(&self) -> Value {
        let requests: Vec<Value> = self
            .captured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(CapturedRequest::to_json)
            .collect();
        json!({"capturing": self.is_capturing(), "requests": requests})
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

    /// Requests recorded so far.
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Requests answered with `status`.
    pub fn status_count(&self, status: u16) -> u64 {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Forgets the counts and the captured requests (capture stays on or off as it was).
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = LogInner::default();
        self.captured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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

impl Drop for RequestLog {
    fn drop(&mut self) {
        // The capture layer buffers bodies only while some log of the process captures.
        self.capture(false);
    }
}

/// `GET /_admin/requests/captured` (answers [`RequestLog::captured_json`]) and
/// `POST /_admin/requests/capture` with `{"on": bool}` (turns [`RequestLog::capture`] on or off),
/// for an emulator whose log `log` returns: an emulator's admin router adds them with
/// `.merge(captured_routes(emu.clone(), Emulator::requests))`.
pub fn captured_routes<S>(state: S, log: fn(&S) -> &RequestLog) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct CaptureReq {
        on: bool,
    }
    Router::new()
        .route(
            "/_admin/requests/captured",
            get(move |State(s): State<S>| async move { json_ok(log(&s).captured_json()) }),
        )
        .route(
            "/_admin/requests/capture",
            post(move |State(s): State<S>, body: Bytes| async move {
                match parse_body::<CaptureReq>(&body) {
                    Ok(req) => {
                        log(&s).capture(req.on);
                        json_ok(json!({"capturing": log(&s).is_capturing()}))
                    }
                    Err(r) => *r,
                }
            }),
        )
        .with_state(state)
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
