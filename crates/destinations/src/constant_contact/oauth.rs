//! Constant Contact OAuth 2.0: authorization code with PKCE (S256), and refresh-token rotation.
//!
//! API-FACTS "Constant Contact v3": authorize at `…/oauth2/default/v1/authorize`, token at
//! `…/v1/token`, scopes `contact_data` and `offline_access` (for refresh tokens), access tokens
//! live 24 h, refresh tokens may be single use. So:
//! - a refresh is single-flight in a process (one lock), and first re-reads the [`TokenStore`]:
//!   another worker may have rotated the pair already, and its refresh token is the only valid one;
//! - the new pair is saved to the store *before* its access token is used; if saving fails the
//!   pair is kept in memory, not used, and saving is retried on the next call;
//! - `invalid_grant` (a revoked or already-used refresh token) means the account must be
//!   reconnected: [`ErrorKind::AuthRevoked`].
//!
//! The token exchange is hand-written (a form POST): simpler than the `oauth2` crate plus a
//! reqwest-0.13 adapter, for the two grants used.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::error::{DestinationError, ErrorKind, Vendor};
use crate::http::{Authorizer, chain, plain_client, raw_message};
use crate::timefmt::now_ms;

const VENDOR: Vendor = Vendor::ConstantContact;
pub const AUTHORIZE_URL: &str = "https://authz.constantcontact.com/oauth2/default/v1/authorize";
pub const TOKEN_URL: &str = "https://authz.constantcontact.com/oauth2/default/v1/token";
/// Access tokens live 24 h (API-FACTS); used when the token answer has no `expires_in`.
const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// Refresh this long before the access token expires.
const EXPIRY_MARGIN_MS: i64 = 120_000;

/// The token pair of one connected account.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// When the access token expires, ms since the epoch.
    pub expires_at_ms: i64,
}

impl TokenPair {
    fn fresh(&self, now_ms: i64) -> bool {
        self.expires_at_ms - EXPIRY_MARGIN_MS > now_ms
    }
}

/// Where a connected account's tokens live (the store crate persists them encrypted). `save`
/// replaces the whole pair at once: a reader never sees a new access token with an old refresh
/// token.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn load(&self) -> Result<Option<TokenPair>, DestinationError>;
    async fn save(&self, pair: &TokenPair) -> Result<(), DestinationError>;
}

/// A [`TokenStore`] in memory, for tests and the demo.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    pair: std::sync::Mutex<Option<TokenPair>>,
    saves: AtomicU64,
}

impl MemoryTokenStore {
    pub fn new(pair: Option<TokenPair>) -> Self {
        MemoryTokenStore {
            pair: std::sync::Mutex::new(pair),
            saves: AtomicU64::new(0),
        }
    }

