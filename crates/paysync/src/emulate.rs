//! `paysync emulate <service>`: a local emulator on its own loopback port, for demos and load.

use anyhow::Context;
use paysync_emulators::stripe::{SeedSpec, StripeEmulatorConfig, serve_stripe};

#[derive(clap::Subcommand)]
pub enum Emulate {
    /// An in-memory Stripe that behaves like the real API (newest-first lists, Stripe's errors and
    /// rate limit, signed webhooks), seeded with a realistic dataset.
    Stripe(StripeArgs),
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
    match which {
        Emulate::Stripe(args) => stripe(args).await,
    }
}

async fn stripe(args: StripeArgs) -> anyhow::Result<()> {
    let mut cfg = StripeEmulatorConfig {
        port: args.port,
        seed: Some(SeedSpec { customers: args.customers, seed: args.seed, ..SeedSpec::default() }),
        ..StripeEmulatorConfig::default()
    };
    if args.rate_limit == 0 {
        cfg.rate_limit = None;
    } else if let Some(limit) = cfg.rate_limit.as_mut() {
        *limit = paysync_emulators::common::RateLimit::per_second(f64::from(args.rate_limit));
    }
    let handle = serve_stripe(cfg).await.with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let emulator = &handle.emulator;
    let counts = serde_json::to_string(&emulator.state_json()["counts"])?;
    println!("Stripe emulator on {} (any sk_test_… key)", handle.url());
    println!("  seeded: {counts}");
    println!("  admin:  GET {0}/_admin/state, POST {0}/_admin/stream {{\"events_per_sec\": 50}}", handle.url());
    if let Some(url) = &args.webhook_url {
        let (id, secret) = emulator.add_webhook_endpoint(url, &["*"]);
        println!("  webhook endpoint {id} -> {url}\n  signing secret: {secret}");
    }
    if args.events_per_sec > 0.0 {
        emulator.start_stream(args.events_per_sec);
        println!("  live activity: {} events/s", args.events_per_sec);
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    handle.stop().await;
    Ok(())
}
