//! `paysync consent`: the consent ledger — every consent fact paysync learnt or recorded, per
//! person and destination — as CSV (for a spreadsheet or an auditor) or JSON.

use paysync_core::config::Config;
use paysync_core::csv;
use paysync_core::object::normalise_email;

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    /// Only this person.
    #[arg(long)]
    email: Option<String>,
    /// JSON lines instead of CSV.
    #[arg(long)]
    json: bool,
}

const HEADER: [&str; 8] = [
    "person",
    "destination",
    "state",
    "source",
    "basis",
    "at",
    "suppressed_now",
    "details",
];

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = load::open_store(&config).await?;
    let person = match args.email.as_deref() {
        Some(raw) => match normalise_email(raw) {
            Some(email) => Some(email),
            None => anyhow::bail!("{raw:?} is not an email address"),
        },
        None => None,
    };
    let entries = store.consent_ledger(person.as_deref()).await?;
    let mut out = String::new();
    if !args.json {
        out.push_str(&csv::row(&HEADER));
    }
    for e in &entries {
        let suppressed = store
            .suppressions(&e.person)
            .await?
            .iter()
            .any(|s| s.destination == e.destination);
        let at = paysync_core::dates::rfc3339(e.at);
        if args.json {
            let mut line = serde_json::to_value(e)?;
            line["at"] = at.into();
            line["suppressed_now"] = suppressed.into();
            out.push_str(&line.to_string());
            out.push('\n');
        } else {
            out.push_str(&csv::row(&[
                e.person.as_str(),
                &e.destination,
                &e.state,
                &e.source,
                &e.basis,
                &at,
                if suppressed { "yes" } else { "no" },
                e.details.as_deref().unwrap_or(""),
            ]));
        }
    }
    print!("{out}");
    Ok(())
}
