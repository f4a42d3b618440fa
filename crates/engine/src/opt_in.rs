//! Opt-in by email: the signed confirmation link, the message, and the mailer that sends each
//! requested email once.
//!
//! A link is `<public_url>/consent/confirm?t=<payload>.<mac>`: the payload (base64url JSON: sync,
//! person, issued and expiry times) and an HMAC-SHA256 over it with a key derived from the store's
//! secret key. Nothing is stored per link; a tampered payload fails the MAC, an old one its
//! expiry, and a second visit finds the opt-in confirmed already.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use paysync_core::UnixMs;
use paysync_core::config::{Config, OptInEmail, SyncConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use paysync_store::{Store, StoreError};

/// The key links are signed with: derived from the store's secret key, so that the key itself
/// never signs anything seen outside.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    pub fn derive(secret_key: &SecretString) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"paysync opt-in confirmation links v1");
        LinkKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }
}

/// What a link vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "s")]
    pub sync: String,
    #[serde(rename = "p")]
    pub person: String,
    #[serde(rename = "i")]
    pub issued_ms: UnixMs,
    #[serde(rename = "e")]
    pub expires_ms: UnixMs,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match (altered, or signed with another key)")]
    BadSignature,
    #[error("the link expired")]
    Expired,
}

/// The token of a link.
pub fn sign(key: &LinkKey, claims: &LinkClaims) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mac = URL_SAFE_NO_PAD.encode(key.mac(&payload).finalize().into_bytes());
    format!("{payload}.{mac}")
}

