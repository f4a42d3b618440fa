//! The `paysync` command. Errors from here up are `anyhow`; everything below is typed.

mod admin;
mod backfill;
mod config_cmd;
mod consent_cmd;
mod demo;
mod emulate;
mod erase;
mod load;
mod log_cmd;
mod opt_in_preview;
mod preview;
mod replay;
mod report;
mod rotate_key;
mod serve;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "paysync",
    version,
    about = "Keeps email-marketing audiences in sync with Stripe"
)]
struct Cli {
    /// Configuration file (TOML). `PAYSYNC_*` variables override it, e.g. PAYSYNC_SERVER__LISTEN.
    #[arg(
        long,
        short,
        global = true,
        env = "PAYSYNC_CONFIG",
        default_value = "paysync.toml"
    )]
    config: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook server, catch-up, reconciliation and delivery.
    Serve {
        /// Only the server (webhooks, dashboard, API): `paysync worker` processes sharing the
        /// PostgreSQL database (store.url) run the rest.
        #[arg(long)]
        receive_only: bool,
    },
    /// Run catch-up, reconciliation and delivery beside other workers and receivers that share
    /// one PostgreSQL database (store.url); no server.
    Worker,
    /// Everything on one machine: emulators of Stripe and three destinations, seeded, synced live.
    Demo(demo::Args),
    /// Read history from the Stripe API into the ledger (resumable).
    Backfill(backfill::Args),
    /// Poll the Events API once for events no webhook delivered.
    Catchup {
        /// Only this account (default: all).
        #[arg(long)]
        account: Option<String>,
    },
    /// Show one person as paysync sees them: merged profile, built-in lists and event tags.
    Preview(preview::Args),
    /// Show per-account counts, last webhook, catch-up, backfill progress and rejections.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List dead letters: operations a destination refused for good, with the reason.
    DeadLetters {
        /// Only this destination.
        #[arg(long)]
        destination: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Read the sync log and audit trail, newest first.
    Log(log_cmd::Args),
    /// Export the consent ledger (CSV, or JSON lines): unsubscribes learnt, suppressions.
    Consent(consent_cmd::Args),
    /// The contacts report: payment facts, segment memberships and consent per person (CSV).
    Report(report::Args),
    /// Erase a person: delete them from every destination and from paysync's store, with a
    /// receipt per system.
    Erase(erase::Args),
    /// Show a sync's opt-in email as a person would get it, without sending it.
    OptInPreview(opt_in_preview::Args),
    /// Send dead letters again (after fixing their cause).
    Replay(replay::Args),
    /// Re-seal the secrets paysync keeps under a new master key (read from an environment
    /// variable, PAYSYNC_NEW_MASTER_KEY by default).
    RotateKey(rotate_key::Args),
    /// Manage the dashboard's administrators.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Check or create the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Run a local emulator of a service paysync talks to.
    #[command(subcommand)]
    Emulate(emulate::Emulate),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match cli.command {
        Command::Config(cmd) => return config_cmd::run(cmd, &cli.config),
        Command::Emulate(which) => emulate::run(which).await?,
        Command::Serve { receive_only } => {
            let role = if receive_only {
                serve::Role::Receiver
            } else {
                serve::Role::All
            };
            run_serve(&cli.config, role).await?
        }
        Command::Worker => run_serve(&cli.config, serve::Role::Worker).await?,
        Command::Demo(args) => demo::run(args).await?,
        Command::Backfill(args) => backfill::run(load::load(&cli.config)?, args).await?,
        Command::Catchup { account } => {
            backfill::catchup(load::load(&cli.config)?, account).await?
        }
        Command::Preview(args) => preview::run(load::load(&cli.config)?, args).await?,
        Command::Status { json } => status::run(load::load(&cli.config)?, json).await?,
        Command::DeadLetters {
            destination,
            limit,
            json,
        } => replay::list(load::load(&cli.config)?, destination, limit, json).await?,
        Command::Replay(args) => replay::run(load::load(&cli.config)?, args).await?,
        Command::Log(args) => log_cmd::run(load::load(&cli.config)?, args).await?,
        Command::Consent(args) => consent_cmd::run(load::load(&cli.config)?, args).await?,
        Command::OptInPreview(args) => opt_in_preview::run(load::load(&cli.config)?, args).await?,
        Command::Report(args) => report::run(load::load(&cli.config)?, args).await?,
        Command::Admin(cmd) => admin::run(load::load(&cli.config)?, cmd).await?,
        Command::RotateKey(args) => rotate_key::run(load::load(&cli.config)?, args).await?,
        Command::Erase(args) => return erase::run(load::load(&cli.config)?, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: logs written to files or collectors stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `serve` in one of its roles, on the configuration at `path` and the process environment.
async fn run_serve(path: &std::path::Path, role: serve::Role) -> anyhow::Result<()> {
    let (file, config) = load::load_raw(path)?;
    serve::run(
        file,
        config,
        std::sync::Arc::new(|name| std::env::var(name).ok()),
        role,
    )
    .await
}
