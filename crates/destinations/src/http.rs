//! The HTTP layer every connector shares: one `reqwest` client per connector with the vendor's
//! rate limit (a token bucket, DESIGN "rate limits": governor) and connection limit (a semaphore,
//! for Mailchimp's 10 simultaneous connections), authentication that can refresh itself after a
//! 401 (Constant Contact OAuth), and in-call retries of transient failures with full-jitter
//! exponential backoff that honours the vendor's retry hint — the same scheme as
//! `paysync-stripe`'s client, kept here once for all destinations.
//!
//! Vendors differ only in how they describe errors: each connector passes a decoder that turns
//! a non-2xx answer into a classified [`DestinationError`] (see [`crate::error`]).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::error::{DestinationError, ErrorKind, Vendor};

/// How much of a non-JSON error body is kept as the message.
const MAX_RAW_ERROR_CHARS: usize = 300;

/// In-call retry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// First retry's backoff ceiling; doubles per retry up to `backoff_cap` (full jitter below).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest server-advised wait (Retry-After, quota reset) honoured in-call; a longer one
    /// ends the call with the error, carrying the wait for the delivery layer.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(20),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: uniform in `[0, min(cap, base · 2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.backoff_cap);
        let max_micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=max_micros))
    }

    /// What to do after a failed attempt: `Some(wait)` to retry after `wait`, `None` to give up.
    pub fn next_wait(&self, error: &DestinationError, retries_so_far: u32) -> Option<Duration> {
        if !matches!(error.kind, ErrorKind::Transient | ErrorKind::RateLimited) {
            return None;
        }
        if retries_so_far >= self.max_retries {
            return None;
        }
        match error.retry_after {
            Some(after) if after > self.max_wait => None,
            Some(after) => Some(after),
            None => Some(self.backoff(retries_so_far)),
        }
    }
}

/// Pacing and transport settings of one connector's client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Requests per second at most (0: unlimited).
    pub requests_per_second: u32,
    /// Simultaneous requests at most (0: unlimited).
    pub max_concurrency: usize,
    /// Timeout of one attempt, from connecting to reading the whole body.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The name calls are counted under in `/metrics` (the destination's); empty: the vendor's.
    pub metrics_label: String,
    /// The limits shared with other processes calling the same account, asked after this
    /// client's own `requests_per_second` and `max_concurrency`.
    pub shared: Option<Arc<dyn SharedLimit>>,
}

/// Limits shared by every process calling one vendor account (paysync workers on one PostgreSQL
/// database): each process's own limiter and semaphore alone would let N processes send N times
/// the vendor's rate, and open N times its connections.
#[async_trait]
pub trait SharedLimit: Send + Sync + std::fmt::Debug {
    /// Waits until one more request is within the shared limits; the permit is held while the
    /// request runs. Never fails: a limit that cannot be consulted lets the request go, paced by
    /// the client's own limits.
    async fn acquire(&self) -> SharedPermit;
}

/// A request's place within a [`SharedLimit`]; gives it back when dropped.
#[derive(Default)]
pub struct SharedPermit(Option<Box<dyn FnOnce() + Send>>);

impl SharedPermit {
    /// A permit that runs `release` when dropped.
    pub fn releasing(release: impl FnOnce() + Send + 'static) -> Self {
        SharedPermit(Some(Box::new(release)))
    }
}

impl Drop for SharedPermit {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Supplies the credentials of each attempt.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// The header to send (`Authorization: …`, `Api-Token: …`), marked sensitive.
    async fn header(&self) -> Result<(HeaderName, HeaderValue), DestinationError>;

    /// Called once per call after a 401 with the header value that was sent. `Ok(true)`: new
    /// credentials are ready, try again.
    async fn unauthorized(&self, _sent: &HeaderValue) -> Result<bool, DestinationError> {
        Ok(false)
    }
}

/// A fixed header (API keys).
pub struct StaticAuth {
    name: HeaderName,
    value: HeaderValue,
}

impl StaticAuth {
    /// `value` is secret: the error never includes it.
    pub fn new(vendor: Vendor, name: HeaderName, value: &str) -> Result<Self, DestinationError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            DestinationError::config(vendor, "the credential is not a valid header value")
        })?;
        value.set_sensitive(true);
        Ok(StaticAuth { name, value })
    }
}

#[async_trait]
impl Authorizer for StaticAuth {
    async fn header(&self) -> Result<(HeaderName, HeaderValue), DestinationError> {
        Ok((self.name.clone(), self.value.clone()))
    }
}

/// Turns a non-2xx answer into a classified error.
pub type ErrorDecoder = fn(Vendor, u16, &HeaderMap, &[u8]) -> DestinationError;

