//! `paysync log`: the sync log and audit trail — every delivery (contact, destination, a
//! summary of the operations without secrets or personal field values, outcome, attempt,
//! latency), backfills, catch-up gaps and alerts — newest first, filtered.

use anyhow::anyhow;
use paysync_core::config::Config;
use paysync_core::dates::parse_duration;
use paysync_core::object::normalise_email;
use paysync_store::{Level, LogQuery};

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    account: Option<String>,
    /// Kinds starting with this: `delivery`, `backfill`, `catchup`, `alert`.
    #[arg(long)]
    kind: Option<String>,
    /// This level and worse: info, warn, error.
    #[arg(long, value_parser = Level::parse)]
    level: Option<Level>,
    /// Entries about one person (any case).
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    destination: Option<String>,
    #[arg(long)]
    sync: Option<String>,
    /// Only the last 30m, 12h, 7d…
    #[arg(long)]
    since: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let now = paysync_engine::now_ms();
    let since = match &args.since {
        Some(s) => Some(now - parse_duration(s).map_err(|e| anyhow!(e))? * 1000),
        None => None,
    };
    let person = match &args.email {
        Some(e) => Some(normalise_email(e).ok_or_else(|| anyhow!("{e:?} is not an email"))?),
        None => None,
    };
    let store = load::open_store(&config).await?;
    let records = store
        .query_log(LogQuery {
            account: args.account,
            kind: args.kind,
            min_level: args.level,
            person,
            destination: args.destination,
            sync: args.sync,
            since,
            before_id: None,
            limit: args.limit,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    for r in &records {
        let secs = (now - r.at).max(0) / 1000;
        println!(
            "#{:<7} {:>6}s ago {:<5} {:<18} {}",
            r.id, secs, r.level, r.kind, r.message
        );
    }
    if records.is_empty() {
        println!("no entries");
    }
    Ok(())
}
