//! ActiveCampaign v3 request and response bodies, statuses and errors, after the reconstructed
//! spec (`shared/specs/activecampaign/activecampaign-v3.reconstructed.json`) and API-FACTS.
//! Ids travel as strings where the spec says string and as integers where it says integer.

use reqwest::header::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::contact::{OptOutBy, RemoteConsent};
use crate::error::{DestinationError, ErrorKind, Vendor, classify_status};
use crate::http::raw_message;

/// Contact-list statuses (API-FACTS: 1 subscribed, 2 unsubscribed; AC also uses 0 unconfirmed
/// and 3 bounced).
pub const LIST_UNCONFIRMED: &str = "0";
pub const LIST_ACTIVE: &str = "1";
pub const LIST_UNSUBSCRIBED: &str = "2";
pub const LIST_BOUNCED: &str = "3";

/// A contact's permission on one list.
pub fn list_consent(status: &str) -> Option<RemoteConsent> {
    match status {
        LIST_ACTIVE => Some(RemoteConsent::Subscribed),
        LIST_UNCONFIRMED => Some(RemoteConsent::Pending),
        LIST_UNSUBSCRIBED => Some(RemoteConsent::Unsubscribed {
            by: OptOutBy::Unknown,
        }),
        LIST_BOUNCED => Some(RemoteConsent::Cleaned),
        _ => None,
    }
}

