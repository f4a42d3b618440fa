//! `paysync rotate-key`: re-seals every secret paysync keeps (Constant Contact's OAuth tokens)
//! under a new master key, in one transaction. The new key is read from an environment variable,
//! never from the command line (which other users of the machine can see).

use anyhow::{Context, bail};
use paysync_core::config::Config;
use paysync_store::SecretKey;

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    /// The environment variable holding the new key: 64 hexadecimal characters
    /// (`openssl rand -hex 32`).
    #[arg(long, default_value = "PAYSYNC_NEW_MASTER_KEY")]
    new_key_env: String,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let hex = std::env::var(&args.new_key_env)
        .with_context(|| format!("{} is not set: put the new key there", args.new_key_env))?;
    let Some(new) = SecretKey::from_hex(hex.trim()) else {
        bail!(
            "{} is not 64 hexadecimal characters (openssl rand -hex 32)",
            args.new_key_env
        );
    };
    if config.secret_key.is_none() {
        bail!(
            "no current key: set PAYSYNC_MASTER_KEY (or store.secret_key) to the key the secrets \
             were sealed with"
        );
    }
    let store = load::open_store(&config).await?;
    let count = store
        .reseal_secrets(new, paysync_engine::now_ms())
        .await
        .context("nothing was changed")?;
    println!(
        "re-sealed {count} secret(s) under the new key. Now stop every paysync process, set \
         PAYSYNC_MASTER_KEY (or store.secret_key) to the new key, and start them again. Opt-in \
         links sent before are signed with the old key and no longer open."
    );
    Ok(())
}
