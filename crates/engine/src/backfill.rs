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
    /// Objects created at or after `since` and before `until` (unix seconds): one slice of a
    /// backfill split across workers.
    Between {
        since: i64,
        until: i64,
    },
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
                cursor: cursor_name(resource.name),
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
        log_finished(self.store.as_ref(), &self.account, &report).await?;
        Ok(report)
    }
}

/// Records a backfill's end in the sync log (`backfill.finished`); returns the objects read.
async fn log_finished(
    store: &dyn Store,
    account: &str,
    report: &BackfillReport,
) -> Result<u64, BackfillError> {
    let stored: u64 = report.resources.iter().map(|(_, p)| p.stored).sum();
    store
        .log(LogEntry {
            at: now_ms(),
            account: Some(account.to_owned()),
            kind: "backfill.finished".into(),
            level: Level::Info,
            message: format!("backfill finished: {stored} objects read"),
            detail: serde_json::to_value(report).ok(),
        })
        .await?;
    Ok(stored)
}

struct ResourceJob {
    store: Arc<dyn Store>,
    client: StripeClient,
    account: String,
    window: Window,
    resource: &'static Resource,
    /// Where its progress is kept (`backfill.<resource>[.<slice>]`).
    cursor: String,
}

impl ResourceJob {
    /// Where to start: the saved progress if it is an unfinished run over the same window,
    /// otherwise a fresh run.
    async fn starting_point(&self) -> Result<ResourceProgress, BackfillError> {
        let saved = self.store.cursor(&self.account, &self.cursor).await?;
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
        match self.window {
            Window::All => {}
            Window::Since(since) => params.push(("created[gte]", since.to_string())),
            Window::Between { since, until } => {
                params.push(("created[gte]", since.to_string()));
                params.push(("created[lt]", until.to_string()));
            }
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
                name: self.cursor.clone(),
                value,
            }),
            applied_events: Vec::new(),
            at,
        };
        self.store.apply(&self.account, batch).await?;
        Ok(())
    }
}

// ---- split across workers ----------------------------------------------------------------------

/// A queued backfill over a window with a start is cut into time slices of about this many
/// days, at most [`MAX_SLICES`] per resource, so several workers read one resource at once.
const SLICE_DAYS: i64 = 30;
const MAX_SLICES: i64 = 8;

/// Units of queued backfills one process reads at once.
const UNITS_AT_ONCE: usize = 4;

/// One unit of a queued backfill: a resource over a time window, with its own progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `backfill.<resource>`, or `backfill.<resource>.<i>of<n>` for a time slice.
    pub cursor: String,
    pub resource: &'static str,
    pub window: Window,
}

/// The units a backfill over `window` is split into. A window without a start (`All`) cannot be
/// cut in time (the account's oldest object is unknown): one unit per resource. A window with
/// one is cut into slices; the last stays open-ended, so objects created while it runs are read.
pub fn units(window: Window, now_ms: UnixMs) -> Vec<Unit> {
    let slices: Vec<Window> = match window {
        Window::Since(since) => {
            let span = (now_ms / 1_000 - since).max(1);
            let n = (span / (SLICE_DAYS * 86_400) + 1).clamp(1, MAX_SLICES);
            let bound = |i: i64| since + span * i / n;
            (0..n)
                .map(|i| {
                    if i == n - 1 {
                        Window::Since(bound(i))
                    } else {
                        Window::Between {
                            since: bound(i),
                            until: bound(i + 1),
                        }
                    }
                })
                .collect()
        }
        other => vec![other],
    };
    let n = slices.len();
    RESOURCES
        .iter()
        .flat_map(|r| {
            slices.iter().enumerate().map(move |(i, w)| Unit {
                cursor: if n == 1 {
                    cursor_name(r.name)
                } else {
                    format!("{}.{}of{n}", cursor_name(r.name), i + 1)
                },
                resource: r.name,
                window: *w,
            })
        })
        .collect()
}

fn progress_of(value: &str, cursor: &str) -> Result<ResourceProgress, BackfillError> {
    serde_json::from_str(value).map_err(|e| BackfillError::Cursor {
        resource: RESOURCES
            .iter()
            .find(|r| cursor.split('.').nth(1) == Some(r.name))
            .map_or("backfill", |r| r.name),
        message: e.to_string(),
    })
}

/// Leaves a backfill of `account` over `window` to the workers: each unit's progress is written
/// unfinished (a unit already under way over the same window keeps its place); unfinished
/// units of an earlier backfill are closed as superseded. Returns how many units there are.
pub async fn queue(
    store: &dyn Store,
    account: &str,
    window: Window,
    now: UnixMs,
) -> Result<usize, BackfillError> {
    let units = units(window, now);
    let mut kept = std::collections::HashSet::new();
    for (cursor, saved) in store.cursors(account, "backfill.").await? {
        let Ok(mut progress) = progress_of(&saved.value, &cursor) else {
            continue;
        };
        if progress.done {
            continue;
        }
        if units
            .iter()
            .any(|u| u.cursor == cursor && u.window == progress.window)
        {
            kept.insert(cursor);
            continue;
        }
        progress.done = true;
        progress.finished_at = Some(now);
        progress.skipped = Some("superseded by a newer backfill".into());
        let value = serde_json::to_string(&progress).unwrap_or_default();
        store.set_cursor(account, &cursor, &value, now).await?;
    }
    for unit in units.iter().filter(|u| !kept.contains(&u.cursor)) {
        let fresh = ResourceProgress {
            window: unit.window,
            starting_after: None,
            stored: 0,
            done: false,
            started_at: now,
            finished_at: None,
            skipped: None,
        };
        let value = serde_json::to_string(&fresh).unwrap_or_default();
        store.set_cursor(account, &unit.cursor, &value, now).await?;
    }
    Ok(units.len())
}

