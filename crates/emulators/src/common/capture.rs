//! Opt-in capture of whole requests (method, path, query, `Content-Type`, body) next to the
//! counts [`RequestLog`](super::RequestLog) keeps, so tests can check what a client sent — for
//! instance against the vendor's API spec (`crates/destinations/tests/it/spec_conformance.rs`).
//!
//! Off by default, and then nothing changes: the layer [`serve`](super::serve) puts in front of
//! every emulator passes requests through untouched. It reads bodies only while capture is
//! wanted somewhere in the process:
//!
//! - [`RequestLog::capture(true)`](super::RequestLog::capture): that emulator keeps every request
//!   it records, in memory ([`RequestLog::captured`](super::RequestLog::captured)) — for tests.
//! - `PAYSYNC_EMULATOR_CAPTURE=<file>` in the environment: every emulator of the process appends
//!   each request it records to `<file>` as one JSON line ([`CapturedRequest::to_json`]) — for
//!   capturing whole test suites one does not want to edit.
//!
//! How: the layer reads the body whole, hands the request on with the same bytes, and keeps
//! the request's details in a task-local for the duration of the call; when the emulator's own
//! accounting calls [`RequestLog::record`](super::RequestLog::record) (once per request, with
//! the endpoint key and the status answered), the details are captured there. Requests an
//! emulator does not record (`/_admin`) are not captured.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// The environment variable naming a file every emulator appends its requests to (JSON lines).
pub const CAPTURE_FILE_ENV: &str = "PAYSYNC_EMULATOR_CAPTURE";

/// One request as an emulator received it, and what it was counted as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    /// The URL path as sent, with the vendor's base prefix (`/v3/contacts/…`, `/api/3/…`,
    /// `/3.0/…`).
    pub path: String,
    /// The raw query string, without `?` (`None` when the URL has none).
    pub query: Option<String>,
    /// The `Content-Type` header as sent.
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The key [`RequestLog`](super::RequestLog) counted it under (`"POST /v3/contacts"`,
    /// `"unrecognized"`).
    pub endpoint: String,
    /// The status the emulator answered.
    pub status: u16,
}

impl CapturedRequest {
    /// The body as JSON, when it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// `{method, path, query, content_type, endpoint, status, body}`: `body` is the body as
    /// text (`null` when empty); a body that is not UTF-8 is `body_base64` instead.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "content_type": self.content_type,
            "endpoint": self.endpoint,
            "status": self.status,
            "body": Value::Null,
        });
        if !self.body.is_empty() {
            match std::str::from_utf8(&self.body) {
                Ok(text) => v["body"] = Value::String(text.to_owned()),
                Err(_) => {
                    v["body_base64"] =
                        Value::String(base64::engine::general_purpose::STANDARD.encode(&self.body));
                }
            }
        }
        v
    }
}

/// What the layer learnt of the request being served.
#[derive(Debug)]
pub(crate) struct InFlight {
    method: String,
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl InFlight {
    pub(crate) fn captured(&self, endpoint: &str, status: u16) -> CapturedRequest {
        CapturedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            content_type: self.content_type.clone(),
            body: self.body.clone(),
            endpoint: endpoint.to_owned(),
            status,
        }
    }
}

tokio::task_local! {
    static IN_FLIGHT: Arc<InFlight>;
}

/// Request logs of this process that are capturing (see [`RequestLog::capture`](super::RequestLog::capture)).
static CAPTURING_LOGS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn log_starts_capturing() {
    CAPTURING_LOGS.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn log_stops_capturing() {
    CAPTURING_LOGS.fetch_sub(1, Ordering::SeqCst);
}

/// The file named by [`CAPTURE_FILE_ENV`], opened for appending once per process.
fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(CAPTURE_FILE_ENV).filter(|p| !p.is_empty())?;
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                tracing::warn!(error = %e, path = ?path, "cannot open the request capture file");
                None
            }
        }
    })
    .as_ref()
}

/// Whether the environment asks for every request to be written out.
pub(crate) fn sink_wanted() -> bool {
    sink().is_some()
}

