//! Stripe's error envelope: `{"error": {code, doc_url, message, param, type}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::json::Obj;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeError {
    pub status: StatusCode,
    /// `invalid_request_error`, `api_error`, `idempotency_error`, `card_error`.
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl StripeError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// `No such <kind>: '<id>'` (`resource_missing`): 404 on retrieve, 400 for a cursor.
    pub fn missing(status: StatusCode, what: &str, id: &str, param: &str) -> Self {
        Self::new(
            status,
            "invalid_request_error",
            format!("No such {what}: '{id}'"),
        )
        .code("resource_missing")
        .param(param)
    }

    pub fn unknown_param(name: &str) -> Self {
        Self::invalid(format!("Received unknown parameter: {name}"))
            .code("parameter_unknown")
            .param(name)
    }

    /// The 429 body Stripe sends (no `Retry-After`: not documented for Stripe, so not invented).
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        )
        .code("rate_limit")
    }

    pub fn api_error(status: StatusCode) -> Self {
        Self::new(
            status,
            "api_error",
            "An unknown error occurred. Please try again later.",
        )
    }

    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut o = Obj::new(&mut out);
        o.obj("error", |o| {
            if let Some(code) = self.code {
                o.str("code", code).with("doc_url", |out| {
                    super::json::write_str(
                        out,
                        &format!(
                            "https://stripe.com/docs/error-codes/{}",
                            code.replace('_', "-")
                        ),
                    )
                });
            }
            o.str("message", &self.message);
            if let Some(p) = &self.param {
                o.str("param", p);
            }
            o.str("type", self.kind);
        });
        o.end();
        out
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// A 200 with a JSON body already rendered.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub type ApiResult = Result<Response, StripeError>;
