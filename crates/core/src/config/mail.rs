//! SMTP servers paysync sends through: `[alerts.email]` (to operators) and `[mail]` (opt-in
//! emails to customers).
//!
//! ```toml
//! [mail]
//! smtp_url = "smtp://mail.example.com:587"   # smtp:// (STARTTLS when offered) or smtps://
//! username = "paysync"
//! password = "env:SMTP_PASSWORD"
//! ```

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Problems, resolve_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub smtp_url: String,
    pub username: Option<String>,
    /// `env:NAME`.
    pub password: Option<String>,
}

/// A validated SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (`smtps://`); otherwise STARTTLS when the server offers it.
    pub implicit_tls: bool,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

/// `smtp://host[:port]` or `smtps://host[:port]` → (host, port, implicit TLS).
pub(super) fn parse_smtp_url(url: &str) -> Option<(String, u16, bool)> {
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

/// Checks an SMTP server's settings (keys reported under `at`).
pub(super) fn resolve_smtp(
    smtp_url: &str,
    username: &Option<String>,
    password: &Option<String>,
    at: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<SmtpServer> {
    let parsed = parse_smtp_url(smtp_url);
    if parsed.is_none() {
        problems.error(
            format!("{at}.smtp_url"),
            format!("{smtp_url:?} is not smtp://host[:port] or smtps://host[:port]"),
        );
    }
    let password = password
        .as_deref()
        .and_then(|p| resolve_secret(p, &format!("{at}.password"), env, problems));
    let (host, port, implicit_tls) = parsed?;
    Some(SmtpServer {
        host,
        port,
        implicit_tls,
        username: username.clone(),
        password,
    })
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
}
