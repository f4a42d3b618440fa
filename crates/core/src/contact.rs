//! The contact as the reconciler wants it ([`DesiredContact`]) and as a destination holds it
//! ([`RemoteContact`]), with a parsed, normalised [`Email`] as the key of both.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest address SMTP allows (RFC 5321: 254 octets in a path less the brackets).
const MAX_EMAIL_LEN: usize = 254;
/// The longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;

/// A syntactically valid email address, trimmed and lowercased (the person key, DESIGN "Who is a
/// contact"). Parse, don't validate: holding one means the checks passed.
///
/// Mailchimp's subscriber hash is the MD5 of the *lowercased* address (API-FACTS "Mailchimp"), so
/// normalising here is also what makes the hash right.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid email address: {reason}")]
pub struct InvalidEmail {
    pub reason: &'static str,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let bad = |reason| Err(InvalidEmail { reason });
        let Some(normal) = crate::object::normalise_email(raw) else {
            return bad("empty or without @");
        };
        if normal.len() > MAX_EMAIL_LEN {
            return bad("longer than 254 characters");
        }
        if normal.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']' | '\\'
                )
        }) {
            return bad("contains a space, control character or reserved punctuation");
        }
        let Some((local, domain)) = normal.rsplit_once('@') else {
            return bad("empty or without @");
        };
        if local.is_empty() || local.contains('@') {
            return bad("local part empty or containing @");
        }
        if local.len() > MAX_LOCAL_LEN {
            return bad("local part longer than 64 characters");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad("misplaced dot in the local part");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return bad("domain without a top-level domain");
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return bad("empty or over-long domain label");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("domain label starting or ending with a hyphen");
            }
            if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
                return bad("domain label with characters other than letters, digits and hyphens");
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            return bad("top-level domain shorter than two characters or numeric");
        }
        Ok(Email(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Emails are personal data: Debug shows the domain only, so a stray `{:?}` in a log does not
/// leak the address.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        write!(f, "Email(…@{domain})")
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidEmail;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A destination's own id of a list (Constant Contact list UUID, ActiveCampaign numeric id,
/// Mailchimp audience id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListId(pub String);

impl ListId {
    pub fn new(id: impl Into<String>) -> Self {
        ListId(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the person agreed to, as the reconciler decided from Stripe and the sync's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Agreed to marketing email.
    Subscribed,
    /// Asked not to get marketing email. Always honoured.
    Unsubscribed,
    /// A customer who never agreed to marketing: may be stored, segmented and sent transactional
    /// email (Mailchimp `transactional`), never marketing. (`none` in a sync's configuration.)
    #[serde(alias = "none")]
    NonMarketing,
    /// Asked to subscribe, confirmation (double opt-in) outstanding.
    Pending,
}

/// A postal address. Every part is optional; connectors send the parts that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Country as the source wrote it (Stripe: ISO 3166-1 alpha-2).
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        [
            &self.line1,
            &self.line2,
            &self.city,
            &self.state,
            &self.postal_code,
            &self.country,
        ]
        .iter()
        .all(|p| p.as_deref().is_none_or(str::is_empty))
    }
}

/// The contact one destination should hold for one person.
///
/// An upsert is *additive and partial*: `None` leaves a property as the destination has it, lists
/// and tags are added (never removed: removals are their own operations, see [`crate::ops::Op`]), and
/// custom fields are set by key. Field keys are the destination's own: Constant Contact custom
/// field `name`, ActiveCampaign field `perstag`, Mailchimp merge `tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredContact {
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub fields: BTreeMap<String, String>,
    pub lists: BTreeSet<ListId>,
    pub tags: BTreeSet<String>,
    pub consent: Consent,
}

impl DesiredContact {
    /// A contact with only an email and a consent state; fill the rest with the builder methods.
    pub fn new(email: Email, consent: Consent) -> Self {
        DesiredContact {
            email,
            first_name: None,
            last_name: None,
            phone: None,
            address: None,
            fields: BTreeMap::new(),
            lists: BTreeSet::new(),
            tags: BTreeSet::new(),
            consent,
        }
    }

    pub fn with_name(mut self, first: &str, last: &str) -> Self {
        self.first_name = Some(first.to_owned());
        self.last_name = Some(last.to_owned());
        self
    }

    pub fn with_list(mut self, list: &ListId) -> Self {
        self.lists.insert(list.clone());
        self
    }

    pub fn with_tag(mut self, tag: &str) -> Self {
        self.tags.insert(tag.to_owned());
        self
    }

    pub fn with_field(mut self, key: &str, value: &str) -> Self {
        self.fields.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Whether the upsert asks for marketing permission (and so must pass the consent rules).
    pub fn asks_for_marketing(&self) -> bool {
        matches!(self.consent, Consent::Subscribed | Consent::Pending)
    }
}

/// Who took a contact's marketing permission away (Constant Contact's `opt_out_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutBy {
    /// The person themselves (an unsubscribe link, a preference centre, a complaint).
    Contact,
    /// The account (an operator, an import, or paysync acting for the account).
    Account,
    /// The destination does not say.
    Unknown,
}

/// A contact's marketing permission as the destination holds it, mapped to one vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RemoteConsent {
    Subscribed,
    Pending,
    /// Held for transactional email only (Mailchimp `transactional`).
    NonMarketing,
    /// No marketing permission recorded (Constant Contact `not_set`, ActiveCampaign with no list).
    NotSet,
    /// Opted out. Never made subscribed again by paysync.
    Unsubscribed {
        by: OptOutBy,
    },
    /// Undeliverable (Mailchimp `cleaned`, Constant Contact `temp_hold`, ActiveCampaign bounced).
    /// Treated like an opt-out: never re-subscribed.
    Cleaned,
}

