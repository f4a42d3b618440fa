//! `paysync preview`: what paysync would do, before it does it.
//! - `--email … | --customer …`: one person as paysync sees them — every Stripe customer merged
//!   into one profile, the lists and tags each sync gives them, and the operations each
//!   destination would get now (against what it acknowledged).
//! - `--impact` (with `--config new.toml` to preview a new configuration): for every person, how many would join or leave each list and
//!   tag, and how many joins an unsubscribe would block — the blast radius of a configuration
//!   change, computed without contacting any destination.

use anyhow::bail;
use paysync_core::config::Config;
use paysync_core::object::normalise_email;
use paysync_core::segments::{Context, membership};
use paysync_engine::connect::offline_plan;
use paysync_engine::reconcile::{
    ConsentFacts, Plan, SyncPlan, is_suppressed, person_key, plan, profile_of,
};

use crate::load;

#[derive(clap::Args)]
#[group(id = "who", multiple = false)]
pub struct Args {
    /// The person's email (any case).
    #[arg(long, group = "who")]
    email: Option<String>,
    /// A Stripe customer id; the preview covers every customer sharing its email.
    #[arg(long, group = "who")]
    customer: Option<String>,
    /// Count what the configuration would change for everyone.
    #[arg(long, group = "who")]
    impact: bool,
    /// Only this Stripe account (default: the first).
    #[arg(long)]
    account: Option<String>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let account = match load::accounts(&config, args.account.as_deref())?.first() {
        Some(a) => a.name.clone(),
        None => bail!("no Stripe account is configured"),
    };
    let store = load::open_store(&config).await?;
    let mut plans: Vec<SyncPlan> = Vec::new();
    for sync in config.syncs_of(&account) {
        plans.push(offline_plan(store.as_ref(), sync).await?);
    }
    let now = paysync_engine::now_ms();
    if args.impact {
        if plans.is_empty() {
            bail!("account {account} has no [[syncs]] to preview");
        }
        let impact = paysync_engine::impact::impact(
            store.as_ref(),
            &account,
            &plans,
            config.consent.carry_unsubscribes,
            now,
        )
        .await?;
        println!("{}", serde_json::to_string_pretty(&impact)?);
        return Ok(());
    }
    let key = match (&args.email, &args.customer) {
        (Some(email), _) => match normalise_email(email) {
            Some(e) => format!("email:{e}"),
            None => bail!("{email:?} is not an email address"),
        },
        (None, Some(customer)) => customer.clone(),
        (None, None) => bail!("say who: --email, --customer, or --impact for everyone"),
    };
    let person = store.person(&account, &key).await?;
    if person.objects.is_empty() {
        bail!("account {account} has nothing for {key}");
    }
    let profile = profile_of(&person);
    let mut syncs = Vec::new();
    for sync in &plans {
        let ctx = Context {
            now: now.div_euclid(1000),
            exists_in_destination: false,
        };
        let rules = sync.rules();
        let member = membership(rules.segments, rules.event_tags, &profile, &ctx);
        let ops = match person_key(&profile) {
            None => serde_json::json!({"held": "no usable email: never pushed"}),
            Some(email) => {
                let state = store
                    .delivery_state(&sync.config.name, email.as_str())
                    .await?;
                let facts = ConsentFacts {
                    suppressed: is_suppressed(
                        &store.suppressions(email.as_str()).await?,
                        &sync.config.destination,
                        config.consent.carry_unsubscribes,
                    ),
                    opted_in: store.opted_in(&sync.config.name, email.as_str()).await?,
                };
                match plan(sync, &profile, &state, facts, now) {
                    Plan::Ops(ops) => serde_json::to_value(&ops)?,
                    Plan::Skipped(skip) => serde_json::json!({"held": format!("{skip:?}")}),
                }
            }
        };
        syncs.push(serde_json::json!({
            "sync": sync.config.name,
            "destination": sync.config.destination,
            "lists": member.lists,
            "tags": member.tags,
            "ops": ops,
        }));
    }
    let out = serde_json::json!({
        "account": account,
        "objects": person.objects.len(),
        "profile": profile,
        "syncs": syncs,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
