//! The HTTP surface: `/3.0/*` through the gate (faults, authentication, the simultaneous
//! connection limit, request accounting, `fields`/`exclude_fields`), `/_admin/*`, and the batch
//! result archives.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use crate::common::FaultAction;
use crate::common::b64;
use crate::common::http::json_response;
use crate::common::projection::project;
use crate::common::query::{query_get, query_pairs};
use crate::common::random::random_uuid;

use super::admin;
use super::batches;
use super::emulator::MailchimpEmulator;
use super::error::Problem;
use super::model::batch_json;
use super::ops::{self, OpResult, Reply, parse_body};
use super::routes::{Route, resolve};

pub fn router(emu: MailchimpEmulator) -> Router {
    Router::new()
        .route("/3.0", any(api))
        .route("/3.0/", any(api))
        .route("/3.0/{*rest}", any(api))
        .route("/_batch-results/{file}", get(batch_results))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(emu.clone())
        .merge(admin::router(emu))
}

/// The key the request authenticates with (Basic password or Bearer token).
fn authenticate(emu: &MailchimpEmulator, headers: &HeaderMap) -> Result<String, Problem> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Err(Problem::api_key_missing());
    };
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let cfg = emu.config();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = b64::decode_standard(rest).ok_or_else(Problem::api_key_invalid)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Problem::api_key_invalid())?;
        let key = decoded.split_once(':').map_or(decoded.as_str(), |(_, k)| k);
        let ok = if cfg.api_keys.is_empty() {
            // `<key>-<dc>`: a datacenter suffix such as us1, us21.
            key.rsplit_once('-').is_some_and(|(k, dc)| {
                !k.is_empty()
                    && dc.len() >= 3
                    && dc[..2].bytes().all(|b| b.is_ascii_lowercase())
                    && dc[2..].bytes().all(|b| b.is_ascii_digit())
            })
        } else {
            cfg.api_keys.iter().any(|k| k == key)
        };
        return if ok {
            Ok(key.to_owned())
        } else if key.is_empty() {
            Err(Problem::api_key_missing())
        } else {
            Err(Problem::api_key_invalid())
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
        let token = rest.trim();
        let ok = !token.is_empty()
            && (cfg.access_tokens.is_empty() || cfg.access_tokens.iter().any(|t| t == token));
        return if ok {
            Ok(token.to_owned())
        } else {
            Err(Problem::api_key_invalid())
        };
    }
    Err(Problem::api_key_invalid())
}

/// The base URL the client reached us at (for `response_body_url`).
fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

async fn api(
    State(emu): State<MailchimpEmulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/3.0").unwrap_or("");
    let route = resolve(path);
    let endpoint = match &route {
        Some(r) => format!("{method} /3.0{}", r.pattern()),
        None => "unrecognized".to_owned(),
    };
    let instance = random_uuid(&mut rand::rng());
    let query = query_pairs(uri.query());
    let decision = emu.faults().decide();
    let resp = if decision.action == Some(FaultAction::Outage) {
        if let Some(d) = decision.delay {
            tokio::time::sleep(d).await;
        }
        Problem::server_error(503).into_response_with(&instance)
    } else {
        match authenticate(&emu, &headers) {
            Err(p) => p.into_response_with(&instance),
            Ok(key) => match emu.inner.conns.try_acquire(&key) {
                None => Problem::too_many_connections(emu.max_concurrent().unwrap_or(0))
                    .into_response_with(&instance),
                Some(_slot) => {
                    if let Some(d) = decision.delay {
                        tokio::time::sleep(d).await;
                    }
                    match decision.action {
                        Some(FaultAction::Throttle) => {
                            Problem::too_many_connections(emu.max_concurrent().unwrap_or(10))
                                .into_response_with(&instance)
                        }
                        Some(FaultAction::Error(s)) => {
                            Problem::server_error(s).into_response_with(&instance)
                        }
                        _ => {
                            let result = match &route {
                                None => Err(Problem::not_found()),
                                Some(r) => {
                                    execute(&emu, &method, r, &query, &body, &base_url(&headers))
                                        .await
                                }
                            };
                            match result {
                                Err(p) => p.into_response_with(&instance),
                                Ok(Reply { status, body: None }) => StatusCode::from_u16(status)
                                    .unwrap_or(StatusCode::NO_CONTENT)
                                    .into_response(),
                                Ok(Reply {
                                    status,
                                    body: Some(mut v),
                                }) => {
                                    project(
                                        &mut v,
                                        query_get(&query, "fields"),
                                        query_get(&query, "exclude_fields"),
                                    );
                                    json_response(status, &v)
                                }
                            }
                        }
                    }
                }
            },
        }
    };
    emu.requests().record(&endpoint, resp.status().as_u16());
    resp
}

fn needs_body(m: &Method) -> bool {
    m == Method::POST || m == Method::PUT || m == Method::PATCH
}

