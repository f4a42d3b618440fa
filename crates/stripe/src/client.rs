//! A small hand-written Stripe API client for the few endpoints paysync uses: lists, retrieves and
//! form-encoded POSTs, with a per-client rate limit and in-call retries.
//!
//! Stripe facts used here are from API-FACTS "Stripe": lists take `limit` (1–100) and
//! `starting_after` / `ending_before`; rate limits answer 429 and come with `Retry-After` and
//! `Stripe-Should-Retry`; POSTs carry an `Idempotency-Key` (≤ 255 chars) whose first response is
//! replayed; `Stripe-Account` selects a connected account and `Stripe-Version` pins the API version.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use paysync_core::config::StripeAccount;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Stripe's largest page size (API-FACTS "Stripe": `limit` 1–100).
const MAX_PAGE_SIZE: &str = "100";
/// Longest `Idempotency-Key` Stripe accepts (API-FACTS "Stripe").
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Upper bound on a server-requested `Retry-After`, so one answer cannot stall a worker for long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How much of a non-JSON error body is kept as the error message.
const MAX_RAW_ERROR_CHARS: usize = 200;

const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
const STRIPE_ACCOUNT: HeaderName = HeaderName::from_static("stripe-account");
const STRIPE_SHOULD_RETRY: HeaderName = HeaderName::from_static("stripe-should-retry");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// Everything a [`StripeClient`] needs; [`ClientConfig::for_account`] fills it from configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without trailing slash, e.g. `https://api.stripe.com`; `/v1/…` is appended.
    pub api_base: String,
    pub api_key: SecretString,
    /// Sent as `Stripe-Account` (Connect) when set.
    pub connect_account: Option<String>,
    /// Sent as `Stripe-Version` on every request.
    pub api_version: String,
    /// Requests per second this client sends at most (bursts up to the same number).
    pub rate_limit_per_sec: u32,
    /// Timeout of one attempt, from connecting to reading the whole body.
    pub timeout: Duration,
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// First retry's backoff ceiling; it doubles per retry up to `backoff_cap` (full jitter below it).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl ClientConfig {
    pub fn for_account(a: &StripeAccount) -> Self {
        ClientConfig {
            api_base: a.api_base.clone(),
            api_key: a.api_key.clone(),
            connect_account: a.connect_account.clone(),
            api_version: a.api_version.clone(),
            rate_limit_per_sec: a.rate_limit_per_sec,
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(20),
        }
    }
}

/// Where a list page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageCursor {
    First,
    /// The page after this object id (older objects, as Stripe lists newest first).
    StartingAfter(String),
    /// The page before this object id (newer objects).
    EndingBefore(String),
}

/// One page of a Stripe list; objects are kept as raw JSON for the caller to parse.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    pub data: Vec<Box<RawValue>>,
    pub has_more: bool,
}

/// The `id` of a raw Stripe object, parsing nothing else.
pub fn object_id(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(raw.get()).ok().map(|o| o.id)
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Stripe (or whatever answers at `api_base`) returned a non-2xx status.
    #[error("Stripe API error {status}{}: {message}{}", code_suffix(.code), request_suffix(.request_id))]
    Api {
        status: u16,
        /// Stripe's `error.code`, e.g. `resource_missing`.
        code: Option<String>,
        message: String,
        /// Stripe's `Request-Id` header, for support requests.
        request_id: Option<String>,
    },
    /// Connecting, sending or reading failed (including timeouts).
    #[error("Stripe transport error: {0}")]
    Transport(String),
    /// A 2xx answer whose body is not what the endpoint returns.
    #[error("cannot decode Stripe response: {0}")]
    Decode(String),
    /// The client or the request is mis-configured (bad base URL, header value, idempotency key…).
    #[error("Stripe client configuration error: {0}")]
    Config(String),
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

fn request_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|r| format!(" [request {r}]"))
        .unwrap_or_default()
}

impl ClientError {
    /// Whether the same request may succeed later (transport failures, 409, 429, 5xx).
    ///
    /// The client has already retried such errors in-call; this tells a caller whether a durable
    /// retry later is worth it. It does not know a `Stripe-Should-Retry` header's verdict.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Api { status, .. } => retryable_status(*status),
            ClientError::Decode(_) | ClientError::Config(_) => false,
        }
    }

    fn is_resource_missing(&self) -> bool {
        matches!(self, ClientError::Api { status: 404, code: Some(code), .. } if code == "resource_missing")
    }
}

