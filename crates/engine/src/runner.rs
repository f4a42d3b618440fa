//! The background loops `paysync serve` runs: per account, Events-API catch-up, the applier that
//! carries stored events into the ledger (the refetcher, for accounts in refetch mode) and the
//! reconciler; per destination, a delivery worker. A failing round is logged and retried next
//! round.

use std::sync::Arc;
use std::time::Duration;

use paysync_core::config::StripeAccount;
use paysync_store::Store;
use paysync_stripe::{ClientConfig, ClientError, StripeClient};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::Wakeups;
use crate::apply::Applier;
use crate::catchup::Catchup;
use crate::refetch::Refetcher;
use crate::roles::Roles;

/// How often queued backfill units are looked for.
const BACKFILL_PICKUP_EVERY: Duration = Duration::from_secs(2);
/// How often the applier looks for stored events when nothing woke it.
const APPLY_EVERY: Duration = Duration::from_secs(1);

pub fn client_for(account: &StripeAccount) -> Result<StripeClient, ClientError> {
    StripeClient::new(ClientConfig::for_account(account))
}

/// What every account's loops share.
pub struct AccountLoops<'a> {
    pub store: Arc<dyn Store>,
    /// Per account: notified by intake when events are waiting.
    pub wakeups: &'a Wakeups,
    /// Per account: notified by the applier when the ledger changed.
    pub reconcile_wakeups: &'a Wakeups,
    pub catchup_every: Duration,
    pub alerter: &'a crate::alerts::Alerter,
    /// Each account's loops run in one process at a time.
    pub roles: &'a Arc<Roles>,
}