    /// How many times a pair was saved.
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::SeqCst)
    }

    pub fn current(&self) -> Option<TokenPair> {
        self.pair.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<TokenPair>, DestinationError> {
        Ok(self.current())
    }

    async fn save(&self, pair: &TokenPair) -> Result<(), DestinationError> {
        *self.pair.lock().unwrap_or_else(|e| e.into_inner()) = Some(pair.clone());
        self.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A registered Constant Contact application.
#[derive(Clone, Debug)]
pub struct OAuthClientConfig {
    pub client_id: String,
    /// `None` for a public (PKCE-only) client, which sends `client_id` in the form instead of
    /// HTTP Basic.
    pub client_secret: Option<SecretString>,
    pub redirect_uri: String,
    pub authorize_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub timeout: Duration,
}

impl OAuthClientConfig {
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        OAuthClientConfig {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            authorize_url: AUTHORIZE_URL.into(),
            token_url: TOKEN_URL.into(),
            scopes: vec!["contact_data".into(), "offline_access".into()],
            timeout: Duration::from_secs(30),
        }
    }

    /// Another authorization server than Constant Contact's (the emulator's), where given.
    pub fn with_urls(mut self, authorize_url: Option<&str>, token_url: Option<&str>) -> Self {
        if let Some(url) = authorize_url {
            self.authorize_url = url.to_owned();
        }
        if let Some(url) = token_url {
            self.token_url = url.to_owned();
        }
        self
    }
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
#[derive(Clone, Debug)]
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

impl Pkce {
    /// 32 random bytes, base64url: a 43-character verifier.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_verifier(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }
}

/// Where to send the account owner to grant access (`state` comes back on the callback).
pub fn authorization_url(
    cfg: &OAuthClientConfig,
    state: &str,
    pkce: &Pkce,
) -> Result<Url, DestinationError> {
    let mut url = Url::parse(&cfg.authorize_url)
        .map_err(|e| DestinationError::config(VENDOR, format!("authorize_url: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", &cfg.redirect_uri)
        .append_pair("scope", &cfg.scopes.join(" "))
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Default)]
struct Current {
    pair: Option<TokenPair>,
    /// The pair could not be saved yet: not to be used until it is.
    unsaved: bool,
}

/// Tokens of one connected account: hands out access tokens, refreshes and rotates.
pub struct OAuth {
    cfg: OAuthClientConfig,
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    current: Mutex<Current>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.cfg.client_id)
            .field("token_url", &self.cfg.token_url)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    pub fn new(
        cfg: OAuthClientConfig,
        store: Arc<dyn TokenStore>,
    ) -> Result<Self, DestinationError> {
        Url::parse(&cfg.token_url)
            .map_err(|e| DestinationError::config(VENDOR, format!("token_url: {e}")))?;
        Ok(OAuth {
            http: plain_client(VENDOR, cfg.timeout)?,
            cfg,
            store,
            current: Mutex::new(Current::default()),
            refreshes: AtomicU64::new(0),
        })
    }

    /// Refreshes done by this process.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Trades the callback's `code` (with the PKCE verifier of the authorization request) for a
    /// token pair, saved to the store.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &SecretString,
    ) -> Result<TokenPair, DestinationError> {
        let mut current = self.current.lock().await;
        let pair = self
            .token_request(
                vec![
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", code.to_owned()),
                    ("redirect_uri", self.cfg.redirect_uri.clone()),
                    ("code_verifier", verifier.expose_secret().to_owned()),
                ],
                None,
            )
            .await?;
        self.store.save(&pair).await?;
        *current = Current {
            pair: Some(pair.clone()),
            unsaved: false,
        };
        Ok(pair)
    }

    /// A usable access token: the current one, or a refreshed one when it expires soon.
    pub async fn access_token(&self) -> Result<SecretString, DestinationError> {
        let mut current = self.current.lock().await;
        self.settle(&mut current).await?;
        if current.pair.is_none() {
            current.pair = self.store.load().await?;
        }
        match &current.pair {
            None => Err(DestinationError::new(
                VENDOR,
                ErrorKind::AuthRevoked,
                "no Constant Contact tokens: connect the account first",
            )),
            Some(p) if p.fresh(now_ms()) => Ok(p.access_token.clone()),
            Some(_) => {
                self.refresh_locked(&mut current, None).await?;
                Ok(current
                    .pair
                    .as_ref()
                    .map(|p| p.access_token.clone())
                    .unwrap_or_else(|| SecretString::from("")))
            }
        }
    }

    /// Saves a pair that could not be saved before; until then it is not used.
    async fn settle(&self, current: &mut Current) -> Result<(), DestinationError> {
        if current.unsaved
            && let Some(pair) = &current.pair
        {
            self.store.save(pair).await?;
            current.unsaved = false;
        }
        Ok(())
    }

    /// Refreshes after the API refused `rejected` (an access token). If another task or worker
    /// already replaced it, the newer token is used without a refresh.
    pub async fn refresh_after_rejection(&self, rejected: &str) -> Result<(), DestinationError> {
        let mut current = self.current.lock().await;
        self.settle(&mut current).await?;
        self.refresh_locked(&mut current, Some(rejected)).await
    }

    async fn refresh_locked(
        &self,
        current: &mut Current,
        rejected: Option<&str>,
    ) -> Result<(), DestinationError> {
        // Another worker may have rotated the pair: its refresh token is the only valid one.
        if let Some(stored) = self.store.load().await? {
            let newer = rejected.is_none_or(|r| stored.access_token.expose_secret() != r);
            if newer && stored.fresh(now_ms()) {
                current.pair = Some(stored);
                return Ok(());
            }
            current.pair = Some(stored);
        }
        if let Some(p) = &current.pair
            && rejected.is_some_and(|r| p.access_token.expose_secret() != r)
            && p.fresh(now_ms())
        {
            return Ok(());
        }
        let Some(old) = current.pair.clone() else {
            return Err(DestinationError::new(
                VENDOR,
                ErrorKind::AuthRevoked,
                "no Constant Contact refresh token: connect the account first",
            ));
        };
        let pair = self
            .token_request(
                vec![
                    ("grant_type", "refresh_token".to_owned()),
                    (
                        "refresh_token",
                        old.refresh_token.expose_secret().to_owned(),
                    ),
                ],
                Some(&old.refresh_token),
            )
            .await?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        // The old refresh token may be spent now: keep the new pair whatever happens next.
        current.pair = Some(pair.clone());
        current.unsaved = true;
        self.store.save(&pair).await?;
        current.unsaved = false;
        tracing::info!("Constant Contact access token refreshed");
        Ok(())
    }

    async fn token_request(
        &self,
        mut form: Vec<(&'static str, String)>,
        previous_refresh: Option<&SecretString>,
    ) -> Result<TokenPair, DestinationError> {
        let mut request = self.http.post(&self.cfg.token_url);
        match &self.cfg.client_secret {
            Some(secret) => {
                let basic =
                    STANDARD.encode(format!("{}:{}", self.cfg.client_id, secret.expose_secret()));
                let mut value = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
                    DestinationError::config(
                        VENDOR,
                        "client credentials are not a valid header value",
                    )
                })?;
                value.set_sensitive(true);
                request = request.header(AUTHORIZATION, value);
            }
            None => form.push(("client_id", self.cfg.client_id.clone())),
        }
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                DestinationError::transient(
                    VENDOR,
                    format!("token endpoint: {}", chain(&e.without_url())),
                )
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            DestinationError::transient(
                VENDOR,
                format!("token endpoint: {}", chain(&e.without_url())),
            )
        })?;
        if !(200..300).contains(&status) {
            let (code, message) = match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(b) => (b.error, b.error_description.unwrap_or_default()),
                Err(_) => (None, raw_message(status, &body)),
            };
            let kind = match (status, code.as_deref()) {
                (_, Some("invalid_grant" | "invalid_client" | "unauthorized_client")) => {
                    ErrorKind::AuthRevoked
                }
                (400 | 401 | 403, _) => ErrorKind::AuthRevoked,
                (s, _) => crate::error::classify_status(s),
            };
            return Err(DestinationError {
                vendor: VENDOR,
                kind,
                status: Some(status),
                code,
                message: format!("token request refused: {message}"),
                retry_after: None,
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| DestinationError::transient(VENDOR, format!("token answer: {e}")))?;
        let ttl = answer.expires_in.map_or(DEFAULT_TTL, Duration::from_secs);
        let refresh_token = match (answer.refresh_token, previous_refresh) {
            (Some(r), _) => SecretString::from(r),
            // Not rotated: the old one stays valid.
            (None, Some(old)) => old.clone(),
            (None, None) => {
                return Err(DestinationError::new(
                    VENDOR,
                    ErrorKind::AuthRevoked,
                    "no refresh token granted: request the offline_access scope",
                ));
            }
        };
        Ok(TokenPair {
            access_token: SecretString::from(answer.access_token),
            refresh_token,
            expires_at_ms: now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
        })
    }
}

