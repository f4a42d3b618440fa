//! OAuth 2.0 as Constant Contact's authorization server (Okta, `authz.constantcontact.com`)
//! does it: authorization code with PKCE (S256), refresh tokens with `offline_access`,
//! rotating single-use refresh tokens, 24-hour access tokens.
//!
//! - `GET /oauth2/default/v1/authorize?client_id&redirect_uri&response_type=code&scope&state
//!   [&code_challenge&code_challenge_method=S256]` auto-approves: 302 to
//!   `redirect_uri?code=…&state=…`. Errors with a trustworthy `redirect_uri` go back there as
//!   `error=…&error_description=…&state=…`; an unknown client or redirect URI is a 400.
//! - `POST /oauth2/default/v1/token` (form fields, in the body or — as Constant Contact's own
//!   examples send them — the query string): `grant_type=authorization_code` (`code`,
//!   `redirect_uri`, `code_verifier` when a challenge was sent) or
//!   `grant_type=refresh_token` (`refresh_token`). The client authenticates with HTTP Basic
//!   `client_id:client_secret` or `client_id`/`client_secret` fields; a PKCE client may send
//!   only `client_id` (a public client). Errors are `{error, error_description}` (RFC 6749 §5.2).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::b64;

use super::emulator::ConstantContactEmulator;
use super::ids;

/// Authorization codes are valid this long and once.
const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// Scopes Constant Contact knows (swagger `securityDefinitions`), plus OpenID/refresh ones.
const KNOWN_SCOPES: &[&str] = &[
    "contact_data",
    "campaign_data",
    "account_read",
    "account_update",
    "billing_data",
    "offline_access",
    "openid",
    "profile",
];

/// An access token and (with `offline_access`) a refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Clone, Debug)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scope: String,
    challenge: Option<String>,
    expires_ms: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessToken {
    pub client_id: String,
    pub scope: String,
    pub expires_ms: i64,
}

#[derive(Clone, Debug)]
struct RefreshToken {
    client_id: String,
    scope: String,
    /// Rotated away: presenting it again is `invalid_grant`.
    used: bool,
}

#[derive(Debug)]
pub(crate) struct AuthState {
    rng: StdRng,
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    stats: AuthStats,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
struct AuthStats {
    codes_issued: u64,
    tokens_issued: u64,
    refreshes: u64,
    refresh_reuse_rejected: u64,
    invalid_grants: u64,
}

impl AuthState {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            stats: AuthStats::default(),
        }
    }

    pub fn issue(
        &mut self,
        client_id: &str,
        scope: &str,
        refresh: bool,
        ttl_secs: i64,
        now: i64,
    ) -> TokenPair {
        let access_token = ids::token(&mut self.rng, 64);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                expires_ms: now + ttl_secs * 1000,
            },
        );
        let refresh_token = refresh.then(|| {
            let t = ids::token(&mut self.rng, 48);
            self.refresh.insert(
                t.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                    used: false,
                },
            );
            t
        });
        self.stats.tokens_issued += 1;
        TokenPair {
            access_token,
            refresh_token,
            expires_in: ttl_secs,
            scope: scope.to_owned(),
        }
    }

    /// The token, if it exists and has not expired.
    pub fn valid_access(&self, token: &str, now: i64) -> Option<&AccessToken> {
        self.access.get(token).filter(|t| t.expires_ms > now)
    }

    pub fn expire_access(&mut self, now: i64) -> usize {
        let mut n = 0;
        for t in self.access.values_mut() {
            if t.expires_ms > now {
                t.expires_ms = now;
                n += 1;
            }
        }
        n
    }

    pub fn revoke_all(&mut self) {
        self.codes.clear();
        self.access.clear();
        self.refresh.clear();
    }

    pub fn stats(&self, now: i64) -> Value {
        json!({
            "access_tokens_valid": self.access.values().filter(|t| t.expires_ms > now).count(),
            "refresh_tokens_valid": self.refresh.values().filter(|t| !t.used).count(),
            "counts": self.stats,
        })
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn params(raw: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        m.insert(k.into_owned(), v.into_owned());
    }
    // Body fields win over query fields of the same name.
    for (k, v) in form_urlencoded::parse(body) {
        m.insert(k.into_owned(), v.into_owned());
    }
    m
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    let q = s.finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

pub async fn authorize(
    State(emu): State<ConstantContactEmulator>,
    RawQuery(q): RawQuery,
) -> Response {
    let resp = authorize_inner(&emu, q.as_deref());
    emu.requests()
        .record("GET /oauth2/default/v1/authorize", resp.status().as_u16());
    resp
}

fn authorize_inner(emu: &ConstantContactEmulator, q: Option<&str>) -> Response {
    let p = params(q, b"");
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let Some(client) = emu
        .config()
        .clients
        .iter()
        .find(|c| c.client_id == get("client_id"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "The client_id is not valid.",
        );
    };
    let redirect_uri = get("redirect_uri");
    let redirect_ok = !redirect_uri.is_empty()
        && (client.redirect_uris.is_empty()
            || client.redirect_uris.iter().any(|u| u == redirect_uri));
    if !redirect_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
        );
    }
    let state = get("state");
    let back = |error: &str, desc: &str| {
        redirect(&with_query(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", desc),
                ("state", state),
            ],
        ))
    };
    if get("response_type") != "code" {
        return back(
            "unsupported_response_type",
            "The response type is not supported by the authorization server. Configured response types: [code].",
        );
    }
    if state.is_empty() {
        return back("invalid_request", "The 'state' parameter is required.");
    }
    let scope = get("scope");
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.is_empty() {
        return back("invalid_scope", "The 'scope' parameter is required.");
    }
    if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
        return back(
            "invalid_scope",
            &format!(
                "One or more scopes are not configured for the authorization server resource: '{bad}'."
            ),
        );
    }
    let challenge = p.get("code_challenge").cloned();
    if let Some(ch) = &challenge {
        if get("code_challenge_method") != "S256" {
            return back(
                "invalid_request",
                "The 'code_challenge_method' parameter must be 'S256'.",
            );
        }
        if !valid_pkce_string(ch) {
            return back(
                "invalid_request",
                "The 'code_challenge' parameter is invalid.",
            );
        }
    }
    let now = emu.now_ms();
    let code = {
        let mut a = emu.auth();
        let code = ids::token(&mut a.rng, 43);
        a.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scopes.join(" "),
                challenge,
                expires_ms: now + CODE_TTL_MS,
            },
        );
        a.stats.codes_issued += 1;
        code
    };
    redirect(&with_query(
        redirect_uri,
        &[("code", &code), ("state", state)],
    ))
}