/// Statuses worth retrying without a `Stripe-Should-Retry` header: 409 (conflict, e.g. a concurrent
/// request with the same idempotency key), 429 (rate limited), 5xx.
fn retryable_status(status: u16) -> bool {
    matches!(status, 409 | 429 | 500..=599)
}

/// A Stripe API client for one account. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct StripeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    limiter: DefaultDirectRateLimiter,
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientError> {
        // reqwest is built with `rustls-no-provider` (DESIGN "Dependencies": aws-lc costs ~50 s of
        // build), so a process-wide provider must exist before a client is built. Another one may
        // already be installed (by the binary, or a racing thread): that is fine.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }

        let base = Url::parse(&cfg.api_base)
            .map_err(|e| ClientError::Config(format!("api_base {:?}: {e}", cfg.api_base)))?;
        if base.cannot_be_a_base() {
            return Err(ClientError::Config(format!(
                "api_base {:?} cannot be a base URL",
                cfg.api_base
            )));
        }
        let rate = NonZeroU32::new(cfg.rate_limit_per_sec)
            .ok_or_else(|| ClientError::Config("rate_limit_per_sec must be at least 1".into()))?;

        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.api_key.expose_secret()))
            // Not the error itself: keep anything derived from the key out of messages.
            .map_err(|_| ClientError::Config("api_key is not a valid header value".into()))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            STRIPE_VERSION,
            header_value("api_version", &cfg.api_version)?,
        );
        if let Some(account) = &cfg.connect_account {
            headers.insert(STRIPE_ACCOUNT, header_value("connect_account", account)?);
        }

        let http = reqwest::Client::builder()
            .user_agent(concat!("paysync/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build HTTP client: {}", chain(&e))))?;

        Ok(StripeClient {
            inner: Arc::new(Inner {
                http,
                base,
                limiter: RateLimiter::direct(Quota::per_second(rate)),
                max_retries: cfg.max_retries,
                backoff_base: cfg.backoff_base,
                backoff_cap: cfg.backoff_cap,
            }),
        })
    }

    /// One page of `GET /v1/{path}` (e.g. `customers`, `checkout/sessions`, `events`).
    ///
    /// Sends `limit=100` unless `params` sets `limit`.
    pub async fn list(
        &self,
        path: &str,
        params: &[(&str, String)],
        cursor: PageCursor,
    ) -> Result<ListPage, ClientError> {
        let url = self.url(path, None)?;
        let mut query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if !params.iter().any(|(k, _)| *k == "limit") {
            query.push(("limit", MAX_PAGE_SIZE));
        }
        match &cursor {
            PageCursor::First => {}
            PageCursor::StartingAfter(id) => query.push(("starting_after", id)),
            PageCursor::EndingBefore(id) => query.push(("ending_before", id)),
        }
        let body = self
            .execute(Method::GET, &url, |rb| rb.query(&query))
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Decode(format!("list {}: {e}", url.path())))
    }

    /// `GET /v1/{path}/{id}`; `Ok(None)` when Stripe answers 404 `resource_missing`.
    pub async fn retrieve(
        &self,
        path: &str,
        id: &str,
        params: &[(&str, String)],
    ) -> Result<Option<Box<RawValue>>, ClientError> {
        let url = self.url(path, Some(id))?;
        match self.execute(Method::GET, &url, |rb| rb.query(params)).await {
            Ok(body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| ClientError::Decode(format!("retrieve {}: {e}", url.path()))),
            Err(e) if e.is_resource_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A form-encoded `POST /v1/{path}`; every attempt carries the same `Idempotency-Key`, so a
    /// retried POST is applied at most once.
    pub async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Box<RawValue>, ClientError> {
        if idempotency_key.is_empty() || idempotency_key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(ClientError::Config(format!(
                "idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes, not {}",
                idempotency_key.len()
            )));
        }
        let key = header_value("idempotency key", idempotency_key)?;
        let url = self.url(path, None)?;
        let body = self
            .execute(Method::POST, &url, |rb| {
                rb.header(IDEMPOTENCY_KEY, key.clone()).form(form)
            })
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Decode(format!("post {}: {e}", url.path())))
    }

    /// `{api_base}/v1/{path}[/{id}]`, each segment percent-escaped.
    fn url(&self, path: &str, id: Option<&str>) -> Result<Url, ClientError> {
        let mut url = self.inner.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| ClientError::Config("api_base cannot be a base URL".into()))?;
            segments
                .pop_if_empty()
                .push("v1")
                .extend(path.split('/').filter(|s| !s.is_empty()));
            if let Some(id) = id {
                segments.push(id);
            }
        }
        Ok(url)
    }

    /// Sends a request, retrying as Stripe advises, and returns the body of the 2xx answer.
    async fn execute(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Vec<u8>, ClientError> {
        let inner = &*self.inner;
        let mut retries = 0;
        loop {
            // Waits for a token: the rate limit slows callers down, it never fails them.
            inner.limiter.until_ready().await;
            let request = build(inner.http.request(method.clone(), url.clone()));
            let failure = match attempt(request, &method, url).await {
                Ok(body) => return Ok(body),
                Err(failure) => failure,
            };
            if !failure.retry || retries >= inner.max_retries {
                return Err(failure.error);
            }
            let wait = match failure.retry_after {
                Some(after) => after.min(MAX_RETRY_AFTER),
                None => self.backoff(retries),
            };
            retries += 1;
            // Never the URL's query (it may hold an email filter) nor headers (the key).
            tracing::warn!(
                %method,
                path = url.path(),
                status = failure.status,
                retry = retries,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "retrying Stripe request",
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential backoff with full jitter: uniform in `[0, min(cap, base · 2^retry)]`.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .inner
            .backoff_base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.inner.backoff_cap);
        let max_micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=max_micros))
    }
}

