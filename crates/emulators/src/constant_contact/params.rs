//! Reading requests: query parameters, JSON bodies (415 unless JSON, 400 when malformed), typed
//! properties with the swagger's limits, and list cursors.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::common::b64;
use crate::common::query::query_pairs;

use super::error::CcError;

/// Query parameters in order (a repeated name keeps every value).
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(query_pairs(raw))
    }

    /// The first value of `name` (unlike [`query_get`](crate::common::query::query_get), which
    /// takes the last).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Comma-separated values (empty parts dropped).
    pub fn csv(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `limit`: `default` when absent, 400 outside `1..=max`.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, CcError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(CcError::validation(format!(
                    "limit must be an integer from 1 to {max}."
                ))),
            },
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, CcError> {
        match self.get(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(CcError::validation(format!(
                "{name} does not have a valid value"
            ))),
        }
    }

    /// The query string without `cursor`, re-encoded.
    pub fn encode_without_cursor(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != "cursor" {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

/// A page position: the original query and where the next page starts. Encoded as base64url
/// of `<query>&next=<position>` like Constant Contact's (`bGltaXQ9MSZuZXh0PTI=` is
/// `limit=1&next=2`).
pub fn encode_cursor(q: &Query, next: usize) -> String {
    let base = q.encode_without_cursor();
    let s = if base.is_empty() {
        format!("next={next}")
    } else {
        format!("{base}&next={next}")
    };
    b64::encode_url(s.as_bytes())
}

/// Reads `cursor` if present: the query it stands for (replacing the request's) and the
/// start position; otherwise the request's own query and 0.
pub fn resolve_cursor(q: Query) -> Result<(Query, usize), CcError> {
    let Some(c) = q.get("cursor") else {
        return Ok((q, 0));
    };
    let bad = || CcError::bad_request("The cursor is not valid.");
    let raw = b64::decode_any(c).ok_or_else(bad)?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let inner = Query::parse(Some(&s));
    let next: usize = inner
        .get("next")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    let rest: Vec<(String, String)> = inner.0.into_iter().filter(|(k, _)| k != "next").collect();
    Ok((Query(rest), next))
}

/// The JSON object body of a POST/PUT: 415 unless `Content-Type` is JSON, 400 if malformed
/// or not an object.
pub fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, CcError> {
    require_json(headers)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CcError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(CcError::bad_request(format!("Malformed JSON: {e}"))),
    }
}

pub fn require_json(headers: &HeaderMap) -> Result<(), CcError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if ok {
        Ok(())
    } else {
        Err(CcError::unsupported_media_type())
    }
}

fn type_err(key: &str, want: &str) -> CcError {
    CcError::validation(format!("{key} must be {want}."))
}

/// An optional string property of at most `max` characters (`null` = absent).
pub fn opt_str(o: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                Err(CcError::validation(format!(
                    "{key} must be at most {max} characters long."
                )))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(_) => Err(type_err(key, "a string")),
    }
}

pub fn req_str(o: &Map<String, Value>, key: &str, max: usize) -> Result<String, CcError> {
    opt_str(o, key, max)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| CcError::validation(format!("{key} is required.")))
}

pub fn opt_int(
    o: &Map<String, Value>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(CcError::validation(format!(
                "{key} must be an integer from {} to {}.",
                range.start(),
                range.end()
            ))),
        },
    }
}

pub fn opt_bool(o: &Map<String, Value>, key: &str) -> Result<Option<bool>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(type_err(key, "a boolean")),
    }
}

/// An optional array of strings with at most `max` entries (duplicates kept out).
pub fn opt_str_array(
    o: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<Vec<String>>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            if a.len() > max {
                return Err(CcError::validation(format!(
                    "{key} can contain at most {max} items."
                )));
            }
            let mut out: Vec<String> = Vec::with_capacity(a.len());
            for v in a {
                let s = v
                    .as_str()
                    .ok_or_else(|| type_err(key, "an array of strings"))?;
                if !out.iter().any(|x| x == s) {
                    out.push(s.to_owned());
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(type_err(key, "an array")),
    }
}

/// Like [`opt_str_array`], but required with at least `min` entries.
pub fn req_str_array(
    o: &Map<String, Value>,
    key: &str,
    min: usize,
    max: usize,
) -> Result<Vec<String>, CcError> {
    let v = opt_str_array(o, key, max)?.unwrap_or_default();
    if v.len() < min {
        return Err(CcError::validation(format!(
            "{key} must contain at least {min} item{}.",
            if min == 1 { "" } else { "s" }
        )));
    }
    Ok(v)
}

/// An optional nested object.
pub fn opt_obj<'a>(
    o: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, CcError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(type_err(key, "an object")),
    }
}

/// Anniversary formats the swagger lists: MM/DD/YYYY, M/D/YYYY, YYYY/MM/DD, YYYY/M/D,
/// YYYY-MM-DD, YYYY-M-D, M-D-YYYY, M-DD-YYYY.
pub fn valid_anniversary(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['/', '-']).collect();
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let (y, m, d) = if parts[0].len() == 4 {
        (parts[0], parts[1], parts[2])
    } else {
        (parts[2], parts[0], parts[1])
    };
    let (Ok(m), Ok(d)) = (m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    y.len() == 4 && (1..=12).contains(&m) && (1..=31).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        let q = Query::parse(Some("limit=2&status=all&include=taggings"));
        let c = encode_cursor(&q, 7);
        let (q2, next) = resolve_cursor(Query::parse(Some(&format!("cursor={c}")))).unwrap();
        assert_eq!(next, 7);
        assert_eq!(q2.get("limit"), Some("2"));
        assert_eq!(q2.get("status"), Some("all"));
        assert!(resolve_cursor(Query::parse(Some("cursor=!!"))).is_err());
        assert!(resolve_cursor(Query::parse(Some("cursor=bGltaXQ9MQ"))).is_err());
    }

    #[test]
    fn anniversaries() {
        for s in [
            "11/15/2006",
            "1/5/2006",
            "2006/11/15",
            "2006-1-5",
            "11-15-2006",
        ] {
            assert!(valid_anniversary(s), "{s}");
        }
        for s in ["2006", "15/15/2006", "2006-11", "a-b-c"] {
            assert!(!valid_anniversary(s), "{s}");
        }
    }
}
