//! Who may use the operator surface. Two ways in:
//!
//! - `Authorization: Bearer <server.api_token>`, for scripts and monitoring. Browsers never send
//!   it on their own, so it needs no CSRF token.
//! - A dashboard session: `POST /login` checks an administrator's password (argon2id) and sets
//!   a random session id in an `HttpOnly; Secure; SameSite=Strict` cookie; the store keeps only
//!   its SHA-256. Every request that changes something must also carry the session's CSRF token
//!   in `X-CSRF-Token`; the token is derived from the session id, so it cannot be computed from
//!   the database or without the cookie.
//!
//! Failed logins are throttled per client address and per username ([`throttle`]).

use std::net::SocketAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paysync_engine::now_ms;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::{AppState, error, pages, same_secret};

pub(crate) mod throttle;

pub const SESSION_COOKIE: &str = "paysync_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A dashboard session lasts a working day.
const SESSION_TTL_MS: i64 = 12 * 3_600_000;

#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// An argon2id PHC string for `password` (the crate's defaults: 19 MiB, 2 passes, OWASP's
/// recommendation).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (a malformed hash matches nothing).
fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Checked against when the username does not exist, so that an unknown name costs as much
/// time as a wrong password and names cannot be probed by timing.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2/9kqP4kT8u9Sxe1wXYSHr85vJ3Qxw9tHr9YQZr6Tk0";

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    parts.iter().for_each(|p| hasher.update(p));
    hasher.finalize().into()
}

/// What the store keeps of a session id.
fn session_hash(id: &str) -> String {
    hex::encode(digest(&[b"paysync-session:", id.as_bytes()]))
}

/// The CSRF token of a session: the dashboard puts it in `X-CSRF-Token`.
pub(crate) fn csrf_token(session_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&[b"paysync-csrf:", session_id.as_bytes()]))
}

/// Who made an authenticated request.
#[derive(Debug, Clone)]
pub(crate) enum Operator {
    Token,
    Session { username: String, csrf: String },
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Methods that change nothing; the others need the CSRF token with a session.
fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The operator behind the request, or the refusal: 401 without (valid) credentials, 403 for a
/// session request that changes something without its CSRF token.
pub(crate) async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Operator, &'static str> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let running = state.running();
        let token = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
        return match (&running.config.api_token, token) {
            (Some(expected), Some(given))
                if same_secret(given.as_bytes(), expected.expose_secret().as_bytes()) =>
            {
                Ok(Operator::Token)
            }
            _ => Err("unauthorized"),
        };
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Err("unauthorized");
    };
    let session = match state
        .shared
        .store
        .session(&session_hash(id), now_ms())
        .await
    {
        Ok(Some(session)) => session,
        Ok(None) => return Err("unauthorized"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read sessions");
            return Err("store_unavailable");
        }
    };
    let csrf = csrf_token(id);
    if !safe(method) {
        let given = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        if !given.is_some_and(|g| same_secret(g, csrf.as_bytes())) {
            return Err("bad_csrf");
        }
    }
    Ok(Operator::Session {
        username: session.username,
        csrf,
    })
}

/// The JSON answer to a refused request.
pub(crate) fn refusal(reason: &'static str) -> Response {
    match reason {
        "bad_csrf" => error(
            StatusCode::FORBIDDEN,
            reason,
            "a request that changes something needs the session's X-CSRF-Token header",
        ),
        "store_unavailable" => error(
            StatusCode::SERVICE_UNAVAILABLE,
            reason,
            "the store does not answer",
        ),
        _ => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in to the dashboard, or send Authorization: Bearer <server.api_token>",
        ),
    }
}

/// Middleware of every operator route: lets authenticated requests through with their
/// [`Operator`], answers the others with the refusal and logs it.
pub(crate) async fn require_operator(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.method(), request.headers()).await {
        Ok(operator) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        Err(reason) => {
            tracing::warn!(%peer, method = %request.method(), path = %request.uri().path(), reason, "operator request refused");
            refusal(reason)
        }
    }
}

/// Whether a form post comes from one of paysync's own pages. The login form has no CSRF token
/// (there is no session yet); a browser names the page's origin in `Origin` (all current ones do
/// on POST), so a post from another site — which could sign a victim into the attacker's
/// account — is refused. Clients that send no `Origin` (scripts) are not browsers and pass.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Opens a session for `username`; the `Set-Cookie` value carrying it.
async fn open_session(state: &AppState, username: &str) -> Result<String, Response> {
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let now = now_ms();
    state
        .shared
        .store
        .create_session(&session_hash(&id), username, now, now + SESSION_TTL_MS)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot open a session");
            refusal("store_unavailable")
        })?;
    Ok(format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_TTL_MS / 1000
    ))
}

/// `POST /login` (form: username, password): the dashboard on success, the login page again
/// with a reason otherwise.
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if !same_origin(&headers) {
        tracing::warn!(%peer, "login refused: posted from another site");
        return pages::login(
            StatusCode::FORBIDDEN,
            Some("Sign in from paysync's own page."),
        );
    }
    let body = match state.read_body(body).await {
        Ok(body) => body,
        Err(refused) => {
            tracing::warn!(%peer, reason = refused.reason_code(), "login refused: the form is too large, too slow or unreadable");
            return pages::login(refused.status(), Some("The form could not be read."));
        }
    };
    let field = |name: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (username, password) = (field("username"), field("password"));
    let keys = throttle::keys(peer.ip(), &username);
    if let Some(wait) = state.shared.logins.blocked(&keys, now_ms()) {
        tracing::warn!(%peer, username = %username, "login refused: too many failures");
        let mut page = pages::login(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed attempts. Wait a few minutes and try again."),
        );
        page.headers_mut()
            .insert(header::RETRY_AFTER, ((wait + 999) / 1000).into());
        return page;
    }
    let hash = match state.shared.store.admin_password_hash(&username).await {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "cannot read administrators");
            return refusal("store_unavailable");
        }
    };
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DECOY_HASH.to_owned());
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    if !(known && matches) {
        state.shared.logins.failed(&keys, now_ms());
        tracing::warn!(%peer, username = %username, "login refused: unknown user or wrong password");
        return pages::login(
            StatusCode::UNAUTHORIZED,
            Some("Wrong username or password."),
        );
    }
    state.shared.logins.succeeded(&keys);
    let cookie = match open_session(&state, &username).await {
        Ok(cookie) => cookie,
        Err(refused) => return refused,
    };
    tracing::info!(%peer, username = %username, "logged in");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// `POST /logout` (an operator route: the CSRF token is required).
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.shared.store.delete_session(&session_hash(id)).await
    {
        tracing::error!(error = %e, "cannot end a session");
        return refusal("store_unavailable");
    }
    let expired =
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn the_decoy_is_a_valid_hash_that_matches_nothing_typed() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify_password(DECOY_HASH, ""));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; paysync_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn logins_posted_from_another_site_are_recognised() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "paysync.example.com:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(None)));
        assert!(same_origin(&headers(Some(
            "https://paysync.example.com:8080"
        ))));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_from_what_is_stored() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), session_hash("a"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
    }
}
