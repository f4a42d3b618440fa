//! `paysync serve`: the webhook server, each account's catch-up (and refetch) loop and reconciler,
//! and each destination's delivery worker.

use anyhow::Context;
use paysync_core::config::Config;
use paysync_engine::alerts::Alerter;
use paysync_server::AppState;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::load;

/// How long loops get to finish their round at shutdown.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut loops = JoinSet::new();
    let wakeups = paysync_engine::wakeups(&config);
    let alerter = Alerter::new(&config.alerts, store.clone())?;
    let syncs = paysync_engine::runner::spawn_sync_loops(
        &mut loops,
        store.clone(),
        &config,
        &load::token_store(&store),
        &alerter,
        stopped.clone(),
    )
    .await?;
    paysync_engine::runner::spawn_log_pruning(
        &mut loops,
        store.clone(),
        config.store.log_retention_days,
        stopped.clone(),
    );
    paysync_engine::runner::spawn_account_loops(
        &mut loops,
        &config.accounts,
        paysync_engine::runner::AccountLoops {
            store: store.clone(),
            wakeups: &wakeups,
            reconcile_wakeups: &syncs.reconcile_wakeups,
            catchup_every: std::time::Duration::from_secs(config.catchup_interval_secs),
            alerter: &alerter,
        },
        stopped,
    )?;
    for account in &config.accounts {
        tracing::info!(account = %account.name, mode = %account.mode, url = %format!("http://{addr}/webhooks/stripe/{}", account.name), "webhook endpoint ready");
    }
    tracing::info!(%addr, "paysync serving; status at /status");
    let state = AppState::new(store, config, wakeups, &syncs);
    paysync_server::serve(listener, state, shutdown_signal()).await?;
    let _ = stop.send(true);
    // Loops finish their round; a delivery round can be long (an asynchronous bulk import), so
    // it is abandoned after a grace period: its rows stay leased until the next start releases
    // them and sends them again (operations are idempotent: upserts, set-based lists and tags).
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while loops.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("stopping loops still busy after {SHUTDOWN_GRACE:?}");
        loops.shutdown().await;
    }
    tracing::info!("paysync stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
