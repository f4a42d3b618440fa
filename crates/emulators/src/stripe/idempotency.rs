//! `Idempotency-Key` records: the first response to a key is replayed for later requests with
//! the same key and the same parameters; the same key with other parameters is an
//! `idempotency_error`. API-FACTS "Stripe": first response (even a 500) replayed; keys may be
//! pruned after 24 h.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Keys older than this are forgotten.
pub const KEY_TTL_SECS: i64 = 24 * 3600;

#[derive(Clone, Debug)]
pub struct IdemEntry {
    pub fingerprint: u64,
    pub status: u16,
    pub body: Bytes,
    pub request_id: Box<str>,
    pub created: i64,
}

#[derive(Debug, Default)]
pub struct Idempotency {
    map: HashMap<(Box<str>, Box<str>), IdemEntry>,
    inserts: u64,
}

/// A fingerprint of a request: method, path and its parameters, order-insensitive.
pub fn fingerprint(method: &str, path: &str, params: &[(String, String)]) -> u64 {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut h = DefaultHasher::new();
    method.hash(&mut h);
    path.hash(&mut h);
    sorted.hash(&mut h);
    h.finish()
}

impl Idempotency {
    pub fn get(&self, account: &str, key: &str, now: i64) -> Option<&IdemEntry> {
        self.map
            .get(&(Box::from(account), Box::from(key)))
            .filter(|e| now - e.created < KEY_TTL_SECS)
    }

    pub fn insert(&mut self, account: &str, key: &str, entry: IdemEntry) {
        let now = entry.created;
        self.map.insert((account.into(), key.into()), entry);
        self.inserts += 1;
        if self.inserts.is_multiple_of(4096) {
            self.map.retain(|_, e| now - e.created < KEY_TTL_SECS);
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_order() {
        let a = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        let b = vec![("b".into(), "2".into()), ("a".into(), "1".into())];
        assert_eq!(
            fingerprint("POST", "/v1/customers", &a),
            fingerprint("POST", "/v1/customers", &b)
        );
        let c = vec![("a".into(), "2".into())];
        assert_ne!(
            fingerprint("POST", "/v1/customers", &a),
            fingerprint("POST", "/v1/customers", &c)
        );
    }

    #[test]
    fn expires() {
        let mut i = Idempotency::default();
        i.insert(
            "acct",
            "k",
            IdemEntry {
                fingerprint: 1,
                status: 200,
                body: Bytes::from_static(b"{}"),
                request_id: "req_1".into(),
                created: 100,
            },
        );
        assert!(i.get("acct", "k", 100).is_some());
        assert!(i.get("other", "k", 100).is_none());
        assert!(i.get("acct", "k", 100 + KEY_TTL_SECS).is_none());
    }
}
