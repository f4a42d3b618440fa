//! The HTTP surface: routes, and the gate every `/v3` request passes (faults, bearer
//! authentication, the 4-a-second token bucket, the daily quota, request accounting).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::common::FaultAction;
use crate::common::http::endpoint_key;

use super::admin;
use super::bulk;
use super::contacts;
use super::emulator::ConstantContactEmulator;
use super::error::CcError;
use super::oauth;
use super::resources;

/// Import bodies are read whole (the 4 MB rule drops what lies beyond 4 MB, it does not
/// refuse the request); anything larger than this is refused by the server.
const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn router(emu: ConstantContactEmulator) -> Router {
    let api = Router::new()
        .route("/v3/contacts", get(contacts::list))
        .route("/v3/contacts/sign_up_form", post(contacts::sign_up_form))
        .route(
            "/v3/contacts/{contact_id}",
            get(contacts::get)
                .put(contacts::put)
                .delete(contacts::delete),
        )
        .route(
            "/v3/contact_lists",
            get(resources::lists).post(resources::create_list),
        )
        .route("/v3/contact_lists/{list_id}", get(resources::get_list))
        .route(
            "/v3/contact_tags",
            get(resources::tags).post(resources::create_tag),
        )
        .route("/v3/contact_tags/{tag_id}", get(resources::get_tag))
        .route(
            "/v3/contact_custom_fields",
            get(resources::fields).post(resources::create_field),
        )
        .route(
            "/v3/contact_custom_fields/{custom_field_id}",
            get(resources::get_field),
        )
        .route("/v3/activities", get(bulk::list))
        .route("/v3/activities/{activity_id}", get(bulk::get))
        .route(
            "/v3/activities/contacts_json_import",
            post(bulk::json_import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route(
            "/v3/activities/remove_list_memberships",
            post(bulk::remove_list_memberships),
        )
        .route("/v3/activities/contact_delete", post(bulk::contact_delete))
        .route(
            "/v3/activities/contacts_taggings_add",
            post(bulk::taggings_add),
        )
        .route(
            "/v3/activities/contacts_taggings_remove",
            post(bulk::taggings_remove),
        )
        .route_layer(middleware::from_fn_with_state(emu.clone(), gate))
        .route("/oauth2/default/v1/authorize", get(oauth::authorize))
        .route("/oauth2/default/v1/token", post(oauth::token))
        .fallback(unrecognized)
        .with_state(emu.clone());
    api.merge(admin::router(emu))
}

async fn unrecognized(State(emu): State<ConstantContactEmulator>) -> Response {
    emu.requests().record("unrecognized", 404);
    CcError::list(
        StatusCode::NOT_FOUND,
        "not.found",
        "The requested resource was not found.",
    )
    .into_response()
}

/// The client of a valid bearer token with the `contact_data` scope.
fn authenticate(emu: &ConstantContactEmulator, headers: &HeaderMap) -> Result<String, CcError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(CcError::unauthorized)?;
    let now = emu.now_ms();
    let auth = emu.auth();
    let t = auth
        .valid_access(token, now)
        .ok_or_else(CcError::unauthorized)?;
    if !t.scope.split(' ').any(|s| s == "contact_data") {
        return Err(CcError::forbidden());
    }
    Ok(t.client_id.clone())
}

async fn gate(State(emu): State<ConstantContactEmulator>, req: Request, next: Next) -> Response {
    let endpoint = endpoint_key(&req);
    let decision = emu.faults().decide();
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    let resp = match decision.action {
        Some(FaultAction::Outage) => {
            CcError::server(StatusCode::SERVICE_UNAVAILABLE).into_response()
        }
        Some(FaultAction::Error(s)) => {
            CcError::server(StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .into_response()
        }
        Some(FaultAction::Throttle) => CcError::throttled().into_response(),
        None => match authenticate(&emu, req.headers()) {
            Err(e) => e.into_response(),
            Ok(client_id) => {
                let now = emu.now_ms();
                // The quota is checked first (an exhausted day answers `quota_exceeded`
                // whatever the rate), then the rate; only admitted requests use quota.
                if !emu.quota().has_left(&client_id, now) {
                    CcError::quota_exceeded().into_response()
                } else if !emu.inner.limiter.check(&client_id) {
                    CcError::throttled().into_response()
                } else {
                    emu.quota().take(&client_id, now);
                    next.run(req).await
                }
            }
        },
    };
    emu.requests().record(&endpoint, resp.status().as_u16());
    resp
}
