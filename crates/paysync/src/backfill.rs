//! `paysync backfill` and `paysync catchup`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use paysync_core::config::Config;
use paysync_engine::alerts::{Alert, AlertKind, Alerter};
use paysync_engine::backfill::{Backfill, Progress, Window};
use paysync_engine::catchup::Catchup;
use paysync_engine::runner::client_for;

use paysync_core::dates;

use crate::load;

#[derive(clap::Args)]
#[group(id = "window", multiple = false)]
pub struct Args {
    /// Only this account (default: all).
    #[arg(long)]
    account: Option<String>,
    /// Objects created on or after this date (YYYY-MM-DD, UTC).
    #[arg(long, group = "window")]
    since: Option<String>,
    /// Objects created in the last N days.
    #[arg(long, group = "window")]
    days: Option<u32>,
    /// All history (the default).
    #[arg(long, group = "window")]
    all: bool,
    /// Leave the reading to the running workers (`serve`, `paysync worker`): the backfill is
    /// queued in the store, split into units (per resource, and per time slice when the window
    /// has a start) that the workers share.
    #[arg(long)]
    queue: bool,
}

impl Args {
    fn window(&self, now_ms: i64) -> anyhow::Result<Window> {
        if let Some(since) = &self.since {
            return dates::parse_date(since)
                .map(Window::Since)
                .map_err(anyhow::Error::msg);
        }
        if let Some(days) = self.days {
            return Ok(Window::last_days(days, now_ms));
        }
        Ok(Window::All)
    }
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let window = args.window(paysync_engine::now_ms())?;
    let store = load::open_store(&config).await?;
    if args.queue {
        let now = paysync_engine::now_ms();
        for account in load::accounts(&config, args.account.as_deref())? {
            let units = paysync_engine::backfill::queue(store.as_ref(), &account.name, window, now)
                .await
                .with_context(|| format!("queueing the backfill of account {}", account.name))?;
            println!(
                "{}: backfill queued in {units} units; the workers read it (see `paysync status`)",
                account.name
            );
        }
        return Ok(());
    }
    let alerter = Alerter::new(&config.alerts, store.clone())?;
    for account in load::accounts(&config, args.account.as_deref())? {
        let started = Instant::now();
        let backfill = Backfill {
            store: store.clone(),
            client: client_for(account)?,
            account: account.name.clone(),
            window,
        };
        tracing::info!(account = %account.name, ?window, "backfill starting");
        let report = backfill
            .run(progress_reporter(&account.name))
            .await
            .with_context(|| format!("backfill of account {}", account.name))?;
        let total: u64 = report.resources.iter().map(|(_, p)| p.stored).sum();
        println!(
            "{}: backfill complete, {total} objects in {:.1}s",
            account.name,
            started.elapsed().as_secs_f64()
        );
        for (resource, p) in &report.resources {
            let note = p
                .skipped
                .as_deref()
                .map(|s| format!(" (skipped: {s})"))
                .unwrap_or_default();
            println!("  {resource:<18} {:>9}{note}", p.stored);
        }
        alerter
            .raise(Alert {
                kind: AlertKind::BackfillFinished,
                subject: account.name.clone(),
                summary: format!(
                    "backfill of Stripe account {} finished: {total} objects",
                    account.name
                ),
                detail: serde_json::json!({
                    "account": account.name,
                    "seconds": started.elapsed().as_secs(),
                    "resources": report.resources.iter().map(|(r, p)| (r.to_string(), p.stored)).collect::<std::collections::BTreeMap<_, _>>(),
                }),
            })
            .await;
    }
    // The command exits next: let the alerts leave first.
    alerter.flush().await;
    Ok(())
}

/// A progress bar per resource on a terminal; plain log lines otherwise.
fn progress_reporter(account: &str) -> Arc<dyn Fn(Progress) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bars = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>18} {spinner} {human_pos:>9} objects  {per_sec:>12}  {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let by_resource = Mutex::new(std::collections::HashMap::new());
        Arc::new(move |p: Progress| {
            let Ok(mut map) = by_resource.lock() else {
                return;
            };
            match p {
                Progress::Started {
                    resource,
                    resumed_at,
                } => {
                    let bar = bars.add(indicatif::ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(resource);
                    bar.set_position(resumed_at);
                    bar.enable_steady_tick(std::time::Duration::from_millis(200));
                    map.insert(resource, bar);
                }
                Progress::Page { resource, stored } => {
                    if let Some(bar) = map.get(resource) {
                        bar.set_position(stored);
                    }
                }
                Progress::Finished {
                    resource,
                    stored,
                    skipped,
                } => {
                    if let Some(bar) = map.get(resource) {
                        bar.set_position(stored);
                        bar.finish_with_message(
                            skipped.map_or("done".into(), |s| format!("skipped: {s}")),
                        );
                    }
                }
            }
        })
    } else {
        let account = account.to_owned();
        let started = Instant::now();
        Arc::new(move |p: Progress| match p {
            Progress::Started {
                resource,
                resumed_at,
            } => {
                tracing::info!(%account, resource, resumed_at, "backfill of resource started")
            }
            Progress::Page { resource, stored } => {
                let rate = stored as f64 / started.elapsed().as_secs_f64().max(0.001);
                tracing::info!(%account, resource, stored, rate = format!("{rate:.0}/s"), "backfill page stored")
            }
            Progress::Finished {
                resource,
                stored,
                skipped,
            } => {
                tracing::info!(%account, resource, stored, skipped, "backfill of resource finished")
            }
        })
    }
}

pub async fn catchup(config: Config, only: Option<String>) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    for account in load::accounts(&config, only.as_deref())? {
        let catchup = Catchup {
            store: store.clone(),
            client: client_for(account)?,
            account: account.name.clone(),
            refetch: account.refetch,
        };
        let report = catchup
            .poll()
            .await
            .with_context(|| format!("catch-up of account {}", account.name))?;
        println!(
            "{}: read {} events, stored {} new{}",
            account.name,
            report.read,
            report.stored,
            if report.gap {
                "; GAP beyond 30 days: run `paysync backfill`"
            } else {
                ""
            }
        );
        // Carry what was stored into the ledger now, as `serve`'s applier would.
        if account.refetch {
            let refetcher = paysync_engine::refetch::Refetcher {
                store: store.clone(),
                client: client_for(account)?,
                account: account.name.clone(),
            };
            refetcher.drain().await?;
        } else {
            let applier = paysync_engine::apply::Applier {
                store: store.clone(),
                account: account.name.clone(),
            };
            applier.drain().await?;
        }
    }
    Ok(())
}
