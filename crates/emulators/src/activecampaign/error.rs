//! ActiveCampaign's error bodies, which vary by kind (all from the docs' examples in the
//! reconstructed spec):
//! - validation, 422: `{"errors": [{"title", "detail", "code", "source": {"pointer"}}]}` with
//!   codes `field_missing`, `field_invalid`, `duplicate`, `related_missing`;
//! - missing objects, 404: `{"message": "No Result found for Subscriber with id 1"}`;
//! - bulk import: `{"success": 0, "message", "failureReasons"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::http::json_response;

#[derive(Clone, Debug, PartialEq)]
pub struct AcError {
    pub status: u16,
    pub body: Value,
}

impl AcError {
    pub fn new(status: u16, body: Value) -> Self {
        Self { status, body }
    }

    fn one(status: u16, title: String, code: &str, attr: Option<&str>) -> Self {
        let mut e = json!({"title": title, "detail": "", "code": code});
        if let Some(a) = attr {
            e["source"] = json!({"pointer": format!("/data/attributes/{a}")});
        }
        Self::new(status, json!({"errors": [e]}))
    }

    /// 422 `field_missing`: "The {entity} {attr} was not provided."
    pub fn missing(entity: &str, attr: &str) -> Self {
        Self::one(
            422,
            format!("The {entity} {attr} was not provided."),
            "field_missing",
            Some(attr),
        )
    }

    /// 422 `field_invalid`.
    pub fn invalid(attr: &str, title: impl Into<String>) -> Self {
        Self::one(422, title.into(), "field_invalid", Some(attr))
    }

    /// 422 `duplicate`.
    pub fn duplicate(attr: &str, title: impl Into<String>) -> Self {
        Self::one(422, title.into(), "duplicate", Some(attr))
    }

    /// 422 `related_missing`.
    pub fn related_missing(attr: &str, title: impl Into<String>) -> Self {
        Self::one(422, title.into(), "related_missing", Some(attr))
    }

    /// 404 `{"message": "No Result found for {kind} with id {id}"}` (`Subscriber` is a contact,
    /// `_List` a list, `SubscriberTag` a contact tag…).
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(
            404,
            json!({"message": format!("No Result found for {kind} with id {id}")}),
        )
    }

    pub fn message(status: u16, m: impl Into<String>) -> Self {
        Self::new(status, json!({"message": m.into()}))
    }

    /// A body that is not JSON, or not an object with the resource's key.
    pub fn bad_json() -> Self {
        Self::new(
            400,
            json!({"errors": [{"status": 400, "title": "Bad Request", "detail": "The request body is not valid JSON."}]}),
        )
    }

    /// Missing or wrong `Api-Token` *(body unconfirmed: the docs show `{"message": "Forbidden"}`
    /// for 403s on fields and field relations)*.
    pub fn forbidden() -> Self {
        Self::message(403, "Forbidden")
    }

    /// Over the account's 5 requests a second *(body unconfirmed: not documented; shaped like
    /// ActiveCampaign's other errors)*.
    pub fn rate_limited() -> Self {
        Self::new(
            429,
            json!({"errors": [{"status": 429, "title": "Too Many Requests", "detail": "The rate limit of 5 requests per second per account was exceeded.", "code": "rate_limit_exceeded"}]}),
        )
    }

    pub fn server_error(status: u16) -> Self {
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Internal Server Error");
        Self::message(status, title)
    }
}

// Every answer goes out through `json_response`: ActiveCampaign's client requires a JSON
// `Content-Type`.
impl IntoResponse for AcError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }
}

pub type AcResult = Result<(u16, Value), AcError>;
