//! Small pieces of the emulators' API surfaces: the endpoint key requests are counted under,
//! and JSON answers with an explicit charset.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// `"GET /v1/customers/{id}"`: the method and the matched route pattern (the raw path when no
/// route matched), as [`RequestLog`](super::RequestLog) counts requests.
pub fn endpoint_key(req: &Request) -> String {
    format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map_or(req.uri().path(), |m| m.as_str())
    )
}

/// `status` with `v` as `application/json; charset=utf-8` (Mailchimp's and ActiveCampaign's
/// clients both check for a JSON `Content-Type`).
pub fn json_response(status: u16, v: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
