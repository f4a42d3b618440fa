use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use paysync_emulators::stripe::{StripeEmulatorConfig, WebhookConfig};
use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{Api, stripe, stripe_with};

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<(Option<String>, Bytes)>>,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if inbox
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inbox.got.lock().unwrap().push((sig, body));
    StatusCode::OK
}

async fn receiver(fail_first: usize) -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    inbox.fail_first.store(fail_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), inbox)
}

fn verify_all(inbox: &Inbox, secret: &str) -> Vec<Value> {
    let secrets = [SecretString::from(secret.to_owned())];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    inbox
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(sig, body)| {
            paysync_stripe::signature::verify(sig.as_deref(), body, &secrets, now, 300)
                .expect("signature verifies");
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn webhooks_arrive_signed() {
    let h = stripe(200).await;
    let api = Api::new(&h);
    let (url, inbox) = receiver(0).await;
    let r = api
        .post(
            "/v1/webhook_endpoints",
            &[("url", url.as_str()), ("enabled_events[]", "*")],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let we = r.body["id"].as_str().unwrap().to_owned();
    let listed = api.get_ok("/v1/webhook_endpoints").await;
    assert_eq!(listed["data"][0]["id"], we.as_str());
    assert!(listed["data"][0].get("secret").is_none());

    api.post("/v1/customers", &[("email", "hook@example.com")], None)
        .await;
    let n = h.emulator.emit(100);
    assert!(n >= 100);
    assert!(h.emulator.wait_webhooks_idle(Duration::from_secs(20)).await);
    let events = verify_all(&inbox, &secret);
    assert_eq!(events.len(), n + 1);
    assert!(
        events.iter().any(|e| e["type"] == "customer.created"
            && e["data"]["object"]["email"] == "hook@example.com")
    );
    let stats = h.emulator.webhook_stats();
    assert_eq!(stats.delivered as usize, n + 1);
    assert_eq!(stats.pending, 0);
    // Delivered events are stored too, with nothing pending.
    let first = &events[0];
    let stored = api
        .get_ok(&format!("/v1/events/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["pending_webhooks"], 0);
    assert_eq!(stored["type"], first["type"]);

    // An endpoint for some types gets only those.
    let (url2, inbox2) = receiver(0).await;
    let r = api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", url2.as_str()),
                ("enabled_events[]", "customer.updated"),
            ],
            None,
        )
        .await;
    let secret2 = r.body["secret"].as_str().unwrap().to_owned();
    h.emulator.emit(200);
    assert!(h.emulator.wait_webhooks_idle(Duration::from_secs(20)).await);
    let only = verify_all(&inbox2, &secret2);
    assert!(only.iter().all(|e| e["type"] == "customer.updated"));

    // Update and delete endpoints.
    let we2 = r.body["id"].as_str().unwrap().to_owned();
    let u = api
        .post(
            &format!("/v1/webhook_endpoints/{we2}"),
            &[("disabled", "true")],
            None,
        )
        .await;
    assert_eq!(u.body["status"], "disabled");
    let d = api.delete(&format!("/v1/webhook_endpoints/{we2}")).await;
    assert_eq!(d.body["deleted"], true);
    assert_eq!(
        api.get(&format!("/v1/webhook_endpoints/{we2}"))
            .await
            .status,
        404
    );
    let r = api
        .post("/v1/webhook_endpoints", &[("url", "ftp://x")], None)
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn failed_deliveries_are_retried() {
    let cfg = StripeEmulatorConfig {
        rate_limit: None,
        webhooks: WebhookConfig {
            retry_delays_ms: vec![20, 40],
            ..Default::default()
        },
        ..Default::default()
    };
    let h = stripe_with(cfg, 0).await;
    let api = Api::new(&h);
    let (url, inbox) = receiver(2).await;
    let (_, secret) = h.emulator.add_webhook_endpoint(&url, &["customer.created"]);
    api.post("/v1/customers", &[("email", "retry@example.com")], None)
        .await;
    assert!(h.emulator.wait_webhooks_idle(Duration::from_secs(10)).await);
    let got = verify_all(&inbox, &secret);
    assert_eq!(got.len(), 1);
    let stats = h.emulator.webhook_stats();
    assert_eq!(stats.failed_attempts, 2);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.delivered, 1);
}

#[tokio::test]
async fn live_stream() {
    let h = stripe(100).await;
    let api = Api::new(&h);
    let before = h.emulator.counts().events;
    let r = api
        .http
        .post(format!("{}/_admin/stream", api.base))
        .json(&serde_json::json!({"events_per_sec": 500.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.emulator.stop_stream();
    let made = h.emulator.counts().events - before;
    assert!(made >= 50, "{made} events in 400 ms at 500/s");
}