/// A failed attempt and what Stripe said about retrying it.
struct Failure {
    error: ClientError,
    /// The HTTP status, if an answer came (for the retry log).
    status: Option<u16>,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn transport(e: reqwest::Error, method: &Method, url: &Url) -> Self {
        let retry = !e.is_builder();
        // `without_url`: our own prefix names the path, without the query.
        let message = format!("{method} {}: {}", url.path(), chain(&e.without_url()));
        Failure {
            error: if retry {
                ClientError::Transport(message)
            } else {
                ClientError::Config(message)
            },
            status: None,
            retry,
            retry_after: None,
        }
    }
}

async fn attempt(request: RequestBuilder, method: &Method, url: &Url) -> Result<Vec<u8>, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::transport(e, method, url))?;
    let status = response.status();
    let headers = response.headers();
    let should_retry = match headers.get(STRIPE_SHOULD_RETRY).map(HeaderValue::as_bytes) {
        Some(b"true") => Some(true),
        Some(b"false") => Some(false),
        _ => None,
    };
    // Stripe sends whole seconds; an HTTP-date form is not used by Stripe and falls back to backoff.
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::transport(e, method, url))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    Err(Failure {
        error: api_error(status, request_id, &body),
        status: Some(status.as_u16()),
        retry: should_retry.unwrap_or_else(|| retryable_status(status.as_u16())),
        retry_after,
    })
}

/// Decodes Stripe's `{"error":{"type","code","message"}}`, or keeps the start of any other body.
fn api_error(status: StatusCode, request_id: Option<String>, body: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct Envelope {
        error: StripeError,
    }
    #[derive(Deserialize)]
    struct StripeError {
        #[serde(rename = "type")]
        kind: Option<String>,
        code: Option<String>,
        message: Option<String>,
    }

    let (code, message) = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => (error.code, error.message.or(error.kind)),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let kept: String = text.chars().take(MAX_RAW_ERROR_CHARS).collect();
            (None, (!kept.is_empty()).then_some(kept))
        }
    };
    ClientError::Api {
        status: status.as_u16(),
        code,
        message: message
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned()),
        request_id,
    }
}

fn header_value(what: &str, value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value)
        .map_err(|_| ClientError::Config(format!("{what} is not a valid header value")))
}

