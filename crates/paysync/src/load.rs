//! Loads the configuration: defaults, then the TOML file, then `PAYSYNC_*` variables.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use paysync_core::config::{Config, ConfigProblem, RawConfig};
use paysync_destinations::constant_contact::TokenStore;
use paysync_engine::token_store::StoredTokens;
use paysync_store::{PgStore, SecretKey, SqliteStore, Store};
use secrecy::ExposeSecret;

/// The configuration sections that environment variables may override. Other `PAYSYNC_*`
/// variables (PAYSYNC_CONFIG, test settings) are not configuration keys.
const SECTIONS: &[&str] = &["server__", "store__", "stripe__"];

pub fn raw(path: &Path) -> anyhow::Result<RawConfig> {
    if !path.exists() {
        bail!(
            "configuration file {} not found; create one with `paysync config init`",
            path.display()
        );
    }
    let env = Env::prefixed("PAYSYNC_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| key.starts_with(s))
        })
        .split("__");
    Figment::new()
        .merge(Toml::file_exact(path))
        .merge(env)
        .extract()
        .with_context(|| format!("reading {}", path.display()))
}

/// Resolves a raw configuration against the process environment.
pub fn resolve(raw: &RawConfig) -> Result<(Config, Vec<ConfigProblem>), Vec<ConfigProblem>> {
    raw.resolve(&|name| std::env::var(name).ok())
}

/// Loads and resolves, failing with every problem listed; warnings are logged.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(load_raw(path)?.1)
}

/// The file's configuration as written, and resolved.
pub fn load_raw(path: &Path) -> anyhow::Result<(RawConfig, Config)> {
    let raw = raw(path)?;
    let config = checked(resolve(&raw), &path.display().to_string())?;
    Ok((raw, config))
}

/// The configuration, or every problem listed under `what`; warnings are logged.
pub fn checked(
    resolved: Result<(Config, Vec<ConfigProblem>), Vec<ConfigProblem>>,
    what: &str,
) -> anyhow::Result<Config> {
    match resolved {
        Ok((config, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            Ok(config)
        }
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            bail!("{what} has problems:\n{}", list.join("\n"))
        }
    }
}

/// The store the configuration names: PostgreSQL at `store.url`, or the SQLite file at
/// `store.path`.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let now = paysync_engine::now_ms();
    let key = match &config.secret_key {
        // Validated when the configuration was resolved.
        Some(hex) => Some(
            SecretKey::from_hex(hex.expose_secret())
                .context("store.secret_key is not 64 hexadecimal characters")?,
        ),
        None => None,
    };
    Ok(match &config.database_url {
        Some(url) => {
            // The URL is not repeated in the error: it may hold a password.
            let store = PgStore::open(url.expose_secret(), now)
                .await
                .context("opening the PostgreSQL database at store.url")?;
            match key {
                Some(key) => Arc::new(store.with_secret_key(key)),
                None => Arc::new(store),
            }
        }
        None => {
            let store = SqliteStore::open(&config.store.path, now)
                .await
                .with_context(|| format!("opening the database {}", config.store.path))?;
            match key {
                Some(key) => Arc::new(store.with_secret_key(key)),
                None => Arc::new(store),
            }
        }
    })
}

/// The accounts a command applies to: one by name, or all.
pub fn accounts<'a>(
    config: &'a Config,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'a paysync_core::config::StripeAccount>> {
    match only {
        None => Ok(config.accounts.iter().collect()),
        Some(name) => match config.account(name) {
            Some(a) => Ok(vec![a]),
            None => bail!("no Stripe account named {name:?} in the configuration"),
        },
    }
}

/// Where each destination keeps its OAuth tokens (Constant Contact rotates them on every
/// refresh): encrypted in the store.
pub fn token_store(store: &Arc<dyn Store>) -> impl Fn(&str) -> Arc<dyn TokenStore> + '_ {
    move |destination| Arc::new(StoredTokens::new(store.clone(), destination))
}
