//! `paysync preview --email … | --customer …`: a person as paysync sees them — every Stripe
//! customer merged into one profile, and the built-in payment-activity lists and event tags they
//! belong to now.

use anyhow::bail;
use paysync_core::config::Config;
use paysync_core::profile::{PersonObject, fold};
use paysync_core::segments::{Context, EventTags, membership, payment_activity_lists};
use paysync_core::{ObjectKind, object::normalise_email};

use crate::load;

#[derive(clap::Args)]
#[group(id = "who", required = true, multiple = false)]
pub struct Args {
    /// The person's email (any case).
    #[arg(long, group = "who")]
    email: Option<String>,
    /// A Stripe customer id; the preview covers every customer sharing its email.
    #[arg(long, group = "who")]
    customer: Option<String>,
    /// Only this Stripe account (default: the first).
    #[arg(long)]
    account: Option<String>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let account = match load::accounts(&config, args.account.as_deref())?.first() {
        Some(a) => a.name.clone(),
        None => bail!("no Stripe account is configured"),
    };
    let key = match (&args.email, &args.customer) {
        (Some(email), _) => match normalise_email(email) {
            Some(e) => format!("email:{e}"),
            None => bail!("{email:?} is not an email address"),
        },
        (None, Some(customer)) => customer.clone(),
        (None, None) => unreachable!("clap requires --email or --customer"),
    };
    let store = load::open_store(&config).await?;
    let person = store.person(&account, &key).await?;
    if person.objects.is_empty() {
        bail!("account {account} has nothing for {key}");
    }
    let objects: Vec<PersonObject<'_>> = person
        .objects
        .iter()
        .map(|o| PersonObject {
            kind: ObjectKind::from_object_field(&o.kind),
            object_id: &o.object_id,
            body: &o.body,
            deleted: o.deleted,
        })
        .collect();
    let profile = fold(&objects, &person.events_seen);
    let ctx = Context {
        now: paysync_engine::now_ms().div_euclid(1000),
        exists_in_destination: false,
    };
    let tags = EventTags {
        prefix: "stripe-integration".into(),
        rename: Default::default(),
    };
    let member = membership(&payment_activity_lists(), Some(&tags), &profile, &ctx);
    let out = serde_json::json!({
        "account": account,
        "objects": person.objects.len(),
        "profile": profile,
        "built_in_lists": member.lists,
        "event_tags": member.tags,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
