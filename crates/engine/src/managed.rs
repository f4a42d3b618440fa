//! The configuration `serve` runs: the file's, plus the destinations and syncs added through the
//! dashboard or the management API, kept in the store as the JSON of their file tables. Their
//! secrets are `stored:NAME` references to secrets sealed in the store, resolved here; the file
//! stays the place for everything else (server, Stripe accounts, alerts).

use std::collections::HashMap;

use paysync_core::config::{
    Config, ConfigProblem, RawConfig, RawDestination, RawSync, STORED_SECRET_PREFIX,
};
use paysync_store::{ManagedKind, Store, StoreError};
use secrecy::ExposeSecret;

#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the configuration with the dashboard's changes has problems: {}", list(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `file` with the managed destinations and syncs appended. A managed entry named like one of the
/// file's is left out (the file wins) and logged; one that no longer parses is logged and left
/// out, so that one bad row never stops the others from syncing.
pub async fn with_managed(file: &RawConfig, store: &dyn Store) -> Result<RawConfig, StoreError> {
    let mut raw = file.clone();
    for item in store.managed_config().await? {
        let clash = match item.kind {
            ManagedKind::Destination => file.destinations.iter().any(|d| d.name() == item.name),
            ManagedKind::Sync => file.syncs.iter().any(|s| s.name == item.name),
        };
        if clash {
            tracing::warn!(kind = item.kind.as_str(), name = %item.name, "a managed entry has the name of one in the configuration file; the file's is used");
            continue;
        }
        let parsed = match item.kind {
            ManagedKind::Destination => {
                serde_json::from_str::<RawDestination>(&item.body).map(|d| raw.destinations.push(d))
            }
            ManagedKind::Sync => {
                serde_json::from_str::<RawSync>(&item.body).map(|s| raw.syncs.push(s))
            }
        };
        if let Err(e) = parsed {
            tracing::error!(kind = item.kind.as_str(), name = %item.name, error = %e, "a managed entry does not parse; left out");
        }
    }
    Ok(raw)
}

/// Every `stored:` reference in the destinations (the only managed tables holding secrets).
fn stored_references(raw: &RawConfig) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) if s.starts_with(STORED_SECRET_PREFIX) => {
                out.push(s.clone())
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in &raw.destinations {
        if let Ok(value) = serde_json::to_value(d) {
            walk(&value, &mut out);
        }
    }
    out
}

/// Resolves `raw` (file plus managed entries): `env:` secrets from `env`, `stored:` ones unsealed
/// from the store. Returns the configuration and its warnings.
pub async fn resolve(
    raw: &RawConfig,
    store: &dyn Store,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(Config, Vec<ConfigProblem>), ManagedError> {
    let mut stored = HashMap::new();
    for reference in stored_references(raw) {
        let name = &reference[STORED_SECRET_PREFIX.len()..];
        if let Some(secret) = store.get_secret(name).await? {
            stored.insert(reference, secret);
        }
    }
    let lookup = |name: &str| match stored.get(name) {
        Some(secret) => Some(secret.expose_secret().to_owned()),
        None if name.starts_with(STORED_SECRET_PREFIX) => None,
        None => env(name),
    };
    raw.resolve(&lookup).map_err(ManagedError::Invalid)
}
