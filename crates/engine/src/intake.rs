//! Webhook intake: verify, parse the envelope, append to the inbox durably, answer, wake the
//! account's applier. The object itself is not parsed here: keeping this path to one sequential
//! insert is what lets intake group-commit tens of thousands of events a second.

use std::collections::HashMap;
use std::sync::Arc;

use paysync_core::config::{Config, Mode};
use paysync_core::{EventEnvelope, EventError};
use paysync_store::{EventSource, IngestOutcome, Store};
use paysync_stripe::signature::{self, SignatureError};
use secrecy::SecretString;

use crate::{Wakeups, inbox_event};

/// What the webhook endpoint needs to know about each account.
struct AccountIntake {
    secrets: Vec<SecretString>,
    mode: Mode,
    refetch: bool,
}

pub struct Intake {
    store: Arc<dyn Store>,
    accounts: HashMap<String, AccountIntake>,
    tolerance_secs: u64,
    wakeups: Wakeups,
}

/// A webhook stored durably (or recognised as already stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub event_id: String,
    pub duplicate: bool,
}

/// Why a webhook was refused. Every rejection is logged and counted with its `reason_code`.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("no Stripe account named {0:?} is configured")]
    UnknownAccount(String),
    #[error("signature check failed: {0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Malformed(#[from] EventError),
    #[error("event livemode={event_live} but the account is in {account_mode} mode")]
    LivemodeMismatch {
        event_live: bool,
        account_mode: Mode,
    },
    #[error("the event could not be stored: {0}")]
    Store(#[from] paysync_store::StoreError),
}

impl Rejection {
    /// A stable label for logs, counters and status.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Rejection::UnknownAccount(_) => "unknown_account",
            Rejection::Signature(e) => e.reason_code(),
            Rejection::Malformed(EventError::Malformed(_)) => "malformed_json",
            Rejection::Malformed(EventError::BadId(_)) => "bad_event_id",
            Rejection::LivemodeMismatch { .. } => "livemode_mismatch",
            Rejection::Store(_) => "store_unavailable",
        }
    }

    /// Rejections caused by the request are the sender's fault (4xx, Stripe will not fix them by
    /// retrying but we log them); a store failure is ours (5xx, so that Stripe retries later).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Rejection::Store(_))
    }
}

impl Intake {
    pub fn new(store: Arc<dyn Store>, config: &Config, wakeups: Wakeups) -> Self {
        let accounts = config
            .accounts
            .iter()
            .map(|a| {
                let intake = AccountIntake {
                    secrets: a.webhook_secrets.clone(),
                    mode: a.mode,
                    refetch: a.refetch,
                };
                (a.name.clone(), intake)
            })
            .collect();
        Intake {
            store,
            accounts,
            tolerance_secs: config.server.signature_tolerance_secs,
            wakeups,
        }
    }

    /// Verifies and stores one webhook delivery. Returns only after the event is durable.
    pub async fn receive(
        &self,
        account: &str,
        signature_header: Option<&str>,
        body: &[u8],
        now_ms: paysync_core::UnixMs,
    ) -> Result<Receipt, Rejection> {
        let result = self
            .verify_and_store(account, signature_header, body, now_ms)
            .await;
        if let Err(rejection) = &result {
            self.record(account, rejection, body.len(), now_ms).await;
        }
        result
    }

    async fn verify_and_store(
        &self,
        account_name: &str,
        signature_header: Option<&str>,
        body: &[u8],
        now_ms: paysync_core::UnixMs,
    ) -> Result<Receipt, Rejection> {
        let account = self
            .accounts
            .get(account_name)
            .ok_or_else(|| Rejection::UnknownAccount(account_name.to_owned()))?;
        signature::verify(
            signature_header,
            body,
            &account.secrets,
            now_ms.div_euclid(1000),
            self.tolerance_secs,
        )?;
        let envelope = EventEnvelope::parse(body)?;
        if envelope.livemode != account.mode.is_live() {
            return Err(Rejection::LivemodeMismatch {
                event_live: envelope.livemode,
                account_mode: account.mode,
            });
        }
        // The signature covers these exact bytes, so they are valid UTF-8 JSON by now.
        let payload = String::from_utf8_lossy(body).into_owned();
        let event = inbox_event(
            &envelope,
            payload,
            EventSource::Webhook,
            now_ms,
            account.refetch,
        );
        let outcome = self.store.ingest(account_name, vec![event]).await?;
        let duplicate = outcome.first() == Some(&IngestOutcome::Duplicate);
        if duplicate {
            tracing::debug!(account = account_name, event = %envelope.id, "duplicate webhook acknowledged");
        } else if let Some(wakeup) = self.wakeups.get(account_name) {
            wakeup.notify_one();
        }
        Ok(Receipt {
            event_id: envelope.id,
            duplicate,
        })
    }

    async fn record(&self, account: &str, rejection: &Rejection, body_len: usize, now_ms: i64) {
        let reason = rejection.reason_code();
        tracing::warn!(account, reason, body_len, error = %rejection, "webhook rejected");
        // Count only for configured accounts: requests for made-up names must not grow the table.
        if self.accounts.contains_key(account)
            && rejection.is_client_error()
            && let Err(e) = self.store.record_rejection(account, reason, now_ms).await
        {
            tracing::error!(account, reason, error = %e, "could not count a rejected webhook");
        }
    }
}
