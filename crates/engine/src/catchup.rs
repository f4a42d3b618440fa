//! Catch-up: polls the Events API from the last event seen, so missed webhooks are recovered.
//!
//! Stripe keeps events for 30 days (API-FACTS, Stripe). The position is the last event id read;
//! each poll asks for the events right after it with `ending_before`, page by page, and stores them
//! through the same inbox as webhooks (duplicates are ignored there). When the position is older
//! than Stripe's retention, events have been lost for good: paysync says so loudly — in the log, the
//! sync log and status — and that a backfill is needed, then starts again from the newest event.
//!
//! localstripe refuses `ending_before` and lists oldest first; against such a server the poll walks
//! forward with `starting_after` instead, which on an oldest-first list means the same thing.

use std::sync::Arc;

use paysync_core::{EventEnvelope, UnixMs};
use paysync_store::{EventSource, Level, LogEntry, Store};
use paysync_stripe::{ClientError, PageCursor, StripeClient};
use serde::{Deserialize, Serialize};

use crate::{inbox_event, now_ms};

pub const CURSOR: &str = "catchup.events";
/// Stripe's event retention.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The newest event read, or none when the account had no events yet.
    pub event_id: Option<String>,
    /// Its `created` (unix seconds), or when the position was first taken.
    pub created: i64,
    /// The server lists oldest first and cannot do `ending_before` (localstripe).
    #[serde(default)]
    pub forward: bool,
    /// When a gap beyond Stripe's retention was last found (unix ms), and the `created` of the
    /// last event read before it. A backfill finished after `gap_found_at` covers it.
    #[serde(default)]
    pub gap_found_at: Option<UnixMs>,
    #[serde(default)]
    pub gap_since: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatchupReport {
    pub read: usize,
    pub stored: usize,
    pub gap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CatchupError {
    #[error(transparent)]
    Stripe(#[from] ClientError),
    #[error("store: {0}")]
    Store(#[from] paysync_store::StoreError),
    #[error("stored catch-up position is unreadable: {0}")]
    Position(String),
}

pub struct Catchup {
    pub store: Arc<dyn Store>,
    pub client: StripeClient,
    pub account: String,
    pub refetch: bool,
}

impl Catchup {
    pub async fn position(&self) -> Result<Option<Position>, CatchupError> {
        match self.store.cursor(&self.account, CURSOR).await? {
            None => Ok(None),
            Some(c) => serde_json::from_str(&c.value)
                .map(Some)
                .map_err(|e| CatchupError::Position(e.to_string())),
        }
    }

    /// One poll: reads every event after the saved position.
    pub async fn poll(&self) -> Result<CatchupReport, CatchupError> {
        let now = now_ms();
        let mut report = CatchupReport::default();
        let Some(mut position) = self.position().await? else {
            // First poll: start from the newest event (stored too). History before it is the
            // backfill's job.
            let position = self.newest_position(now).await?;
            self.save(&position, now).await?;
            return Ok(report);
        };
        if position.event_id.is_some() && position.created < now.div_euclid(1000) - RETENTION_SECS {
            position = self.report_gap(position, now).await?;
            report.gap = true;
        }
        loop {
            let cursor = match (&position.event_id, position.forward) {
                (None, _) => PageCursor::First,
                (Some(id), false) => PageCursor::EndingBefore(id.clone()),
                (Some(id), true) => PageCursor::StartingAfter(id.clone()),
            };
            let page = match self.client.list("events", &[], cursor).await {
                Ok(page) => page,
                Err(ClientError::Api {
                    status: 400 | 404,
                    code,
                    message,
                    ..
                }) if position.event_id.is_some() => {
                    if code.as_deref() == Some("resource_missing") {
                        // The position's event is gone: beyond retention.
                        position = self.report_gap(position, now).await?;
                        report.gap = true;
                        continue;
                    }
                    if position.forward {
                        return Err(ClientError::Api {
                            status: 400,
                            code,
                            message,
                            request_id: None,
                        }
                        .into());
                    }
                    tracing::warn!(account = %self.account, %message, "the Stripe API refused ending_before; walking the events list forward (localstripe)");
                    position.forward = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if page.data.is_empty() {
                break;
            }
            let received_at = now_ms();
            let mut events = Vec::with_capacity(page.data.len());
            let mut newest: Option<(String, i64)> = None;
            for raw in &page.data {
                match EventEnvelope::parse(raw.get().as_bytes()) {
                    Ok(envelope) => {
                        if newest.as_ref().is_none_or(|(_, c)| envelope.created >= *c) {
                            newest = Some((envelope.id.clone(), envelope.created));
                        }
                        events.push(inbox_event(
                            &envelope,
                            raw.get().to_owned(),
                            EventSource::Catchup,
                            received_at,
                            self.refetch,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(account = %self.account, error = %e, "unreadable event from the Events API skipped")
                    }
                }
            }
            report.read += page.data.len();
            let outcomes = self.store.ingest(&self.account, events).await?;
            report.stored += outcomes
                .iter()
                .filter(|o| **o == paysync_store::IngestOutcome::Stored)
                .count();
            // Newest first: the page's newest event is its first; oldest first: its last.
            let next_id = if position.forward {
                page.data.last()
            } else {
                page.data.first()
            }
            .and_then(|raw| paysync_stripe::object_id(raw));
            if let Some(id) = next_id {
                position.event_id = Some(id);
                position.created = newest.map_or(position.created, |(_, c)| c);
            }
            self.save(&position, received_at).await?;
            if !page.has_more {
                break;
            }
        }
        if report.stored > 0 {
            tracing::info!(account = %self.account, recovered = report.stored, read = report.read, "catch-up stored events that no webhook had delivered");
        }
        Ok(report)
    }

    async fn newest_position(&self, now: UnixMs) -> Result<Position, CatchupError> {
        let page = self
            .client
            .list("events", &[("limit", "1".into())], PageCursor::First)
            .await?;
        let newest = page
            .data
            .first()
            .and_then(|raw| EventEnvelope::parse(raw.get().as_bytes()).ok());
        if let (Some(envelope), Some(raw)) = (&newest, page.data.first()) {
            let event = inbox_event(
                envelope,
                raw.get().to_owned(),
                EventSource::Catchup,
                now,
                self.refetch,
            );
            self.store.ingest(&self.account, vec![event]).await?;
        }
        Ok(Position {
            event_id: newest.as_ref().map(|e| e.id.clone()),
            created: newest.map_or(now.div_euclid(1000), |e| e.created),
            ..Position::default()
        })
    }

    async fn report_gap(&self, old: Position, now: UnixMs) -> Result<Position, CatchupError> {
        let since = old.created;
        tracing::error!(account = %self.account, last_event_created = since, "catch-up gap beyond Stripe's 30-day event retention: events were lost; run `paysync backfill --account {}`", self.account);
        self.store
            .log(LogEntry {
                at: now,
                account: Some(self.account.clone()),
                kind: "catchup.gap".into(),
                level: Level::Error,
                message: format!(
                    "events after {since} (unix) are older than Stripe's 30-day retention and cannot be recovered; run `paysync backfill --account {}`",
                    self.account
                ),
                detail: None,
            })
            .await?;
        let mut position = self.newest_position(now).await?;
        position.forward = old.forward;
        position.gap_since = Some(since);
        position.gap_found_at = Some(now);
        Ok(position)
    }

    async fn save(&self, position: &Position, at: UnixMs) -> Result<(), CatchupError> {
        let value =
            serde_json::to_string(position).map_err(|e| CatchupError::Position(e.to_string()))?;
        self.store
            .set_cursor(&self.account, CURSOR, &value, at)
            .await?;
        Ok(())
    }
}
