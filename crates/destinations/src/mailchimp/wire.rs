//! Mailchimp Marketing v3 request and response bodies, statuses and errors, as in the vendor's
//! spec (`shared/specs/mailchimp/*.yml`, Marketing 3.0.55).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::{Consent, Email, OptOutBy, RemoteConsent};
use crate::error::{DestinationError, ErrorKind, Vendor, classify_status};
use crate::http::raw_message;

/// The problem title Mailchimp answers when the API may not subscribe a member who unsubscribed
/// or was cleaned (API-FACTS "Mailchimp", secondary source).
pub const COMPLIANCE_STATE: &str = "Member In Compliance State";
/// A permanently deleted address cannot be added again (API-FACTS "Mailchimp").
pub const FORGOTTEN_EMAIL: &str = "Forgotten Email Not Subscribed";
/// Batch subscribe's error code for a member already on the list (spec: `errors[].error_code`
/// enum `ERROR_CONTACT_EXISTS`, `ERROR_GENERIC`).
pub const ERROR_CONTACT_EXISTS: &str = "ERROR_CONTACT_EXISTS";

/// The subscriber hash: MD5 of the lowercased address, hex (API-FACTS "Mailchimp"). [`Email`] is
/// already lowercased.
pub fn subscriber_hash(email: &Email) -> String {
    let digest = Md5::digest(email.as_str().as_bytes());
    let mut hex = String::with_capacity(32);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// The member status for a consent state (spec enum: subscribed, unsubscribed, cleaned, pending,
/// transactional).
pub fn status_of(consent: Consent) -> &'static str {
    match consent {
        Consent::Subscribed => "subscribed",
        Consent::Unsubscribed => "unsubscribed",
        Consent::NonMarketing => "transactional",
        Consent::Pending => "pending",
    }
}

/// A member status read back (GET also knows `archived`: kept, not emailed, no opt-out).
pub fn consent_of(status: &str) -> RemoteConsent {
    match status {
        "subscribed" => RemoteConsent::Subscribed,
        "pending" => RemoteConsent::Pending,
        "transactional" => RemoteConsent::NonMarketing,
        "unsubscribed" => RemoteConsent::Unsubscribed {
            by: OptOutBy::Unknown,
        },
        "cleaned" => RemoteConsent::Cleaned,
        _ => RemoteConsent::NotSet,
    }
}

/// `PUT /lists/{list_id}/members/{subscriber_hash}` (required: `email_address`,
/// `status_if_new`). `status` is sent only to change an existing member's permission, and only
/// when the consent rules allow it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberPut<'a> {
    pub email_address: &'a str,
    pub status_if_new: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub merge_fields: Map<String, Value>,
}

/// `PATCH /lists/{list_id}/members/{subscriber_hash}` with merge fields only.
#[derive(Debug, Clone, Serialize)]
pub struct MemberPatch {
    pub merge_fields: Map<String, Value>,
}

/// One member of `POST /lists/{list_id}` (batch subscribe; no property is required).
#[derive(Debug, Clone, Serialize)]
pub struct BatchMember<'a> {
    pub email_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub merge_fields: Map<String, Value>,
}

