//! Alerts, only when someone must act: dead letters, refused credentials, an exhausted quota, a
//! catch-up gap beyond Stripe's retention, a finished backfill or bulk import. Sent to a webhook
//! (JSON POST) and by email over SMTP, at most once per kind and subject within the dedupe window.
//!
//! `raise` never blocks its caller: sending happens in a task that retries each channel a few
//! times. Every alert — sent, suppressed as a duplicate, or failed — is written to the sync log
//! (kind `alert`), so nothing is lost when a channel is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use paysync_core::UnixMs;
use paysync_core::config::{AlertsConfig, EmailAlerts};
use paysync_store::{Level, LogEntry, Store};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::now_ms;

/// Attempts per channel before the alert is recorded as failed.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    DeadLetters,
    AuthRevoked,
    QuotaExhausted,
    CatchupGap,
    BackfillFinished,
    BulkImportFinished,
}

/// One thing someone must know.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// What it is about: a destination or a Stripe account. Duplicates are per kind and subject.
    pub subject: String,
    pub summary: String,
    pub detail: Value,
}

/// Why building the alert channels failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert email: {0}")]
    Email(String),
}

#[async_trait]
trait AlertChannel: Send + Sync {
    fn name(&self) -> &'static str;
    async fn send(&self, alert: &Alert, at: UnixMs) -> Result<(), String>;
}

struct WebhookChannel {
    url: String,
    client: reqwest::Client,
}

#[async_trait]
impl AlertChannel for WebhookChannel {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, alert: &Alert, at: UnixMs) -> Result<(), String> {
        let body = json!({
            "kind": alert.kind, "subject": alert.subject, "summary": alert.summary,
            "detail": alert.detail, "at": at,
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("webhook unreachable: {}", e.without_url()))?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("webhook answered {s}")),
        }
    }
}

struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailChannel {
    fn new(cfg: &EmailAlerts) -> Result<Self, AlertError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| AlertError::Email(format!("{what}: {e}"));
        let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| bad("address", &e));
        Ok(EmailChannel {
            transport: crate::mail::transport(&cfg.smtp).map_err(|e| bad("SMTP", &e))?,
            from: parse(&cfg.from)?,
            to: cfg.to.iter().map(|t| parse(t)).collect::<Result<_, _>>()?,
        })
    }
}

#[async_trait]
impl AlertChannel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }

    async fn send(&self, alert: &Alert, at: UnixMs) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(format!("[paysync] {}", alert.summary));
        for to in &self.to {
            message = message.to(to.clone());
        }
        let body = format!(
            "{}\n\nkind: {:?}\nsubject: {}\nat (ms since epoch): {at}\n\n{}\n",
            alert.summary,
            alert.kind,
            alert.subject,
            serde_json::to_string_pretty(&alert.detail).unwrap_or_default()
        );
        let message = message.body(body).map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// Raises alerts; cheap to clone.
#[derive(Clone)]
pub struct Alerter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    channels: Vec<Arc<dyn AlertChannel>>,
    dedupe_ms: i64,
    last_sent: Mutex<HashMap<(AlertKind, String), UnixMs>>,
    sending: tokio::sync::Mutex<JoinSet<()>>,
}

impl Alerter {
    /// The configured channels (none: alerts only reach the sync log).
    pub fn new(cfg: &AlertsConfig, store: Arc<dyn Store>) -> Result<Self, AlertError> {
        let mut channels: Vec<Arc<dyn AlertChannel>> = Vec::new();
        // reqwest and lettre are built without a default TLS provider (ring, as everywhere).
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(url) = &cfg.webhook_url {
            channels.push(Arc::new(WebhookChannel {
                url: url.clone(),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| AlertError::Email(format!("HTTP client: {e}")))?,
            }));
        }
        if let Some(email) = &cfg.email {
            channels.push(Arc::new(EmailChannel::new(email)?));
        }
        Ok(Alerter {
            inner: Arc::new(Inner {
                store,
                channels,
                dedupe_ms: cfg.dedupe_ms,
                last_sent: Mutex::new(HashMap::new()),
                sending: tokio::sync::Mutex::new(JoinSet::new()),
            }),
        })
    }

    /// Queues `alert` for every channel, unless the same kind and subject was raised within the
    /// dedupe window. Returns at once.
    pub async fn raise(&self, alert: Alert) {
        let now = now_ms();
        let duplicate = {
            let mut last = self
                .inner
                .last_sent
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let key = (alert.kind, alert.subject.clone());
            match last.get(&key) {
                Some(at) if now - at < self.inner.dedupe_ms => true,
                _ => {
                    last.insert(key, now);
                    false
                }
            }
        };
        if duplicate {
            self.record(
                &alert,
                now,
                Level::Info,
                "suppressed: raised within the dedupe window",
            )
            .await;
            return;
        }
        let inner = self.inner.clone();
        let me = self.clone();
        self.inner.sending.lock().await.spawn(async move {
            let mut failures = Vec::new();
            for channel in &inner.channels {
                if let Err(e) = send_with_retries(channel.as_ref(), &alert, now).await {
                    tracing::error!(channel = channel.name(), kind = ?alert.kind, error = %e, "alert not delivered");
                    failures.push(format!("{}: {e}", channel.name()));
                }
            }
            let (level, outcome) = if failures.is_empty() {
                (Level::Warn, "sent".to_owned())
            } else {
                (Level::Error, format!("not delivered ({})", failures.join("; ")))
            };
            me.record(&alert, now, level, &outcome).await;
        });
    }

    /// Waits until every queued alert was sent or given up (before a short-lived command exits).
    pub async fn flush(&self) {
        let mut sending = self.inner.sending.lock().await;
        while sending.join_next().await.is_some() {}
    }

    async fn record(&self, alert: &Alert, at: UnixMs, level: Level, outcome: &str) {
        let entry = LogEntry {
            at,
            account: None,
            kind: "alert".into(),
            level,
            message: format!("alert {outcome}: {}", alert.summary),
            detail: Some(json!({
                "kind": alert.kind, "subject": alert.subject, "detail": alert.detail,
                "outcome": outcome,
            })),
        };
        if let Err(e) = self.inner.store.log(entry).await {
            tracing::error!(error = %e, "cannot record an alert in the sync log");
        }
    }
}

async fn send_with_retries(
    channel: &dyn AlertChannel,
    alert: &Alert,
    at: UnixMs,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        match channel.send(alert, at).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}
