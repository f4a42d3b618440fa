//! Stripe request parameters: form encoding with bracket syntax (`metadata[plan]=pro`,
//! `enabled_events[]=*`, `created[gte]=…`), in query strings and POST bodies alike, and the
//! common list parameters with Stripe's validation messages.

use std::collections::BTreeMap;

use super::error::StripeError;
use super::table::CreatedRange;

/// A parsed parameter value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormValue {
    Str(String),
    Map(BTreeMap<String, FormValue>),
    List(Vec<FormValue>),
}

impl FormValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FormValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A list given as `k[]=a&k[]=b` or `k[0]=a&k[1]=b`.
    pub fn as_list(&self) -> Option<Vec<&FormValue>> {
        match self {
            FormValue::List(l) => Some(l.iter().collect()),
            FormValue::Map(m) if m.keys().all(|k| k.parse::<usize>().is_ok()) => {
                let mut v: Vec<(usize, &FormValue)> = m
                    .iter()
                    .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), v))
                    .collect();
                v.sort_by_key(|(i, _)| *i);
                Some(v.into_iter().map(|(_, v)| v).collect())
            }
            _ => None,
        }
    }
}

pub type Params = BTreeMap<String, FormValue>;

/// Raw `(key, value)` pairs of a form-encoded string.
pub fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// Nests `pairs` by their bracket syntax.
pub fn tree(pairs: &[(String, String)]) -> Result<Params, StripeError> {
    let mut root = Params::new();
    for (k, v) in pairs {
        let segs = split_key(k).ok_or_else(|| {
            StripeError::invalid(format!("Invalid parameter name: {k}")).param(k.clone())
        })?;
        insert(&mut root, &segs, v.clone());
    }
    Ok(root)
}

fn split_key(k: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match k.find('[') {
        Some(i) => (&k[..i], &k[i..]),
        None => return (!k.is_empty()).then(|| vec![k]),
    };
    if head.is_empty() {
        return None;
    }
    let mut segs = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        segs.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    Some(segs)
}

fn insert(map: &mut Params, segs: &[&str], v: String) {
    let (head, rest) = (segs[0], &segs[1..]);
    if rest.is_empty() {
        map.insert(head.to_owned(), FormValue::Str(v));
        return;
    }
    let append = rest[0].is_empty();
    let entry = map.entry(head.to_owned()).or_insert_with(|| {
        if append {
            FormValue::List(Vec::new())
        } else {
            FormValue::Map(Params::new())
        }
    });
    if matches!(entry, FormValue::Str(_)) {
        // `metadata=` followed by `metadata[k]=v`: the later, nested form wins.
        *entry = if append {
            FormValue::List(Vec::new())
        } else {
            FormValue::Map(Params::new())
        };
    }
    match entry {
        FormValue::List(l) => {
            if rest.len() == 1 {
                l.push(FormValue::Str(v));
            } else {
                let mut m = Params::new();
                insert(&mut m, &rest[1..], v);
                l.push(FormValue::Map(m));
            }
        }
        FormValue::Map(m) => insert(m, rest, v),
        FormValue::Str(_) => {}
    }
}

/// Parses an integer parameter the way Stripe reports a bad one.
pub fn int_param(name: &str, v: &str) -> Result<i64, StripeError> {
    v.trim().parse::<i64>().map_err(|_| {
        StripeError::invalid(format!("Invalid integer: {v}"))
            .code("parameter_invalid_integer")
            .param(name)
    })
}

/// The parameters every list takes, parsed and validated; the rest stay in `filters`.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub created: CreatedRange,
    /// `expand[]` paths relative to each listed object (`data.` stripped).
    pub expand: Vec<String>,
    pub filters: Params,
}

impl ListQuery {
    /// Parses a list query string; `allowed` are the endpoint's own filters.
    pub fn parse(raw: &str, allowed: &[&str]) -> Result<Self, StripeError> {
        let mut p = tree(&pairs(raw.as_bytes()))?;
        let mut q = ListQuery {
            limit: 10,
            ..Default::default()
        };
        if let Some(v) = p.remove("limit") {
            let s = v.as_str().unwrap_or("");
            let n = int_param("limit", s)?;
            if n < 1 {
                return Err(
                    StripeError::invalid("This value must be greater than or equal to 1.")
                        .code("parameter_invalid_integer")
                        .param("limit"),
                );
            }
            if n > 100 {
                return Err(StripeError::invalid(format!(
                    "This value must be less than or equal to 100 (it currently is '{n}')."
                ))
                .code("parameter_invalid_integer")
                .param("limit"));
            }
            q.limit = n as usize;
        }
        q.starting_after = take_id(&mut p, "starting_after")?;
        q.ending_before = take_id(&mut p, "ending_before")?;
        if q.starting_after.is_some() && q.ending_before.is_some() {
            return Err(StripeError::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
            )
            .param("ending_before"));
        }
        if let Some(v) = p.remove("created") {
            q.created = created_range(&v)?;
        }
        if let Some(v) = p.remove("expand") {
            q.expand = expand_paths(&v)?
                .into_iter()
                .map(|s| s.strip_prefix("data.").map(str::to_owned).unwrap_or(s))
                .collect();
        }
        if let Some(k) = p.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(StripeError::unknown_param(k));
        }
        q.filters = p;
        Ok(q)
    }

    pub fn filter_str(&self, name: &str) -> Option<&str> {
        self.filters.get(name).and_then(FormValue::as_str)
    }
}