/// AC answers ids as strings, sometimes as numbers: accept both.
pub fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// `POST /contact/sync` (required: `contact.email`).
#[derive(Debug, Clone, Serialize)]
pub struct ContactSync<'a> {
    pub contact: SyncContact<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncContact<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_values: Vec<SyncFieldValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncFieldValue {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactEnvelope {
    pub contact: ContactRecord,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub udate: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactList {
    #[serde(default)]
    pub contacts: Vec<ContactRecord>,
}

/// `GET /contacts/{id}`: the contact with its list statuses and field values.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetail {
    pub contact: ContactRecord,
    #[serde(default)]
    pub contact_lists: Vec<ContactListRecord>,
    #[serde(default)]
    pub field_values: Vec<FieldValueRecord>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactLists {
    #[serde(default)]
    pub contact_lists: Vec<ContactListRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactListRecord {
    #[serde(deserialize_with = "id_string")]
    pub list: String,
    #[serde(deserialize_with = "id_string")]
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldValueRecord {
    #[serde(deserialize_with = "id_string")]
    pub field: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `POST /contactLists` (required: `list`, `contact`, `status`; all strings in the spec).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListPost {
    pub contact_list: ContactListBody,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactListBody {
    pub list: String,
    pub contact: String,
    pub status: &'static str,
}

/// `POST /contactTags` (`contact`, `tag`: integers in the spec).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactTagPost {
    pub contact_tag: ContactTagBody,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactTagBody {
    pub contact: i64,
    pub tag: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactTags {
    #[serde(default)]
    pub contact_tags: Vec<ContactTagRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactTagRecord {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(deserialize_with = "id_string")]
    pub tag: String,
}

/// `POST /tags` `{tag:{tag, tagType:"contact"}}`.
#[derive(Debug, Clone, Serialize)]
pub struct TagPost<'a> {
    pub tag: TagBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagBody<'a> {
    pub tag: &'a str,
    pub tag_type: &'static str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagEnvelope {
    pub tag: TagRecord,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tags {
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagRecord {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub tag: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lists {
    #[serde(default)]
    pub lists: Vec<ListRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListEnvelope {
    pub list: ListRecord,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListRecord {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub name: String,
}

/// `POST /lists` (required: `name`, `stringid`, `sender_url`, `sender_reminder`).
#[derive(Debug, Clone, Serialize)]
pub struct ListPost<'a> {
    pub list: ListBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListBody<'a> {
    pub name: &'a str,
    pub stringid: String,
    pub sender_url: &'a str,
    pub sender_reminder: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub fields: Vec<FieldRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldEnvelope {
    pub field: FieldRecord,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldRecord {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub perstag: String,
}

/// `POST /fields` (required: `title`, `type`).
#[derive(Debug, Clone, Serialize)]
pub struct FieldPost<'a> {
    pub field: FieldBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldBody<'a> {
    pub title: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub perstag: &'a str,
}

/// `POST /fieldRels` (`field`, `relid`: integers; relid 0 = every list).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRelPost {
    pub field_rel: FieldRelBody,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldRelBody {
    pub field: i64,
    pub relid: i64,
}

/// `POST /import/bulk_import` (required: `contacts[].email`; ≤ 250 contacts, ≤ 400,000 bytes).
#[derive(Debug, Clone, Serialize)]
pub struct BulkImport<'a> {
    pub contacts: Vec<ImportContact<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportContact<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ImportField>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscribe: Vec<ImportList>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsubscribe: Vec<ImportList>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportField {
    pub id: i64,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportList {
    pub listid: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportQueued {
    #[serde(default)]
    pub batch_id: Option<String>,
}

/// `GET /import/info?batchId=`: `success` holds contact ids, `failure` email addresses.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportInfo {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub success: Vec<Value>,
    #[serde(default)]
    pub failure: Vec<Value>,
}

/// Deep Data: `POST /connections` (all required).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionPost<'a> {
    pub connection: ConnectionBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionBody<'a> {
    pub service: &'a str,
    pub externalid: &'a str,
    pub name: &'a str,
    pub logo_url: &'a str,
    pub link_url: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Connections {
    #[serde(default)]
    pub connections: Vec<IdOnly>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionEnvelope {
    pub connection: IdOnly,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

/// Deep Data: `POST /ecomCustomers` (required: `connectionid`, `externalid`, `email`; strings).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomCustomerPost<'a> {
    pub ecom_customer: EcomCustomerBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomCustomerBody<'a> {
    pub connectionid: &'a str,
    pub externalid: &'a str,
    pub email: &'a str,
    pub accepts_marketing: &'static str,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomCustomers {
    #[serde(default)]
    pub ecom_customers: Vec<IdOnly>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomOrders {
    #[serde(default)]
    pub ecom_orders: Vec<IdOnly>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomCustomerEnvelope {
    pub ecom_customer: IdOnly,
}

/// Deep Data: `POST /ecomOrders` (amounts in cents; `source` 1 real time, 0 historical).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomOrderPost<'a> {
    pub ecom_order: EcomOrderBody<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcomOrderBody<'a> {
    pub externalid: &'a str,
    pub source: i64,
    pub email: &'a str,
    pub order_products: Vec<EcomOrderProduct<'a>>,
    pub total_price: i64,
    pub currency: String,
    pub connectionid: i64,
    pub customerid: i64,
    pub external_created_date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EcomOrderProduct<'a> {
    pub externalid: &'a str,
    pub name: &'a str,
    pub price: i64,
    pub quantity: i64,
}

/// ActiveCampaign's error shapes: `{"errors":[{"title","detail","code"}]}` (JSON:API style),
/// `{"message": …}`, and the bulk import's `{"success":0,"message","failureReasons"}`.
pub fn decode_error(
    vendor: Vendor,
    status: u16,
    _headers: &HeaderMap,
    body: &[u8],
) -> DestinationError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Value>,
        message: Option<String>,
        #[serde(default, rename = "failureReasons")]
        failure_reasons: Vec<Value>,
    }
    let (code, message) = match serde_json::from_slice::<Body>(body) {
        Ok(b) => {
            let first = b.errors.first();
            let text = |k: &str| {
                first
                    .and_then(|e| e.get(k))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let code = text("code").or_else(|| text("title"));
            let mut message = text("detail")
                .or_else(|| text("title"))
                .or(b.message)
                .unwrap_or_else(|| raw_message(status, body));
            for r in b.failure_reasons.iter().take(3) {
                message.push_str("; ");
                message.push_str(&match r {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            (code, message)
        }
        Err(_) => (None, raw_message(status, body)),
    };
    let mut kind = classify_status(status);
    let mut retry_after = None;
    // The bulk import's own limit ("Up to 100 imports may be requested per minute") is a 400
    // (a minute's wait); the account's 5 a second is a 429 (backoff, or its Retry-After).
    let lower = message.to_ascii_lowercase();
    if status == 429 {
        kind = ErrorKind::RateLimited;
    } else if lower.contains("rate limit") || lower.contains("per minute") {
        kind = ErrorKind::RateLimited;
        retry_after = Some(std::time::Duration::from_secs(60));
    }
    DestinationError::from_status(vendor, status, code, message)
        .with_kind(kind)
        .with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_body_matches_the_spec() {
        let body = BulkImport {
            contacts: vec![ImportContact {
                email: "a@b.co",
                first_name: Some("Ann"),
                last_name: None,
                phone: None,
                tags: vec!["customer"],
                fields: vec![ImportField {
                    id: 3,
                    value: "gold".into(),
                }],
                subscribe: vec![ImportList { listid: "1".into() }],
                unsubscribe: vec![],
            }],
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"contacts":[{"email":"a@b.co","first_name":"Ann","tags":["customer"],"fields":[{"id":3,"value":"gold"}],"subscribe":[{"listid":"1"}]}]}"#
        );
    }

    #[test]
    fn sync_and_list_bodies() {
        let sync = ContactSync {
            contact: SyncContact {
                email: "a@b.co",
                first_name: Some("Ann"),
                last_name: Some("Lee"),
                phone: None,
                field_values: vec![SyncFieldValue {
                    field: "2".into(),
                    value: "x".into(),
                }],
            },
        };
        assert_eq!(
            serde_json::to_string(&sync).unwrap(),
            r#"{"contact":{"email":"a@b.co","firstName":"Ann","lastName":"Lee","fieldValues":[{"field":"2","value":"x"}]}}"#
        );
        let cl = ContactListPost {
            contact_list: ContactListBody {
                list: "1".into(),
                contact: "9".into(),
                status: LIST_ACTIVE,
            },
        };
        assert_eq!(
            serde_json::to_string(&cl).unwrap(),
            r#"{"contactList":{"list":"1","contact":"9","status":"1"}}"#
        );
    }

    #[test]
    fn ids_as_numbers_or_strings() {
        let r: ContactListRecord = serde_json::from_str(r#"{"list":1,"status":"2"}"#).unwrap();
        assert_eq!((r.list.as_str(), r.status.as_str()), ("1", "2"));
        assert!(list_consent(&r.status).unwrap().is_opted_out());
    }

    #[test]
    fn errors() {
        let e = decode_error(
            Vendor::ActiveCampaign,
            422,
            &HeaderMap::new(),
            br#"{"errors":[{"title":"Missing attribute","source":{"pointer":"/data/attributes/contact"}}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(e.message, "Missing attribute");
        let e = decode_error(
            Vendor::ActiveCampaign,
            400,
            &HeaderMap::new(),
            br#"{"success":0,"message":"Rate limit exceeded.","failureReasons":["Up to 100 imports may be requested per minute."]}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.retry_after.is_some());
        let e = decode_error(
            Vendor::ActiveCampaign,
            429,
            &HeaderMap::new(),
            br#"{"message":"The rate limit of 5 requests per second per account was exceeded."}"#,
        );
        assert_eq!((e.kind, e.retry_after), (ErrorKind::RateLimited, None));
        let e = decode_error(
            Vendor::ActiveCampaign,
            403,
            &HeaderMap::new(),
            br#"{"message":"No Result found"}"#,
        );
        assert_eq!(e.kind, ErrorKind::AuthRevoked);
        let e = decode_error(
            Vendor::ActiveCampaign,
            404,
            &HeaderMap::new(),
            br#"{"message":"No Result found for Subscriber with id 1"}"#,
        );
        assert_eq!(e.message, "No Result found for Subscriber with id 1");
    }
}