impl RemoteConsent {
    /// Whether the destination holds an opt-out that paysync must never undo.
    pub fn is_opted_out(self) -> bool {
        matches!(
            self,
            RemoteConsent::Unsubscribed { .. } | RemoteConsent::Cleaned
        )
    }
}

/// What a destination holds for one person: the acknowledged state the reconciler diffs against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteContact {
    /// The destination's own id of the contact.
    pub remote_id: String,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Values by field key (see [`DesiredContact`]), for the fields the destination reported.
    pub fields: BTreeMap<String, String>,
    /// Lists the contact is an active member of.
    pub lists: BTreeSet<ListId>,
    /// Lists the contact unsubscribed from (ActiveCampaign keeps a status per list).
    pub unsubscribed_lists: BTreeSet<ListId>,
    /// Tag names.
    pub tags: BTreeSet<String>,
    pub consent: RemoteConsent,
    /// When the destination last changed the contact, ms since the epoch, if it says.
    pub updated_at_ms: Option<i64>,
    /// paysync archived or deleted the contact (`on_delete`): it holds nothing until an upsert
    /// brings it back. Kept so that the removal is done once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl RemoteContact {
    pub fn new(remote_id: impl Into<String>, email: Email, consent: RemoteConsent) -> Self {
        RemoteContact {
            remote_id: remote_id.into(),
            email,
            first_name: None,
            last_name: None,
            phone: None,
            fields: BTreeMap::new(),
            lists: BTreeSet::new(),
            unsubscribed_lists: BTreeSet::new(),
            tags: BTreeSet::new(),
            consent,
            updated_at_ms: None,
            removed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        let e = Email::parse("  Ann.Lee+shop@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ann.lee+shop@example.com");
        assert_eq!(format!("{e:?}"), "Email(…@example.com)");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"ann.lee+shop@example.com\"");
        assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), e);
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a@@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example.c",
            "a@example.123",
            "Ann <a@example.com>",
            "a@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    #[test]
    fn good_emails_pass() {
        for good in [
            "a@b.co",
            "x.y-z_1@sub.example.org",
            "o'brien@example.ie",
            "ü@exämple.de",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn opt_outs() {
        assert!(
            RemoteConsent::Unsubscribed {
                by: OptOutBy::Account
            }
            .is_opted_out()
        );
        assert!(RemoteConsent::Cleaned.is_opted_out());
        assert!(!RemoteConsent::NotSet.is_opted_out());
        assert!(!RemoteConsent::NonMarketing.is_opted_out());
    }
}
