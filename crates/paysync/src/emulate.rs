//! `paysync emulate <service>`: a local emulator on its own loopback port, for demos and load.

use anyhow::Context;
use paysync_emulators::activecampaign::{ActiveCampaignConfig, serve_activecampaign};
use paysync_emulators::constant_contact::{ConstantContactConfig, serve_constant_contact};
use paysync_emulators::mailchimp::{MailchimpConfig, serve_mailchimp};
use paysync_emulators::stripe::{SeedSpec, StripeEmulatorConfig, serve_stripe};

#[derive(clap::Subcommand)]
pub enum Emulate {
    /// An in-memory Stripe that behaves like the real API (newest-first lists, Stripe's errors and
    /// rate limit, signed webhooks), seeded with a realistic dataset.
    Stripe(StripeArgs),
    /// Constant Contact v3: OAuth2 + PKCE with rotating refresh tokens, 4 req/s and the daily
    /// quota, contacts, lists, tags, custom fields, asynchronous bulk activities.
    ConstantContact(PortArg),
    /// ActiveCampaign v3: Api-Token, 5 req/s, contacts, lists, tags, fields, bulk imports, Deep Data.
    Activecampaign(PortArg),
    /// Mailchimp Marketing v3: API key with data centre, 10 concurrent requests, members, tags,
    /// merge fields, batch subscribe, batches.
    Mailchimp(PortArg),
}

#[derive(clap::Args)]
pub struct PortArg {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[derive(clap::Args)]
pub struct StripeArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 12111)]
    port: u16,
    /// Customers to seed, with their payments, subscriptions and the last 30 days of events.
    #[arg(long, default_value_t = 1_000)]
    customers: usize,
    /// Same seed, same dataset.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Register a webhook endpoint at this URL; its signing secret is printed.
    #[arg(long)]
    webhook_url: Option<String>,
    /// Live activity: new events a second (sent to the webhook endpoint).
    #[arg(long, default_value_t = 0.0)]
    events_per_sec: f64,
    /// Requests a second before 429 (Stripe test mode: 25); 0 = unlimited.
    #[arg(long, default_value_t = 25)]
    rate_limit: u32,
}

pub async fn run(which: Emulate) -> anyhow::Result<()> {
    let bind = |port: u16| format!("binding 127.0.0.1:{port}");
    match which {
        Emulate::Stripe(args) => stripe(args).await?,
        Emulate::ConstantContact(PortArg { port }) => {
            let cfg = ConstantContactConfig {
                port,
                ..ConstantContactConfig::default()
            };
            let client = cfg
                .clients
                .first()
                .map(|c| c.client_id.clone())
                .unwrap_or_default();
            let handle = serve_constant_contact(cfg)
                .await
                .with_context(|| bind(port))?;
            println!("Constant Contact emulator on {}/v3", handle.url());
            println!(
                "  OAuth: {0}/oauth2/default/v1/authorize and /token (client id {client})",
                handle.url()
            );
            until_ctrl_c(handle.url()).await?;
            handle.stop().await;
        }
        Emulate::Activecampaign(PortArg { port }) => {
            let cfg = ActiveCampaignConfig {
                port,
                ..ActiveCampaignConfig::default()
            };
            let handle = serve_activecampaign(cfg)
                .await
                .with_context(|| bind(port))?;
            println!(
                "ActiveCampaign emulator on {}/api/3 (any Api-Token)",
                handle.url()
            );
            until_ctrl_c(handle.url()).await?;
            handle.stop().await;
        }
        Emulate::Mailchimp(PortArg { port }) => {
            let cfg = MailchimpConfig {
                port,
                ..MailchimpConfig::default()
            };
            let handle = serve_mailchimp(cfg).await.with_context(|| bind(port))?;
            println!(
                "Mailchimp emulator on {}/3.0 (any API key ending in -us1)",
                handle.url()
            );
            until_ctrl_c(handle.url()).await?;
            handle.stop().await;
        }
    }
    Ok(())
}

async fn until_ctrl_c(url: String) -> anyhow::Result<()> {
    println!("  admin: GET {url}/_admin/state, POST {url}/_admin/faults; Ctrl-C to stop");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}

async fn stripe(args: StripeArgs) -> anyhow::Result<()> {
    let mut cfg = StripeEmulatorConfig {
        port: args.port,
        seed: Some(SeedSpec {
            customers: args.customers,
            seed: args.seed,
            ..SeedSpec::default()
        }),
        ..StripeEmulatorConfig::default()
    };
    if args.rate_limit == 0 {
        cfg.rate_limit = None;
    } else if let Some(limit) = cfg.rate_limit.as_mut() {
        *limit = paysync_emulators::common::RateLimit::per_second(f64::from(args.rate_limit));
    }
    let handle = serve_stripe(cfg)
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let emulator = &handle.emulator;
    let counts = serde_json::to_string(&emulator.state_json()["counts"])?;
    println!("Stripe emulator on {} (any sk_test_… key)", handle.url());
    println!("  seeded: {counts}");
    println!(
        "  admin:  GET {0}/_admin/state, POST {0}/_admin/stream {{\"events_per_sec\": 50}}",
        handle.url()
    );
    if let Some(url) = &args.webhook_url {
        let (id, secret) = emulator.add_webhook_endpoint(url, &["*"]);
        println!("  webhook endpoint {id} -> {url}\n  signing secret: {secret}");
    }
    if args.events_per_sec > 0.0 {
        emulator.start_stream(args.events_per_sec);
        println!("  live activity: {} events/s", args.events_per_sec);
    }
    until_ctrl_c(handle.url()).await?;
    handle.stop().await;
    Ok(())
}