/// Bearer tokens for the API; a 401 refreshes once.
pub(super) struct BearerAuth(pub Arc<OAuth>);

#[async_trait]
impl Authorizer for BearerAuth {
    async fn header(&self) -> Result<(HeaderName, HeaderValue), DestinationError> {
        let token = self.0.access_token().await?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                DestinationError::new(
                    VENDOR,
                    ErrorKind::AuthRevoked,
                    "the access token is not a valid header value",
                )
            })?;
        value.set_sensitive(true);
        Ok((AUTHORIZATION, value))
    }

    async fn unauthorized(&self, sent: &HeaderValue) -> Result<bool, DestinationError> {
        let rejected = sent
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        self.0.refresh_after_rejection(rejected).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let g = Pkce::generate();
        assert_eq!(g.verifier.expose_secret().len(), 43);
        assert_ne!(
            g.verifier.expose_secret(),
            Pkce::generate().verifier.expose_secret()
        );
    }

    #[test]
    fn authorization_url_carries_pkce_and_scopes() {
        let cfg = OAuthClientConfig::new("cid", None, "https://app.example.com/cb");
        let p = Pkce::from_verifier("v".repeat(43));
        let url = authorization_url(&cfg, "st4te", &p).unwrap();
        let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "contact_data offline_access");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], p.challenge);
        assert_eq!(q["state"], "st4te");
        assert!(url.as_str().starts_with(AUTHORIZE_URL));
    }

    #[test]
    fn token_pairs_do_not_debug_their_secrets() {
        let p = TokenPair {
            access_token: SecretString::from("at-secret"),
            refresh_token: SecretString::from("rt-secret"),
            expires_at_ms: 0,
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
