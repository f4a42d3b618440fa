//! `paysync demo`: the whole system on one machine, nothing to configure. One process starts the
//! Stripe emulator (seeded with realistic customers and payments, then a live stream of events)
//! and the Constant Contact, ActiveCampaign and Mailchimp emulators, configures one sync per
//! destination, serves the webhook endpoint and status, backfills, reconciles and delivers, and
//! prints where to look.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Toml};
use paysync_core::config::{Config, RawConfig};
use paysync_emulators::activecampaign::{ActiveCampaignConfig, serve_activecampaign};
use paysync_emulators::constant_contact::{ConstantContactConfig, serve_constant_contact};
use paysync_emulators::mailchimp::{MailchimpConfig, serve_mailchimp};
use paysync_emulators::stripe::{SeedSpec, StripeEmulatorConfig, serve_stripe};
use paysync_engine::backfill::{Backfill, Window};
use paysync_engine::runner::client_for;
use paysync_engine::token_store::StoredTokens;

use crate::{load, serve};

#[derive(clap::Args)]
pub struct Args {
    /// Customers to seed (with their payments, subscriptions and refunds).
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Live Stripe events a second after the backfill.
    #[arg(long, default_value_t = 5.0)]
    events_per_sec: f64,
    /// Where paysync listens (webhooks, /status).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The database; a fresh one in a temporary directory by default.
    #[arg(long)]
    store: Option<std::path::PathBuf>,
}

/// The demo's configuration: one account, three destinations, a sync for each in the style
/// of the integration it replaces.
const CONFIG: &str = r#"
[[stripe.accounts]]
name = "demo"
mode = "test"
api_key = "env:STRIPE_KEY"
webhook_secrets = ["env:STRIPE_WHSEC"]
api_base = "{stripe}"
rate_limit_per_sec = 25

[[destinations]]
name = "constant-contact"
kind = "constant_contact"
api_base = "{cc}/v3"
authorize_url = "{cc}/oauth2/default/v1/authorize"
token_url = "{cc}/oauth2/default/v1/token"
client_id = "paysync-cc-client"
client_secret = "env:CC_CLIENT_SECRET"
redirect_uri = "http://{listen}/oauth/constant-contact/callback"
refresh_token = "env:CC_REFRESH_TOKEN"
default_list = "Stripe customers"

[[destinations]]
name = "activecampaign"
kind = "activecampaign"
api_url = "{ac}"
api_token = "env:AC_API_TOKEN"

[[destinations]]
name = "mailchimp"
kind = "mailchimp"
api_key = "env:MC_API_KEY"
list_id = "{mc_list}"
api_base = "{mc}/3.0"

# Constant Contact's integration: payment-activity lists. A list membership is a subscription:
# in this demo every customer agreed to marketing at checkout.
[[syncs]]
name = "cc-payment-lists"
destination = "constant-contact"
consent = "subscribed"
prior_consent = { affirmed_by = "demo@paysync.example", affirmed_at = "2026-01-01", statement = "The demo's customers ticked the newsletter box at checkout" }
payment_activity_lists = true
fields = [{ to = "stripe_customer_id", from = "customer_id" }]

# ActiveCampaign's integration: stripe-integration-<event> tags and spend fields.
[[syncs]]
name = "ac-event-tags"
destination = "activecampaign"
event_tags = {}
fields = [
  { to = "STRIPE_TOTAL_USD", from = "paid.usd", transform = ["amount"] },
  { to = "STRIPE_LAST_PAYMENT", from = "last_payment_at", transform = [{ date = "YYYY-MM-DD" }] },
]

[[syncs.segments]]
name = "Big spenders"
tag = "big-spender"
rule = { charged = { currency = "usd", total = { gte = 50000 } } }

# Center-style segments as Mailchimp tags.
[[syncs]]
name = "mc-segments"
destination = "mailchimp"

[[syncs.segments]]
name = "Paid in the last 30 days"
tag = "recent-buyer"
rule = { charged = { within = "30d" } }

[[syncs.segments]]
name = "Payment failed"
tag = "payment-failed"
rule = { payment_failed = {} }

[[syncs.segments]]
name = "Refunded"
tag = "refunded"
rule = { refunded = {} }

