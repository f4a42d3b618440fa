//! `StripeClient` against a real HTTP server on 127.0.0.1 that records requests and answers from a
//! script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use paysync_stripe::client::object_id;
use paysync_stripe::{ClientConfig, ClientError, PageCursor, StripeClient};
use secrecy::SecretString;

const KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";
const LIST_BODY: &str = r#"{"object":"list","url":"/v1/customers","has_more":true,
    "data":[{"id":"cus_2","object":"customer","email":"a@example.com"},{"id":"cus_1","object":"customer"}]}"#;

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl Recorded {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// A recording server; once the scripted replies are used up it answers 200 with `LIST_BODY`.
struct TestServer {
    base: String,
    script: Arc<Script>,
}

impl TestServer {
    async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = Router::new().fallback(handle).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { base, script }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.script.requests.lock().unwrap().clone()
    }

    fn config(&self) -> ClientConfig {
        ClientConfig {
            api_base: self.base.clone(),
            api_key: SecretString::from(KEY),
            connect_account: None,
            api_version: "2024-06-20".into(),
            rate_limit_per_sec: 1000,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
        }
    }

    fn client(&self) -> StripeClient {
        StripeClient::new(self.config()).unwrap()
    }
}

async fn handle(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://x/?{q}"))
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    script.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let next = script.replies.lock().unwrap().pop_front();
    let Some(r) = next else {
        return (StatusCode::OK, LIST_BODY).into_response();
    };
    tokio::time::sleep(r.delay).await;
    let mut response = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (name, value) in r.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn stripe_error(kind: &str, code: &str, message: &str) -> String {
    format!(r#"{{"error":{{"type":"{kind}","code":"{code}","message":"{message}"}}}}"#)
}

#[tokio::test]
async fn list_pages_through_cursors_with_limit_100() {
    let server = TestServer::start([]).await;
    let client = server.client();

    let page = client
        .list("customers", &[], PageCursor::First)
        .await
        .unwrap();
    assert!(page.has_more);
    let ids: Vec<_> = page.data.iter().filter_map(|o| object_id(o)).collect();
    assert_eq!(ids, ["cus_2", "cus_1"]);
    // Objects are handed over untouched.
    assert!(page.data[0].get().contains("a@example.com"));

    let params = [("email", "a+b@example.com".to_owned())];
    client
        .list(
            "customers",
            &params,
            PageCursor::StartingAfter("cus_1".into()),
        )
        .await
        .unwrap();
    client
        .list(
            "checkout/sessions",
            &[("limit", "3".into())],
            PageCursor::EndingBefore("cs_9".into()),
        )
        .await
        .unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, Method::GET);
    assert_eq!(reqs[0].path, "/v1/customers");
    assert_eq!(reqs[0].query, [("limit".to_owned(), "100".to_owned())]);

    assert_eq!(reqs[1].query("limit"), Some("100"));
    assert_eq!(reqs[1].query("starting_after"), Some("cus_1"));
    assert_eq!(reqs[1].query("email"), Some("a+b@example.com"));
    assert_eq!(reqs[1].query("ending_before"), None);

    assert_eq!(reqs[2].path, "/v1/checkout/sessions");
    assert_eq!(reqs[2].query("limit"), Some("3"));
    assert_eq!(reqs[2].query("ending_before"), Some("cs_9"));
    assert_eq!(reqs[2].query("starting_after"), None);
    assert_eq!(
        reqs[2].query.len(),
        2,
        "limit given once: {:?}",
        reqs[2].query
    );
}

#[tokio::test]
async fn every_request_carries_auth_version_account_and_user_agent() {
    let server = TestServer::start([]).await;
    let mut cfg = server.config();
    cfg.connect_account = Some("acct_123".into());
    let client = StripeClient::new(cfg).unwrap();
    client.list("events", &[], PageCursor::First).await.unwrap();
    client.retrieve("customers", "cus_1", &[]).await.unwrap();
    client
        .post(
            "customers",
            &[("email".into(), "a@example.com".into())],
            "key-1",
        )
        .await
        .unwrap();

    for r in server.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(r.header("stripe-version"), Some("2024-06-20"));
        assert_eq!(r.header("stripe-account"), Some("acct_123"));
        let ua = r.header("user-agent").unwrap();
        assert_eq!(ua, format!("paysync/{}", env!("CARGO_PKG_VERSION")));
    }

    // Without a connected account, no Stripe-Account header at all.
    let server = TestServer::start([]).await;
    server
        .client()
        .list("events", &[], PageCursor::First)
        .await
        .unwrap();
    assert_eq!(server.requests()[0].header("stripe-account"), None);
}

