//! The envelope of a Stripe event, parsed without touching the object it carries.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::object::{ObjectError, Snapshot};
use crate::version::ObjectVersion;

#[derive(Debug, Deserialize)]
pub struct EventEnvelope {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    /// The connected account the event happened on (Connect), if any.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: Box<RawValue>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("malformed event JSON: {0}")]
    Malformed(String),
    #[error("event id {0:?} does not look like a Stripe event id")]
    BadId(String),
}

impl EventEnvelope {
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let event: EventEnvelope =
            serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))?;
        // The id is our dedupe key; refuse anything that could not be a Stripe event id.
        let plausible = !event.id.is_empty()
            && event.id.len() <= 255
            && event
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible {
            return Err(EventError::BadId(event.id));
        }
        Ok(event)
    }

    /// The snapshot of `data.object` this event carries, versioned by the event.
    /// `Err(NoId)` for objects without an id (e.g. `balance`): the event is kept, the ledger isn't touched.
    pub fn snapshot(&self) -> Result<Snapshot, ObjectError> {
        let version = ObjectVersion::of_event(self.created, &self.event_type, &self.id);
        Snapshot::parse(&self.data.object, version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_event_and_its_snapshot() {
        let body = br#"{"id":"evt_1","object":"event","type":"customer.deleted","created":1700000000,
            "livemode":false,"data":{"object":{"id":"cus_1","object":"customer","email":"a@b.co"}}}"#;
        let event = EventEnvelope::parse(body).unwrap();
        let snap = event.snapshot().unwrap();
        assert!(snap.deleted);
        assert_eq!(snap.object_id, "cus_1");
    }

    #[test]
    fn refuses_malformed_json_and_odd_ids() {
        assert!(matches!(
            EventEnvelope::parse(b"{"),
            Err(EventError::Malformed(_))
        ));
        let body =
            br#"{"id":"evt 1;drop","type":"x","created":1,"livemode":false,"data":{"object":{}}}"#;
        assert!(matches!(
            EventEnvelope::parse(body),
            Err(EventError::BadId(_))
        ));
    }
}