/// Starts the loops of every account on `tasks`; they stop when `shutdown` turns true.
pub fn spawn_account_loops(
    tasks: &mut JoinSet<()>,
    accounts: &[StripeAccount],
    shared: AccountLoops<'_>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let AccountLoops {
        store,
        wakeups,
        reconcile_wakeups,
        catchup_every,
        alerter,
        roles,
    } = shared;
    for account in accounts {
        let client = client_for(account)?;
        // Queued backfills: each unit read by whichever worker takes it.
        let pickup = crate::backfill::Pickup::new(
            store.clone(),
            client.clone(),
            account.name.clone(),
            roles.clone(),
            alerter.clone(),
        );
        tasks.spawn(every(BACKFILL_PICKUP_EVERY, None, shutdown.clone(), move || {
            let pickup = pickup.clone();
            async move {
                if let Err(e) = pickup.round().await {
                    tracing::warn!(account = %pickup.account, error = %e, "cannot look for queued backfill work; retrying next round");
                }
            }
        }));
        let catchup = Arc::new(Catchup {
            store: store.clone(),
            client: client.clone(),
            account: account.name.clone(),
            refetch: account.refetch,
        });
        let wakeup = wakeups.get(&account.name).cloned();
        let alerter = alerter.clone();
        let role = format!("catchup:{}", account.name);
        tasks.spawn(every(catchup_every, None, shutdown.clone(), roles.gate(role, move || {
            let catchup = catchup.clone();
            let alerter = alerter.clone();
            async move {
                match catchup.poll().await {
                    Ok(report) if report.gap => {
                        alerter
                            .raise(crate::alerts::Alert {
                                kind: crate::alerts::AlertKind::CatchupGap,
                                subject: catchup.account.clone(),
                                summary: format!(
                                    "Stripe account {}: events older than Stripe's 30-day retention were missed; run `paysync backfill --account {}`",
                                    catchup.account, catchup.account
                                ),
                                detail: serde_json::json!({"account": catchup.account}),
                            })
                            .await;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(account = %catchup.account, error = %e, "catch-up poll failed; retrying next round"),
                }
            }
        })));
        // Catch-up stores events too, so the applier also runs on its own clock, not only when
        // intake wakes it.
        if account.refetch {
            let refetcher = Arc::new(Refetcher {
                store: store.clone(),
                client,
                account: account.name.clone(),
            });
            let role = format!("apply:{}", account.name);
            tasks.spawn(every(APPLY_EVERY, wakeup, shutdown.clone(), roles.gate(role, move || {
                let refetcher = refetcher.clone();
                async move {
                    if let Err(e) = refetcher.drain().await {
                        tracing::warn!(account = %refetcher.account, error = %e, "refetch failed; retrying next round");
                    }
                }
            })));
        } else {
            let applier = Arc::new(Applier {
                store: store.clone(),
                account: account.name.clone(),
            });
            let reconcile = reconcile_wakeups.get(&account.name).cloned();
            let role = format!("apply:{}", account.name);
            tasks.spawn(every(APPLY_EVERY, wakeup, shutdown.clone(), roles.gate(role, move || {
                let applier = applier.clone();
                let reconcile = reconcile.clone();
                async move {
                    tokio::time::sleep(crate::apply::GATHER).await;
                    match applier.drain().await {
                        Ok(n) if n > 0 => {
                            if let Some(r) = &reconcile {
                                r.notify_one();
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(account = %applier.account, error = %e, "applying stored events failed; retrying next round"),
                    }
                }
            })));
        }
    }
    Ok(())
}

/// Runs `round` now, then every `period` or whenever `wakeup` is notified, until shutdown.
async fn every<F, Fut>(
    period: Duration,
    wakeup: Option<Arc<Notify>>,
    mut shutdown: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let woken = async |w: &Option<Arc<Notify>>| match w {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    };
    loop {
        tokio::select! {
            _ = ticker.tick() => round().await,
            _ = woken(&wakeup) => round().await,
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// How often requested opt-in emails are looked for.
const OPT_IN_EVERY: Duration = Duration::from_secs(2);

/// Sends the opt-in emails syncs ask for, when any sync does.
fn spawn_mailer(
    tasks: &mut JoinSet<()>,
    store: &Arc<dyn Store>,
    config: &paysync_core::config::Config,
    roles: &Arc<Roles>,
    shutdown: watch::Receiver<bool>,
) {
    let mailer = match crate::opt_in::Mailer::new(store.clone(), config) {
        Ok(Some(m)) => Arc::new(m),
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "opt-in emails cannot be sent");
            return;
        }
    };
    // One mailer at a time: nobody gets the email twice.
    let role = "opt-in-mailer".to_owned();
    tasks.spawn(every(
        OPT_IN_EVERY,
        None,
        shutdown,
        roles.gate(role, move || {
            let mailer = mailer.clone();
            async move {
                if let Err(e) = mailer.round(crate::now_ms).await {
                    tracing::warn!(error = %e, "opt-in emails: round failed; trying again");
                }
            }
        }),
    ));
}

/// Reads a destination's change feed every `period`, and at once when `wakeup` is notified (a
/// vendor webhook said something changed); a failed poll is logged and tried again at the next
/// one (the cursor has not moved).
async fn poll_unsubscribes(
    poller: crate::unsubscribes::UnsubscribePoller,
    period: Duration,
    wakeup: Arc<Notify>,
    roles: Arc<Roles>,
    shutdown: watch::Receiver<bool>,
) {
    let role = format!("unsubscribes:{}", poller.destination());
    let poller = Arc::new(poller);
    every(period, Some(wakeup), shutdown, roles.gate(role, move || {
        let poller = poller.clone();
        async move {
            match poller.poll(crate::now_ms).await {
                Ok(stats) if stats.changes > 0 => {
                    tracing::debug!(destination = %poller.destination(), ?stats, "read the destination's changes")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(destination = %poller.destination(), error = %e, "cannot read the destination's unsubscribes; trying again at the next poll")
                }
            }
        }
    }))
    .await;
}

/// How often a reconciler looks for dirty persons when nothing woke it (backfill and catch-up
/// write the ledger without waking it).
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// How long a delivery worker sleeps at most when no row is due.
const DELIVER_IDLE: Duration = Duration::from_secs(1);
/// How long to wait before preparing a sync again when its destination failed.
const PREPARE_RETRY: Duration = Duration::from_secs(30);
/// How often everyone is re-reconciled: segments with relative dates ("paid within 30 days")
/// change without any Stripe event.
const SWEEP_EVERY_MS: i64 = 24 * 3_600_000;
const SWEEP_CURSOR: &str = "reconcile.sweep";

/// What every generation of sync loops shares with the process.
pub struct SyncShared<'a> {
    /// Where each destination keeps its OAuth tokens.
    pub token_store:
        &'a dyn Fn(&str) -> Arc<dyn paysync_destinations::constant_contact::TokenStore>,
    pub alerter: &'a crate::alerts::Alerter,
    /// Per account: notified by the applier when the ledger changed.
    pub reconcile_wakeups: &'a Wakeups,
    pub roles: &'a Arc<Roles>,
}

/// The reconcile-and-deliver side of `serve`: one delivery worker per destination, one
/// reconciler per Stripe account that has syncs. Empty in a process that runs no loops.
#[derive(Default)]
pub struct SyncLoops {
    /// Per destination: notified to read its change feed now (a vendor webhook arrived).
    pub feed_wakeups: Wakeups,
    pub deliverers: Vec<Arc<crate::deliver::Deliverer>>,
}

/// Builds the connectors and starts the loops on `tasks`. A sync whose destination cannot be
/// prepared (unreachable, credentials refused) is retried every [`PREPARE_RETRY`]; its account's
/// reconciler starts once all of the account's syncs are ready, so no dirty mark is consumed
/// without every sync having seen it. A sync whose rules changed since the last run (or a new
/// one) marks every person of its account dirty: the diff then finds exactly who changed.
pub async fn spawn_sync_loops(
    tasks: &mut JoinSet<()>,
    store: Arc<dyn Store>,
    config: &paysync_core::config::Config,
    shared: SyncShared<'_>,
    shutdown: watch::Receiver<bool>,
) -> Result<SyncLoops, paysync_destinations::DestinationError> {
    use crate::deliver::{Deliverer, RetryPolicy};
    let SyncShared {
        token_store,
        alerter,
        reconcile_wakeups,
        roles,
    } = shared;
    // One `serve` per SQLite database: leases left behind belong to a process that died, and
    // its rows must not wait for the leases to run out.
    match store.release_leases().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "released outbox rows a previous run held"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot release outbox leases; they expire on their own")
        }
    }
    let mut connectors = std::collections::HashMap::new();
    let mut deliverers = Vec::new();
    let mut feed_wakeups = std::collections::HashMap::new();
    for d in &config.destinations {
        // Workers sharing a PostgreSQL database share each destination's request rate.
        let shared = config.database_url.is_some().then(|| store.clone());
        let connector = crate::connect::connector(d, token_store(&d.name), shared).await?;
        let mut deliverer = Deliverer::new(
            store.clone(),
            d.name.clone(),
            connector.clone(),
            RetryPolicy::default(),
        );
        deliverer.lookahead_ms = config
            .syncs
            .iter()
            .filter(|s| s.destination == d.name)
            .map(|s| s.coalesce_ms as i64 / 4)
            .min()
            .unwrap_or(0);
        deliverer.alerter = Some(alerter.clone());
        deliverer.shares_pauses = config.database_url.is_some();
        let deliverer = Arc::new(deliverer);
        tasks.spawn(deliverer.clone().run(DELIVER_IDLE, shutdown.clone()));
        tasks.spawn(poll_unsubscribes(
            crate::unsubscribes::UnsubscribePoller {
                sink: crate::unsubscribes::ConsentSink::new(store.clone(), config, &d.name),
                connector: connector.clone(),
                two_way: crate::two_way::TwoWay::new(store.clone(), config, &d.name).map_err(
                    |e| {
                        paysync_destinations::DestinationError::permanent(
                            connector.capabilities().vendor,
                            format!("two-way sync cannot reach Stripe: {e}"),
                        )
                    },
                )?,
            },
            Duration::from_secs(config.consent.poll_secs(&d.kind)),
            feed_wakeups
                .entry(d.name.clone())
                .or_insert_with(|| Arc::new(Notify::new()))
                .clone(),
            roles.clone(),
            shutdown.clone(),
        ));
        connectors.insert(d.name.clone(), connector);
        deliverers.push(deliverer);
    }
    spawn_mailer(tasks, &store, config, roles, shutdown.clone());
    for account in &config.accounts {
        let syncs: Vec<_> = config.syncs_of(&account.name).cloned().collect();
        if syncs.is_empty() {
            continue;
        }
        let store = store.clone();
        let account = account.name.clone();
        let connectors = connectors.clone();
        let wake = reconcile_wakeups.get(&account).cloned();
        let deliver_wakes: Vec<_> = deliverers
            .iter()
            .filter(|d| syncs.iter().any(|s| s.destination == d.destination))
            .map(|d| d.wake.clone())
            .collect();
        let shutdown = shutdown.clone();
        let carry_unsubscribes = config.consent.carry_unsubscribes;
        let roles = roles.clone();
        tasks.spawn(async move {
            let mut plans = Vec::new();
            for sync in &syncs {
                let Some(connector) = connectors.get(&sync.destination) else {
                    continue;
                };
                match prepare_until_ready(&store, &account, sync, connector.as_ref(), shutdown.clone()).await {
                    Some(plan) => plans.push(Arc::new(plan)),
                    None => return,
                }
            }
            let reconciler = Arc::new(crate::reconcile::Reconciler {
                store,
                account,
                syncs: plans,
                carry_unsubscribes,
            });
            let role = format!("reconcile:{}", reconciler.account);
            every(RECONCILE_EVERY, wake, shutdown, roles.gate(role, move || {
                let reconciler = reconciler.clone();
                let deliver_wakes = deliver_wakes.clone();
                async move {
                    sweep_if_due(&reconciler.store, &reconciler.account).await;
                    match reconciler.drain(crate::now_ms).await {
                        Ok(stats) if stats.store.queued > 0 => {
                            tracing::debug!(account = %reconciler.account, ?stats, "reconciled");
                            deliver_wakes.iter().for_each(|w| w.notify_one());
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(account = %reconciler.account, error = %e, "reconciling failed; retrying next round"),
                    }
                }
            }))
            .await;
        });
    }
    Ok(SyncLoops {
        feed_wakeups: Arc::new(feed_wakeups),
        deliverers,
    })
}

/// Marks everyone of the account dirty once every [`SWEEP_EVERY_MS`] (remembered across
/// restarts), so time-relative segments are re-evaluated.
async fn sweep_if_due(store: &Arc<dyn Store>, account: &str) {
    let now = crate::now_ms();
    let last = match store.cursor(account, SWEEP_CURSOR).await {
        Ok(c) => c.map(|c| c.updated_at),
        Err(e) => {
            tracing::warn!(account, error = %e, "cannot read the sweep time");
            return;
        }
    };
    let Some(last) = last else {
        // First run: the rules check at start-up has just reconciled everyone.
        record_sweep(store, account, now).await;
        return;
    };
    if now - last < SWEEP_EVERY_MS {
        return;
    }
    match store.mark_all_dirty(account, now).await {
        Ok(n) => {
            tracing::info!(
                account,
                persons = n,
                "daily re-evaluation of time-relative segments"
            );
            record_sweep(store, account, now).await;
        }
        Err(e) => tracing::warn!(account, error = %e, "cannot mark persons for the daily sweep"),
    }
}

async fn record_sweep(store: &Arc<dyn Store>, account: &str, now: paysync_core::UnixMs) {
    if let Err(e) = store.set_cursor(account, SWEEP_CURSOR, "", now).await {
        tracing::warn!(account, error = %e, "cannot record the sweep time");
    }
}

/// How often old sync-log entries are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// Deletes sync-log entries older than the retention, now and every [`PRUNE_EVERY`].
pub fn spawn_log_pruning(
    tasks: &mut JoinSet<()>,
    store: Arc<dyn Store>,
    retention_days: u32,
    roles: &Arc<Roles>,
    shutdown: watch::Receiver<bool>,
) {
    let role = "prune-log".to_owned();
    tasks.spawn(every(PRUNE_EVERY, None, shutdown, roles.gate(role, move || {
        let store = store.clone();
        async move {
            let before = crate::now_ms() - i64::from(retention_days) * 86_400_000;
            match store.prune_log(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(entries = n, retention_days, "pruned the sync log"),
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the sync log failed; retrying next round")
                }
            }
        }
    })));
}

