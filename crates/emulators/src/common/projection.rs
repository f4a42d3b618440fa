//! `fields=` / `exclude_fields=` projections of a JSON response body (Mailchimp's partial
//! responses).

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Default, Debug)]
struct PathTree {
    leaf: bool,
    children: BTreeMap<String, PathTree>,
}

impl PathTree {
    fn parse(spec: &str) -> Self {
        let mut root = PathTree::default();
        for path in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut node = &mut root;
            for seg in path.split('.') {
                node = node.children.entry(seg.to_owned()).or_default();
            }
            node.leaf = true;
        }
        root
    }
}

fn keep(v: &mut Value, t: &PathTree) {
    if t.leaf {
        return;
    }
    match v {
        Value::Object(m) => {
            m.retain(|k, _| t.children.contains_key(k));
            for (k, child) in m.iter_mut() {
                if let Some(sub) = t.children.get(k) {
                    keep(child, sub);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| keep(x, t)),
        _ => {}
    }
}

fn drop_paths(v: &mut Value, t: &PathTree) {
    match v {
        Value::Object(m) => {
            for (k, sub) in &t.children {
                if sub.leaf {
                    m.remove(k);
                } else if let Some(child) = m.get_mut(k) {
                    drop_paths(child, sub);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| drop_paths(x, t)),
        _ => {}
    }
}

/// Applies `fields` (keep only these comma-separated dotted paths) and `exclude_fields` (drop
/// these) to a response body. Arrays along a path apply the rest of the path to each element.
pub fn project(v: &mut Value, fields: Option<&str>, exclude: Option<&str>) {
    if let Some(f) = fields.filter(|f| !f.trim().is_empty()) {
        keep(v, &PathTree::parse(f));
    }
    if let Some(x) = exclude.filter(|f| !f.trim().is_empty()) {
        drop_paths(v, &PathTree::parse(x));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projections() {
        let mut v = json!({"members": [{"id": 1, "email_address": "a", "stats": {"x": 1, "y": 2}}], "total_items": 1, "_links": []});
        project(
            &mut v,
            Some("members.email_address,members.stats.x,total_items"),
            None,
        );
        assert_eq!(
            v,
            json!({"members": [{"email_address": "a", "stats": {"x": 1}}], "total_items": 1})
        );
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}});
        project(&mut v, None, Some("a,b.c"));
        assert_eq!(v, json!({"b": {"d": 3}}));
    }
}
