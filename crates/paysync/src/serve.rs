//! `paysync serve`: the webhook server, each account's catch-up (and refetch) loop and reconciler,
//! and each destination's delivery worker. On PostgreSQL the work can be split: `serve
//! --receive-only` runs the server alone, `paysync worker` the loops alone, as many of each as
//! wanted (roles and leases in the store keep them from doing the same work twice).
//!
//! The sync loops run in generations: when the dashboard adds or removes a destination or sync,
//! the running generation finishes its round and stops, and a new one starts on the new
//! configuration (file plus managed entries). The server and the Stripe accounts' loops keep
//! running throughout; nothing is lost in between, since every queue is in the store.

use std::sync::Arc;

use anyhow::Context;
use paysync_core::config::{Config, RawConfig};
use paysync_engine::alerts::Alerter;
use paysync_engine::roles::Roles;
use paysync_engine::runner::SyncLoops;
use paysync_server::AppState;
use paysync_store::Store;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::load;

/// How long loops get to finish their round at shutdown or reload.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub use paysync_server::Env;

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `paysync serve`: the server and every loop.
    All,
    /// `paysync serve --receive-only`: the server only (webhooks, dashboard, API); workers
    /// sharing its PostgreSQL database run the loops.
    Receiver,
    /// `paysync worker`: the loops only.
    Worker,
}

impl Role {
    fn serves(self) -> bool {
        self != Role::Worker
    }

    fn works(self) -> bool {
        self != Role::Receiver
    }
}

/// How often the dashboard's destinations and syncs are compared with the running ones: another
/// process may have changed them.
const MANAGED_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// `file`: the configuration file as written, `config`: it resolved through `env`.
pub async fn run(file: RawConfig, config: Config, env: Env, role: Role) -> anyhow::Result<()> {
    if role != Role::All && config.database_url.is_none() {
        anyhow::bail!(
            "receivers and workers share their work through a PostgreSQL database: set store.url \
             (with the SQLite file, `paysync serve` alone runs everything)"
        );
    }
    let store = load::open_store(&config).await?;
    let wakeups = paysync_engine::wakeups(&config);
    // Per account: the applier tells the reconciler the ledger changed. They outlive
    // generations, as the accounts' loops do.
    let reconcile_wakeups: paysync_engine::Wakeups = Arc::new(
        config
            .accounts
            .iter()
            .map(|a| (a.name.clone(), Arc::new(Notify::new())))
            .collect(),
    );
    let roles = Roles::new(store.clone());
    let alerter = Alerter::new(&config.alerts, store.clone())?;
    let (stop, stopped) = watch::channel(false);
    let mut account_loops = JoinSet::new();
    if role.works() {
        paysync_engine::runner::spawn_log_pruning(
            &mut account_loops,
            store.clone(),
            config.store.log_retention_days,
            &roles,
            stopped.clone(),
        );
        paysync_engine::runner::spawn_account_loops(
            &mut account_loops,
            &config.accounts,
            paysync_engine::runner::AccountLoops {
                store: store.clone(),
                wakeups: &wakeups,
                reconcile_wakeups: &reconcile_wakeups,
                catchup_every: std::time::Duration::from_secs(config.catchup_interval_secs),
                alerter: &alerter,
                roles: &roles,
            },
            stopped,
        )?;
    }

    let generation = Generation {
        store: store.clone(),
        alerter: &alerter,
        reconcile_wakeups: &reconcile_wakeups,
        roles: &roles,
        works: role.works(),
    };
    let mut managed = store.managed_config().await.ok();
    let effective = effective_config(&file, &config, &store, &env).await;
    let (mut running, syncs) = generation.start(&effective).await?;
    let state = AppState::new(
        store.clone(),
        (file.clone(), env.clone()),
        effective,
        wakeups.clone(),
        &syncs,
    );
    // The server, or for a worker the signal to stop: the process ends with it.
    let mut server = if role.serves() {
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        for account in &config.accounts {
            tracing::info!(account = %account.name, mode = %account.mode, url = %format!("http://{addr}/webhooks/stripe/{}", account.name), "webhook endpoint ready");
        }
        tracing::info!(%addr, "paysync serving; dashboard and status at http://{addr}/");
        tokio::spawn(paysync_server::serve(
            listener,
            state.clone(),
            shutdown_signal(),
        ))
    } else {
        tracing::info!("paysync worker running");
        tokio::spawn(async {
            shutdown_signal().await;
            Ok(())
        })
    };
    let served = loop {
        let reload = tokio::select! {
            served = &mut server => break served,
            () = state.reload_requested() => true,
            () = tokio::time::sleep(MANAGED_POLL) => {
                let now = store.managed_config().await.ok();
                now.is_some() && now != managed
            }
        };
        if reload {
            // What this generation runs on (changed here or by another process).
            managed = store.managed_config().await.ok();
            tracing::info!("the configuration changed: restarting the sync loops");
            running.stop().await;
            let effective = effective_config(&file, &config, &store, &env).await;
            let (next, syncs) = generation.start(&effective).await?;
            state.install(effective, wakeups.clone(), &syncs);
            running = next;
            tracing::info!("the sync loops run on the new configuration");
        }
    };
    let _ = stop.send(true);
    running.stop().await;
    drain(account_loops).await;
    served.context("the server task")??;
    tracing::info!("paysync stopped");
    Ok(())
}

