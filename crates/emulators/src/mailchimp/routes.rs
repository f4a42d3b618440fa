//! The API's routes under `/3.0`, resolved by hand so that `POST /batches` operations run through
//! exactly the same table as HTTP requests.

use axum::http::Method;

/// One API resource, with its path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Root,
    Ping,
    Lists,
    List(String),
    MergeFields(String),
    TagSearch(String),
    MergeField(String, String),
    Members(String),
    Member(String, String),
    MemberDeletePermanent(String, String),
    MemberTags(String, String),
    Webhooks(String),
    Webhook(String, String),
    Batches,
    Batch(String),
}

impl Route {
    /// The route's pattern as Mailchimp documents it (the request-log key).
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Ping => "/ping",
            Route::Lists => "/lists",
            Route::List(_) => "/lists/{list_id}",
            Route::MergeFields(_) => "/lists/{list_id}/merge-fields",
            Route::TagSearch(_) => "/lists/{list_id}/tag-search",
            Route::MergeField(..) => "/lists/{list_id}/merge-fields/{merge_id}",
            Route::Members(_) => "/lists/{list_id}/members",
            Route::Member(..) => "/lists/{list_id}/members/{subscriber_hash}",
            Route::MemberDeletePermanent(..) => {
                "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent"
            }
            Route::MemberTags(..) => "/lists/{list_id}/members/{subscriber_hash}/tags",
            Route::Webhooks(_) => "/lists/{list_id}/webhooks",
            Route::Webhook(..) => "/lists/{list_id}/webhooks/{webhook_id}",
            Route::Batches => "/batches",
            Route::Batch(_) => "/batches/{batch_id}",
        }
    }

    /// Methods the route answers.
    pub fn allows(&self, m: &Method) -> bool {
        let ok: &[Method] = match self {
            Route::Root | Route::Ping => &[Method::GET],
            Route::Lists => &[Method::GET, Method::POST],
            Route::List(_) => &[Method::GET, Method::POST, Method::DELETE],
            Route::MergeFields(_) => &[Method::GET, Method::POST],
            Route::TagSearch(_) => &[Method::GET],
            Route::MergeField(..) => &[Method::GET, Method::PATCH],
            Route::Members(_) => &[Method::GET, Method::POST],
            Route::Member(..) => &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
            Route::MemberDeletePermanent(..) => &[Method::POST],
            Route::MemberTags(..) => &[Method::GET, Method::POST],
            Route::Webhooks(_) => &[Method::GET, Method::POST],
            Route::Webhook(..) => &[Method::GET, Method::DELETE],
            Route::Batches => &[Method::GET, Method::POST],
            Route::Batch(_) => &[Method::GET, Method::DELETE],
        };
        ok.contains(m)
    }
}

fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route of `path` (relative to `/3.0`, e.g. `/lists/abc/members`), if any.
pub fn resolve(path: &str) -> Option<Route> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let o = |x: &str| x.to_owned();
    Some(match s.as_slice() {
        [] => Route::Root,
        ["ping"] => Route::Ping,
        ["lists"] => Route::Lists,
        ["lists", l] => Route::List(o(l)),
        ["lists", l, "merge-fields"] => Route::MergeFields(o(l)),
        ["lists", l, "tag-search"] => Route::TagSearch(o(l)),
        ["lists", l, "merge-fields", m] => Route::MergeField(o(l), o(m)),
        ["lists", l, "members"] => Route::Members(o(l)),
        ["lists", l, "members", h] => Route::Member(o(l), o(h)),
        ["lists", l, "members", h, "actions", "delete-permanent"] => {
            Route::MemberDeletePermanent(o(l), o(h))
        }
        ["lists", l, "members", h, "tags"] => Route::MemberTags(o(l), o(h)),
        ["lists", l, "webhooks"] => Route::Webhooks(o(l)),
        ["lists", l, "webhooks", w] => Route::Webhook(o(l), o(w)),
        ["batches"] => Route::Batches,
        ["batches", b] => Route::Batch(o(b)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            resolve("/lists/abc/members/x%40y.com"),
            Some(Route::Member("abc".into(), "x@y.com".into()))
        );
        assert_eq!(
            resolve("/lists/abc/members/h/actions/delete-permanent/"),
            Some(Route::MemberDeletePermanent("abc".into(), "h".into()))
        );
        assert_eq!(resolve("/batches"), Some(Route::Batches));
        assert_eq!(resolve("/nope"), None);
        assert_eq!(resolve("/"), Some(Route::Root));
        assert_eq!(
            resolve("/lists/a/members/h/tags").unwrap().pattern(),
            "/lists/{list_id}/members/{subscriber_hash}/tags"
        );
        assert!(Route::Lists.allows(&Method::POST));
        assert!(!Route::Lists.allows(&Method::PUT));
    }
}
