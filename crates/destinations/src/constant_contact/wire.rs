//! Constant Contact v3 request and response bodies, consent states and errors, as in the vendor's
//! swagger (`shared/specs/constant-contact/swagger.yaml`, 3.0.172).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::{OptOutBy, RemoteConsent};
use crate::error::{DestinationError, ErrorKind, Vendor, classify_status};
use crate::http::raw_message;
use crate::timefmt;

/// `ContactCreateOrUpdateInput` (`POST /contacts/sign_up_form`; required `list_memberships`,
/// 1–50; `email_address` ≤ 50 characters, names ≤ 50, `phone_number` ≤ 25).
#[derive(Debug, Clone, Serialize)]
pub struct SignUpForm {
    pub email_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub list_memberships: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<StreetAddress>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub custom_field_id: String,
    #[serde(default)]
    pub value: String,
}

/// `street_address` of the sign-up form (required `kind`: home, work or other).
#[derive(Debug, Clone, Serialize)]
pub struct StreetAddress {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignUpAnswer {
    pub contact_id: String,
}

/// `ContactsJsonImport` (required `import_data`, `list_ids` 1–50). Rows are `JsonImportContact`
/// objects: `email`, `first_name`, …, and `cf:<custom field name>`.
#[derive(Debug, Clone, Serialize)]
pub struct JsonImport<'a> {
    pub import_data: Vec<&'a Map<String, Value>>,
    pub list_ids: &'a [String],
}

/// `ListActivityRemoveContacts` (required `source`, `list_ids`).
#[derive(Debug, Clone, Serialize)]
pub struct RemoveListMemberships<'a> {
    pub source: ContactIdsSource<'a>,
    pub list_ids: &'a [String],
}

/// `TagAddRemoveContacts` (required `source`, `tag_ids` ≤ 50; `source.contact_ids` ≤ 500).
#[derive(Debug, Clone, Serialize)]
pub struct TagActivity<'a> {
    pub source: ContactIdsSource<'a>,
    pub tag_ids: &'a [String],
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactIdsSource<'a> {
    pub contact_ids: &'a [String],
}

/// Any activity's status (`Activity`, `ActivityImport`, `ActivityTagging`, …).
#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    pub activity_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub activity_errors: Vec<String>,
    #[serde(default)]
    pub status: ActivityCounts,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActivityCounts {
    #[serde(default)]
    pub error_count: u64,
    #[serde(default)]
    pub cannot_add_to_list_count: u64,
}

/// `GET /activities`: the newest first.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActivityPage {
    #[serde(default)]
    pub activities: Vec<Activity>,
}

