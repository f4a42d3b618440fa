//! `paysync admin add`: creates a dashboard administrator or sets a new password (which ends
//! their open sessions). The password is read from an environment variable or from standard
//! input, never from the command line (which other users of the machine can see), and stored
//! only as an argon2id hash.

use std::io::BufRead as _;

use anyhow::{Context, bail};
use paysync_core::config::Config;

use crate::load;

/// Shorter passwords are refused.
const MIN_PASSWORD_CHARS: usize = 12;

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Add an administrator, or set a new password for one.
    Add(AddArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    username: String,
    /// The environment variable holding the password; without it, the first line of standard
    /// input is read.
    #[arg(long, default_value = "PAYSYNC_ADMIN_PASSWORD")]
    password_env: String,
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Add(args) = command;
    if !valid_username(&args.username) {
        bail!("the username must be 1-64 characters of letters, digits, . _ @ and -");
    }
    let password = match std::env::var(&args.password_env) {
        Ok(password) => password,
        Err(_) => {
            eprintln!("password (then Enter):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password must be at least {MIN_PASSWORD_CHARS} characters");
    }
    let hash = tokio::task::spawn_blocking(move || paysync_server::hash_password(&password))
        .await
        .context("hashing the password")??;
    let store = load::open_store(&config).await?;
    store
        .set_admin(&args.username, &hash, paysync_engine::now_ms())
        .await?;
    println!(
        "administrator {} can sign in to the dashboard (open sessions of theirs were ended)",
        args.username
    );
    Ok(())
}
