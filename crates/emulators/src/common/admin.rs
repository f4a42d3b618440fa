//! Request accounting and `/_admin` helpers shared by the emulators.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::faults::{FaultConfig, Faults};

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
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": format!("invalid fault config: {e}")})),
                    )
                        .into_response();
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