[[syncs.segments]]
name = "Subscribers"
tag = "subscriber"
rule = "has_subscriptions"
"#;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "paysync demo: starting the emulators and seeding {} customers…",
        args.customers
    );
    let stripe = serve_stripe(StripeEmulatorConfig {
        seed: Some(SeedSpec {
            customers: args.customers,
            ..SeedSpec::default()
        }),
        ..StripeEmulatorConfig::default()
    })
    .await
    .context("starting the Stripe emulator")?;
    let cc = serve_constant_contact(ConstantContactConfig::default())
        .await
        .context("starting the Constant Contact emulator")?;
    let ac = serve_activecampaign(ActiveCampaignConfig::default())
        .await
        .context("starting the ActiveCampaign emulator")?;
    let mc = serve_mailchimp(MailchimpConfig::default())
        .await
        .context("starting the Mailchimp emulator")?;
    let mc_list = mc.emulator.create_list("Stripe customers");
    let (_, whsec) = stripe.emulator.add_webhook_endpoint(
        &format!("http://{}/webhooks/stripe/demo", args.listen),
        &["*"],
    );
    let cc_token = cc
        .emulator
        .issue_token()
        .refresh_token
        .context("the Constant Contact emulator issued no refresh token")?;

    let store_path = match &args.store {
        Some(path) => path.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("paysync-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join("paysync.db")
        }
    };
    let secrets: HashMap<&str, String> = HashMap::from([
        ("STRIPE_KEY", "sk_test_paysync_demo".to_owned()),
        ("STRIPE_WHSEC", whsec),
        ("CC_CLIENT_SECRET", "paysync-cc-secret".to_owned()),
        ("CC_REFRESH_TOKEN", cc_token),
        ("AC_API_TOKEN", "paysync-demo-token".to_owned()),
        ("MC_API_KEY", "paysyncdemo0123456789-us1".to_owned()),
        ("DEMO_SECRET_KEY", hex::encode(rand::random::<[u8; 32]>())),
    ]);
    let toml = CONFIG
        .replace("{stripe}", &stripe.url())
        .replace("{cc}", &cc.url())
        .replace("{ac}", &ac.url())
        .replace("{mc}", &mc.url())
        .replace("{mc_list}", &mc_list)
        .replace("{listen}", &args.listen);
    let mut raw: RawConfig = Figment::from(Toml::string(&toml))
        .extract()
        .context("the demo configuration")?;
    raw.server.listen = args.listen.clone();
    raw.store.path = store_path.display().to_string();
    raw.store.secret_key = Some("env:DEMO_SECRET_KEY".into());
    let config = match raw.resolve(&|name| secrets.get(name).cloned()) {
        Ok((config, _)) => config,
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::bail!("the demo configuration is invalid:\n{}", list.join("\n"));
        }
    };

    println!(
        "  seeded in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        stripe.emulator.state_json()["counts"]
    );
    // The emulator behind this run issued a new refresh token: a pair kept from an earlier run
    // on the same --store (sealed with that run's key) is forgotten.
    let store = load::open_store(&config).await?;
    for destination in &config.destinations {
        StoredTokens::new(store.clone(), &destination.name)
            .forget()
            .await?;
    }
    // The dashboard's administrator for this run: PAYSYNC_ADMIN_PASSWORD, or a new password.
    let password = std::env::var("PAYSYNC_ADMIN_PASSWORD")
        .unwrap_or_else(|_| format!("{:032x}", rand::random::<u128>()));
    let hash = paysync_server::hash_password(&password)?;
    store
        .set_admin("admin", &hash, paysync_engine::now_ms())
        .await?;
    drop(store);

    println!("Where to look:");
    println!(
        "  dashboard           http://{}/   (user admin, password {password})",
        args.listen
    );
    println!("  Stripe              {}/_admin/state", stripe.url());
    println!("  Constant Contact    {}/_admin/state", cc.url());
    println!("  ActiveCampaign      {}/_admin/state", ac.url());
    println!("  Mailchimp           {}/_admin/state", mc.url());
    println!("  database            {}", store_path.display());
    println!("Backfilling, reconciling and delivering; live events follow. Ctrl-C to stop.");

    let background = tokio::spawn(backfill_then_stream(
        config.clone(),
        stripe.emulator.clone(),
        args.events_per_sec,
    ));
    let env: serve::Env = std::sync::Arc::new(move |name| secrets.get(name).cloned());
    let result = serve::run(raw, config, env, serve::Role::All).await;
    background.abort();
    result
}

/// Backfills the account, then starts the live stream of events and reports progress.
async fn backfill_then_stream(
    config: Config,
    stripe: paysync_emulators::stripe::StripeEmulator,
    events_per_sec: f64,
) {
    let report = async || -> anyhow::Result<std::convert::Infallible> {
        let store = load::open_store(&config).await?;
        let account = config.accounts.first().context("no account")?;
        let began = Instant::now();
        let backfill = Backfill {
            store: store.clone(),
            client: client_for(account)?,
            account: account.name.clone(),
            window: Window::All,
        };
        let report = backfill.run(std::sync::Arc::new(|_| {})).await?;
        let total: u64 = report.resources.iter().map(|(_, p)| p.stored).sum();
        println!(
            "backfill: {total} objects in {:.1}s; live events start ({events_per_sec}/s)",
            began.elapsed().as_secs_f64()
        );
        stripe.start_stream(events_per_sec);
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let outbox = store.outbox_summary(paysync_engine::now_ms()).await?;
            let line: Vec<String> = outbox
                .iter()
                .map(|o| format!("{} {} queued/{} dead", o.destination, o.pending, o.dead))
                .collect();
            let ledger = store.ledger_summary(&account.name).await?;
            println!(
                "progress: {} events, {} people to reconcile; outbox: {}",
                ledger.events,
                ledger.dirty_customers,
                if line.is_empty() {
                    "empty".to_owned()
                } else {
                    line.join(", ")
                }
            );
        }
    };
    // The report runs until the demo stops; it only returns on an error.
    let Err(e) = report().await;
    tracing::error!(error = %e, "demo backfill failed");
}