/// A 2xx answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: DeserializeOwned>(
        &self,
        vendor: Vendor,
        what: &str,
    ) -> Result<T, DestinationError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            DestinationError::new(
                vendor,
                ErrorKind::Transient,
                format!("cannot decode {what}: {e}"),
            )
            .with_status(self.status)
        })
    }
}

impl DestinationError {
    fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

/// A request body, serialised once and resent as is on every attempt.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Vec<u8>),
    Form(Vec<(String, String)>),
}

impl Body {
    pub fn json<T: Serialize + ?Sized>(
        vendor: Vendor,
        value: &T,
    ) -> Result<Self, DestinationError> {
        serde_json::to_vec(value)
            .map(Body::Json)
            .map_err(|e| DestinationError::permanent(vendor, format!("cannot encode body: {e}")))
    }
}

/// One connector's HTTP client. Cheap to clone; clones share the limits.
#[derive(Clone)]
pub struct HttpCore {
    inner: Arc<Inner>,
}

struct Inner {
    vendor: Vendor,
    http: reqwest::Client,
    base: Url,
    limiter: Option<DefaultDirectRateLimiter>,
    slots: Option<Semaphore>,
    shared: Option<Arc<dyn SharedLimit>>,
    retry: RetryPolicy,
    auth: Arc<dyn Authorizer>,
    decode: ErrorDecoder,
    /// What calls are counted under (`crate::metrics`).
    metrics_label: String,
}

impl std::fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCore")
            .field("vendor", &self.inner.vendor)
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// reqwest is built with `rustls-no-provider` (DESIGN "Dependencies": aws-lc costs ~50 s of
/// build), so a process-wide provider must exist before a client is built. Another one may
/// already be installed (by the binary, or a racing thread): that is fine.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A plain client for calls outside an API base (OAuth token endpoints).
pub fn plain_client(
    vendor: Vendor,
    timeout: Duration,
) -> Result<reqwest::Client, DestinationError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("paysync/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()
        .map_err(|e| {
            DestinationError::config(vendor, format!("cannot build HTTP client: {}", chain(&e)))
        })
}

impl HttpCore {
    pub fn new(
        vendor: Vendor,
        base_url: &str,
        settings: &HttpSettings,
        auth: Arc<dyn Authorizer>,
        decode: ErrorDecoder,
    ) -> Result<Self, DestinationError> {
        let base = Url::parse(base_url)
            .map_err(|e| DestinationError::config(vendor, format!("base URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(DestinationError::config(
                vendor,
                format!("base URL {base_url:?} cannot be a base"),
            ));
        }
        let http = plain_client(vendor, settings.timeout)?;
        let limiter = NonZeroU32::new(settings.requests_per_second)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        let slots =
            (settings.max_concurrency > 0).then(|| Semaphore::new(settings.max_concurrency));
        Ok(HttpCore {
            inner: Arc::new(Inner {
                vendor,
                http,
                base,
                limiter,
                slots,
                shared: settings.shared.clone(),
                retry: settings.retry.clone(),
                auth,
                decode,
                metrics_label: if settings.metrics_label.is_empty() {
                    vendor.name().to_owned()
                } else {
                    settings.metrics_label.clone()
                },
            }),
        })
    }

    pub fn vendor(&self) -> Vendor {
        self.inner.vendor
    }

