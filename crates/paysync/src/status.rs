//! `paysync status [--json]`.

use paysync_core::config::Config;
use paysync_engine::status::{AccountStatus, account_status};

use crate::load;

pub async fn run(config: Config, json: bool) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let mut all = Vec::new();
    for account in &config.accounts {
        all.push(account_status(&store, account).await?);
    }
    let now = paysync_engine::now_ms();
    let known = store.outbox_summary(now).await?;
    // Every configured destination, with zeros when nothing was ever queued for it.
    let outbox: Vec<paysync_store::OutboxSummary> = config
        .destinations
        .iter()
        .map(|d| {
            known
                .iter()
                .find(|o| o.destination == d.name)
                .cloned()
                .unwrap_or_else(|| paysync_store::OutboxSummary {
                    destination: d.name.clone(),
                    ..Default::default()
                })
        })
        .collect();
    let suppressed = store.suppression_counts().await?;
    let suppressions: Vec<_> = config
        .destinations
        .iter()
        .map(|d| {
            let n = suppressed
                .iter()
                .find(|(name, _)| *name == d.name)
                .map_or(0, |c| c.1);
            serde_json::json!({"destination": d.name, "people": n})
        })
        .collect();
    let contacts = store.contacts_per_sync().await?;
    let syncs: Vec<_> = config
        .syncs
        .iter()
        .map(|s| {
            let n = contacts.iter().find(|(name, _)| *name == s.name).map_or(0, |c| c.1);
            serde_json::json!({"sync": s.name, "account": s.account, "destination": s.destination, "contacts": n})
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "accounts": all,
                "destinations": outbox,
                "syncs": syncs,
                "suppressions": suppressions,
            }))?
        );
    } else {
        for s in &all {
            print_account(s, now);
        }
        print_outbox(&config, &outbox, now);
        for s in suppressions.iter().filter(|s| s["people"] != 0) {
            println!(
                "destination {}: {} people unsubscribed there and are suppressed (`paysync consent`)",
                s["destination"].as_str().unwrap_or_default(),
                s["people"]
            );
        }
        for s in &syncs {
            println!(
                "sync {} ({} → {}): {} contacts acknowledged",
                s["sync"].as_str().unwrap_or_default(),
                s["account"].as_str().unwrap_or_default(),
                s["destination"].as_str().unwrap_or_default(),
                s["contacts"]
            );
        }
    }
    Ok(())
}

fn print_outbox(config: &Config, outbox: &[paysync_store::OutboxSummary], now: i64) {
    for (d, o) in config.destinations.iter().zip(outbox) {
        let oldest = match o.oldest_due_at {
            Some(at) if at <= now => format!(", oldest due {}", ago(Some(at), now)),
            _ => String::new(),
        };
        println!(
            "destination {}: {} queued ({} due, {} in flight{oldest}), {} dead letters",
            d.name, o.pending, o.due, o.in_flight, o.dead
        );
        if o.dead > 0 {
            println!(
                "  !! see them with `paysync dead-letters --destination {0}`; after fixing the cause, `paysync replay --all`",
                d.name
            );
        }
    }
}

fn ago(at: Option<i64>, now: i64) -> String {
    match at {
        None => "never".into(),
        Some(at) => {
            let secs = (now - at).max(0) / 1000;
            match secs {
                0..60 => format!("{secs}s ago"),
                60..3600 => format!("{}m ago", secs / 60),
                3600..86400 => format!("{}h ago", secs / 3600),
                _ => format!("{}d ago", secs / 86400),
            }
        }
    }
}

fn print_account(s: &AccountStatus, now: i64) {
    println!("account {} ({} mode)", s.account, s.mode);
    println!("  objects:");
    for k in &s.objects {
        println!(
            "    {:<18} {:>9} live {:>7} deleted",
            k.kind, k.live, k.deleted
        );
    }
    println!(
        "  events {}  not yet in the ledger {}  dirty people {}",
        s.events, s.pending_events, s.dirty_customers
    );
    println!(
        "  held, never pushed: {} customers without email, {} objects naming no person",
        s.customers_without_email, s.unattributed_objects
    );
    for h in &s.held {
        println!(
            "  sync {}: {} people held ({})",
            h.sync,
            h.count,
            h.reason.replace('_', " ")
        );
    }
    println!("  last webhook: {}", ago(s.last_webhook_at, now));
    match &s.catchup {
        None => println!("  catch-up: never ran"),
        Some(c) => {
            println!(
                "  catch-up: last poll {}, at {}",
                ago(Some(c.last_poll_at), now),
                c.position.event_id.as_deref().unwrap_or("(no events yet)")
            );
            if c.backfill_needed {
                println!(
                    "  !! events were lost beyond Stripe's 30-day retention: run `paysync backfill --account {}`",
                    s.account
                );
            }
        }
    }
    if s.backfill.is_empty() {
        println!("  backfill: never ran");
    }
    for b in &s.backfill {
        let state = match (&b.progress.skipped, b.progress.done) {
            (Some(why), _) => format!("skipped ({why})"),
            (None, true) => format!("done {}", ago(b.progress.finished_at, now)),
            (None, false) => "in progress (resumable)".into(),
        };
        println!(
            "  backfill {:<18} {:>9} objects  {state}",
            b.resource, b.progress.stored
        );
    }
    if s.rejected_webhooks.is_empty() {
        println!("  rejected webhooks: none");
    }
    for r in &s.rejected_webhooks {
        println!(
            "  rejected webhooks {:<22} {:>7}  last {}",
            r.reason,
            r.count,
            ago(Some(r.last_at), now)
        );
    }
}
