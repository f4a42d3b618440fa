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

/// Deepest nesting of arrays and objects an event may have. Stripe's deepest (expanded objects
/// in an event's `data.object`) stay far below; a body nested deeper is hostile, and would pass
/// through the envelope's raw `data.object` unchecked.
pub const MAX_NESTING: usize = 64;

/// Whether `body`'s arrays and objects nest at most `max` deep (strings and escapes skipped).
fn nesting_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

impl EventEnvelope {
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        if !nesting_within(body, MAX_NESTING) {
            return Err(EventError::Malformed(format!(
                "nested deeper than {MAX_NESTING} levels"
            )));
        }
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
    fn deep_nesting_is_refused_and_strings_do_not_count() {
        let deep = format!(
            r#"{{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{{"object":{}{}}}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(matches!(
            EventEnvelope::parse(deep.as_bytes()),
            Err(EventError::Malformed(m)) if m.contains("nested")
        ));
        let brackets_in_strings = format!(
            r#"{{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{{"object":{{"id":"cus_1","name":"{}\"{}"}}}}}}"#,
            "[".repeat(100),
            "{".repeat(100)
        );
        assert!(EventEnvelope::parse(brackets_in_strings.as_bytes()).is_ok());
    }

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

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    use super::*;
    use crate::ObjectKind;
    use crate::profile::{PersonObject, fold};

    /// JSON-ish inputs: mostly valid events with random values in every field, some mutated.
    fn eventish() -> impl Strategy<Value = Vec<u8>> {
        let value = prop_oneof![
            Just("null".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-zA-Z0-9_ .@\\\\\"{}\\[\\]]{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("{}".to_owned()),
            Just("[]".to_owned()),
        ];
        (value.clone(), value.clone(), value.clone(), value, 0usize..400, any::<u8>()).prop_map(
            |(id, created, object_id, customer, cut, byte)| {
                let mut body = format!(
                    r#"{{"id":{id},"type":"charge.succeeded","created":{created},"livemode":false,
                    "data":{{"object":{{"id":{object_id},"object":"charge","customer":{customer},
                    "billing_details":{{"email":{customer}}},"amount":{created},"status":"succeeded"}}}}}}"#
                )
                .into_bytes();
                // Sometimes truncate or corrupt a byte.
                if cut < body.len() && byte % 3 == 0 {
                    body.truncate(cut);
                } else if cut < body.len() && byte % 3 == 1 {
                    body[cut] = byte;
                }
                body
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = EventEnvelope::parse(&bytes).map(|e| e.snapshot());
        }

        #[test]
        fn parsing_and_folding_never_panic_on_event_shaped_input(body in eventish()) {
            if let Ok(event) = EventEnvelope::parse(&body)
                && let Ok(snapshot) = event.snapshot() {
                    let object = PersonObject {
                        kind: snapshot.kind.clone(),
                        object_id: &snapshot.object_id,
                        body: &snapshot.body,
                        deleted: snapshot.deleted,
                    };
                    let _ = fold(&[object], &[(event.event_type.clone(), event.created)]);
                    // Every kind's view must survive any body.
                    for kind in ["customer", "refund", "subscription", "invoice", "checkout.session", "payment_intent"] {
                        let other = PersonObject { kind: ObjectKind::from_object_field(kind), ..object_ref(&snapshot) };
                        let _ = fold(&[other], &[]);
                    }
                }
        }
    }

    fn object_ref(s: &crate::Snapshot) -> PersonObject<'_> {
        PersonObject {
            kind: s.kind.clone(),
            object_id: &s.object_id,
            body: &s.body,
            deleted: s.deleted,
        }
    }
}
