//! `paysync erase --email …`: removes a person from every destination and from paysync's own
//! store, and prints a receipt per system (a right-to-erasure request).
//!
//! Order matters: paysync first stops syncing the person (the store records a hash of the
//! address, so nothing about them is queued, acknowledged or logged again) and waits for
//! deliveries already in flight, so that no worker writes them back after their deletion; then
//! each destination deletes them; then the store deletes its rows and compacts its file.
//! Stripe is the source of record and is not changed: the receipt names the customers to delete
//! there.

use std::time::{Duration, Instant};

use anyhow::bail;
use paysync_core::config::{Config, DestinationConfig, DestinationKind};
use paysync_core::object::normalise_email;
use paysync_destinations::{Email, OutcomeKind, Removal, RemovalKind};
use paysync_engine::deliver::RetryPolicy;
use paysync_engine::now_ms;
use paysync_store::{ErasedRows, Store};
use serde::Serialize;

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    /// The person's email address.
    #[arg(long)]
    email: String,
    /// Confirms the erasure: it cannot be undone.
    #[arg(long)]
    yes: bool,
    /// Receipts as JSON lines.
    #[arg(long)]
    json: bool,
}

/// What one system did with the request.
#[derive(Debug, Serialize)]
struct Receipt {
    system: String,
    name: String,
    /// `erased`, `not_found`, `failed`, or `unchanged` (Stripe).
    outcome: &'static str,
    detail: String,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<std::process::ExitCode> {
    let Some(person) = normalise_email(&args.email) else {
        bail!("{:?} is not an email address", args.email);
    };
    let email = Email::parse(&person)?;
    if !args.yes {
        bail!(
            "erasing {person} deletes them from every destination and from paysync, for good: \
             run again with --yes"
        );
    }
    let store = load::open_store(&config).await?;
    wait_for_deliveries_in_flight(&store, &person).await?;

    let tokens = load::token_store(&store);
    let mut receipts = Vec::new();
    for d in &config.destinations {
        receipts.push(erase_at(d, tokens(&d.name), &email).await);
    }
    let rows = store.erase_person(&person).await?;
    receipts.push(Receipt {
        system: "paysync".into(),
        // The database's URL is not printed: it may hold a password.
        name: if config.database_url.is_some() {
            "PostgreSQL (store.url)".into()
        } else {
            config.store.path.clone()
        },
        outcome: "erased",
        detail: store_detail(&rows),
    });
    for (account, customer) in &rows.customers {
        receipts.push(Receipt {
            system: "stripe".into(),
            name: account.clone(),
            outcome: "unchanged",
            detail: format!(
                "Stripe is the source of record and paysync does not delete from it: delete \
                 customer {customer} there if the request covers payment records (paysync will \
                 not sync this person again either way)"
            ),
        });
    }
    print(&person, &receipts, args.json)?;
    let failed = receipts.iter().filter(|r| r.outcome == "failed").count();
    if failed > 0 {
        eprintln!("error: {failed} system(s) failed: run the same command again to retry them");
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Stops new work for the person and waits until no delivery of theirs is leased by a worker
/// (at most one lease).
async fn wait_for_deliveries_in_flight(
    store: &std::sync::Arc<dyn Store>,
    person: &str,
) -> anyhow::Result<()> {
    let lease = Duration::from_millis(RetryPolicy::default().lease_ms.unsigned_abs());
    let deadline = Instant::now() + lease + Duration::from_secs(5);
    loop {
        let in_flight = store.begin_erasure(person, now_ms()).await?;
        if in_flight == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{in_flight} delivery(ies) for this person are still in flight: try again");
        }
        tracing::info!(in_flight, "waiting for deliveries in flight before erasing");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn vendor(kind: &DestinationKind) -> &'static str {
    match kind {
        DestinationKind::ConstantContact { .. } => "constant_contact",
        DestinationKind::ActiveCampaign { .. } => "activecampaign",
        DestinationKind::Mailchimp { .. } => "mailchimp",
    }
}

async fn erase_at(
    d: &DestinationConfig,
    tokens: std::sync::Arc<dyn paysync_destinations::constant_contact::TokenStore>,
    email: &Email,
) -> Receipt {
    let receipt = |outcome, detail: String| Receipt {
        system: vendor(&d.kind).into(),
        name: d.name.clone(),
        outcome,
        detail,
    };
    let connector = match paysync_engine::connect::connector(d, tokens, None).await {
        Ok(c) => c,
        Err(e) => return receipt("failed", format!("cannot connect: {e}")),
    };
    let held = match connector.read_contact(email).await {
        Ok(c) => c.is_some(),
        Err(e) => return receipt("failed", format!("cannot read the contact: {e}")),
    };
    let removal = Removal {
        email: email.clone(),
        how: RemovalKind::Delete,
    };
    let outcome = connector.remove_contacts(&[removal]).await.remove(0);
    if outcome.kind() != OutcomeKind::Ok {
        return receipt("failed", format!("the delete failed: {outcome:?}"));
    }
    let permanent = connector.capabilities().permanent_delete;
    if permanent {
        match connector.read_contact(email).await {
            Ok(None) => {}
            Ok(Some(_)) => return receipt("failed", "the contact is still there".into()),
            Err(e) => return receipt("failed", format!("cannot check the delete: {e}")),
        }
    }
    let extra = match &d.kind {
        DestinationKind::Mailchimp { .. } => {
            " (Mailchimp's permanent delete: the address cannot be added to the audience again by API)"
        }
        DestinationKind::ActiveCampaign { .. } => " with its e-commerce customers and orders",
        DestinationKind::ConstantContact { .. } => {
            " after its personal data was overwritten: Constant Contact never hard-deletes, and \
             keeps an emptied, hidden record under a random address (its support can purge it)"
        }
    };
    if held {
        receipt("erased", format!("contact deleted{extra}"))
    } else {
        receipt("not_found", "no contact held this address".into())
    }
}

fn store_detail(rows: &ErasedRows) -> String {
    format!(
        "deleted {} Stripe object(s), {} event(s), {} queued operation(s), {} acknowledged \
         state(s), {} consent record(s), {} suppression(s), {} opt-in request(s), {} log \
         entr(ies); database compacted. Only a SHA-256 of the address is kept, so that paysync \
         never syncs this person again",
        rows.objects,
        rows.events,
        rows.outbox,
        rows.acknowledged,
        rows.consent_records,
        rows.suppressions,
        rows.opt_in_requests,
        rows.log_entries,
    )
}

fn print(person: &str, receipts: &[Receipt], json: bool) -> anyhow::Result<()> {
    if json {
        for r in receipts {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    println!("erase {person}");
    for r in receipts {
        println!("  {} {:?}: {} — {}", r.system, r.name, r.outcome, r.detail);
    }
    Ok(())
}
