//! `paysync report`: the contacts report as CSV (or JSON lines) — per person, their Stripe
//! payment facts, the lists and tags each sync gives them, and their consent state at each
//! destination (`paysync_core::report`).

use std::collections::{BTreeMap, BTreeSet};

use paysync_core::config::Config;
use paysync_core::csv;
use paysync_core::report::{ConsentState, header, row};
use paysync_engine::now_ms;
use paysync_engine::reconcile::profile_of;

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

/// Person keys read per page.
const PAGE: usize = 500;

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let now_secs = now_ms() / 1000;
    // The newest consent fact per person and destination (the ledger is in id order).
    let mut consent: BTreeMap<String, BTreeMap<String, ConsentState>> = BTreeMap::new();
    for e in store.consent_ledger(None).await? {
        consent
            .entry(e.person)
            .or_default()
            .entry(e.destination)
            .or_default()
            .state = Some(e.state);
    }
    let mut out = String::new();
    for account in load::accounts(&config, args.account.as_deref())? {
        let syncs: Vec<_> = config
            .syncs
            .iter()
            .filter(|s| s.account == account.name)
            .cloned()
            .collect();
        let columns: Vec<String> = std::iter::once("account".to_owned())
            .chain(header(&syncs))
            .collect();
        if !args.json {
            out.push_str(&csv::row(&columns));
        }
        // Several customers with one email are one person: reported once.
        let mut seen = BTreeSet::new();
        let mut after = String::new();
        loop {
            let keys = store.person_keys(&account.name, &after, PAGE).await?;
            let Some(last) = keys.last() else { break };
            after = last.clone();
            for key in keys {
                let record = store.person(&account.name, &key).await?;
                let email = record.email.clone().unwrap_or_default();
                if !email.is_empty() && !seen.insert(email.clone()) {
                    continue;
                }
                let customers: Vec<String> = record
                    .objects
                    .iter()
                    .filter(|o| o.kind == "customer")
                    .map(|o| o.object_id.clone())
                    .collect();
                let mut states = consent.get(&email).cloned().unwrap_or_default();
                for s in store.suppressions(&email).await? {
                    states.entry(s.destination).or_default().suppressed = true;
                }
                let profile = profile_of(&record);
                let cells = std::iter::once(account.name.clone())
                    .chain(row(&email, &customers, &profile, &syncs, &states, now_secs))
                    .collect::<Vec<_>>();
                if args.json {
                    let object: serde_json::Map<String, serde_json::Value> = columns
                        .iter()
                        .cloned()
                        .zip(cells.into_iter().map(serde_json::Value::String))
                        .collect();
                    out.push_str(&serde_json::Value::Object(object).to_string());
                    out.push('\n');
                } else {
                    out.push_str(&csv::row(&cells));
                }
            }
        }
    }
    print!("{out}");
    Ok(())
}
