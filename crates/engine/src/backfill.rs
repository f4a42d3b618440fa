//! Backfill: reads history from the Stripe API into the ledger, resumably.
//!
//! Each resource is walked newest first with `starting_after`, 100 objects a page. A page's
//! snapshots and the cursor that points past it are committed in one transaction, so a kill at any
//! moment resumes at the first page not yet stored and stores nothing twice. Snapshots are versioned
//! by the time of the read, so a backfill running beside live webhooks never overwrites a newer
//! event's snapshot with an older read.

use std::sync::Arc;

use paysync_core::{ObjectKind, ObjectVersion, Snapshot, UnixMs};
use paysync_store::{ApplyBatch, CursorUpdate, Level, LogEntry, Store};
use paysync_stripe::{ClientError, PageCursor, StripeClient};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::now_ms;

/// What a backfill reads, in order. Refunds come embedded in their charges.
pub const RESOURCES: &[Resource] = &[
    Resource {
        name: "customers",
        kind: ObjectKind::Customer,
        params: &[],
    },
    Resource {
        name: "charges",
        kind: ObjectKind::Charge,
        params: &[("expand[]", "data.refunds")],
    },
    // Without status=all, Stripe omits cancelled subscriptions (API-FACTS, Stripe).
    Resource {
        name: "subscriptions",
        kind: ObjectKind::Subscription,
        params: &[("status", "all")],
    },
    Resource {
        name: "invoices",
        kind: ObjectKind::Invoice,
        params: &[],
    },
    Resource {
        name: "checkout_sessions",
        kind: ObjectKind::CheckoutSession,
        params: &[],
    },
];

pub struct Resource {
    pub name: &'static str,
    pub kind: ObjectKind,
    pub params: &'static [(&'static str, &'static str)],
}

/// How far back to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    All,
    /// Objects created at or after this unix second.
    Since(i64),
}

impl Window {
    /// The last `days` whole days (UTC), so that a resumed run computes the same window as the
    /// first one.
    pub fn last_days(days: u32, now_ms: i64) -> Window {
        let today = now_ms.div_euclid(86_400_000) * 86_400;
        Window::Since(today - i64::from(days) * 86_400)
    }
}

/// Progress of one resource, kept in the cursor `backfill.<resource>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceProgress {
    pub window: Window,
    pub starting_after: Option<String>,
    pub stored: u64,
    pub done: bool,
    pub started_at: UnixMs,
    pub finished_at: Option<UnixMs>,
    /// Why the resource was skipped, if it was (e.g. the server has no such endpoint).
    pub skipped: Option<String>,
}

pub fn cursor_name(resource: &str) -> String {
    format!("backfill.{resource}")
}

