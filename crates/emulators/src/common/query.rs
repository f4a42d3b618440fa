//! Query strings as decoded `(name, value)` pairs, in order.

/// Decoded `(name, value)` pairs of a raw query string.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// The last value of `name` in `q`.
pub fn query_get<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_last_value() {
        let q = query_pairs(Some("a=1&b=x%20y&a=2&c"));
        assert_eq!(q.len(), 4);
        assert_eq!(query_get(&q, "a"), Some("2"));
        assert_eq!(query_get(&q, "b"), Some("x y"));
        assert_eq!(query_get(&q, "c"), Some(""));
        assert_eq!(query_get(&q, "d"), None);
        assert!(query_pairs(None).is_empty());
    }
}