    /// `{base}/{path}`, each `/`-separated piece of `path` percent-escaped as one segment.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(path.split('/').filter(|s| !s.is_empty()));
        }
        url
    }

    /// A link the vendor returned (absolute, or a path on the API host like `/v3/contacts?…`).
    pub fn link(&self, href: &str) -> Result<Url, DestinationError> {
        let url = self.inner.base.join(href).map_err(|e| {
            DestinationError::permanent(self.inner.vendor, format!("bad link {href:?}: {e}"))
        })?;
        // Never follow a link to another host with our credentials.
        if url.host_str() != self.inner.base.host_str()
            || url.port_or_known_default() != self.inner.base.port_or_known_default()
        {
            return Err(DestinationError::permanent(
                self.inner.vendor,
                "the API returned a link to another host",
            ));
        }
        Ok(url)
    }

    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Response, DestinationError> {
        let mut url = self.url(path);
        append_query(&mut url, query);
        self.send(Method::GET, url, None).await
    }

    pub async fn get_url(&self, url: Url) -> Result<Response, DestinationError> {
        self.send(Method::GET, url, None).await
    }

    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, DestinationError> {
        self.get(path, query).await?.json(self.inner.vendor, path)
    }

    pub async fn send_json<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Response, DestinationError> {
        let body = Body::json(self.inner.vendor, body)?;
        self.send(method, self.url(path), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Response, DestinationError> {
        self.send(Method::DELETE, self.url(path), None).await
    }

    /// Sends a request, retrying as the policy and the vendor allow, and returns the 2xx answer.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Body>,
    ) -> Result<Response, DestinationError> {
        let inner = &*self.inner;
        let mut retries = 0;
        let mut reauthorized = false;
        loop {
            // Waits for a token: the rate limit slows callers down, it never fails them.
            if let Some(limiter) = &inner.limiter {
                limiter.until_ready().await;
            }
            let (auth_name, auth_value) = inner.auth.header().await?;
            let attempt = {
                let _slot = match &inner.slots {
                    Some(s) => Some(s.acquire().await.map_err(|_| {
                        DestinationError::transient(inner.vendor, "client shutting down")
                    })?),
                    None => None,
                };
                let _shared = match &inner.shared {
                    Some(shared) => Some(shared.acquire().await),
                    None => None,
                };
                let mut rb = inner
                    .http
                    .request(method.clone(), url.clone())
                    .header(auth_name, auth_value.clone());
                match &body {
                    Some(Body::Json(bytes)) => {
                        rb = rb
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(bytes.clone());
                    }
                    Some(Body::Form(pairs)) => rb = rb.form(pairs),
                    None => {}
                }
                let started = std::time::Instant::now();
                let result = attempt(inner.vendor, inner.decode, rb, &method, &url).await;
                let status = match &result {
                    Ok(r) => Some(r.status),
                    Err(e) => e.status,
                };
                crate::metrics::record(&inner.metrics_label, status, started.elapsed());
                result
            };
            let error = match attempt {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            if error.status == Some(401) && !reauthorized {
                reauthorized = true;
                if inner.auth.unauthorized(&auth_value).await? {
                    continue;
                }
            }
            let Some(wait) = inner.retry.next_wait(&error, retries) else {
                return Err(error);
            };
            retries += 1;
            // Never the URL's query (it may hold an email) nor headers (credentials).
            tracing::warn!(
                vendor = %inner.vendor,
                %method,
                path = url.path(),
                status = error.status,
                retry = retries,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "retrying destination request",
            );
            tokio::time::sleep(wait).await;
        }
    }
}

fn append_query(url: &mut Url, query: &[(&str, String)]) {
    if query.is_empty() {
        return;
    }
    let mut pairs = url.query_pairs_mut();
    for (k, v) in query {
        pairs.append_pair(k, v);
    }
}

async fn attempt(
    vendor: Vendor,
    decode: ErrorDecoder,
    request: reqwest::RequestBuilder,
    method: &Method,
    url: &Url,
) -> Result<Response, DestinationError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(vendor, e, method, url))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(vendor, e, method, url))?;
    if (200..300).contains(&status) {
        return Ok(Response {
            status,
            body: body.to_vec(),
        });
    }
    let mut error = decode(vendor, status, &headers, &body);
    error.status = Some(status);
    if error.retry_after.is_none() {
        error.retry_after = retry_after(&headers);
    }
    Err(error)
}

fn transport_error(
    vendor: Vendor,
    e: reqwest::Error,
    method: &Method,
    url: &Url,
) -> DestinationError {
    let kind = if e.is_builder() {
        ErrorKind::Config
    } else {
        ErrorKind::Transient
    };
    // `without_url`: our own prefix names the path, without the query.
    DestinationError::new(
        vendor,
        kind,
        format!("{method} {}: {}", url.path(), chain(&e.without_url())),
    )
}

/// `Retry-After` in whole seconds (the HTTP-date form falls back to backoff).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The start of a body that is not the vendor's error JSON, for the message.
pub fn raw_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let kept: String = text.trim().chars().take(MAX_RAW_ERROR_CHARS).collect();
    if kept.is_empty() {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no message")
            .to_owned()
    } else {
        kept
    }
}

