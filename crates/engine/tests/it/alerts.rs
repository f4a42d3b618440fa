//! Alerts over real HTTP and SMTP on loopback: a webhook receiver (axum) and a minimal SMTP
//! server that records what lettre sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paysync_core::config::{AlertsConfig, EmailAlerts, SmtpServer};
use paysync_engine::alerts::{Alert, AlertKind, Alerter};
use paysync_store::{LogQuery, SqliteStore, Store};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Records posted alerts; answers 500 to the first `fail_first` posts.
#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<Value>>>,
    fail_first: Arc<Mutex<usize>>,
}

async fn webhook(fail_first: usize) -> (String, Receiver) {
    let receiver = Receiver::default();
    *receiver.fail_first.lock().unwrap() = fail_first;
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(r): State<Receiver>, Json(v): Json<Value>| async move {
                    let mut fail = r.fail_first.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    r.posts.lock().unwrap().push(v);
                    StatusCode::OK
                },
            ),
        )
        .with_state(receiver.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("a.db"), 0).await.unwrap();
    (dir, Arc::new(store))
}

fn email(port: u16) -> EmailAlerts {
    EmailAlerts {
        smtp: SmtpServer {
            host: "127.0.0.1".into(),
            port,
            implicit_tls: false,
            username: None,
            password: None,
        },
        from: "paysync@example.com".into(),
        to: vec!["ops@example.com".into()],
    }
}

fn dead_letters(subject: &str) -> Alert {
    Alert {
        kind: AlertKind::DeadLetters,
        subject: subject.into(),
        summary: format!("{subject} refused operations for good"),
        detail: json!({"destination": subject}),
    }
}

async fn alert_log(store: &Arc<dyn Store>) -> Vec<String> {
    store
        .query_log(LogQuery {
            kind: Some("alert".into()),
            limit: 100,
            ..LogQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| r.message)
        .collect()
}

#[tokio::test]
async fn alerts_reach_the_webhook_and_the_mailbox_once_per_window() {
    let (_dir, store) = store().await;
    let (url, receiver) = webhook(1).await;
    let sink = paysync_emulators::smtp_sink::serve_smtp_sink()
        .await
        .expect("smtp sink");
    let port = sink.port;
    let alerter = Alerter::new(
        &AlertsConfig {
            webhook_url: Some(url),
            email: Some(email(port)),
            dedupe_ms: 3_600_000,
        },
        store.clone(),
    )
    .unwrap();
    alerter.raise(dead_letters("mc")).await;
    alerter.raise(dead_letters("mc")).await; // the same, within the window
    alerter.raise(dead_letters("cc")).await; // another subject
    alerter.flush().await;

    let posts = receiver.posts.lock().unwrap().clone();
    // The first post to the webhook failed (500) and was retried.
    let mut subjects: Vec<&str> = posts.iter().filter_map(|p| p["subject"].as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["cc", "mc"], "{posts:?}");
    assert!(posts.iter().all(|p| p["kind"] == "dead_letters"));
    let mails = sink.messages();
    assert_eq!(mails.len(), 2);
    let mc = mails
        .iter()
        .find(|m| m.contains("Subject: [paysync] mc refused operations for good"))
        .expect("the mc alert by email");
    assert!(mc.contains("To: ops@example.com"), "{mc}");
    let log = alert_log(&store).await;
    assert_eq!(
        log.iter().filter(|m| m.starts_with("alert sent")).count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|m| m.starts_with("alert suppressed"))
            .count(),
        1
    );
}

#[tokio::test]
async fn an_unreachable_channel_is_recorded_not_fatal() {
    let (_dir, store) = store().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let alerter = Alerter::new(
        &AlertsConfig {
            webhook_url: None,
            email: Some(email(port)),
            dedupe_ms: 1,
        },
        store.clone(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    alerter.raise(dead_letters("mc")).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "raise must not wait"
    );
    alerter.flush().await;
    let log = alert_log(&store).await;
    assert_eq!(log.len(), 1);
    assert!(
        log[0].starts_with("alert not delivered (email: SMTP"),
        "{log:?}"
    );
}
