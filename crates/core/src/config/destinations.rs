//! `[[destinations]]`: the marketing platforms paysync writes to, one table per connected account.
//!
//! ```toml
//! [[destinations]]
//! name = "cc"
//! kind = "constant_contact"
//! client_id = "…"
//! client_secret = "env:CC_CLIENT_SECRET"
//! redirect_uri = "https://paysync.example.com/oauth/cc/callback"
//! refresh_token = "env:CC_REFRESH_TOKEN"   # first token; rotated ones are kept in the store
//! default_list = "Stripe customers"        # for subscribed contacts on no other list
//!
//! [[destinations]]
//! name = "ac"
//! kind = "activecampaign"
//! api_url = "https://youraccount.api-us1.com"
//! api_token = "env:AC_API_TOKEN"
//!
//! [[destinations]]
//! name = "mc"
//! kind = "mailchimp"
//! api_key = "env:MC_API_KEY"   # <key>-<data centre>
//! list_id = "a1b2c3d4e5"
//! ```

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Problems, resolve_secret, valid_name};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RawDestination {
    ConstantContact(RawConstantContact),
    #[serde(rename = "activecampaign")]
    ActiveCampaign(RawActiveCampaign),
    Mailchimp(RawMailchimp),
}

/// Settings every destination has.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommon {
    /// Requests per second; the vendor's documented limit by default.
    pub rate_limit_per_sec: Option<u32>,
    /// `env:NAME`: the secret in the URL of paysync's endpoint for the vendor's webhooks
    /// (`/webhooks/destinations/<name>?secret=…`; Mailchimp and ActiveCampaign sign nothing).
    /// Unset, the endpoint answers 404 and unsubscribes are learnt by polling only.
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConstantContact {
    pub name: String,
    /// API base (default `https://api.cc.email/v3`); the emulator's URL in tests and the demo.
    pub api_base: Option<String>,
    /// Where the authorization server lives (default Constant Contact's), for the emulator.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub client_id: String,
    /// `env:NAME`; absent for a public (PKCE-only) client.
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    /// `env:NAME`: a refresh token to start from. After its first use the rotated tokens are kept
    /// (encrypted) in the store and this value is ignored.
    pub refresh_token: Option<String>,
    /// The list every subscribed contact joins (Constant Contact subscribes contacts to lists:
    /// one that no segment puts on a list still needs one). Created when missing.
    pub default_list: Option<String>,
    #[serde(flatten)]
    pub common: RawCommon,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActiveCampaign {
    pub name: String,
    /// `https://<account>.api-us1.com`.
    pub api_url: String,
    /// `env:NAME`.
    pub api_token: String,
    /// Send purchases as Deep Data orders.
    #[serde(default)]
    pub deep_data: bool,
    #[serde(flatten)]
    pub common: RawCommon,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailchimp {
    pub name: String,
    /// `env:NAME`; the key ends with `-<data centre>`.
    pub api_key: String,
    /// The audience paysync writes to.
    pub list_id: String,
    /// API base (default `https://<dc>.api.mailchimp.com/3.0`), for the emulator.
    pub api_base: Option<String>,
    #[serde(flatten)]
    pub common: RawCommon,
}

/// A validated destination, secrets resolved.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    pub name: String,
    pub kind: DestinationKind,
    pub rate_limit_per_sec: Option<u32>,
    /// The secret the vendor's webhooks must carry (`?secret=`), when they are enabled.
    pub webhook_secret: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub enum DestinationKind {
    ConstantContact {
        api_base: Option<String>,
        authorize_url: Option<String>,
        token_url: Option<String>,
        client_id: String,
        client_secret: Option<SecretString>,
        redirect_uri: String,
        refresh_token: Option<SecretString>,
        default_list: Option<String>,
    },
    ActiveCampaign {
        api_url: String,
        api_token: SecretString,
        deep_data: bool,
    },
    Mailchimp {
        api_key: SecretString,
        list_id: String,
        api_base: Option<String>,
    },
}

impl DestinationKind {
    /// The kind as the file writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DestinationKind::ConstantContact { .. } => "constant_contact",
            DestinationKind::ActiveCampaign { .. } => "activecampaign",
            DestinationKind::Mailchimp { .. } => "mailchimp",
        }
    }
}

impl RawDestination {
    pub fn name(&self) -> &str {
        match self {
            RawDestination::ConstantContact(d) => &d.name,
            RawDestination::ActiveCampaign(d) => &d.name,
            RawDestination::Mailchimp(d) => &d.name,
        }
    }