/// The client a token request authenticates as: `(client_id, authenticated_with_secret)`.
fn client_auth(
    emu: &ConstantContactEmulator,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<(String, bool), Box<Response>> {
    let invalid = || {
        Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed. Either the client or the client credentials are invalid.",
        ))
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let (id, secret) = match basic {
        Some(b) => {
            let decoded = b64::decode_any(b.trim()).ok_or_else(invalid)?;
            let s = String::from_utf8(decoded).map_err(|_| invalid())?;
            let (id, secret) = s.split_once(':').ok_or_else(invalid)?;
            (id.to_owned(), Some(secret.to_owned()))
        }
        None => (
            p.get("client_id").cloned().unwrap_or_default(),
            p.get("client_secret").cloned(),
        ),
    };
    let client = emu
        .config()
        .clients
        .iter()
        .find(|c| c.client_id == id)
        .ok_or_else(invalid)?;
    match secret {
        Some(s) if s == client.client_secret => Ok((id, true)),
        Some(_) => Err(invalid()),
        None => Ok((id, false)),
    }
}

pub async fn token(
    State(emu): State<ConstantContactEmulator>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut resp = token_inner(&emu, &headers, q.as_deref(), &body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    emu.requests()
        .record("POST /oauth2/default/v1/token", resp.status().as_u16());
    resp
}

fn token_inner(
    emu: &ConstantContactEmulator,
    headers: &HeaderMap,
    q: Option<&str>,
    body: &[u8],
) -> Response {
    let p = params(q, body);
    let (client_id, with_secret) = match client_auth(emu, headers, &p) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = emu.now_ms();
    let ttl = emu.config().access_token_ttl_secs;
    let bad_grant = |desc: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", desc);
    let pair = match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = p.get("code").cloned().unwrap_or_default();
            let mut a = emu.auth();
            // Codes are single use: taken whatever happens next.
            let Some(c) = a.codes.remove(&code) else {
                a.stats.invalid_grants += 1;
                return bad_grant("The authorization code is invalid or has expired.");
            };
            if c.expires_ms <= now || c.client_id != client_id {
                a.stats.invalid_grants += 1;
                return bad_grant("The authorization code is invalid or has expired.");
            }
            if p.get("redirect_uri").map(String::as_str) != Some(c.redirect_uri.as_str()) {
                a.stats.invalid_grants += 1;
                return bad_grant(
                    "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
                );
            }
            match (&c.challenge, p.get("code_verifier")) {
                (Some(ch), Some(v)) => {
                    if !valid_pkce_string(v) {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "The 'code_verifier' parameter is invalid.",
                        );
                    }
                    if ids::pkce_s256(v) != *ch {
                        a.stats.invalid_grants += 1;
                        return bad_grant("PKCE verification failed.");
                    }
                }
                (Some(_), None) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "PKCE code verifier is required when the parameter code_challenge is included in the authorize request.",
                    );
                }
                (None, Some(_)) => {
                    a.stats.invalid_grants += 1;
                    return bad_grant("PKCE verification failed.");
                }
                (None, None) if !with_secret => {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "Client authentication failed. Either the client or the client credentials are invalid.",
                    );
                }
                (None, None) => {}
            }
            let offline = c.scope.split(' ').any(|s| s == "offline_access");
            a.issue(&client_id, &c.scope, offline, ttl, now)
        }
        Some("refresh_token") => {
            let rt = p.get("refresh_token").cloned().unwrap_or_default();
            let rotate = emu.config().rotate_refresh_tokens;
            let mut a = emu.auth();
            let Some(r) = a.refresh.get_mut(&rt) else {
                a.stats.invalid_grants += 1;
                return bad_grant("The refresh token is invalid or expired.");
            };
            if r.used {
                a.stats.refresh_reuse_rejected += 1;
                a.stats.invalid_grants += 1;
                return bad_grant("The refresh token is invalid or expired.");
            }
            if r.client_id != client_id {
                a.stats.invalid_grants += 1;
                return bad_grant("The refresh token is invalid or expired.");
            }
            let scope = r.scope.clone();
            if rotate {
                r.used = true;
            }
            a.stats.refreshes += 1;
            let mut pair = a.issue(&client_id, &scope, rotate, ttl, now);
            if !rotate {
                pair.refresh_token = Some(rt);
            }
            pair
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("The authorization grant type '{other}' is not supported."),
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The 'grant_type' parameter is required.",
            );
        }
    };
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "access_token": pair.access_token,
        "scope": pair.scope,
    });
    if let Some(rt) = pair.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    (StatusCode::OK, Json(body)).into_response()
}
