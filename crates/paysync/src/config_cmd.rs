//! `paysync config check` and `paysync config init`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::load;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and explain every problem with its key path.
    Check,
    /// Write a commented starting configuration (secrets as env:NAME, never in clear text).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

const TEMPLATE: &str = r#"# paysync configuration. Every key can be overridden from the environment:
# PAYSYNC_SERVER__LISTEN=0.0.0.0:8080, PAYSYNC_STORE__PATH=/var/lib/paysync.db, ...
# Secrets are written as env:NAME and read from the environment at start-up.

[server]
listen = "127.0.0.1:8080"
# max_body_bytes = 1048576
# signature_tolerance_secs = 300
# header_timeout_secs = 10           # slow clients are disconnected
# body_timeout_secs = 30
# api_token = "env:PAYSYNC_API_TOKEN"  # bearer token for the management API, /status and /metrics

[store]
path = "paysync.db"
# url = "env:PAYSYNC_DATABASE_URL"      # PostgreSQL instead of the file, shared by several
#                                        # `serve --receive-only` and `worker` processes (README)
# log_retention_days = 30
# secret_key = "env:PAYSYNC_MASTER_KEY"  # 64 hex chars (openssl rand -hex 32); encrypts the
#                                        # OAuth tokens paysync keeps. Required with Constant Contact.

[stripe]
# api_version = "2024-06-20"
# catchup_interval_secs = 60

[[stripe.accounts]]
name = "main"
mode = "test"                         # "live" refuses test keys and vice versa
api_key = "env:STRIPE_API_KEY"        # sk_test_… / rk_test_…
webhook_secrets = ["env:STRIPE_WEBHOOK_SECRET"]   # add the new one here while rolling
# connect_account = "acct_…"          # sent as Stripe-Account
# api_base = "http://127.0.0.1:12111" # localstripe or the emulator
# rate_limit_per_sec = 25             # default: 25 test, 100 live
# refetch = false                     # re-read each event's object from the API
"#;

pub fn run(cmd: ConfigCommand, path: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Init { force } => {
            if path.exists() && !force {
                bail!("{} exists; pass --force to overwrite it", path.display());
            }
            std::fs::write(path, TEMPLATE)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote {}; set STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET, then run `paysync config check`",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Check => {
            let raw = load::raw(path)?;
            let (problems, ok) = match load::resolve(&raw) {
                Ok((_, warnings)) => (warnings, true),
                Err(problems) => (problems, false),
            };
            for p in &problems {
                println!("{p}");
            }
            if ok {
                println!(
                    "{}: configuration is valid ({} Stripe account(s))",
                    path.display(),
                    raw.stripe.accounts.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