#[tokio::test]
async fn retry_after_is_honoured_then_success() {
    let server = TestServer::start([reply(
        429,
        &stripe_error("invalid_request_error", "rate_limit", "Too many requests"),
    )
    .header("retry-after", "1")])
    .await;
    let page = server
        .client()
        .list("customers", &[], PageCursor::First)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    // The backoff alone would wait at most 5 ms: only Retry-After explains a gap of ~1 s.
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}

#[tokio::test]
async fn server_errors_and_conflicts_are_retried_then_succeed() {
    let server = TestServer::start([
        reply(500, &stripe_error("api_error", "", "Something went wrong")),
        reply(503, "<html>unavailable</html>"),
        reply(
            409,
            &stripe_error("idempotency_error", "lock_timeout", "Conflict"),
        ),
    ])
    .await;
    let page = server
        .client()
        .list("charges", &[], PageCursor::First)
        .await;
    assert!(page.is_ok(), "{page:?}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn stripe_should_retry_false_is_not_retried() {
    let server =
        TestServer::start([
            reply(500, &stripe_error("api_error", "", "Replayed failure"))
                .header("stripe-should-retry", "false")
                .header("retry-after", "0"),
        ])
        .await;
    let err = server
        .client()
        .list("customers", &[], PageCursor::First)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Api { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stripe_should_retry_true_retries_even_a_4xx() {
    let server =
        TestServer::start([
            reply(400, &stripe_error("invalid_request_error", "", "Retry me"))
                .header("stripe-should-retry", "true"),
        ])
        .await;
    let page = server
        .client()
        .list("customers", &[], PageCursor::First)
        .await;
    assert!(page.is_ok(), "{page:?}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn bad_request_is_not_retried_and_is_decoded() {
    let server = TestServer::start([reply(
        400,
        &stripe_error(
            "invalid_request_error",
            "parameter_invalid_integer",
            "Invalid integer: abc",
        ),
    )
    .header("request-id", "req_abc")])
    .await;
    let err = server
        .client()
        .list("customers", &[("limit", "abc".into())], PageCursor::First)
        .await
        .unwrap_err();
    match &err {
        ClientError::Api {
            status,
            code,
            message,
            request_id,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("parameter_invalid_integer"));
            assert_eq!(message, "Invalid integer: abc");
            assert_eq!(request_id.as_deref(), Some("req_abc"));
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retrieve_escapes_the_id_and_maps_resource_missing_to_none() {
    let server = TestServer::start([
        reply(200, r#"{"id":"cus 1/x","object":"customer"}"#),
        reply(
            404,
            &stripe_error(
                "invalid_request_error",
                "resource_missing",
                "No such customer",
            ),
        ),
        reply(404, "Not Found"),
    ])
    .await;
    let client = server.client();

    let found = client
        .retrieve(
            "customers",
            "cus 1/x",
            &[("expand[]", "subscriptions".into())],
        )
        .await
        .unwrap()
        .expect("found");
    assert_eq!(object_id(&found).as_deref(), Some("cus 1/x"));

    assert!(
        client
            .retrieve("customers", "cus_gone", &[])
            .await
            .unwrap()
            .is_none()
    );

    // A 404 that is not Stripe's resource_missing (say, a wrong api_base) stays an error.
    let err = client
        .retrieve("customers", "cus_2", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Api {
                status: 404,
                code: None,
                ..
            }
        ),
        "{err:?}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/v1/customers/cus%201%2Fx");
    assert_eq!(reqs[0].query("expand[]"), Some("subscriptions"));
    assert!(!reqs[0].query.iter().any(|(k, _)| k == "limit"));
    assert_eq!(reqs[1].path, "/v1/customers/cus_gone");
}

#[tokio::test]
async fn retried_post_keeps_its_idempotency_key_and_form() {
    let server = TestServer::start([
        reply(500, &stripe_error("api_error", "", "Oops")),
        reply(429, "").header("retry-after", "0"),
        reply(200, r#"{"id":"cus_9","object":"customer"}"#),
    ])
    .await;
    let form = [
        ("email".to_owned(), "a+b@example.com".to_owned()),
        ("metadata[source]".to_owned(), "paysync".to_owned()),
    ];
    let created = server
        .client()
        .post("customers", &form, "paysync-evt_1")
        .await
        .unwrap();
    assert_eq!(object_id(&created).as_deref(), Some("cus_9"));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/v1/customers");
        assert_eq!(r.header("idempotency-key"), Some("paysync-evt_1"));
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.body,
            "email=a%2Bb%40example.com&metadata%5Bsource%5D=paysync"
        );
    }
}

#[tokio::test]
async fn invalid_idempotency_keys_are_refused_before_sending() {
    let server = TestServer::start([]).await;
    let client = server.client();
    for key in [String::new(), "k".repeat(256), "line\nbreak".into()] {
        let err = client.post("customers", &[], &key).await.unwrap_err();
        assert!(matches!(err, ClientError::Config(_)), "{err:?}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn max_retries_is_respected() {
    let server = TestServer::start((0..10).map(|_| reply(500, "boom"))).await;
    let mut cfg = server.config();
    cfg.max_retries = 2;
    let err = StripeClient::new(cfg)
        .unwrap()
        .list("customers", &[], PageCursor::First)
        .await
        .unwrap_err();
    assert!(matches!(&err, ClientError::Api { status: 500, message, .. } if message == "boom"));
    assert!(err.is_retryable());
    assert_eq!(server.requests().len(), 3, "one attempt and two retries");

    let server = TestServer::start((0..10).map(|_| reply(500, "boom"))).await;
    let mut cfg = server.config();
    cfg.max_retries = 0;
    let client = StripeClient::new(cfg).unwrap();
    assert!(
        client
            .list("customers", &[], PageCursor::First)
            .await
            .is_err()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let mut slow = reply(200, "{}");
    slow.delay = Duration::from_secs(5);
    let server = TestServer::start([slow]).await;
    let mut cfg = server.config();
    cfg.timeout = Duration::from_millis(200);
    let page = StripeClient::new(cfg)
        .unwrap()
        .list("customers", &[], PageCursor::First)
        .await;
    assert!(page.is_ok(), "{page:?}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn transport_errors_are_reported_without_the_key() {
    // Bind then drop a listener to get a port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = ClientConfig {
        api_base: format!("http://{addr}"),
        api_key: SecretString::from(KEY),
        connect_account: None,
        api_version: "2024-06-20".into(),
        rate_limit_per_sec: 1000,
        timeout: Duration::from_secs(5),
        max_retries: 1,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(1),
    };
    let client = StripeClient::new(cfg.clone()).unwrap();
    let err = client
        .list(
            "customers",
            &[("email", "a@example.com".into())],
            PageCursor::First,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    let shown = format!("{err} {err:?} {client:?} {cfg:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(
        !shown.contains("a@example.com"),
        "query kept out of errors: {shown}"
    );
}

#[tokio::test]
async fn undecodable_success_is_a_decode_error() {
    let server = TestServer::start([reply(200, r#"{"object":"list"}"#)]).await;
    let err = server
        .client()
        .list("customers", &[], PageCursor::First)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn rate_limit_delays_instead_of_failing() {
    let server = TestServer::start([]).await;
    let mut cfg = server.config();
    cfg.rate_limit_per_sec = 2;
    let client = StripeClient::new(cfg).unwrap();
    for _ in 0..4 {
        client
            .list("customers", &[], PageCursor::First)
            .await
            .unwrap();
    }
    let reqs = server.requests();
    // A burst of 2, then one more every 500 ms: the 4th request goes out ≥ 1 s after the first.
    let spread = reqs[3].at - reqs[0].at;
    assert!(
        spread >= Duration::from_millis(900),
        "4 requests within {spread:?}"
    );
}
