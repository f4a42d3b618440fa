//! The background loops `paysync serve` runs per account: Events-API catch-up, and the applier
//! that carries stored events into the ledger (the refetcher, for accounts in refetch mode). A failing round is logged and retried next round.

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

/// How often the applier looks for stored events when nothing woke it.
const APPLY_EVERY: Duration = Duration::from_secs(1);

pub fn client_for(account: &StripeAccount) -> Result<StripeClient, ClientError> {
    StripeClient::new(ClientConfig::for_account(account))
}

/// Starts the loops of every account on `tasks`; they stop when `shutdown` turns true.
pub fn spawn_account_loops(
    tasks: &mut JoinSet<()>,
    store: Arc<dyn Store>,
    accounts: &[StripeAccount],
    wakeups: &Wakeups,
    catchup_every: Duration,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    for account in accounts {
        let client = client_for(account)?;
        let catchup = Arc::new(Catchup {
            store: store.clone(),
            client: client.clone(),
            account: account.name.clone(),
            refetch: account.refetch,
        });
        let wakeup = wakeups.get(&account.name).cloned();
        tasks.spawn(every(catchup_every, None, shutdown.clone(), move || {
            let catchup = catchup.clone();
            async move {
                if let Err(e) = catchup.poll().await {
                    tracing::warn!(account = %catchup.account, error = %e, "catch-up poll failed; retrying next round");
                }
            }
        }));
        // Catch-up stores events too, so the applier also runs on its own clock, not only when
        // intake wakes it.
        if account.refetch {
            let refetcher = Arc::new(Refetcher {
                store: store.clone(),
                client,
                account: account.name.clone(),
            });
            tasks.spawn(every(APPLY_EVERY, wakeup, shutdown.clone(), move || {
                let refetcher = refetcher.clone();
                async move {
                    if let Err(e) = refetcher.drain().await {
                        tracing::warn!(account = %refetcher.account, error = %e, "refetch failed; retrying next round");
                    }
                }
            }));
        } else {
            let applier = Arc::new(Applier {
                store: store.clone(),
                account: account.name.clone(),
            });
            tasks.spawn(every(APPLY_EVERY, wakeup, shutdown.clone(), move || {
                let applier = applier.clone();
                async move {
                    tokio::time::sleep(crate::apply::GATHER).await;
                    if let Err(e) = applier.drain().await {
                        tracing::warn!(account = %applier.account, error = %e, "applying stored events failed; retrying next round");
                    }
                }
            }));
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