/// Runs one API call (from HTTP or from a batch). `base` is the URL prefix for result links.
pub(crate) async fn execute(
    emu: &MailchimpEmulator,
    method: &Method,
    route: &Route,
    query: &[(String, String)],
    body: &[u8],
    base: &str,
) -> OpResult {
    if !route.allows(method) {
        return Err(Problem::method_not_allowed());
    }
    let now = emu.now();
    let v = if needs_body(method) {
        parse_body(body)?
    } else {
        serde_json::Value::Null
    };
    let q = query;
    match (method.as_str(), route) {
        ("GET", Route::Root) => Ok(Reply::ok(json!({
            "account_id": "0a1b2c3d4e5f6a7b8c9d0e1f2",
            "login_id": "1000001",
            "account_name": "paysync emulator",
            "email": "owner@paysync.example",
            "username": "paysync",
            "role": "owner",
            "pro_enabled": false,
            "account_timezone": "UTC",
            "total_subscribers": emu.read().lists.iter().map(|l| l.count(super::model::Status::Subscribed)).sum::<usize>(),
            "_links": [],
        }))),
        ("GET", Route::Ping) => Ok(Reply::ok(json!({"health_status": "Everything's Chimpy!"}))),
        ("GET", Route::Lists) => ops::get_lists(&emu.read(), q),
        ("POST", Route::Lists) => ops::create_list(&mut emu.write(), now, &v),
        ("GET", Route::List(l)) => ops::get_list(&emu.read(), l, q),
        ("POST", Route::List(l)) => ops::batch_subscribe(&mut emu.write(), now, l, &v, q),
        ("DELETE", Route::List(l)) => ops::delete_list(&mut emu.write(), l),
        ("GET", Route::MergeFields(l)) => ops::get_merge_fields(&emu.read(), l, q),
        ("GET", Route::TagSearch(l)) => ops::search_tags(&emu.read(), l, q),
        ("POST", Route::MergeFields(l)) => ops::create_merge_field(&mut emu.write(), l, &v),
        ("GET", Route::MergeField(l, m)) => ops::get_merge_field(&emu.read(), l, m),
        ("PATCH", Route::MergeField(l, m)) => ops::update_merge_field(&mut emu.write(), l, m, &v),
        ("GET", Route::Members(l)) => ops::get_members(&emu.read(), l, q),
        ("POST", Route::Members(l)) => ops::add_member(&mut emu.write(), now, l, &v, q),
        ("GET", Route::Member(l, h)) => ops::get_member(&emu.read(), l, h),
        ("PUT", Route::Member(l, h)) => ops::put_member(&mut emu.write(), now, l, h, &v, q),
        ("PATCH", Route::Member(l, h)) => ops::patch_member(&mut emu.write(), now, l, h, &v, q),
        ("DELETE", Route::Member(l, h)) => ops::archive_member(&mut emu.write(), now, l, h),
        ("POST", Route::MemberDeletePermanent(l, h)) => {
            ops::delete_permanent(&mut emu.write(), l, h)
        }
        ("GET", Route::MemberTags(l, h)) => ops::get_tags(&emu.read(), l, h, q),
        ("POST", Route::MemberTags(l, h)) => ops::post_tags(&mut emu.write(), now, l, h, &v),
        ("GET", Route::Webhooks(l)) => ops::get_webhooks(&emu.read(), l),
        ("POST", Route::Webhooks(l)) => {
            if emu.read().list(l).is_none() {
                return Err(Problem::not_found());
            }
            let (url, events, sources) = ops::parse_webhook(&v)?;
            if emu.config().validate_webhooks {
                emu.check_webhook_url(&url).await?;
            }
            ops::add_webhook(&mut emu.write(), l, url, events, sources)
        }
        ("GET", Route::Webhook(l, w)) => ops::get_webhook(&emu.read(), l, w),
        ("DELETE", Route::Webhook(l, w)) => ops::delete_webhook(&mut emu.write(), l, w),
        ("POST", Route::Batches) => {
            let b = ops::create_batch(&mut emu.write(), now, &v)?;
            batches::spawn(emu.clone(), b.id.clone());
            Ok(Reply::ok(batch_json(&b, base)))
        }
        ("GET", Route::Batches) => {
            let st = emu.read();
            let (count, offset) = (
                query_get(q, "count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(10usize)
                    .min(1000),
                query_get(q, "offset")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0usize),
            );
            let all: Vec<_> = st
                .batches
                .iter()
                .skip(offset)
                .take(count)
                .map(|b| batch_json(b, base))
                .collect();
            Ok(Reply::ok(
                json!({"batches": all, "total_items": st.batches.len(), "_links": []}),
            ))
        }
        ("GET", Route::Batch(id)) => {
            let st = emu.read();
            let b = st.batch(id).ok_or_else(Problem::not_found)?;
            Ok(Reply::ok(batch_json(b, base)))
        }
        ("DELETE", Route::Batch(id)) => {
            let mut st = emu.write();
            let before = st.batches.len();
            st.batches.retain(|b| &b.id != id);
            if st.batches.len() == before {
                return Err(Problem::not_found());
            }
            Ok(Reply::no_content())
        }
        _ => Err(Problem::method_not_allowed()),
    }
}

/// `GET /_batch-results/{id}.tar.gz`: a finished batch's results (no auth, like the presigned
/// storage URLs Mailchimp links to).
async fn batch_results(State(emu): State<MailchimpEmulator>, Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".tar.gz").unwrap_or(&file);
    let data = emu.read().batch(id).and_then(|b| b.results.clone());
    match data {
        Some(d) => {
            let mut r = (StatusCode::OK, d.as_ref().clone()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-gzip"),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "no such batch result").into_response(),
    }
}
