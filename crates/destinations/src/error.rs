//! One error type for every connector, and the one place where a vendor's answer is classified:
//! transient (retry later, maybe at a time the vendor named), permanent (retrying the same request
//! cannot help), or auth revoked (nothing works until someone reconnects the account).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Which vendor an error came from (for messages and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    ConstantContact,
    ActiveCampaign,
    Mailchimp,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::ConstantContact => "Constant Contact",
            Vendor::ActiveCampaign => "ActiveCampaign",
            Vendor::Mailchimp => "Mailchimp",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The classes the delivery layer acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Network failure, timeout, 5xx, 409 conflict, an asynchronous job not finished in time:
    /// retry with backoff.
    Transient,
    /// 429 (or the vendor's equivalent): retry after `retry_after` when the vendor named it.
    RateLimited,
    /// A daily/monthly quota is used up: retry after `retry_after` (the quota's reset).
    QuotaExhausted,
    /// The vendor refused the request itself (validation, not found, unsupported): the same
    /// request will fail again. Dead-letter it.
    Permanent,
    /// Credentials rejected or revoked (401/403, OAuth `invalid_grant`): park the destination
    /// until it is reconnected; do not dead-letter its work.
    AuthRevoked,
    /// paysync's own configuration is wrong (bad base URL, missing list): fix the configuration.
    Config,
}

/// A failed destination call.
///
/// Messages never contain secrets (API keys, tokens) nor request URLs' queries (they can hold an
/// email address); they may contain what the vendor said about the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vendor} {kind:?}{}{}: {message}", status_suffix(.status), code_suffix(.code))]
pub struct DestinationError {
    pub vendor: Vendor,
    pub kind: ErrorKind,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The vendor's error code (`error_key`, problem `title`, …) when it gave one.
    pub code: Option<String>,
    pub message: String,
    /// When to try again, if the vendor said (Retry-After, quota reset).
    pub retry_after: Option<Duration>,
}

fn status_suffix(status: &Option<u16>) -> String {
    status.map(|s| format!(" {s}")).unwrap_or_default()
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl DestinationError {
    pub fn new(vendor: Vendor, kind: ErrorKind, message: impl Into<String>) -> Self {
        DestinationError {
            vendor,
            kind,
            status: None,
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn transient(vendor: Vendor, message: impl Into<String>) -> Self {
        Self::new(vendor, ErrorKind::Transient, message)
    }

    pub fn permanent(vendor: Vendor, message: impl Into<String>) -> Self {
        Self::new(vendor, ErrorKind::Permanent, message)
    }

    pub fn config(vendor: Vendor, message: impl Into<String>) -> Self {
        Self::new(vendor, ErrorKind::Config, message)
    }

    pub fn unsupported(vendor: Vendor, what: &str) -> Self {
        Self::new(
            vendor,
            ErrorKind::Permanent,
            format!("{what} is not supported by {vendor}"),
        )
    }

    /// An HTTP answer classified by its status alone; vendors refine it with their body.
    pub fn from_status(vendor: Vendor, status: u16, code: Option<String>, message: String) -> Self {
        DestinationError {
            vendor,
            kind: classify_status(status),
            status: Some(status),
            code,
            message,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::QuotaExhausted
        )
    }
}

/// Classification by HTTP status, shared by every vendor (each refines it from its error body):
/// 401/403 → auth revoked; 408, 409 (concurrent modification), 425, 429, 5xx → transient
/// (429 rate limited); other 4xx → permanent.
pub fn classify_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::AuthRevoked,
        429 => ErrorKind::RateLimited,
        408 | 409 | 425 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify_status(401), ErrorKind::AuthRevoked);
        assert_eq!(classify_status(403), ErrorKind::AuthRevoked);
        assert_eq!(classify_status(429), ErrorKind::RateLimited);
        for s in [408, 409, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), ErrorKind::Transient, "{s}");
        }
        for s in [400, 404, 405, 413, 422] {
            assert_eq!(classify_status(s), ErrorKind::Permanent, "{s}");
        }
    }

    #[test]
    fn display() {
        let e = DestinationError::from_status(
            Vendor::Mailchimp,
            400,
            Some("Invalid Resource".into()),
            "bad merge field".into(),
        );
        assert_eq!(
            e.to_string(),
            "Mailchimp Permanent 400 (Invalid Resource): bad merge field"
        );
        assert!(!e.is_transient());
        assert!(
            DestinationError::new(Vendor::ActiveCampaign, ErrorKind::QuotaExhausted, "x")
                .is_transient()
        );
    }
}
