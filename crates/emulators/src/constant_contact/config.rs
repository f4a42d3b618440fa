//! How a Constant Contact emulator is set up.

use serde::{Deserialize, Serialize};

use crate::common::{FaultConfig, RateLimit};

/// API-FACTS "Constant Contact v3": 4 requests a second…
pub const REQUESTS_PER_SEC: f64 = 4.0;
/// …and 10,000 requests a day, reset at 00:00 UTC.
pub const DAILY_QUOTA: u64 = 10_000;
/// Access tokens live 24 hours.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 86_400;
/// `contacts_json_import`: at most 40,000 contacts…
pub const IMPORT_MAX_CONTACTS: usize = 40_000;
/// …and 4 MB per request; beyond either the excess is silently dropped (swagger: "If the
/// request body exceeds 4 MB, this method only imports the first 4 MB and drops the remaining
/// data").
pub const IMPORT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// 429 once more than 1,000 activities are queued (swagger `Activities429ErrorResponse`).
pub const MAX_QUEUED_ACTIVITIES: usize = 1_000;
/// "A user can configure up to 100 `custom_fields` in their account" (swagger).
pub const MAX_CUSTOM_FIELDS: usize = 100;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConstantContactConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Token bucket per OAuth client (Constant Contact limits per API key); `None` = unlimited.
    /// Default: 4 a second, burst 4.
    pub rate_limit: Option<RateLimit>,
    /// Requests a day per OAuth client, reset at 00:00 UTC on the emulator clock; `None` =
    /// unlimited. Default 10,000.
    pub daily_quota: Option<u64>,
    /// Registered OAuth applications. Default: one, [`OAuthClient::default`].
    pub clients: Vec<OAuthClient>,
    /// Access-token lifetime, in seconds on the emulator clock.
    pub access_token_ttl_secs: i64,
    /// Refresh tokens are single use: each refresh returns a new one and the old one is then
    /// rejected with `invalid_grant` (API-FACTS: "refresh tokens may be rotating").
    pub rotate_refresh_tokens: bool,
    /// The account's "Confirmed Opt-in" setting: `sign_up_form` creates contacts as
    /// `pending_confirmation` instead of `explicit`.
    pub confirmed_opt_in: bool,
    /// What `sign_up_form` does to a contact who unsubscribed themselves
    /// (`opt_out_source: Contact`). Constant Contact's guide (contacts_create_or_update) says it
    /// sets existing contacts to `explicit` and "even if a contact is currently unsubscribed,
    /// POST /contacts/sign_up_form may set the contact's email permission policy as having
    /// given you explicit permission". Default `false`: the emulator refuses (the contact stays
    /// unsubscribed, no list is added, the attempt is logged under `consent.refused`), which is
    /// the rule paysync must uphold anyway. `true` re-subscribes as the guide describes and logs
    /// it under `consent.resubscribed`.
    pub sign_up_form_resubscribes: bool,
    pub activities: ActivityTiming,
    /// Bulk activities queued (initialized or processing) beyond which new ones get 429.
    pub max_queued_activities: usize,
    pub max_custom_fields: usize,
    pub import_max_contacts: usize,
    pub import_max_bytes: usize,
    pub faults: FaultConfig,
    /// Seed for ids and tokens.
    pub rng_seed: u64,
}

impl Default for ConstantContactConfig {
    fn default() -> Self {
        Self {
            port: 0,
            rate_limit: Some(RateLimit::per_second(REQUESTS_PER_SEC)),
            daily_quota: Some(DAILY_QUOTA),
            clients: vec![OAuthClient::default()],
            access_token_ttl_secs: ACCESS_TOKEN_TTL_SECS,
            rotate_refresh_tokens: true,
            confirmed_opt_in: false,
            sign_up_form_resubscribes: false,
            activities: ActivityTiming::default(),
            max_queued_activities: MAX_QUEUED_ACTIVITIES,
            max_custom_fields: MAX_CUSTOM_FIELDS,
            import_max_contacts: IMPORT_MAX_CONTACTS,
            import_max_bytes: IMPORT_MAX_BYTES,
            faults: FaultConfig::default(),
            rng_seed: 0xc0c0_a000,
        }
    }
}

/// A registered OAuth application.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Allowed `redirect_uri`s; empty accepts any.
    pub redirect_uris: Vec<String>,
}

impl Default for OAuthClient {
    fn default() -> Self {
        Self {
            client_id: "paysync-cc-client".into(),
            client_secret: "paysync-cc-secret".into(),
            redirect_uris: Vec::new(),
        }
    }
}

/// How long bulk activities take, in real milliseconds: `initialized` for `initialized_ms`,
/// then `processing` for `processing_ms` plus `per_item_us` per contact, then `completed`
/// (their effects are applied at that moment, all at once).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityTiming {
    pub initialized_ms: u64,
    pub processing_ms: u64,
    pub per_item_us: u64,
}

impl Default for ActivityTiming {
    fn default() -> Self {
        Self {
            initialized_ms: 200,
            processing_ms: 800,
            per_item_us: 0,
        }
    }
}