/// The claims of a token, if it is genuine and not expired at `now`.
pub fn verify(key: &LinkKey, token: &str, now: UnixMs) -> Result<LinkClaims, LinkError> {
    let (payload, mac) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| LinkError::Malformed)?;
    // Constant-time comparison.
    key.mac(payload)
        .verify_slice(&mac)
        .map_err(|_| LinkError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LinkError::Malformed)?;
    let claims: LinkClaims = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
    if now > claims.expires_ms {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

/// The confirmation URL of `claims`.
pub fn confirm_url(public_url: &str, key: &LinkKey, claims: &LinkClaims) -> String {
    format!(
        "{}/consent/confirm?t={}",
        public_url.trim_end_matches('/'),
        sign(key, claims)
    )
}

/// The body of an opt-in email: `{{confirm_url}}`, `{{name}}` (or "there") and `{{email}}`
/// replaced, in one pass so that a name cannot smuggle in another placeholder.
pub fn render_body(template: &str, confirm_url: &str, name: Option<&str>, email: &str) -> String {
    let mut out = String::with_capacity(template.len() + confirm_url.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].trim() {
            "confirm_url" => out.push_str(confirm_url),
            "name" => out.push_str(name.filter(|n| !n.trim().is_empty()).unwrap_or("there")),
            "email" => out.push_str(email),
            other => {
                out.push_str("{{");
                out.push_str(other);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The claims of a new link for `person` at `sync`.
pub fn claims_for(sync: &SyncConfig, opt_in: &OptInEmail, person: &str, now: UnixMs) -> LinkClaims {
    LinkClaims {
        sync: sync.name.clone(),
        person: person.to_owned(),
        issued_ms: now,
        expires_ms: now + i64::from(opt_in.link_valid_days) * 86_400_000,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptInError {
    #[error("opt-in email: {0}")]
    Message(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The message for one person.
pub fn message(
    opt_in: &OptInEmail,
    to: &str,
    name: Option<&str>,
    confirm_url: &str,
) -> Result<Message, OptInError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| OptInError::Message(format!("{what}: {e}"));
    let from = Mailbox::new(
        opt_in.from_name.clone(),
        opt_in.from.parse().map_err(|e| bad("from", &e))?,
    );
    let mut builder = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to.parse().map_err(|e| bad("to", &e))?))
        .subject(opt_in.subject.clone());
    if let Some(reply_to) = &opt_in.reply_to {
        builder = builder.reply_to(Mailbox::new(
            None,
            reply_to.parse().map_err(|e| bad("reply_to", &e))?,
        ));
    }
    builder
        .body(render_body(&opt_in.body, confirm_url, name, to))
        .map_err(|e| bad("body", &e))
}

/// Sends requested opt-in emails, each at most once.
pub struct Mailer {
    pub store: Arc<dyn Store>,
    pub syncs: Vec<SyncConfig>,
    pub public_url: String,
    pub key: LinkKey,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// A failed send is tried again this much later, at most `MAX_ATTEMPTS` times.
const RETRY_AFTER: Duration = Duration::from_secs(300);
const MAX_ATTEMPTS: i64 = 5;

impl Mailer {
    pub fn new(store: Arc<dyn Store>, config: &Config) -> Result<Option<Self>, OptInError> {
        let (Some(mail), Some(public_url), Some(secret)) =
            (&config.mail, &config.server.public_url, &config.secret_key)
        else {
            return Ok(None);
        };
        if !config.syncs.iter().any(|s| s.opt_in.is_some()) {
            return Ok(None);
        }
        Ok(Some(Mailer {
            store,
            syncs: config.syncs.clone(),
            public_url: public_url.clone(),
            key: LinkKey::derive(secret),
            transport: crate::mail::transport(mail)
                .map_err(|e| OptInError::Message(format!("SMTP: {e}")))?,
        }))
    }

    /// Sends what is due; answers how many went out.
    pub async fn round(&self, now: impl Fn() -> UnixMs) -> Result<usize, OptInError> {
        let mut sent = 0;
        for request in self.store.opt_ins_due(now(), 50).await? {
            let sync = self.syncs.iter().find(|s| s.name == request.sync);
            let Some((sync, opt_in)) = sync.and_then(|s| s.opt_in.as_ref().map(|o| (s, o))) else {
                // The configuration changed since it was asked for: never sent, and out of the
                // queue so that it does not hold up the others.
                self.store
                    .opt_in_sent(
                        &request.sync,
                        &request.person,
                        now(),
                        Some("the sync no longer sends opt-in emails".into()),
                        None,
                    )
                    .await?;
                continue;
            };
            let key = format!("email:{}", request.person);
            let name = match self.store.person(&sync.account, &key).await {
                Ok(p) => crate::reconcile::profile_of(&p).identity.name,
                Err(_) => None,
            };
            let claims = claims_for(sync, opt_in, &request.person, now());
            let url = confirm_url(&self.public_url, &self.key, &claims);
            let outcome = match message(opt_in, &request.person, name.as_deref(), &url) {
                Err(e) => Err((e.to_string(), false)),

                Ok(m) => self.transport.send(m).await.map(|_| ()).map_err(|e| {
                    // A permanent refusal will not change; a timeout may come after the server
                    // took the message, and nobody gets the email twice. Anything else (a
                    // temporary refusal, no connection) is tried again.
                    let retry = !e.is_permanent() && !e.is_timeout();
                    (format!("SMTP: {e}"), retry)
                }),
            };
            match outcome {
                Ok(()) => {
                    sent += 1;
                    self.store
                        .opt_in_sent(&request.sync, &request.person, now(), None, None)
                        .await?;
                    tracing::info!(sync = %request.sync, "opt-in email sent");
                }
                Err((error, retry)) => {
                    let retry = retry && request.attempts + 1 < MAX_ATTEMPTS;
                    let retry_at = retry.then(|| now() + RETRY_AFTER.as_millis() as i64);
                    tracing::warn!(sync = %request.sync, %error, retry, "opt-in email not sent");
                    self.store
                        .opt_in_sent(&request.sync, &request.person, now(), Some(error), retry_at)
                        .await?;
                }
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::derive(&SecretString::from("ab".repeat(32)))
    }

    fn claims() -> LinkClaims {
        LinkClaims {
            sync: "to-mc".into(),
            person: "ann@example.com".into(),
            issued_ms: 1_000,
            expires_ms: 10_000,
        }
    }

    #[test]
    fn links_verify_until_they_expire_and_refuse_any_change() {
        let token = sign(&key(), &claims());
        assert_eq!(verify(&key(), &token, 5_000), Ok(claims()));
        assert_eq!(verify(&key(), &token, 10_001), Err(LinkError::Expired));
        let other = LinkKey::derive(&SecretString::from("cd".repeat(32)));
        assert_eq!(verify(&other, &token, 5_000), Err(LinkError::BadSignature));
        // Another person's payload under this MAC.
        let mut forged = claims();
        forged.person = "eve@example.com".into();
        let forged_payload = sign(&key(), &forged);
        let (payload, _) = forged_payload.split_once('.').unwrap();
        let (_, mac) = token.split_once('.').unwrap();
        assert_eq!(
            verify(&key(), &format!("{payload}.{mac}"), 5_000),
            Err(LinkError::BadSignature)
        );
        assert_eq!(verify(&key(), "garbage", 5_000), Err(LinkError::Malformed));
        assert_eq!(verify(&key(), "a.!!", 5_000), Err(LinkError::Malformed));
    }

    #[test]
    fn bodies_fill_placeholders_once() {
        assert_eq!(
            render_body(
                "Hi {{name}}, {{ confirm_url }} ({{email}}) {{other}}",
                "U",
                Some("{{email}}"),
                "e@x.io"
            ),
            "Hi {{email}}, U (e@x.io) {{other}}"
        );
        assert_eq!(render_body("Hi {{name}}", "U", None, "e"), "Hi there");
        assert_eq!(render_body("open {{ only", "U", None, "e"), "open {{ only");
    }
}