impl Activity {
    pub fn finished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "completed" | "cancelled" | "failed" | "timed_out"
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Links {
    #[serde(default)]
    pub next: Option<Href>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Href {
    #[serde(default)]
    pub href: Option<String>,
}

impl Links {
    pub fn next_href(&self) -> Option<&str> {
        self.next
            .as_ref()
            .and_then(|n| n.href.as_deref())
            .filter(|h| !h.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactsPage {
    #[serde(default)]
    pub contacts: Vec<ContactResource>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactResource {
    pub contact_id: String,
    pub email_address: Option<EmailAddress>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub birthday_month: Option<i64>,
    #[serde(default)]
    pub birthday_day: Option<i64>,
    #[serde(default)]
    pub anniversary: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default)]
    pub list_memberships: Vec<String>,
    #[serde(default)]
    pub taggings: Vec<String>,
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumber>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneNumber {
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailAddress {
    pub address: String,
    #[serde(default)]
    pub permission_to_send: Option<String>,
    #[serde(default)]
    pub opt_out_source: Option<String>,
    #[serde(default)]
    pub opt_out_date: Option<String>,
}

impl ContactResource {
    /// The contact's email permission (`permission_to_send`, `opt_out_source`).
    pub fn consent(&self) -> RemoteConsent {
        if self.deleted_at.is_some() {
            // "Unlike unsubscribed contacts, deleted contacts can be revived" (swagger).
            return RemoteConsent::NotSet;
        }
        let Some(e) = &self.email_address else {
            return RemoteConsent::NotSet;
        };
        match e.permission_to_send.as_deref() {
            Some("explicit" | "implicit") => RemoteConsent::Subscribed,
            Some("pending_confirmation") => RemoteConsent::Pending,
            Some("unsubscribed") => RemoteConsent::Unsubscribed {
                by: match e.opt_out_source.as_deref() {
                    Some("Contact") => OptOutBy::Contact,
                    Some("Account") => OptOutBy::Account,
                    _ => OptOutBy::Unknown,
                },
            },
            // A temporary hold (bounces, suspected complaint): never re-subscribed by paysync.
            Some("temp_hold") => RemoteConsent::Cleaned,
            _ => RemoteConsent::NotSet,
        }
    }

    pub fn opt_out_ms(&self) -> Option<i64> {
        self.email_address
            .as_ref()
            .and_then(|e| e.opt_out_date.as_deref())
            .and_then(timefmt::parse)
    }
}

/// `ContactPutRequest` (required `update_source`). PUT overwrites every top-level property with
/// what is sent (absent → null), so callers fill it from the contact as read.
#[derive(Debug, Clone, Serialize)]
pub struct ContactPut {
    pub email_address: EmailAddressPut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday_day: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anniversary: Option<String>,
    pub update_source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    /// Sent (empty) only to clear them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_addresses: Option<Vec<Value>>,
}

/// `EmailAddressPut` (required `address`).
#[derive(Debug, Clone, Serialize)]
pub struct EmailAddressPut {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission_to_send: Option<&'static str>,
}

impl ContactPut {
    /// A PUT that keeps the contact's top-level properties as they were read.
    pub fn keeping(c: &ContactResource) -> Self {
        ContactPut {
            email_address: EmailAddressPut {
                address: c
                    .email_address
                    .as_ref()
                    .map(|e| e.address.clone())
                    .unwrap_or_default(),
                permission_to_send: None,
            },
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            job_title: c.job_title.clone(),
            company_name: c.company_name.clone(),
            birthday_month: c.birthday_month,
            birthday_day: c.birthday_day,
            anniversary: c.anniversary.clone(),
            update_source: "Account",
            custom_fields: None,
            phone_numbers: None,
            street_addresses: None,
        }
    }

    /// A PUT that leaves nothing personal: another address (`placeholder`), no name, company,
    /// dates, custom fields, phones or addresses.
    pub fn blank(placeholder: String) -> Self {
        ContactPut {
            email_address: EmailAddressPut {
                address: placeholder,
                permission_to_send: None,
            },
            first_name: None,
            last_name: None,
            job_title: None,
            company_name: None,
            birthday_month: None,
            birthday_day: None,
            anniversary: None,
            update_source: "Account",
            custom_fields: Some(Vec::new()),
            phone_numbers: Some(Vec::new()),
            street_addresses: Some(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListsPage {
    #[serde(default)]
    pub lists: Vec<ContactList>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactList {
    pub list_id: String,
    pub name: String,
}

/// `ListInput` (required `name`).
#[derive(Debug, Clone, Serialize)]
pub struct ListInput<'a> {
    pub name: &'a str,
    pub favorite: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagsPage {
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub tag_id: String,
    pub name: String,
}

/// `TagPost` (required `name`, 1–255 characters).
#[derive(Debug, Clone, Serialize)]
pub struct TagPost<'a> {
    pub name: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomFieldsPage {
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomField {
    pub custom_field_id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub name: String,
}

impl CustomField {
    /// The key contacts use: the field's `name` ("constructed from the label by replacing
    /// blanks with underscores"), or that construction when the answer lacks it.
    pub fn key(&self) -> String {
        if self.name.is_empty() {
            self.label.replace(' ', "_")
        } else {
            self.name.clone()
        }
    }
}

/// `CustomFieldRequest` (`label` ≤ 50, `type` ≤ 20).
#[derive(Debug, Clone, Serialize)]
pub struct CustomFieldRequest<'a> {
    pub label: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Constant Contact's errors: an array of `{error_key, error_message}` (sometimes one object);
/// 429 carries `error_key` `throttled` (4 requests a second) or `quota_exceeded` (10,000 a day,
/// reset at 00:00 UTC) — API-FACTS "Constant Contact v3".
pub fn decode_error(
    vendor: Vendor,
    status: u16,
    _headers: &HeaderMap,
    body: &[u8],
) -> DestinationError {
    #[derive(Deserialize)]
    struct Item {
        error_key: Option<String>,
        error_message: Option<String>,
    }
    let items: Vec<Item> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(a)) => a
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        Ok(v @ Value::Object(_)) => serde_json::from_value(v).ok().into_iter().collect(),
        _ => Vec::new(),
    };
    let code = items.iter().find_map(|i| i.error_key.clone());
    let message = if items.is_empty() {
        raw_message(status, body)
    } else {
        items
            .iter()
            .filter_map(|i| i.error_message.clone().or_else(|| i.error_key.clone()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut e = DestinationError::from_status(vendor, status, code, message)
        .with_kind(classify_status(status));
    if status == 429 && e.code.as_deref() == Some("quota_exceeded") {
        let now = timefmt::now_ms();
        let wait = timefmt::next_utc_midnight(now) - now;
        e.kind = ErrorKind::QuotaExhausted;
        e.retry_after = Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0)));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_states() {
        let c = |permission: &str, source: Option<&str>| ContactResource {
            contact_id: "c".into(),
            email_address: Some(EmailAddress {
                address: "a@b.co".into(),
                permission_to_send: Some(permission.into()),
                opt_out_source: source.map(str::to_owned),
                opt_out_date: None,
            }),
            first_name: None,
            last_name: None,
            job_title: None,
            company_name: None,
            birthday_month: None,
            birthday_day: None,
            anniversary: None,
            updated_at: None,
            deleted_at: None,
            custom_fields: vec![],
            list_memberships: vec![],
            taggings: vec![],
            phone_numbers: vec![],
        };
        assert_eq!(c("explicit", None).consent(), RemoteConsent::Subscribed);
        assert_eq!(c("implicit", None).consent(), RemoteConsent::Subscribed);
        assert_eq!(
            c("pending_confirmation", None).consent(),
            RemoteConsent::Pending
        );
        assert_eq!(
            c("unsubscribed", Some("Contact")).consent(),
            RemoteConsent::Unsubscribed {
                by: OptOutBy::Contact
            }
        );
        assert_eq!(
            c("unsubscribed", Some("Account")).consent(),
            RemoteConsent::Unsubscribed {
                by: OptOutBy::Account
            }
        );
        assert_eq!(c("temp_hold", None).consent(), RemoteConsent::Cleaned);
        assert_eq!(c("not_set", None).consent(), RemoteConsent::NotSet);
    }

    #[test]
    fn errors() {
        let h = HeaderMap::new();
        let e = decode_error(
            Vendor::ConstantContact,
            429,
            &h,
            br#"{"error_key":"throttled","error_message":"Too many requests"}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let e = decode_error(
            Vendor::ConstantContact,
            429,
            &h,
            br#"{"error_key":"quota_exceeded","error_message":"Daily quota"}"#,
        );
        assert_eq!(e.kind, ErrorKind::QuotaExhausted);
        assert!(e.retry_after.unwrap() <= Duration::from_secs(86_400));
        let e = decode_error(
            Vendor::ConstantContact,
            400,
            &h,
            br#"[{"error_key":"contacts.api.validation.error","error_message":"email_address is invalid"},{"error_key":"x","error_message":"second"}]"#,
        );
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(e.code.as_deref(), Some("contacts.api.validation.error"));
        assert_eq!(e.message, "email_address is invalid; second");
        let e = decode_error(Vendor::ConstantContact, 409, &h, b"[]");
        assert_eq!(e.kind, ErrorKind::Transient);
    }

    #[test]
    fn import_body_shape() {
        let mut row = Map::new();
        row.insert("email".into(), Value::String("a@b.co".into()));
        row.insert("cf:plan".into(), Value::String("gold".into()));
        let lists = vec!["l1".to_owned()];
        let body = JsonImport {
            import_data: vec![&row],
            list_ids: &lists,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"import_data":[{"cf:plan":"gold","email":"a@b.co"}],"list_ids":["l1"]}"#
        );
    }
}