fn take_id(p: &mut Params, name: &str) -> Result<Option<String>, StripeError> {
    match p.remove(name) {
        None => Ok(None),
        Some(FormValue::Str(s)) if s.is_empty() => Err(empty_string(name)),
        Some(FormValue::Str(s)) => Ok(Some(s)),
        Some(_) => Err(StripeError::invalid(format!("Invalid string: {name}")).param(name)),
    }
}

pub fn empty_string(name: &str) -> StripeError {
    StripeError::invalid(format!(
        "You passed an empty string for '{name}'. We assume empty values are an attempt to unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from your request or supply a non-empty value."
    ))
    .param(name)
}

/// `created=…` or `created[gt|gte|lt|lte]=…` as an inclusive range.
fn created_range(v: &FormValue) -> Result<CreatedRange, StripeError> {
    match v {
        FormValue::Str(s) => {
            let t = int_param("created", s)?;
            Ok(CreatedRange {
                gte: Some(t),
                lte: Some(t),
            })
        }
        FormValue::Map(m) => {
            let mut r = CreatedRange::default();
            for (k, v) in m {
                let name = format!("created[{k}]");
                let t = int_param(&name, v.as_str().unwrap_or(""))?;
                let (lo, hi) = match k.as_str() {
                    "gte" => (Some(t), None),
                    "gt" => (Some(t.saturating_add(1)), None),
                    "lte" => (None, Some(t)),
                    "lt" => (None, Some(t.saturating_sub(1))),
                    _ => return Err(StripeError::unknown_param(&name)),
                };
                if let Some(lo) = lo {
                    r.gte = Some(r.gte.map_or(lo, |g| g.max(lo)));
                }
                if let Some(hi) = hi {
                    r.lte = Some(r.lte.map_or(hi, |l| l.min(hi)));
                }
            }
            Ok(r)
        }
        FormValue::List(_) => {
            Err(StripeError::invalid("Invalid timestamp: created").param("created"))
        }
    }
}

/// `expand[]=a&expand[]=b` (or `expand[0]=…`).
pub fn expand_paths(v: &FormValue) -> Result<Vec<String>, StripeError> {
    let list = v
        .as_list()
        .ok_or_else(|| StripeError::invalid("Invalid array").param("expand"))?;
    Ok(list
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// For retrieves: only `expand[]` is accepted.
pub fn retrieve_expand(raw: Option<&str>) -> Result<Vec<String>, StripeError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut p = tree(&pairs(raw.as_bytes()))?;
    let expand = match p.remove("expand") {
        Some(v) => expand_paths(&v)?,
        None => Vec::new(),
    };
    if let Some(k) = p.keys().next() {
        return Err(StripeError::unknown_param(k));
    }
    Ok(expand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets() {
        let p = tree(&pairs(
            b"metadata[plan]=pro&enabled_events[]=a&enabled_events[]=b&x[0]=p&x[1]=q&email=a%2Bb%40x.com",
        ))
        .unwrap();
        let FormValue::Map(m) = &p["metadata"] else {
            panic!()
        };
        assert_eq!(m["plan"], FormValue::Str("pro".into()));
        assert_eq!(p["enabled_events"].as_list().unwrap().len(), 2);
        let x: Vec<_> = p["x"]
            .as_list()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(x, ["p", "q"]);
        assert_eq!(p["email"].as_str(), Some("a+b@x.com"));
    }

    #[test]
    fn list_query() {
        let q = ListQuery::parse(
            "limit=3&created[gt]=10&created[lte]=20&expand[]=data.refunds&customer=cus_1",
            &["customer"],
        )
        .unwrap();
        assert_eq!(q.limit, 3);
        assert_eq!(
            q.created,
            CreatedRange {
                gte: Some(11),
                lte: Some(20)
            }
        );
        assert_eq!(q.expand, ["refunds"]);
        assert_eq!(q.filter_str("customer"), Some("cus_1"));
        let e = ListQuery::parse("limit=101", &[]).unwrap_err();
        assert_eq!(e.code, Some("parameter_invalid_integer"));
        assert!(ListQuery::parse("limit=0", &[]).is_err());
        assert!(ListQuery::parse("limit=x", &[]).is_err());
        assert!(ListQuery::parse("starting_after=a&ending_before=b", &[]).is_err());
        assert_eq!(
            ListQuery::parse("bogus=1", &[]).unwrap_err().code,
            Some("parameter_unknown")
        );
    }
}