/// An error and its sources, joined: reqwest's own message alone rarely says what went wrong.
pub fn chain(e: &dyn std::error::Error) -> String {
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

    fn decode(vendor: Vendor, status: u16, _: &HeaderMap, body: &[u8]) -> DestinationError {
        DestinationError::from_status(vendor, status, None, raw_message(status, body))
    }

    fn core(base: &str) -> HttpCore {
        HttpCore::new(
            Vendor::ActiveCampaign,
            base,
            &HttpSettings {
                requests_per_second: 5,
                max_concurrency: 0,
                timeout: Duration::from_secs(5),
                retry: RetryPolicy::default(),
                metrics_label: String::new(),
                shared: None,
            },
            Arc::new(
                StaticAuth::new(
                    Vendor::ActiveCampaign,
                    HeaderName::from_static("api-token"),
                    "k",
                )
                .unwrap(),
            ),
            decode,
        )
        .unwrap()
    }

    #[test]
    fn urls_escape_segments_and_keep_the_base_path() {
        let c = core("https://acme.api-us1.com/api/3");
        assert_eq!(
            c.url("contacts/12/contactLists").as_str(),
            "https://acme.api-us1.com/api/3/contacts/12/contactLists"
        );
        assert_eq!(
            c.url("lists/a b?c").as_str(),
            "https://acme.api-us1.com/api/3/lists/a%20b%3Fc"
        );
        let c = core("http://127.0.0.1:9/v3/");
        assert_eq!(c.url("contacts").as_str(), "http://127.0.0.1:9/v3/contacts");
    }

    #[test]
    fn links_stay_on_the_api_host() {
        let c = core("http://127.0.0.1:9/v3");
        assert_eq!(
            c.link("/v3/contacts?cursor=abc").unwrap().as_str(),
            "http://127.0.0.1:9/v3/contacts?cursor=abc"
        );
        assert!(c.link("https://evil.example.com/v3/contacts").is_err());
        assert!(c.link("http://127.0.0.1:10/v3/contacts").is_err());
    }

    #[test]
    fn bad_configuration_is_refused_without_the_secret() {
        assert!(
            HttpCore::new(
                Vendor::Mailchimp,
                "not a url",
                &HttpSettings {
                    requests_per_second: 0,
                    max_concurrency: 10,
                    timeout: Duration::from_secs(1),
                    retry: RetryPolicy::default(),
                    metrics_label: String::new(),
                    shared: None,
                },
                Arc::new(
                    StaticAuth::new(
                        Vendor::Mailchimp,
                        HeaderName::from_static("authorization"),
                        "x"
                    )
                    .unwrap()
                ),
                decode,
            )
            .is_err()
        );
        let Err(err) = StaticAuth::new(
            Vendor::Mailchimp,
            HeaderName::from_static("authorization"),
            "Basic sec\nret",
        ) else {
            panic!("accepted a newline");
        };
        assert!(!err.to_string().contains("sec"), "{err}");
    }

    #[test]
    fn retry_decisions() {
        let p = RetryPolicy {
            max_retries: 2,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(1),
            max_wait: Duration::from_secs(10),
        };
        let v = Vendor::ConstantContact;
        let transient = DestinationError::transient(v, "503");
        assert!(p.next_wait(&transient, 0).unwrap() <= Duration::from_millis(100));
        assert!(p.next_wait(&transient, 1).unwrap() <= Duration::from_millis(200));
        assert_eq!(p.next_wait(&transient, 2), None, "retries exhausted");
        let hinted = DestinationError::new(v, ErrorKind::RateLimited, "429")
            .with_retry_after(Some(Duration::from_secs(3)));
        assert_eq!(p.next_wait(&hinted, 0), Some(Duration::from_secs(3)));
        let too_long = hinted
            .clone()
            .with_retry_after(Some(Duration::from_secs(11)));
        assert_eq!(
            p.next_wait(&too_long, 0),
            None,
            "beyond max_wait: the caller waits"
        );
        let quota = DestinationError::new(v, ErrorKind::QuotaExhausted, "daily")
            .with_retry_after(Some(Duration::from_secs(1)));
        assert_eq!(
            p.next_wait(&quota, 0),
            None,
            "quota resets are not waited for in-call"
        );
        for kind in [
            ErrorKind::Permanent,
            ErrorKind::AuthRevoked,
            ErrorKind::Config,
        ] {
            assert_eq!(p.next_wait(&DestinationError::new(v, kind, "x"), 0), None);
        }
    }

    #[test]
    fn backoff_stays_under_exponential_ceiling_and_cap() {
        let p = RetryPolicy::default();
        for retry in 0..40 {
            let ceiling = p
                .backoff_base
                .saturating_mul(2u32.saturating_pow(retry))
                .min(p.backoff_cap);
            assert!(p.backoff(retry) <= ceiling);
        }
    }

    #[test]
    fn raw_messages() {
        assert_eq!(raw_message(503, b""), "Service Unavailable");
        assert_eq!(raw_message(502, b"  <html>bad</html> "), "<html>bad</html>");
        assert_eq!(raw_message(500, &[b'x'; 1000]).len(), MAX_RAW_ERROR_CHARS);
    }
}