/// An error and its sources, joined: reqwest's own message alone rarely says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> StripeClient {
        StripeClient::new(ClientConfig {
            api_base: base.into(),
            api_key: SecretString::from("sk_test_123"),
            connect_account: None,
            api_version: "2024-06-20".into(),
            rate_limit_per_sec: 10,
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(20),
        })
        .expect("valid config")
    }

    #[test]
    fn urls_escape_ids_and_keep_base_path() {
        let c = client("https://api.example.com");
        assert_eq!(
            c.url("checkout/sessions", None).unwrap().as_str(),
            "https://api.example.com/v1/checkout/sessions"
        );
        assert_eq!(
            c.url("customers", Some("cus_1/../x?y#z")).unwrap().as_str(),
            "https://api.example.com/v1/customers/cus_1%2F..%2Fx%3Fy%23z"
        );
        let c = client("http://127.0.0.1:9/stripe");
        assert_eq!(
            c.url("events", Some("evt 1")).unwrap().as_str(),
            "http://127.0.0.1:9/stripe/v1/events/evt%201"
        );
    }

    #[test]
    fn backoff_stays_under_exponential_ceiling_and_cap() {
        let c = client("https://api.example.com");
        for retry in 0..40 {
            let ceiling = Duration::from_millis(500)
                .saturating_mul(2u32.saturating_pow(retry))
                .min(Duration::from_secs(20));
            assert!(c.backoff(retry) <= ceiling);
        }
    }

    #[test]
    fn bad_config_is_refused() {
        let mut cfg = ClientConfig {
            api_base: "not a url".into(),
            api_key: SecretString::from("sk_test_123"),
            connect_account: None,
            api_version: "2024-06-20".into(),
            rate_limit_per_sec: 10,
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff_base: Duration::ZERO,
            backoff_cap: Duration::ZERO,
        };
        assert!(matches!(
            StripeClient::new(cfg.clone()),
            Err(ClientError::Config(_))
        ));
        cfg.api_base = "mailto:x@example.com".into();
        assert!(matches!(
            StripeClient::new(cfg.clone()),
            Err(ClientError::Config(_))
        ));
        cfg.api_base = "https://api.example.com".into();
        cfg.rate_limit_per_sec = 0;
        assert!(matches!(
            StripeClient::new(cfg.clone()),
            Err(ClientError::Config(_))
        ));
        cfg.rate_limit_per_sec = 1;
        cfg.api_key = SecretString::from("sk_test_\nsecret");
        let err = StripeClient::new(cfg).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn object_id_reads_only_the_id() {
        let raw = RawValue::from_string(r#"{"id":"cus_1","object":"customer"}"#.into()).unwrap();
        assert_eq!(object_id(&raw).as_deref(), Some("cus_1"));
        let raw = RawValue::from_string(r#"{"object":"customer"}"#.into()).unwrap();
        assert_eq!(object_id(&raw), None);
    }

    #[test]
    fn error_bodies_are_decoded_or_kept() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"parameter_invalid","message":"Bad limit"}}"#;
        let err = api_error(StatusCode::BAD_REQUEST, Some("req_1".into()), body);
        assert_eq!(
            err.to_string(),
            "Stripe API error 400 (parameter_invalid): Bad limit [request req_1]"
        );
        let err = api_error(StatusCode::BAD_GATEWAY, None, b"<html>bad gateway</html>");
        assert!(
            matches!(&err, ClientError::Api { status: 502, code: None, message, .. } if message == "<html>bad gateway</html>")
        );
        let err = api_error(StatusCode::SERVICE_UNAVAILABLE, None, b"");
        assert!(
            matches!(&err, ClientError::Api { message, .. } if message == "Service Unavailable")
        );
        let err = api_error(
            StatusCode::BAD_REQUEST,
            None,
            br#"{"error":{"type":"api_error"}}"#,
        );
        assert!(matches!(&err, ClientError::Api { message, .. } if message == "api_error"));
    }

    #[test]
    fn retryable_errors() {
        let api = |status| ClientError::Api {
            status,
            code: None,
            message: String::new(),
            request_id: None,
        };
        for status in [409, 429, 500, 503] {
            assert!(api(status).is_retryable(), "{status}");
        }
        for status in [400, 401, 402, 403, 404] {
            assert!(!api(status).is_retryable(), "{status}");
        }
        assert!(ClientError::Transport("reset".into()).is_retryable());
        assert!(!ClientError::Decode("x".into()).is_retryable());
        assert!(!ClientError::Config("x".into()).is_retryable());
    }
}
