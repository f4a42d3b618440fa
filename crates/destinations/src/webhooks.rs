//! The consent webhooks of Mailchimp and ActiveCampaign: form-encoded POSTs, unsigned (paysync's
//! endpoint carries a secret in its URL instead). Pure parsing, so that hostile bodies can be
//! fuzzed: whatever arrives is a fact, an event of no interest, or a reason to refuse it.
//!
//! - Mailchimp (per audience): `type` = subscribe | unsubscribe | profile | cleaned | upemail |
//!   campaign, `data[email]`, `data[list_id]`; `unsubscribe` (`data[action]` unsub or delete) and
//!   `cleaned` are opt-outs.
//! - ActiveCampaign: `type` = subscribe | unsubscribe | update | …, `contact[email]`.

use paysync_core::contact::Email;

/// What a webhook says about a person's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookFact {
    Unsubscribed(Email),
    /// The person subscribed (again) at the destination.
    Subscribed(Email),
    /// An event paysync does not act on (its `type`).
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body has no `type`")]
    MissingType,
    #[error("a {0} event without an email address")]
    MissingEmail(String),
    #[error("a {0} event with an invalid email address")]
    InvalidEmail(String),
    #[error("the event is for audience {0:?}, not the destination's")]
    OtherList(String),
}

impl WebhookError {
    /// A short code for logs and counters.
    pub fn reason_code(&self) -> &'static str {
        match self {
            WebhookError::MissingType => "missing_type",
            WebhookError::MissingEmail(_) => "missing_email",
            WebhookError::InvalidEmail(_) => "invalid_email",
            WebhookError::OtherList(_) => "other_list",
        }
    }
}

/// The first value of `key` (form bodies may repeat keys; the first one counts).
fn field(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn email_of(pairs: &[(String, String)], key: &str, kind: &str) -> Result<Email, WebhookError> {
    let raw = field(pairs, key).ok_or_else(|| WebhookError::MissingEmail(kind.to_owned()))?;
    Email::parse(&raw).map_err(|_| WebhookError::InvalidEmail(kind.to_owned()))
}

/// A Mailchimp audience webhook, for the audience `list_id`.
pub fn parse_mailchimp(body: &[u8], list_id: &str) -> Result<WebhookFact, WebhookError> {
    let pairs = pairs(body);
    let kind = field(&pairs, "type").ok_or(WebhookError::MissingType)?;
    if !matches!(kind.as_str(), "subscribe" | "unsubscribe" | "cleaned") {
        return Ok(WebhookFact::Ignored(kind));
    }
    if let Some(list) = field(&pairs, "data[list_id]")
        && list != list_id
    {
        return Err(WebhookError::OtherList(list));
    }
    let email = email_of(&pairs, "data[email]", &kind)?;
    Ok(match kind.as_str() {
        "subscribe" => WebhookFact::Subscribed(email),
        _ => WebhookFact::Unsubscribed(email),
    })
}

/// An ActiveCampaign webhook.
pub fn parse_activecampaign(body: &[u8]) -> Result<WebhookFact, WebhookError> {
    let pairs = pairs(body);
    let kind = field(&pairs, "type").ok_or(WebhookError::MissingType)?;
    if !matches!(kind.as_str(), "subscribe" | "unsubscribe") {
        return Ok(WebhookFact::Ignored(kind));
    }
    let email = email_of(&pairs, "contact[email]", &kind)?;
    Ok(match kind.as_str() {
        "subscribe" => WebhookFact::Subscribed(email),
        _ => WebhookFact::Unsubscribed(email),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn mailchimp_events() {
        let unsub = b"type=unsubscribe&fired_at=2026-11-24+10%3A00%3A00&data%5Baction%5D=unsub&data%5Bemail%5D=Ann%40Example.com&data%5Blist_id%5D=a1";
        assert_eq!(
            parse_mailchimp(unsub, "a1"),
            Ok(WebhookFact::Unsubscribed(email("ann@example.com")))
        );
        assert_eq!(
            parse_mailchimp(unsub, "b2"),
            Err(WebhookError::OtherList("a1".into()))
        );
        assert_eq!(
            parse_mailchimp(
                b"type=cleaned&data[email]=bo@example.com&data[list_id]=a1",
                "a1"
            ),
            Ok(WebhookFact::Unsubscribed(email("bo@example.com")))
        );
        assert_eq!(
            parse_mailchimp(b"type=subscribe&data[email]=bo@example.com", "a1"),
            Ok(WebhookFact::Subscribed(email("bo@example.com")))
        );
        assert_eq!(
            parse_mailchimp(b"type=profile&data[email]=bo@example.com", "a1"),
            Ok(WebhookFact::Ignored("profile".into()))
        );
        assert_eq!(parse_mailchimp(b"", "a1"), Err(WebhookError::MissingType));
        assert_eq!(
            parse_mailchimp(b"type=unsubscribe&data[email]=not-an-email", "a1"),
            Err(WebhookError::InvalidEmail("unsubscribe".into()))
        );
        assert_eq!(
            parse_mailchimp(b"type=unsubscribe", "a1"),
            Err(WebhookError::MissingEmail("unsubscribe".into()))
        );
    }

    #[test]
    fn activecampaign_events() {
        assert_eq!(
            parse_activecampaign(b"type=unsubscribe&contact%5Bemail%5D=cy%40example.com&list=1"),
            Ok(WebhookFact::Unsubscribed(email("cy@example.com")))
        );
        assert_eq!(
            parse_activecampaign(b"type=update&contact[email]=cy@example.com"),
            Ok(WebhookFact::Ignored("update".into()))
        );
    }

    proptest! {
        /// Any bytes at all: an answer, never a panic.
        #[test]
        fn any_body_is_answered(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_mailchimp(&body, "a1");
            let _ = parse_activecampaign(&body);
        }
    }
}