/// Appends one request to the [`CAPTURE_FILE_ENV`] file (one line, one `write`).
pub(crate) fn write_to_sink(r: &CapturedRequest) {
    if let Some(file) = sink() {
        let mut line = r.to_json().to_string();
        line.push('\n');
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "cannot write to the request capture file");
        }
    }
}

/// The request being served, when capture is on and the call runs under [`layer`].
pub(crate) fn in_flight() -> Option<Arc<InFlight>> {
    IN_FLIGHT.try_with(Arc::clone).ok()
}

/// The middleware [`serve`](super::serve) puts in front of every emulator: a pass-through
/// unless some request log of the process captures or the environment asks for a capture file.
pub(crate) async fn layer(req: Request, next: Next) -> Response {
    if CAPTURING_LOGS.load(Ordering::SeqCst) == 0 && !sink_wanted() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The emulators' own body limits still apply when their handlers read the body again.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
                .into_response();
        }
    };
    let in_flight = Arc::new(InFlight {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: bytes.clone(),
    });
    let req = Request::from_parts(parts, Body::from(bytes));
    IN_FLIGHT.scope(in_flight, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::routing::post;

    use crate::common::{RequestLog, bind_loopback, captured_routes, serve};

    async fn echo(State(log): State<Arc<RequestLog>>, body: Bytes) -> String {
        log.record("POST /v3/things", 200);
        format!("{} bytes", body.len())
    }

    #[tokio::test]
    async fn captures_whole_requests_only_when_asked() {
        let log = Arc::new(RequestLog::default());
        let router = Router::new()
            .route("/v3/things", post(echo))
            .with_state(log.clone());
        let h = serve(bind_loopback(0).await.unwrap(), router, ()).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let send = |body: &'static str| {
            client
                .post(format!("{}/v3/things?limit=5&x=a%20b", h.url()))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };

        let r = send(r#"{"n":1}"#).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "7 bytes");
        assert!(log.captured().is_empty(), "off by default");

        log.capture(true);
        let r = send(r#"{"n":2}"#).await.unwrap();
        assert_eq!(
            r.text().await.unwrap(),
            "7 bytes",
            "the handler still gets the body"
        );
        let got = log.captured();
        assert_eq!(got.len(), 1);
        let c = &got[0];
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, "/v3/things");
        assert_eq!(c.query.as_deref(), Some("limit=5&x=a%20b"));
        assert_eq!(c.content_type.as_deref(), Some("application/json"));
        assert_eq!(c.body_json(), Some(serde_json::json!({"n": 2})));
        assert_eq!((c.endpoint.as_str(), c.status), ("POST /v3/things", 200));
        assert_eq!(c.to_json()["body"], r#"{"n":2}"#);
        assert_eq!(log.captured_json()["requests"][0]["path"], "/v3/things");
        assert_eq!(log.count("POST /v3/things"), 2, "counting unchanged");

        log.capture(false);
        send("{}").await.unwrap();
        assert_eq!(log.take_captured().len(), 1);
        assert!(log.captured().is_empty());
        log.capture(true);
        send("{}").await.unwrap();
        log.clear();
        assert!(log.captured().is_empty() && log.is_capturing());
    }

    #[tokio::test]
    async fn admin_routes_turn_capture_on_and_list_the_requests() {
        let log = Arc::new(RequestLog::default());
        let router = Router::new()
            .route("/v3/things", post(echo))
            .with_state(log.clone())
            .merge(captured_routes(log.clone(), |l| l.as_ref()));
        let h = serve(bind_loopback(0).await.unwrap(), router, ()).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let on: serde_json::Value = client
            .post(format!("{}/_admin/requests/capture", h.url()))
            .body(r#"{"on": true}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(on["capturing"], true);
        client
            .post(format!("{}/v3/things", h.url()))
            .body("plain text")
            .send()
            .await
            .unwrap();
        let got: serde_json::Value = client
            .get(format!("{}/_admin/requests/captured", h.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["capturing"], true);
        let reqs = got["requests"].as_array().unwrap();
        assert_eq!(reqs.len(), 1, "admin requests are not recorded: {got}");
        assert_eq!(reqs[0]["body"], "plain text");
        assert_eq!(reqs[0]["endpoint"], "POST /v3/things");
        log.capture(false);
    }
}