    /// The kind as the file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            RawDestination::ConstantContact(_) => "constant_contact",
            RawDestination::ActiveCampaign(_) => "activecampaign",
            RawDestination::Mailchimp(_) => "mailchimp",
        }
    }

    /// Every secret the table holds, with its key: what the dashboard seals in the store.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let (mut out, common) = match self {
            RawDestination::ConstantContact(d) => {
                let mut out = Vec::new();
                if let Some(s) = d.client_secret.as_mut() {
                    out.push(("client_secret", s));
                }
                if let Some(s) = d.refresh_token.as_mut() {
                    out.push(("refresh_token", s));
                }
                (out, &mut d.common)
            }
            RawDestination::ActiveCampaign(d) => {
                (vec![("api_token", &mut d.api_token)], &mut d.common)
            }
            RawDestination::Mailchimp(d) => (vec![("api_key", &mut d.api_key)], &mut d.common),
        };
        if let Some(s) = common.webhook_secret.as_mut() {
            out.push(("webhook_secret", s));
        }
        out
    }

    fn common(&self) -> &RawCommon {
        match self {
            RawDestination::ConstantContact(d) => &d.common,
            RawDestination::ActiveCampaign(d) => &d.common,
            RawDestination::Mailchimp(d) => &d.common,
        }
    }
}

fn check_url(url: &str, path: &str, problems: &mut Problems) {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.error(path, format!("{url:?} is not an http(s) URL"));
    }
}

fn check_optional_url(url: &Option<String>, path: &str, problems: &mut Problems) {
    if let Some(url) = url {
        check_url(url, path, problems);
    }
}

pub(super) fn resolve_destinations(
    raw: &[RawDestination],
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Vec<DestinationConfig> {
    let mut out = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let at = |key: &str| format!("destinations[{i}].{key}");
        let errors_before = problems.error_count();
        if !valid_name(d.name()) {
            problems.error(
                at("name"),
                format!(
                    "{:?} must be 1-64 characters of a-z, 0-9, - and _",
                    d.name()
                ),
            );
        }
        if raw[..i].iter().any(|e| e.name() == d.name()) {
            problems.error(
                at("name"),
                format!("{:?} is used by an earlier destination", d.name()),
            );
        }
        let common = d.common();
        if common.rate_limit_per_sec == Some(0) {
            problems.error(at("rate_limit_per_sec"), "must be at least 1");
        }
        let webhook_secret = common
            .webhook_secret
            .as_deref()
            .and_then(|raw| resolve_secret(raw, &at("webhook_secret"), env, problems));
        if common.webhook_secret.is_some() && matches!(d, RawDestination::ConstantContact(_)) {
            problems.error(
                at("webhook_secret"),
                "Constant Contact sends no unsubscribe webhooks; paysync polls it",
            );
        }
        let kind = match d {
            RawDestination::ConstantContact(cc) => {
                check_optional_url(&cc.api_base, &at("api_base"), problems);
                check_optional_url(&cc.authorize_url, &at("authorize_url"), problems);
                check_optional_url(&cc.token_url, &at("token_url"), problems);
                check_url(&cc.redirect_uri, &at("redirect_uri"), problems);
                if cc.client_id.trim().is_empty() {
                    problems.error(at("client_id"), "is empty");
                }
                let secret = |key: &str, raw: &Option<String>, problems: &mut Problems| {
                    raw.as_deref()
                        .and_then(|s| resolve_secret(s, &at(key), env, problems))
                };
                DestinationKind::ConstantContact {
                    api_base: cc.api_base.clone(),
                    authorize_url: cc.authorize_url.clone(),
                    token_url: cc.token_url.clone(),
                    client_id: cc.client_id.clone(),
                    client_secret: secret("client_secret", &cc.client_secret, problems),
                    redirect_uri: cc.redirect_uri.clone(),
                    refresh_token: secret("refresh_token", &cc.refresh_token, problems),
                    default_list: cc.default_list.clone(),
                }
            }
            RawDestination::ActiveCampaign(ac) => {
                check_url(&ac.api_url, &at("api_url"), problems);
                let token = resolve_secret(&ac.api_token, &at("api_token"), env, problems);
                match token {
                    Some(api_token) => DestinationKind::ActiveCampaign {
                        api_url: ac.api_url.trim_end_matches('/').to_owned(),
                        api_token,
                        deep_data: ac.deep_data,
                    },
                    None => continue,
                }
            }
            RawDestination::Mailchimp(mc) => {
                check_optional_url(&mc.api_base, &at("api_base"), problems);
                if mc.list_id.trim().is_empty() {
                    problems.error(at("list_id"), "is empty");
                }
                let key = resolve_secret(&mc.api_key, &at("api_key"), env, problems);
                if let Some(k) = &key
                    && mc.api_base.is_none()
                    && !k.expose_secret().contains('-')
                {
                    problems.error(
                        at("api_key"),
                        "does not end with -<data centre> (such as -us6); set api_base instead",
                    );
                }
                match key {
                    Some(api_key) => DestinationKind::Mailchimp {
                        api_key,
                        list_id: mc.list_id.clone(),
                        api_base: mc.api_base.clone(),
                    },
                    None => continue,
                }
            }
        };
        if problems.error_count() > errors_before {
            continue;
        }
        out.push(DestinationConfig {
            name: d.name().to_owned(),
            kind,
            rate_limit_per_sec: common.rate_limit_per_sec,
            webhook_secret,
        });
    }
    out
}