/// The file's configuration with the dashboard's destinations and syncs. Should they not
/// resolve (their stored secrets sealed under another key, say), the file's alone is run and
/// the problems are logged: the dashboard shows them and can fix them.
async fn effective_config(
    file: &RawConfig,
    config: &Config,
    store: &Arc<dyn Store>,
    env: &Env,
) -> Config {
    let resolved = async {
        let raw = paysync_engine::managed::with_managed(file, store.as_ref()).await?;
        paysync_engine::managed::resolve(&raw, store.as_ref(), env.as_ref()).await
    };
    match resolved.await {
        Ok((effective, _warnings)) => effective,
        Err(e) => {
            tracing::error!(error = %e, "the dashboard's destinations and syncs are not used");
            config.clone()
        }
    }
}

/// What every generation of sync loops shares.
struct Generation<'a> {
    store: Arc<dyn Store>,
    alerter: &'a Alerter,
    reconcile_wakeups: &'a paysync_engine::Wakeups,
    roles: &'a Arc<Roles>,
    /// False for a receiver: its generations run no loops.
    works: bool,
}

/// A generation's loops and the switch that stops them.
struct Running {
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
}

impl Generation<'_> {
    async fn start(
        &self,
        config: &Config,
    ) -> anyhow::Result<(Running, paysync_engine::runner::SyncLoops)> {
        let (stop, stopped) = watch::channel(false);
        let mut loops = JoinSet::new();
        if !self.works {
            return Ok((Running { stop, loops }, SyncLoops::default()));
        }
        let syncs = paysync_engine::runner::spawn_sync_loops(
            &mut loops,
            self.store.clone(),
            config,
            paysync_engine::runner::SyncShared {
                token_store: &load::token_store(&self.store),
                alerter: self.alerter,
                reconcile_wakeups: self.reconcile_wakeups,
                roles: self.roles,
            },
            stopped,
        )
        .await?;
        Ok((Running { stop, loops }, syncs))
    }
}

impl Running {
    async fn stop(&mut self) {
        let _ = self.stop.send(true);
        drain(std::mem::take(&mut self.loops)).await;
    }
}

/// Lets loops finish their round; a delivery round can be long (an asynchronous bulk import), so
/// it is abandoned after a grace period: its rows stay leased until the next generation or start
/// releases them and sends them again (operations are idempotent: upserts, set-based lists and
/// tags).
async fn drain(mut loops: JoinSet<()>) {
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while loops.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("stopping loops still busy after {SHUTDOWN_GRACE:?}; abandoning them");
        loops.shutdown().await;
    }
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
