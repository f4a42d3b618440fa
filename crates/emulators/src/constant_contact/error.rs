//! Constant Contact's error bodies.
//!
//! - API errors are a JSON **array** of `{error_key, error_message}` (swagger `APIErrorSchema`;
//!   the v3 guide "glossary_responses" shows `[{"error_key": "contacts.api.not_found", …}]`).
//! - 401 is a single **object** `{error_key: "unauthorized", error_message: "Unauthorized"}`
//!   (swagger `AuthorizationErrorSchema`).
//! - 429 is a single object whose `error_key` is `throttled` (4 requests a second) or
//!   `quota_exceeded` (the daily quota) (API-FACTS "Constant Contact v3").

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CcError {
    /// `[{error_key, error_message}, …]`.
    List {
        status: StatusCode,
        errors: Vec<(String, String)>,
    },
    /// `{error_key, error_message}`.
    Object {
        status: StatusCode,
        key: &'static str,
        message: String,
    },
}

pub type CcResult<T = Response> = Result<T, CcError>;

impl CcError {
    pub fn list(status: StatusCode, key: &str, message: impl Into<String>) -> Self {
        Self::List {
            status,
            errors: vec![(key.to_owned(), message.into())],
        }
    }

    /// 400 `contacts.api.validation.error`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::list(
            StatusCode::BAD_REQUEST,
            "contacts.api.validation.error",
            message,
        )
    }

    /// 400 `contacts.api.bad.request` (malformed JSON, bad cursor).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::list(StatusCode::BAD_REQUEST, "contacts.api.bad.request", message)
    }

    /// 404 `<area>.api.not_found`.
    pub fn not_found(area: &str, message: impl Into<String>) -> Self {
        Self::list(
            StatusCode::NOT_FOUND,
            &format!("{area}.api.not_found"),
            message,
        )
    }

    /// 409 `<area>.api.conflict`.
    pub fn conflict(area: &str, message: impl Into<String>) -> Self {
        Self::list(
            StatusCode::CONFLICT,
            &format!("{area}.api.conflict"),
            message,
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::list(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported.media.type",
            "Unsupported Media Type; the payload must be in JSON format, and Content-Type must be application/json.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::Object {
            status: StatusCode::UNAUTHORIZED,
            key: "unauthorized",
            message: "Unauthorized".into(),
        }
    }

    pub fn forbidden() -> Self {
        Self::list(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden request. You lack the necessary scopes, you lack the necessary user privileges, or the application is deactivated.",
        )
    }

    /// 429: more than 4 requests in a second.
    pub fn throttled() -> Self {
        Self::Object {
            status: StatusCode::TOO_MANY_REQUESTS,
            key: "throttled",
            message: "Too many requests. You exceeded the request rate limit.".into(),
        }
    }

    /// 429: the daily quota is used up (until 00:00 UTC).
    pub fn quota_exceeded() -> Self {
        Self::Object {
            status: StatusCode::TOO_MANY_REQUESTS,
            key: "quota_exceeded",
            message: "Too many requests. You exceeded your daily request quota.".into(),
        }
    }

    /// 429 from the bulk-activity endpoints once more than 1,000 activities are queued
    /// (swagger `Activities429ErrorResponse`; the body is not documented, so it is the array
    /// shape with its own key, distinct from `throttled` and `quota_exceeded`).
    pub fn activities_queue_full(limit: usize) -> Self {
        Self::list(
            StatusCode::TOO_MANY_REQUESTS,
            "activities.api.queue.full",
            format!(
                "Too many requests. You exceeded {limit} queued activities for this user account."
            ),
        )
    }

    /// A server error (injected faults): 500 or 503 with the swagger's wording.
    pub fn server(status: StatusCode) -> Self {
        let (key, msg) = if status == StatusCode::SERVICE_UNAVAILABLE {
            (
                "service.unavailable",
                "Our internal service is temporarily unavailable.",
            )
        } else {
            (
                "server.error",
                "There was a problem with our internal service.",
            )
        };
        Self::list(status, key, msg)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::List { status, .. } | Self::Object { status, .. } => *status,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            Self::List { errors, .. } => Value::Array(
                errors
                    .iter()
                    .map(|(k, m)| json!({"error_key": k, "error_message": m}))
                    .collect(),
            ),
            Self::Object { key, message, .. } => {
                json!({"error_key": key, "error_message": message})
            }
        }
    }
}

impl IntoResponse for CcError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// A JSON response with `status`.
pub fn json_status(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            CcError::throttled().body(),
            json!({"error_key": "throttled", "error_message": "Too many requests. You exceeded the request rate limit."})
        );
        assert_eq!(
            CcError::quota_exceeded().body()["error_key"],
            "quota_exceeded"
        );
        assert_eq!(
            CcError::not_found("contacts", "x").body(),
            json!([{"error_key": "contacts.api.not_found", "error_message": "x"}])
        );
        assert_eq!(CcError::unauthorized().status(), StatusCode::UNAUTHORIZED);
    }
}
