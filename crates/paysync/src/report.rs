//! `paysync report`: the contacts report as CSV (or JSON lines) — per person, their Stripe
//! payment facts, the lists and tags each sync gives them, and their consent state at each
//! destination (`paysync_engine::report`).

use paysync_core::config::Config;
use paysync_engine::now_ms;

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    /// Only this account (default: all).
    #[arg(long)]
    account: Option<String>,
    /// JSON lines (one object per person) instead of CSV.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let accounts = load::accounts(&config, args.account.as_deref())?;
    let reports =
        paysync_engine::report::contacts(store.as_ref(), &config, &accounts, now_ms() / 1000)
            .await?;
    let mut out = String::new();
    for report in &reports {
        if args.json {
            for object in report.objects() {
                out.push_str(&object.to_string());
                out.push('\n');
            }
        } else {
            out.push_str(&report.csv());
        }
    }
    print!("{out}");
    Ok(())
}
