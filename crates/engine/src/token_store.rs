//! Constant Contact's OAuth tokens kept in the store, encrypted (`Store::put_secret`), so that the
//! rotating refresh token survives restarts: the connector saves each new pair before using it.

use std::sync::Arc;

use async_trait::async_trait;
use paysync_destinations::constant_contact::{TokenPair, TokenStore};
use paysync_destinations::{DestinationError, ErrorKind, Vendor};
use paysync_store::Store;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::now_ms;

/// The token pair of one destination, under `destination.<name>.oauth`.
pub struct StoredTokens {
    store: Arc<dyn Store>,
    name: String,
}

impl StoredTokens {
    pub fn new(store: Arc<dyn Store>, destination: &str) -> Self {
        StoredTokens {
            store,
            name: format!("destination.{destination}.oauth"),
        }
    }
}

impl StoredTokens {
    /// Forgets the stored pair: the next start seeds the store from the configured refresh token.
    pub async fn forget(&self) -> Result<(), DestinationError> {
        self.store
            .delete_secret(&self.name)
            .await
            .map_err(store_error)
    }
}

/// The sealed form: plain JSON inside the encrypted secret.
#[derive(Serialize, Deserialize)]
struct Sealed {
    access_token: String,
    refresh_token: String,
    expires_at_ms: i64,
}

fn store_error(e: impl std::fmt::Display) -> DestinationError {
    DestinationError::new(
        Vendor::ConstantContact,
        ErrorKind::Config,
        format!("token store: {e}"),
    )
}

#[async_trait]
impl TokenStore for StoredTokens {
    async fn load(&self) -> Result<Option<TokenPair>, DestinationError> {
        let Some(secret) = self
            .store
            .get_secret(&self.name)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let sealed: Sealed = serde_json::from_str(secret.expose_secret())
            .map_err(|_| store_error("the stored token pair is unreadable"))?;
        Ok(Some(TokenPair {
            access_token: SecretString::from(sealed.access_token),
            refresh_token: SecretString::from(sealed.refresh_token),
            expires_at_ms: sealed.expires_at_ms,
        }))
    }

    async fn save(&self, pair: &TokenPair) -> Result<(), DestinationError> {
        let sealed = Sealed {
            access_token: pair.access_token.expose_secret().to_owned(),
            refresh_token: pair.refresh_token.expose_secret().to_owned(),
            expires_at_ms: pair.expires_at_ms,
        };
        let json = serde_json::to_string(&sealed).map_err(store_error)?;
        self.store
            .put_secret(&self.name, &SecretString::from(json), now_ms())
            .await
            .map_err(store_error)
    }
}
