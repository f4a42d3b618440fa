//! paysync's configuration: the shape of the TOML file, and its validation into a resolved form.
//!
//! Loading (file, `PAYSYNC_*` environment) happens at the binary's edge; here the raw configuration is
//! checked and secrets of the form `env:NAME` are resolved through a lookup the caller passes in, so
//! that this module stays pure. Every problem is reported with the key path it concerns.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod alerts;
mod consent;
mod destinations;
mod mail;
mod syncs;

pub use alerts::{AlertsConfig, EmailAlerts, RawAlerts, RawEmailAlerts};
pub use consent::ConsentConfig;
pub use mail::{RawMail, SmtpServer};

pub use destinations::{
    DestinationConfig, DestinationKind, RawActiveCampaign, RawCommon, RawConstantContact,
    RawDestination, RawMailchimp,
};
pub use syncs::{
    DEFAULT_COALESCE_MS, OptInEmail, PriorConsent, RawSync, SyncConfig, SyncRulesConfig,
};

/// The Stripe API version paysync is written against, sent as `Stripe-Version` on every request.
pub const DEFAULT_STRIPE_VERSION: &str = "2024-06-20";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub stripe: RawStripeConfig,
    #[serde(default)]
    pub destinations: Vec<RawDestination>,
    #[serde(default)]
    pub syncs: Vec<RawSync>,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub consent: ConsentConfig,
    /// The SMTP server opt-in emails go through.
    pub mail: Option<RawMail>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the webhook and status server listens on.
    pub listen: String,
    /// Largest webhook body accepted, in bytes. Stripe events are far smaller than the default.
    pub max_body_bytes: usize,
    /// How far a webhook's signed timestamp may be from now, in seconds (Stripe's default: 300).
    pub signature_tolerance_secs: u64,
    /// A client that has not sent a request's headers within this many seconds is disconnected
    /// (slow-header attacks).
    pub header_timeout_secs: u64,
    /// A request body not received within this many seconds is refused (408).
    pub body_timeout_secs: u64,
    /// `env:NAME` of the bearer token the management API, `/status` and `/metrics` take
    /// (besides a dashboard session). Unset: only signed-in administrators get in.
    pub api_token: Option<String>,
    /// The URL people reach paysync at (`https://paysync.example.com`): opt-in confirmation
    /// links point there.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            signature_tolerance_secs: 300,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            api_token: None,
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Path of the SQLite database file (unless `url` is set).
    pub path: String,
    /// A PostgreSQL database shared by several `paysync serve` and `paysync worker` processes,
    /// instead of the SQLite file: `postgres://user:password@host:5432/database`, or
    /// `env:NAME` for a variable holding it (it carries a password).
    pub url: Option<String>,
    /// Sync-log entries older than this many days are deleted.
    pub log_retention_days: u32,
    /// `env:NAME` holding 64 hex characters (`openssl rand -hex 32`): the key secrets paysync
    /// keeps (Constant Contact's rotating OAuth tokens) are encrypted with. Unset, the
    /// `PAYSYNC_MASTER_KEY` environment variable is used when it is set.
    pub secret_key: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: "paysync.db".into(),
            url: None,
            log_retention_days: 30,
            secret_key: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStripeConfig {
    /// `Stripe-Version` sent with every request unless an account overrides it.
    pub api_version: String,
    /// Seconds between two polls of `/v1/events` by the catch-up loop.
    pub catchup_interval_secs: u64,
    pub accounts: Vec<RawStripeAccount>,
}