/// Whether a queued backfill of the account has units left.
pub async fn queued(store: &dyn Store, account: &str) -> Result<bool, BackfillError> {
    Ok(store
        .cursors(account, "backfill.")
        .await?
        .iter()
        .any(|(cursor, c)| progress_of(&c.value, cursor).is_ok_and(|p| !p.done)))
}

/// A worker's side of queued backfills of one account: every round, each unfinished unit whose
/// role this process takes (`backfill:<account>:<cursor>`) is read in a task of its own. A
/// worker that dies mid-unit loses the role within 30 s, and another resumes the unit from
/// its last stored page.
pub struct Pickup {
    pub store: Arc<dyn Store>,
    pub client: StripeClient,
    pub account: String,
    pub roles: Arc<crate::roles::Roles>,
    pub alerter: crate::alerts::Alerter,
    running: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Units this process has taken (for tests and metrics).
    pub units_taken: std::sync::atomic::AtomicUsize,
}

impl Pickup {
    pub fn new(
        store: Arc<dyn Store>,
        client: StripeClient,
        account: String,
        roles: Arc<crate::roles::Roles>,
        alerter: crate::alerts::Alerter,
    ) -> Arc<Self> {
        Arc::new(Pickup {
            store,
            client,
            account,
            roles,
            alerter,
            running: Default::default(),
            units_taken: Default::default(),
        })
    }

    pub async fn round(self: &Arc<Self>) -> Result<(), BackfillError> {
        for (cursor, saved) in self.store.cursors(&self.account, "backfill.").await? {
            let progress = match progress_of(&saved.value, &cursor) {
                Ok(p) if !p.done => p,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(account = %self.account, %cursor, error = %e, "backfill unit unreadable; skipped");
                    continue;
                }
            };
            let Some(resource) = RESOURCES
                .iter()
                .find(|r| cursor.split('.').nth(1) == Some(r.name))
            else {
                continue;
            };
            // A few units at a time per process: the rest are left to other workers (and the
            // account's Stripe rate limit is this process's to share anyway).
            if self.running.lock().map_or(true, |running| {
                running.contains(&cursor) || running.len() >= UNITS_AT_ONCE
            }) {
                continue;
            }
            let role = format!("backfill:{}:{cursor}", self.account);
            if !self.roles.hold(&role).await {
                continue;
            }
            if let Ok(mut running) = self.running.lock() {
                running.insert(cursor.clone());
            }
            self.units_taken
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let job = ResourceJob {
                store: self.store.clone(),
                client: self.client.clone(),
                account: self.account.clone(),
                window: progress.window,
                resource,
                cursor: cursor.clone(),
            };
            let me = self.clone();
            tokio::spawn(async move {
                match job.run(&|_| {}).await {
                    Ok(p) => {
                        tracing::info!(account = %me.account, unit = %cursor, stored = p.stored, "backfill unit finished")
                    }
                    Err(e) => {
                        tracing::warn!(account = %me.account, unit = %cursor, error = %e, "backfill unit stopped; it is resumed at the next round")
                    }
                }
                me.roles.release(&role);
                if let Ok(mut running) = me.running.lock() {
                    running.remove(&cursor);
                }
                if let Err(e) = me.report_if_finished().await {
                    tracing::warn!(account = %me.account, error = %e, "cannot report the backfill's end");
                }
            });
        }
        Ok(())
    }

    /// Once every unit is done, logs `backfill.finished` and raises the alert, once (the
    /// process taking the role `backfill-finished:<account>:<start>` does it).
    async fn report_if_finished(&self) -> Result<(), BackfillError> {
        let mut report = BackfillReport::default();
        for (cursor, saved) in self.store.cursors(&self.account, "backfill.").await? {
            let progress = progress_of(&saved.value, &cursor)?;
            if !progress.done {
                return Ok(());
            }
            report
                .resources
                .push((cursor.trim_start_matches("backfill.").to_owned(), progress));
        }
        let started = report
            .resources
            .iter()
            .map(|(_, p)| p.started_at)
            .max()
            .unwrap_or_default();
        let role = format!("backfill-finished:{}:{started}", self.account);
        if !self.roles.hold(&role).await {
            return Ok(());
        }
        self.roles.release(&role);
        let stored = log_finished(self.store.as_ref(), &self.account, &report).await?;
        self.alerter
            .raise(crate::alerts::Alert {
                kind: crate::alerts::AlertKind::BackfillFinished,
                subject: self.account.clone(),
                summary: format!(
                    "backfill of Stripe account {} finished: {stored} objects",
                    self.account
                ),
                detail: serde_json::json!({"account": self.account, "objects": stored}),
            })
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_with_a_start_is_cut_in_slices_that_cover_it() {
        let now = 1_800_000_000_000;
        let since = 1_800_000_000 - 180 * 86_400;
        let units = units(Window::Since(since), now);
        let charges: Vec<&Unit> = units.iter().filter(|u| u.resource == "charges").collect();
        assert_eq!(charges.len(), 7);
        assert_eq!(charges[0].cursor, "backfill.charges.1of7");
        // Contiguous, from the start, the last one open-ended.
        let mut from = since;
        for unit in &charges[..6] {
            let Window::Between { since: s, until } = unit.window else {
                panic!("{unit:?}")
            };
            assert_eq!(s, from);
            assert!(until > s);
            from = until;
        }
        assert_eq!(charges[6].window, Window::Since(from));
        assert_eq!(units.len(), 7 * RESOURCES.len());
        // All of it: one unit per resource, under the resource's own cursor.
        let all = super::units(Window::All, now);
        assert_eq!(all.len(), RESOURCES.len());
        assert_eq!(all[0].cursor, "backfill.customers");
    }
}