/// `POST /lists/{list_id}` body (required: `members`, ≤ 500 of them).
#[derive(Debug, Clone, Serialize)]
pub struct BatchSubscribe<'a> {
    pub members: Vec<BatchMember<'a>>,
    pub update_existing: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchSubscribeResult {
    #[serde(default)]
    pub new_members: Vec<Member>,
    #[serde(default)]
    pub updated_members: Vec<Member>,
    #[serde(default)]
    pub errors: Vec<BatchError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchError {
    #[serde(default)]
    pub email_address: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// `POST …/members/{subscriber_hash}/tags` (required: `tags[].name`, `tags[].status`).
#[derive(Debug, Clone, Serialize)]
pub struct TagsPost {
    pub tags: Vec<TagState>,
    pub is_syncing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagState {
    pub name: String,
    /// `active` or `inactive`.
    pub status: &'static str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub id: String,
    /// Stable across email changes (`id` is the MD5 of the address).
    #[serde(default)]
    pub contact_id: String,
    pub email_address: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub merge_fields: Map<String, Value>,
    #[serde(default)]
    pub tags: Vec<TagRef>,
    #[serde(default)]
    pub last_changed: Option<String>,
}

impl Member {
    /// The member's id for paysync: `contact_id`, which survives an email change, else `id`.
    pub fn stable_id(&self) -> String {
        if self.contact_id.is_empty() {
            self.id.clone()
        } else {
            self.contact_id.clone()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagRef {
    #[serde(default)]
    pub id: Value,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Members {
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lists {
    #[serde(default)]
    pub lists: Vec<ListRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagSearch {
    #[serde(default)]
    pub tags: Vec<TagRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MergeFields {
    #[serde(default)]
    pub merge_fields: Vec<MergeField>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MergeField {
    pub merge_id: Value,
    pub tag: String,
    #[serde(default)]
    pub name: String,
}

/// `POST /lists/{list_id}/merge-fields` (required: `name`, `type`).
#[derive(Debug, Clone, Serialize)]
pub struct MergeFieldPost<'a> {
    pub tag: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One operation of `POST /batches` (required: `method`, `path`; `body` is a JSON string).
#[derive(Debug, Clone, Serialize)]
pub struct BatchOperation {
    pub method: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub operation_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchRequest {
    pub operations: Vec<BatchOperation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchStatus {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub errored_operations: u64,
    #[serde(default)]
    pub total_operations: u64,
}

/// A merge field value as text (numbers and booleans as written; objects such as addresses are
/// not custom field values and are left out).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A merge field id as text (the spec says integer; be lenient).
pub fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Mailchimp's errors are `application/problem+json` `{type, title, status, detail, instance}`
/// (API-FACTS "Mailchimp"). The title is the code.
pub fn decode_error(
    vendor: Vendor,
    status: u16,
    _headers: &HeaderMap,
    body: &[u8],
) -> DestinationError {
    #[derive(Deserialize)]
    struct Problem {
        title: Option<String>,
        detail: Option<String>,
        #[serde(default)]
        errors: Vec<FieldProblem>,
    }
    #[derive(Deserialize)]
    struct FieldProblem {
        field: Option<String>,
        message: Option<String>,
    }
    let (code, message) = match serde_json::from_slice::<Problem>(body) {
        Ok(p) => {
            let mut message = p.detail.or_else(|| p.title.clone()).unwrap_or_default();
            for e in p.errors {
                message.push_str(&format!(
                    "; {}: {}",
                    e.field.unwrap_or_default(),
                    e.message.unwrap_or_default()
                ));
            }
            (p.title, message)
        }
        Err(_) => (None, raw_message(status, body)),
    };
    let mut kind = classify_status(status);
    // A 403 about compliance or a forbidden *resource* is not a revoked key.
    if status == 403
        && code
            .as_deref()
            .is_some_and(|c| c != "API Key Invalid" && c != "User Disabled" && c != "Forbidden")
    {
        kind = ErrorKind::Permanent;
    }
    DestinationError::from_status(vendor, status, code, message).with_kind(kind)
}

/// Text values of the merge fields, without the name fields paysync maps itself.
pub fn custom_values(fields: &Map<String, Value>) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "FNAME" | "LNAME" | "PHONE" | "ADDRESS"))
        .filter_map(|(k, v)| value_text(v).map(|t| (k.clone(), t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_hash_is_md5_of_the_lowercased_address() {
        // Mailchimp's documentation example: md5("urist.mcvankab@freddiesjokes.com").
        let e = Email::parse("Urist.McVankab@FreddiesJokes.com").unwrap();
        assert_eq!(subscriber_hash(&e), "62eeb292278cc15f5817cb78f7790b08");
    }

    #[test]
    fn statuses_map_both_ways() {
        for c in [
            Consent::Subscribed,
            Consent::Unsubscribed,
            Consent::NonMarketing,
            Consent::Pending,
        ] {
            let back = consent_of(status_of(c));
            match c {
                Consent::Subscribed => assert_eq!(back, RemoteConsent::Subscribed),
                Consent::Unsubscribed => assert!(back.is_opted_out()),
                Consent::NonMarketing => assert_eq!(back, RemoteConsent::NonMarketing),
                Consent::Pending => assert_eq!(back, RemoteConsent::Pending),
            }
        }
        assert_eq!(consent_of("cleaned"), RemoteConsent::Cleaned);
        assert_eq!(consent_of("archived"), RemoteConsent::NotSet);
    }

    #[test]
    fn put_body_leaves_status_out_unless_set() {
        let e = Email::parse("a@b.co").unwrap();
        let body = MemberPut {
            email_address: e.as_str(),
            status_if_new: "subscribed",
            status: None,
            merge_fields: Map::new(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"email_address":"a@b.co","status_if_new":"subscribed"}"#
        );
    }

    #[test]
    fn problems_are_decoded() {
        let body = br#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Member In Compliance State","status":400,"detail":"a@b.co is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.","instance":"x"}"#;
        let e = decode_error(Vendor::Mailchimp, 400, &HeaderMap::new(), body);
        assert_eq!(e.code.as_deref(), Some(COMPLIANCE_STATE));
        assert_eq!(e.kind, ErrorKind::Permanent);
        let e = decode_error(
            Vendor::Mailchimp,
            401,
            &HeaderMap::new(),
            br#"{"title":"API Key Invalid","status":401,"detail":"Your API key may be invalid"}"#,
        );
        assert_eq!(e.kind, ErrorKind::AuthRevoked);
        let e = decode_error(Vendor::Mailchimp, 429, &HeaderMap::new(), b"");
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let e = decode_error(
            Vendor::Mailchimp,
            400,
            &HeaderMap::new(),
            br#"{"title":"Invalid Resource","status":400,"detail":"Your merge fields were invalid.","errors":[{"field":"PLAN","message":"unknown"}]}"#,
        );
        assert!(e.message.contains("PLAN: unknown"), "{}", e.message);
    }
}
