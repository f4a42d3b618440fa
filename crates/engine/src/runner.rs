//! The background loops `paysync serve` runs per account: Events-API catch-up and, for accounts in
//! refetch mode, settling deferred events. A failing round is logged and retried next round.

use std::sync::Arc;
use std::time::Duration;

use paysync_core::config::StripeAccount;
use paysync_store::Store;
use paysync_stripe::{ClientConfig, ClientError, StripeClient};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::catchup::Catchup;
use crate::refetch::Refetcher;

/// How often deferred events are looked for in refetch mode.
const REFETCH_EVERY: Duration = Duration::from_secs(1);

pub fn client_for(account: &StripeAccount) -> Result<StripeClient, ClientError> {
    StripeClient::new(ClientConfig::for_account(account))
}

/// Starts the loops of every account on `tasks`; they stop when `shutdown` turns true.
pub fn spawn_account_loops(
    tasks: &mut JoinSet<()>,
    store: Arc<dyn Store>,
    accounts: &[StripeAccount],
    catchup_every: Duration,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    for account in accounts {
        let client = client_for(account)?;
        let catchup = Catchup {
            store: store.clone(),
            client: client.clone(),
            account: account.name.clone(),
            refetch: account.refetch,
        };
        let catchup = Arc::new(catchup);
        tasks.spawn(every(catchup_every, shutdown.clone(), move || {
            let catchup = catchup.clone();
            async move {
                if let Err(e) = catchup.poll().await {
                    tracing::warn!(account = %catchup.account, error = %e, "catch-up poll failed; retrying next round");
                }
            }
        }));
        if account.refetch {
            let refetcher = Arc::new(Refetcher {
                store: store.clone(),
                client,
                account: account.name.clone(),
            });
            tasks.spawn(every(REFETCH_EVERY, shutdown.clone(), move || {
                let refetcher = refetcher.clone();
                async move {
                    if let Err(e) = refetcher.drain().await {
                        tracing::warn!(account = %refetcher.account, error = %e, "refetch failed; retrying next round");
                    }
                }
            }));
        }
    }
    Ok(())
}

/// Runs `round` now and then every `period` until shutdown.
async fn every<F, Fut>(period: Duration, mut shutdown: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => round().await,
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