impl Default for RawStripeConfig {
    fn default() -> Self {
        RawStripeConfig {
            api_version: DEFAULT_STRIPE_VERSION.into(),
            catchup_interval_secs: 60,
            accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    /// Stripe's documented default rate limit for the mode, in requests per second.
    pub fn default_rate_limit(self) -> u32 {
        match self {
            Mode::Test => 25,
            Mode::Live => 100,
        }
    }

    pub fn is_live(self) -> bool {
        self == Mode::Live
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_live() { "live" } else { "test" })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStripeAccount {
    /// Short name used in URLs (`/webhooks/stripe/{name}`), logs and the CLI.
    pub name: String,
    /// `env:NAME`, or the key itself (discouraged: `config check` warns).
    pub api_key: String,
    /// Signing secrets of the webhook endpoint; several while one is being rolled.
    #[serde(default)]
    pub webhook_secrets: Vec<String>,
    /// A connected account id, sent as `Stripe-Account` (Connect).
    #[serde(default)]
    pub connect_account: Option<String>,
    /// Base URL of the API (default `https://api.stripe.com`); for localstripe or the emulator.
    #[serde(default)]
    pub api_base: Option<String>,
    pub mode: Mode,
    /// Requests per second to the API; defaults to Stripe's limit for the mode.
    #[serde(default)]
    pub rate_limit_per_sec: Option<u32>,
    /// Re-fetch each event's object from the API instead of trusting the payload.
    #[serde(default)]
    pub refetch: bool,
    /// Overrides `stripe.api_version` for this account.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// A configuration that passed validation, with its secrets resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub catchup_interval_secs: u64,
    pub accounts: Vec<StripeAccount>,
    pub destinations: Vec<DestinationConfig>,
    pub syncs: Vec<SyncConfig>,
    pub alerts: AlertsConfig,
    pub consent: ConsentConfig,
    pub mail: Option<SmtpServer>,
    /// `store.secret_key`, resolved: 64 hex characters.
    pub secret_key: Option<SecretString>,
    /// `store.url`, resolved: the PostgreSQL database to use instead of `store.path`.
    pub database_url: Option<SecretString>,
    /// `server.api_token`, resolved.
    pub api_token: Option<SecretString>,
}

impl Config {
    pub fn account(&self, name: &str) -> Option<&StripeAccount> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn destination(&self, name: &str) -> Option<&DestinationConfig> {
        self.destinations.iter().find(|d| d.name == name)
    }

    /// The syncs reading from the Stripe account `account`.
    pub fn syncs_of<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a SyncConfig> {
        self.syncs.iter().filter(move |s| s.account == account)
    }
}

#[derive(Debug, Clone)]
pub struct StripeAccount {
    pub name: String,
    pub api_key: SecretString,
    pub webhook_secrets: Vec<SecretString>,
    pub connect_account: Option<String>,
    pub api_base: String,
    pub mode: Mode,
    pub rate_limit_per_sec: u32,
    pub refetch: bool,
    pub api_version: String,
}

/// One thing wrong (or worth a warning) in the configuration, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{tag}: {}: {}", self.path, self.message)
    }
}

const STRIPE_API_BASE: &str = "https://api.stripe.com";

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(path, message, Severity::Error);
    }
    fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(path, message, Severity::Warning);
    }
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>, severity: Severity) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
            severity,
        });
    }
}

/// The environment variable holding the store's secret key when `store.secret_key` is unset.
pub const MASTER_KEY_VAR: &str = "PAYSYNC_MASTER_KEY";

/// The prefix of a secret entered through the dashboard and kept sealed in the store:
/// `stored:destination.mc.api_key`. The caller's lookup answers the whole reference.
pub const STORED_SECRET_PREFIX: &str = "stored:";