/// Prepares a sync (lists, fields), retrying until it succeeds or shutdown; then re-reconciles
/// the whole account if the sync's rules are new or changed.
async fn prepare_until_ready(
    store: &Arc<dyn Store>,
    account: &str,
    sync: &paysync_core::config::SyncConfig,
    connector: &dyn paysync_destinations::Destination,
    mut shutdown: watch::Receiver<bool>,
) -> Option<crate::reconcile::SyncPlan> {
    loop {
        match crate::connect::prepare(sync, connector).await {
            Ok(plan) => {
                let lists = serde_json::to_string(&plan.lists).unwrap_or_default();
                let fingerprint = format!("{}|{lists}", plan.config.rules.fingerprint());
                // The list ids, for `preview` and `--impact`, which must not touch destinations.
                let lists_cursor = crate::connect::lists_cursor(&sync.name);
                if let Err(e) = store
                    .set_cursor(account, &lists_cursor, &lists, crate::now_ms())
                    .await
                {
                    tracing::warn!(sync = %sync.name, error = %e, "cannot record the sync's list ids");
                }
                let cursor = format!("sync.{}.rules", sync.name);
                let stored = store.cursor(account, &cursor).await.ok().flatten();
                if stored.as_ref().map(|c| c.value.as_str()) != Some(fingerprint.as_str()) {
                    let now = crate::now_ms();
                    match store.mark_all_dirty(account, now).await {
                        Ok(n) => {
                            tracing::info!(sync = %sync.name, persons = n, "sync rules are new or changed: reconciling everyone");
                            if let Err(e) =
                                store.set_cursor(account, &cursor, &fingerprint, now).await
                            {
                                tracing::warn!(sync = %sync.name, error = %e, "cannot record the sync's rules");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(sync = %sync.name, error = %e, "cannot mark persons dirty")
                        }
                    }
                }
                return Some(plan);
            }
            Err(e) => {
                tracing::error!(sync = %sync.name, destination = %sync.destination, error = %e, "cannot prepare the destination; retrying in 30 s");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PREPARE_RETRY) => {}
            _ = shutdown.changed() => return None,
        }
    }
}
