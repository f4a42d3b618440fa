//! `paysync dead-letters` and `paysync replay`: operations a destination refused for good, and
//! sending them again once their cause is fixed (a field created, a list restored, an address
//! corrected in Stripe — in which case the reconciler has usually superseded them already).

use anyhow::bail;
use paysync_core::config::Config;

use crate::load;

#[derive(clap::Args)]
#[group(id = "which", required = true, multiple = false)]
pub struct Args {
    /// One dead letter, by the id `paysync dead-letters` shows.
    #[arg(long, group = "which")]
    id: Option<i64>,
    /// Every dead letter.
    #[arg(long, group = "which")]
    all: bool,
}

pub async fn list(
    config: Config,
    destination: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(d) = &destination
        && config.destination(d).is_none()
    {
        bail!("no destination is named {d:?}");
    }
    let store = load::open_store(&config).await?;
    let dead = store.dead_letters(destination.as_deref(), limit).await?;
    if json {
        let rows: Vec<_> = dead
            .iter()
            .map(paysync_engine::deliver::dead_letter_view)
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if dead.is_empty() {
        println!("no dead letters");
    }
    for e in &dead {
        println!(
            "#{} {} → {} {} ({} operations, {} attempts): {}",
            e.id,
            e.sync,
            e.destination,
            e.person,
            e.ops.len(),
            e.attempts,
            e.last_error.as_deref().unwrap_or("no reason recorded")
        );
    }
    Ok(())
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let id = if args.all { None } else { args.id };
    let n = store.replay(id, paysync_engine::now_ms()).await?;
    match (id, n) {
        (Some(id), 0) => bail!("no dead letter has id {id}"),
        _ => println!("{n} dead letters queued again; a running `paysync serve` sends them now"),
    }
    Ok(())
}
