//! Mailchimp's error shape: `application/problem+json` with `{type, title, status, detail,
//! instance}` (the vendor spec's "Problem Detail Document"), plus `errors: [{field, message}]`
//! on validation failures. Titles and details are the ones Mailchimp is seen to send (quoted
//! where the source is a real response, see each constructor).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `type` Mailchimp sends in every problem document (vendor spec example).
pub const PROBLEM_TYPE: &str = "https://mailchimp.com/developer/marketing/docs/errors/";

#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub status: u16,
    pub title: String,
    pub detail: String,
    /// Field-level details (`[{field, message}]`), for "Invalid Resource".
    pub errors: Option<Vec<Value>>,
}

impl Problem {
    pub fn new(status: u16, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            detail: detail.into(),
            errors: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            404,
            "Resource Not Found",
            "The requested resource could not be found.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "Method Not Allowed",
            "The requested method and resource are not compatible. See the Allow header for this resource's available methods.",
        )
    }

    /// Malformed JSON.
    pub fn json_parse() -> Self {
        Self::new(
            400,
            "JSON Parse Exception",
            "We encountered an unspecified JSON parsing error.",
        )
    }

    /// A validation failure with a plain detail.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(400, "Invalid Resource", detail)
    }

    /// A validation failure listing the fields at fault.
    pub fn invalid_fields(errors: Vec<(String, String)>) -> Self {
        let mut p = Self::invalid(
            "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        );
        p.errors = Some(
            errors
                .into_iter()
                .map(|(field, message)| json!({"field": field, "message": message}))
                .collect(),
        );
        p
    }

    /// Required fields absent (Mailchimp's schema message).
    pub fn missing(fields: &[&str]) -> Self {
        Self::invalid_fields(vec![(
            String::new(),
            format!("Required fields were not provided: {}", fields.join(", ")),
        )])
    }

    pub fn invalid_email() -> Self {
        Self::invalid("Please provide a valid email address.")
    }

    /// Seen in real responses (mailchimp-for-wordpress issue #798, jethro-pmm #656).
    pub fn compliance(email: &str) -> Self {
        Self::new(
            400,
            "Member In Compliance State",
            format!(
                "{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."
            ),
        )
    }

    /// Seen in real responses (mailchimp-for-wordpress issues #666, #673, #771).
    pub fn forgotten(email: &str) -> Self {
        Self::new(
            400,
            "Forgotten Email Not Subscribed",
            format!(
                "{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list."
            ),
        )
    }

    /// Seen in real responses (python-mailchimp issue #182).
    pub fn member_exists(email: &str) -> Self {
        Self::new(
            400,
            "Member Exists",
            format!("{email} is already a list member. Use PUT to insert or update list members."),
        )
    }

    pub fn api_key_missing() -> Self {
        Self::new(
            401,
            "API Key Missing",
            "Your request did not include an API key.",
        )
    }

    pub fn api_key_invalid() -> Self {
        Self::new(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
    }

    /// The simultaneous-connection limit (Mailchimp documents 429 "Too Many Requests" for it).
    pub fn too_many_connections(limit: usize) -> Self {
        Self::new(
            429,
            "Too Many Requests",
            format!("You have exceeded the limit of {limit} simultaneous connections."),
        )
    }

    /// An injected server error.
    pub fn server_error(status: u16) -> Self {
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Internal Server Error");
        Self::new(
            status,
            title,
            "An unexpected internal error has occurred. Please contact Support for more information.",
        )
    }

    pub fn body(&self, instance: &str) -> Value {
        let mut v = json!({
            "type": PROBLEM_TYPE,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        });
        if let Some(e) = &self.errors {
            v["errors"] = Value::Array(e.clone());
        }
        v
    }

    pub fn into_response_with(self, instance: &str) -> Response {
        let body = serde_json::to_vec(&self.body(instance)).unwrap_or_default();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        r
    }
}