/// Resolves `env:NAME` through `env(NAME)` and `stored:NAME` through `env("stored:NAME")`
/// (environment variable names hold no `:`); anything else is the secret itself (warned about).
fn resolve_secret(
    raw: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<SecretString> {
    if raw.starts_with(STORED_SECRET_PREFIX) {
        return match env(raw) {
            Some(value) => Some(SecretString::from(value)),
            None => {
                problems.error(
                    path,
                    format!("{raw} is not in the store (entered through the dashboard?)"),
                );
                None
            }
        };
    }
    if let Some(name) = raw.strip_prefix("env:") {
        match env(name) {
            Some(value) if !value.trim().is_empty() => Some(SecretString::from(value)),
            Some(_) => {
                problems.error(path, format!("environment variable {name} is empty"));
                None
            }
            None => {
                problems.error(path, format!("environment variable {name} is not set"));
                None
            }
        }
    } else if raw.trim().is_empty() {
        problems.error(
            path,
            "is empty; write env:NAME to read it from the environment",
        );
        None
    } else {
        problems.warn(
            path,
            "holds a secret in clear text; write env:NAME and set NAME in the environment instead",
        );
        Some(SecretString::from(raw.to_owned()))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The mode a Stripe secret or restricted key belongs to, from its prefix.
fn key_mode(key: &str) -> Option<Mode> {
    let kind_and_mode = key.split('_').take(2).collect::<Vec<_>>();
    match kind_and_mode.as_slice() {
        ["sk" | "rk", "test"] => Some(Mode::Test),
        ["sk" | "rk", "live"] => Some(Mode::Live),
        _ => None,
    }
}

impl RawConfig {
    /// Validates and resolves. `Err` holds every error (and warning) found; `Ok` holds the resolved
    /// configuration and any warnings.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<ConfigProblem>), Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.error(
                "server.listen",
                format!(
                    "{:?} is not an address such as 127.0.0.1:8080",
                    self.server.listen
                ),
            );
        }
        if self.server.max_body_bytes < 1024 {
            problems.error("server.max_body_bytes", "must be at least 1024");
        }
        for (key, secs) in [
            (
                "server.header_timeout_secs",
                self.server.header_timeout_secs,
            ),
            ("server.body_timeout_secs", self.server.body_timeout_secs),
        ] {
            if secs == 0 {
                problems.error(key, "must be at least 1");
            }
        }
        if self.store.path.trim().is_empty() {
            problems.error("store.path", "is empty");
        }
        let database_url = self.store.url.as_deref().and_then(|raw| {
            let url = resolve_secret(raw, "store.url", env, &mut problems)?;
            let scheme = url.expose_secret().split("://").next().unwrap_or_default();
            if scheme != "postgres" && scheme != "postgresql" {
                // The value itself is not repeated: it may hold a password.
                problems.error(
                    "store.url",
                    "must be a PostgreSQL URL (postgres://user:password@host:5432/database)",
                );
                return None;
            }
            Some(url)
        });
        if self.store.log_retention_days == 0 {
            problems.error("store.log_retention_days", "must be at least 1");
        }
        let default_key = env(MASTER_KEY_VAR).map(|_| format!("env:{MASTER_KEY_VAR}"));
        let secret_key = self.store.secret_key.as_deref().or(default_key.as_deref());
        let secret_key = secret_key.and_then(|raw| {
            let key = resolve_secret(raw, "store.secret_key", env, &mut problems)?;
            let hex = key.expose_secret().trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.error(
                    "store.secret_key",
                    "must be 64 hexadecimal characters (32 bytes; `openssl rand -hex 32`)",
                );
                return None;
            }
            Some(key)
        });
        if self.consent.poll_unsubscribes_secs == Some(0) {
            problems.error("consent.poll_unsubscribes_secs", "must be at least 1");
        }
        if self.stripe.catchup_interval_secs == 0 {
            problems.error("stripe.catchup_interval_secs", "must be at least 1");
        }
        let mut accounts = Vec::new();
        for (i, raw) in self.stripe.accounts.iter().enumerate() {
            if let Some(account) = self.resolve_account(i, raw, env, &mut problems) {
                accounts.push(account);
            }
        }
        let destinations =
            destinations::resolve_destinations(&self.destinations, env, &mut problems);
        let syncs = syncs::resolve_syncs(&self.syncs, &accounts, &destinations, &mut problems);
        let alerts = alerts::resolve_alerts(&self.alerts, env, &mut problems);
        if secret_key.is_none()
            && destinations
                .iter()
                .any(|d| matches!(d.kind, DestinationKind::ConstantContact { .. }))
        {
            problems.error(
                "store.secret_key",
                "is required with a Constant Contact destination: its refresh tokens rotate and \
                 must be kept, encrypted, across restarts",
            );
        }
        let mail = self.mail.as_ref().and_then(|m| {
            mail::resolve_smtp(
                &m.smtp_url,
                &m.username,
                &m.password,
                "mail",
                env,
                &mut problems,
            )
        });
        if let Some(sync) = syncs.iter().find(|s| s.opt_in.is_some()) {
            let needs = |what: &str, key: &str| {
                format!("sync {:?} sends opt-in emails: set {what}", sync.name) + key
            };
            if self.mail.is_none() {
                problems.error("mail", needs("[mail] smtp_url", ""));
            }
            if self.server.public_url.is_none() {
                problems.error(
                    "server.public_url",
                    needs("server.public_url", " (where confirmation links point)"),
                );
            }
            if secret_key.is_none() {
                problems.error(
                    "store.secret_key",
                    needs(
                        "PAYSYNC_MASTER_KEY or store.secret_key",
                        " (confirmation links are signed)",
                    ),
                );
            }
        }
        let api_token = self.server.api_token.as_deref().and_then(|raw| {
            let token = resolve_secret(raw, "server.api_token", env, &mut problems)?;
            if token.expose_secret().len() < 16 {
                problems.error("server.api_token", "must be at least 16 characters");
                return None;
            }
            Some(token)
        });
        let problems = problems.0;
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(problems);
        }
        let config = Config {
            server: self.server.clone(),
            store: self.store.clone(),
            catchup_interval_secs: self.stripe.catchup_interval_secs,
            accounts,
            destinations,
            syncs,
            alerts,
            consent: self.consent.clone(),
            mail,
            secret_key,
            database_url,
            api_token,
        };
        Ok((config, problems))
    }

    fn resolve_account(
        &self,
        i: usize,
        raw: &RawStripeAccount,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> Option<StripeAccount> {
        let at = |key: &str| format!("stripe.accounts[{i}].{key}");
        let errors_before = problems.0.len();
        if !valid_name(&raw.name) {
            problems.error(
                at("name"),
                format!(
                    "{:?} must be 1-64 characters of a-z, 0-9, - and _",
                    raw.name
                ),
            );
        }
        if self.stripe.accounts[..i].iter().any(|a| a.name == raw.name) {
            problems.error(
                at("name"),
                format!("{:?} is used by an earlier account", raw.name),
            );
        }
        let api_key = resolve_secret(&raw.api_key, &at("api_key"), env, problems);
        if let Some(key) = &api_key {
            match key_mode(key.expose_secret()) {
                None => problems.error(
                    at("api_key"),
                    "is not a Stripe secret (sk_…) or restricted (rk_…) key",
                ),
                Some(mode) if mode != raw.mode => problems.error(
                    at("api_key"),
                    format!(
                        "is a {mode}-mode key but the account has mode = \"{}\"",
                        raw.mode
                    ),
                ),
                Some(_) => {}
            }
        }
        if raw.webhook_secrets.is_empty() {
            problems.warn(
                at("webhook_secrets"),
                "is empty: webhooks to this account will all be rejected",
            );
        }
        let webhook_secrets: Vec<_> = raw
            .webhook_secrets
            .iter()
            .enumerate()
            .filter_map(|(j, s)| {
                resolve_secret(s, &at(&format!("webhook_secrets[{j}]")), env, problems)
            })
            .collect();
        if let Some(acct) = &raw.connect_account
            && !acct.starts_with("acct_")
        {
            problems.error(
                at("connect_account"),
                format!("{acct:?} is not a Stripe account id (acct_…)"),
            );
        }
        let api_base = raw
            .api_base
            .clone()
            .unwrap_or_else(|| STRIPE_API_BASE.into());
        let scheme_ok = api_base.starts_with("https://") || api_base.starts_with("http://");
        if !scheme_ok {
            problems.error(
                at("api_base"),
                format!("{api_base:?} is not an http(s) URL"),
            );
        } else if api_base.starts_with("http://") && raw.mode.is_live() {
            problems.error(at("api_base"), "a live-mode account must use https");
        }
        if raw.rate_limit_per_sec == Some(0) {
            problems.error(at("rate_limit_per_sec"), "must be at least 1");
        }
        let has_errors = problems.0[errors_before..]
            .iter()
            .any(|p| p.severity == Severity::Error);
        if has_errors {
            return None;
        }
        Some(StripeAccount {
            name: raw.name.clone(),
            api_key: api_key?,
            webhook_secrets,
            connect_account: raw.connect_account.clone(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            mode: raw.mode,
            rate_limit_per_sec: raw
                .rate_limit_per_sec
                .unwrap_or(raw.mode.default_rate_limit()),
            refetch: raw.refetch,
            api_version: raw
                .api_version
                .clone()
                .unwrap_or_else(|| self.stripe.api_version.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, key: &str, mode: Mode) -> RawStripeAccount {
        RawStripeAccount {
            name: name.into(),
            api_key: key.into(),
            webhook_secrets: vec!["env:WHSEC".into()],
            connect_account: None,
            api_base: None,
            mode,
            rate_limit_per_sec: None,
            refetch: false,
            api_version: None,
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "TEST_KEY" => Some("sk_test_123".into()),
            "LIVE_KEY" => Some("rk_live_456".into()),
            "WHSEC" => Some("whsec_abc".into()),
            "stored:stripe.main.api_key" => Some("sk_test_sealed".into()),
            _ => None,
        }
    }

    fn paths(problems: &[ConfigProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn resolves_env_secrets_and_mode_defaults() {
        let mut raw = RawConfig::default();
        raw.stripe
            .accounts
            .push(account("main", "env:TEST_KEY", Mode::Test));
        let (config, warnings) = raw.resolve(&env).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let a = &config.accounts[0];
        assert_eq!(a.api_key.expose_secret(), "sk_test_123");
        assert_eq!(a.rate_limit_per_sec, 25);
        assert_eq!(a.api_base, "https://api.stripe.com");
    }

    #[test]
    fn refuses_a_key_of_the_other_mode_with_its_path() {
        let mut raw = RawConfig::default();
        raw.stripe
            .accounts
            .push(account("a", "env:TEST_KEY", Mode::Test));
        raw.stripe
            .accounts
            .push(account("b", "env:LIVE_KEY", Mode::Test));
        let problems = raw.resolve(&env).unwrap_err();
        assert_eq!(paths(&problems), ["stripe.accounts[1].api_key"]);
        assert!(
            problems[0].message.contains("live-mode key"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut raw = RawConfig::default();
        raw.server.listen = "nowhere".into();
        let mut bad = account("Bad Name", "env:MISSING", Mode::Live);
        bad.connect_account = Some("cus_1".into());
        raw.stripe.accounts.push(bad);
        raw.stripe
            .accounts
            .push(account("x", "env:TEST_KEY", Mode::Test));
        raw.stripe
            .accounts
            .push(account("x", "env:TEST_KEY", Mode::Test));
        let problems = raw.resolve(&env).unwrap_err();
        assert_eq!(
            paths(&problems),
            [
                "server.listen",
                "stripe.accounts[0].name",
                "stripe.accounts[0].api_key",
                "stripe.accounts[0].connect_account",
                "stripe.accounts[2].name",
            ]
        );
    }

    #[test]
    fn warns_about_a_secret_in_clear_text() {
        let mut raw = RawConfig::default();
        raw.stripe
            .accounts
            .push(account("main", "sk_test_inline", Mode::Test));
        let (_, warnings) = raw.resolve(&env).unwrap();
        assert_eq!(paths(&warnings), ["stripe.accounts[0].api_key"]);
        assert!(!warnings[0].message.contains("sk_test_inline"));
    }

    #[test]
    fn stored_secrets_come_from_the_lookup_and_are_not_warned_about() {
        let mut raw = RawConfig::default();
        raw.stripe
            .accounts
            .push(account("main", "stored:stripe.main.api_key", Mode::Test));
        let (config, warnings) = raw.resolve(&env).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.accounts[0].api_key.expose_secret(), "sk_test_sealed");
        raw.stripe.accounts[0].api_key = "stored:missing".into();
        let problems = raw.resolve(&env).unwrap_err();
        assert_eq!(paths(&problems), ["stripe.accounts[0].api_key"]);
    }
}
