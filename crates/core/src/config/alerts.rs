//! `[alerts]`: where paysync says that someone must act (dead letters, refused credentials, an
//! exhausted quota, a catch-up gap beyond Stripe's retention, a finished backfill or bulk import).
//!
//! ```toml
//! [alerts]
//! webhook_url = "https://ops.example.com/hooks/paysync"   # JSON POST
//! dedupe_minutes = 60                                     # one alert per kind and subject per hour
//!
//! [alerts.email]
//! smtp_url = "smtp://mail.example.com:587"                 # smtp:// (STARTTLS when offered) or smtps://
//! username = "paysync"
//! password = "env:SMTP_PASSWORD"
//! from = "paysync@example.com"
//! to = ["ops@example.com"]
//! ```

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Problems, resolve_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlerts {
    pub webhook_url: Option<String>,
    pub email: Option<RawEmailAlerts>,
    pub dedupe_minutes: u64,
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            webhook_url: None,
            email: None,
            dedupe_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailAlerts {
    pub smtp_url: String,
    pub username: Option<String>,
    /// `env:NAME`.
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

/// Validated alert channels.
#[derive(Debug, Clone, Default)]
pub struct AlertsConfig {
    pub webhook_url: Option<String>,
    pub email: Option<EmailAlerts>,
    pub dedupe_ms: i64,
}

#[derive(Debug, Clone)]
pub struct EmailAlerts {
    /// Host and port of the SMTP server.
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (`smtps://`); otherwise STARTTLS when the server offers it.
    pub implicit_tls: bool,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub to: Vec<String>,
}

fn looks_like_address(s: &str) -> bool {
    crate::object::normalise_email(s).is_some()
}

/// `smtp://host[:port]` or `smtps://host[:port]` → (host, port, implicit TLS).
fn parse_smtp_url(url: &str) -> Option<(String, u16, bool)> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("smtps://") {
        (true, r)
    } else {
        (false, url.strip_prefix("smtp://")?)
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (rest, if tls { 465 } else { 587 }),
    };
    (!host.is_empty()).then(|| (host.to_owned(), port, tls))
}

pub(super) fn resolve_alerts(
    raw: &RawAlerts,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> AlertsConfig {
    if let Some(url) = &raw.webhook_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        problems.error(
            "alerts.webhook_url",
            format!("{url:?} is not an http(s) URL"),
        );
    }
    if raw.dedupe_minutes == 0 {
        problems.error("alerts.dedupe_minutes", "must be at least 1");
    }
    let email = raw.email.as_ref().and_then(|e| {
        let parsed = parse_smtp_url(&e.smtp_url);
        if parsed.is_none() {
            problems.error(
                "alerts.email.smtp_url",
                format!(
                    "{:?} is not smtp://host[:port] or smtps://host[:port]",
                    e.smtp_url
                ),
            );
        }
        if !looks_like_address(&e.from) {
            problems.error(
                "alerts.email.from",
                format!("{:?} is not an email address", e.from),
            );
        }
        if e.to.is_empty() {
            problems.error("alerts.email.to", "names nobody");
        }
        for (i, to) in e.to.iter().enumerate() {
            if !looks_like_address(to) {
                problems.error(
                    format!("alerts.email.to[{i}]"),
                    format!("{to:?} is not an email address"),
                );
            }
        }
        let password = e
            .password
            .as_deref()
            .and_then(|p| resolve_secret(p, "alerts.email.password", env, problems));
        let (host, port, implicit_tls) = parsed?;
        Some(EmailAlerts {
            host,
            port,
            implicit_tls,
            username: e.username.clone(),
            password,
            from: e.from.clone(),
            to: e.to.clone(),
        })
    });
    AlertsConfig {
        webhook_url: raw.webhook_url.clone(),
        email,
        dedupe_ms: raw.dedupe_minutes.saturating_mul(60_000) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        assert_eq!(
            parse_smtp_url("smtp://mail.example.com:2525"),
            Some(("mail.example.com".into(), 2525, false))
        );
        assert_eq!(
            parse_smtp_url("smtps://mail.example.com"),
            Some(("mail.example.com".into(), 465, true))
        );
        assert_eq!(parse_smtp_url("smtp://"), None);
        assert_eq!(parse_smtp_url("http://x"), None);
        assert_eq!(parse_smtp_url("smtp://x:port"), None);
    }

    #[test]
    fn problems_have_paths_and_no_secrets() {
        let raw = RawAlerts {
            webhook_url: Some("ftp://x".into()),
            email: Some(RawEmailAlerts {
                smtp_url: "mail".into(),
                username: None,
                password: Some("hunter2".into()),
                from: "nobody".into(),
                to: vec!["ops@example.com".into(), "bad".into()],
            }),
            dedupe_minutes: 0,
        };
        let mut problems = Problems::default();
        resolve_alerts(&raw, &|_| None, &mut problems);
        let paths: Vec<&str> = problems.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "alerts.webhook_url",
                "alerts.dedupe_minutes",
                "alerts.email.smtp_url",
                "alerts.email.from",
                "alerts.email.to[1]",
                "alerts.email.password",
            ]
        );
        assert!(problems.0.iter().all(|p| !p.message.contains("hunter2")));
    }
}
