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

use serde::{Deserialize, Serialize};

use super::Problems;
use super::mail::{SmtpServer, resolve_smtp};

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
    pub smtp: SmtpServer,
    pub from: String,
    pub to: Vec<String>,
}

fn looks_like_address(s: &str) -> bool {
    crate::object::normalise_email(s).is_some()
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
        let smtp = resolve_smtp(
            &e.smtp_url,
            &e.username,
            &e.password,
            "alerts.email",
            env,
            problems,
        );
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
        Some(EmailAlerts {
            smtp: smtp?,
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
                "alerts.email.password",
                "alerts.email.from",
                "alerts.email.to[1]",
            ]
        );
        assert!(problems.0.iter().all(|p| !p.message.contains("hunter2")));
    }
}