/// Reported as a backfill moves on; the CLI draws it as a progress bar or log lines.
#[derive(Debug, Clone)]
pub enum Progress {
    Started {
        resource: &'static str,
        resumed_at: u64,
    },
    Page {
        resource: &'static str,
        stored: u64,
    },
    Finished {
        resource: &'static str,
        stored: u64,
        skipped: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Stripe(#[from] ClientError),
    #[error("store: {0}")]
    Store(#[from] paysync_store::StoreError),
    #[error("stored progress for {resource} is unreadable: {message}")]
    Cursor {
        resource: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillReport {
    pub resources: Vec<(String, ResourceProgress)>,
}

pub struct Backfill {
    pub store: Arc<dyn Store>,
    pub client: StripeClient,
    pub account: String,
    pub window: Window,
}

impl Backfill {
    /// Runs every resource concurrently (they share the account's rate limit) until all are done.
    pub async fn run(
        &self,
        progress: Arc<dyn Fn(Progress) + Send + Sync>,
    ) -> Result<BackfillReport, BackfillError> {
        let mut tasks = tokio::task::JoinSet::new();
        for resource in RESOURCES {
            let job = ResourceJob {
                store: self.store.clone(),
                client: self.client.clone(),
                account: self.account.clone(),
                window: self.window,
                resource,
            };
            let progress = progress.clone();
            tasks.spawn(async move { job.run(&*progress).await.map(|p| (resource.name, p)) });
        }
        let mut report = BackfillReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok((name, p))) => report.resources.push((name.to_owned(), p)),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => tracing::error!(error = %e, "a backfill task panicked"),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        report.resources.sort_by(|a, b| a.0.cmp(&b.0));
        let stored: u64 = report.resources.iter().map(|(_, p)| p.stored).sum();
        self.store
            .log(LogEntry {
                at: now_ms(),
                account: Some(self.account.clone()),
                kind: "backfill.finished".into(),
                level: Level::Info,
                message: format!("backfill finished: {stored} objects read"),
                detail: serde_json::to_value(&report).ok(),
            })
            .await?;
        Ok(report)
    }
}

struct ResourceJob {
    store: Arc<dyn Store>,
    client: StripeClient,
    account: String,
    window: Window,
    resource: &'static Resource,
}

impl ResourceJob {
    /// Where to start: the saved progress if it is an unfinished run over the same window,
    /// otherwise a fresh run.
    async fn starting_point(&self) -> Result<ResourceProgress, BackfillError> {
        let saved = self
            .store
            .cursor(&self.account, &cursor_name(self.resource.name))
            .await?;
        let saved: Option<ResourceProgress> = match saved {
            None => None,
            Some(c) => Some(
                serde_json::from_str(&c.value).map_err(|e| BackfillError::Cursor {
                    resource: self.resource.name,
                    message: e.to_string(),
                })?,
            ),
        };
        Ok(match saved {
            Some(p) if !p.done && p.window == self.window => p,
            Some(p) if !p.done => {
                tracing::warn!(
                    resource = self.resource.name,
                    "an unfinished backfill over another window is abandoned; starting over"
                );
                self.fresh()
            }
            _ => self.fresh(),
        })
    }

    fn fresh(&self) -> ResourceProgress {
        ResourceProgress {
            window: self.window,
            starting_after: None,
            stored: 0,
            done: false,
            started_at: now_ms(),
            finished_at: None,
            skipped: None,
        }
    }

    async fn run(
        &self,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<ResourceProgress, BackfillError> {
        let name = self.resource.name;
        let mut state = self.starting_point().await?;
        progress(Progress::Started {
            resource: name,
            resumed_at: state.stored,
        });
        let path = self.resource.kind.api_path().unwrap_or(name);
        let mut params: Vec<(&str, String)> = self
            .resource
            .params
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        if let Window::Since(since) = self.window {
            params.push(("created[gte]", since.to_string()));
        }
        while !state.done {
            let cursor = state
                .starting_after
                .clone()
                .map_or(PageCursor::First, PageCursor::StartingAfter);
            let read_at = now_ms();
            let page = match self.client.list(path, &params, cursor).await {
                Ok(page) => page,
                // A server without this endpoint (localstripe has no checkout sessions) is not a
                // failure of the backfill: say so and go on with the other resources.
                Err(ClientError::Api {
                    status: 404,
                    message,
                    ..
                }) => {
                    tracing::warn!(resource = name, %message, "Stripe API has no such list; skipped");
                    state.skipped = Some(message);
                    state.done = true;
                    state.finished_at = Some(now_ms());
                    self.save(&state, Vec::new(), now_ms()).await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let mut snapshots = Vec::with_capacity(page.data.len() * 2);
            for raw in &page.data {
                snapshots.extend(self.snapshots_of(raw, read_at).await?);
            }
            let last_id = page
                .data
                .last()
                .and_then(|raw| paysync_stripe::object_id(raw));
            state.stored += page.data.len() as u64;
            state.starting_after = last_id.or(state.starting_after.take());
            state.done = !page.has_more || page.data.is_empty();
            if state.done {
                state.finished_at = Some(now_ms());
            }
            self.save(&state, snapshots, now_ms()).await?;
            progress(Progress::Page {
                resource: name,
                stored: state.stored,
            });
        }
        progress(Progress::Finished {
            resource: name,
            stored: state.stored,
            skipped: state.skipped.clone(),
        });
        Ok(state)
    }

    /// The page's objects as snapshots, plus any refunds embedded in charges.
    async fn snapshots_of(
        &self,
        raw: &RawValue,
        read_at: UnixMs,
    ) -> Result<Vec<Snapshot>, BackfillError> {
        let version = ObjectVersion::of_api_read(read_at, false);
        let mut out = Vec::new();
        match Snapshot::parse(raw, version.clone()) {
            Ok(s) => out.push(s),
            Err(e) => {
                tracing::warn!(resource = self.resource.name, error = %e, "object skipped");
                return Ok(out);
            }
        }
        if self.resource.kind == ObjectKind::Charge {
            out.extend(self.refunds_of(raw, read_at).await?);
        }
        Ok(out)
    }

    async fn refunds_of(
        &self,
        charge: &RawValue,
        read_at: UnixMs,
    ) -> Result<Vec<Snapshot>, BackfillError> {
        #[derive(Deserialize)]
        struct Embedded<'a> {
            id: &'a str,
            #[serde(default)]
            refunds: Option<RefundList>,
        }
        #[derive(Deserialize)]
        struct RefundList {
            #[serde(default)]
            data: Vec<Box<RawValue>>,
            #[serde(default)]
            has_more: bool,
        }
        let Ok(charge) = serde_json::from_str::<Embedded<'_>>(charge.get()) else {
            return Ok(Vec::new());
        };
        let Some(list) = charge.refunds else {
            return Ok(Vec::new());
        };
        let mut refunds = list.data;
        // A charge embeds at most 10 refunds; the rest are listed by charge.
        if list.has_more {
            let mut after = refunds.last().and_then(|r| paysync_stripe::object_id(r));
            loop {
                let cursor = after
                    .clone()
                    .map_or(PageCursor::First, PageCursor::StartingAfter);
                let page = self
                    .client
                    .list("refunds", &[("charge", charge.id.to_owned())], cursor)
                    .await?;
                after = page.data.last().and_then(|r| paysync_stripe::object_id(r));
                let more = page.has_more && after.is_some();
                refunds.extend(page.data);
                if !more {
                    break;
                }
            }
        }
        let version = ObjectVersion::of_api_read(read_at, false);
        Ok(refunds
            .iter()
            .filter_map(|r| Snapshot::parse(r, version.clone()).ok())
            .collect())
    }

    async fn save(
        &self,
        state: &ResourceProgress,
        snapshots: Vec<Snapshot>,
        at: UnixMs,
    ) -> Result<(), BackfillError> {
        let value = serde_json::to_string(state).map_err(|e| BackfillError::Cursor {
            resource: self.resource.name,
            message: e.to_string(),
        })?;
        let batch = ApplyBatch {
            snapshots,
            cursor: Some(CursorUpdate {
                name: cursor_name(self.resource.name),
                value,
            }),
            applied_events: Vec::new(),
            at,
        };
        self.store.apply(&self.account, batch).await?;
        Ok(())
    }
}
