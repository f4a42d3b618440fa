//! Field mapping: from a [`Profile`] to the values a destination's fields should hold.
//!
//! Names are split into first and last ("Jenny Rosen", "Rosen, Jenny", one word, any script) and
//! merged back changing only the part that changed. Custom fields come from profile paths (identity,
//! `metadata.<key>`, payment facts), constants or templates like `{{metadata.company}}`, through
//! transforms (case, trimming, date formats, amounts from minor units). In TOML:
//! ```toml
//! [[fields]]
//! to = "COMPANY"
//! template = "{{metadata.company}} ({{address.country}})"
//! [[fields]]
//! to = "LIFETIME_VALUE"
//! from = "paid.usd"
//! transform = ["amount"]
//! ```

use serde::{Deserialize, Serialize};

use crate::profile::Profile;
use crate::segments::field_value;

/// First and last name from one name as Stripe holds it.
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let non_empty = |s: &str| {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        (!s.is_empty()).then_some(s)
    };
    // "Last, First" (as exported by many systems).
    if let Some((last, first)) = name.split_once(',')
        && let (Some(first), Some(last)) = (non_empty(first), non_empty(last))
    {
        return (Some(first), Some(last));
    }
    let mut words = name.split_whitespace();
    let first = words.next().map(str::to_owned);
    let rest = words.collect::<Vec<_>>().join(" ");
    (first, (!rest.is_empty()).then_some(rest))
}

/// The name to write back to Stripe when a destination changed first and/or last name: only the
/// part that changed replaces its counterpart in the current name; the rest is kept as written.
pub fn merge_name(
    current: Option<&str>,
    new_first: Option<&str>,
    new_last: Option<&str>,
) -> Option<String> {
    let (old_first, old_last) = current.map(split_name).unwrap_or_default();
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let first = clean(new_first).or(old_first);
    let last = clean(new_last).or(old_last);
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// One mapped field of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The destination's field key (Constant Contact custom field name, ActiveCampaign perstag,
    /// Mailchimp merge tag).
    pub to: String,
    #[serde(flatten)]
    pub source: Source,
    #[serde(default)]
    pub transform: Vec<Transform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A profile path: see [`value_of`].
    From(String),
    /// Text with `{{path}}` placeholders; a placeholder without a value renders empty.
    Template(String),
    Value(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    Upper,
    Lower,
    /// Each word capitalised.
    Title,
    Trim,
    /// Minor units to a decimal amount: 1234 → "12.34" (zero-decimal currencies aside).
    Amount,
    /// A unix-seconds value as a date, `YYYY`, `MM`, `DD` replaced, e.g. "DD/MM/YYYY".
    Date(String),
}

/// The value of a profile path, as text: identity paths (`email`, `name`, `first_name`,
/// `last_name`, `phone`, `address.<part>`, `metadata.<key>`, `customer_id`), money (`paid.<cur>`,
/// `refunded.<cur>`, `payments.<cur>` in minor units / counts), and facts (`first_payment_at`,
/// `last_payment_at`, `failed_payments`, `last_failure.code`, `subscription.status`,
/// `subscription.plan`, `subscription.product`, `subscription.current_period_end`).
pub fn value_of(p: &Profile, path: &str) -> Option<String> {
    if let Some(v) = field_value(p, path) {
        return Some(v.into_owned());
    }
    let money = |cur: &str, pick: fn(&crate::profile::CurrencyTotals) -> i64| {
        p.money
            .get(&cur.to_lowercase())
            .map(|t| pick(t).to_string())
    };
    // The subscription fields describe the newest subscription that has not ended, else the newest.
    let subscription = || {
        let live = p
            .subscriptions
            .iter()
            .filter(|s| !matches!(s.status.as_str(), "canceled" | "incomplete_expired"));
        live.max_by_key(|s| s.started_at)
            .or_else(|| p.subscriptions.iter().max_by_key(|s| s.started_at))
    };
    match path.split_once('.') {
        Some(("paid", cur)) => return money(cur, |t| t.paid),
        Some(("refunded", cur)) => return money(cur, |t| t.refunded),
        Some(("payments", cur)) => return money(cur, |t| t.payments.into()),
        _ => {}
    }
    match path {
        "first_name" => p.identity.name.as_deref().and_then(|n| split_name(n).0),
        "last_name" => p.identity.name.as_deref().and_then(|n| split_name(n).1),
        "first_payment_at" => p.payments.first_payment_at.map(|t| t.to_string()),
        "last_payment_at" => p.payments.last_payment_at.map(|t| t.to_string()),
        "failed_payments" => Some(p.payments.failed_payments.to_string()),
        "last_failure.code" => p
            .payments
            .last_failure
            .as_ref()
            .and_then(|f| f.code.clone()),
        "subscription.status" => subscription().map(|s| s.status.clone()),
        "subscription.plan" => subscription()
            .and_then(|s| s.items.first())
            .and_then(|i| i.price.clone()),
        "subscription.product" => subscription()
            .and_then(|s| s.items.first())
            .and_then(|i| i.product.clone()),
        "subscription.current_period_end" => subscription()
            .and_then(|s| s.current_period_end)
            .map(|t| t.to_string()),
        _ => None,
    }
}

fn render_template(p: &Profile, template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value_of(p, after[..end].trim()).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                // An unclosed placeholder is text.
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn apply(transform: &Transform, v: String) -> String {
    match transform {
        Transform::Upper => v.to_uppercase(),
        Transform::Lower => v.to_lowercase(),
        Transform::Trim => v.trim().to_owned(),
        Transform::Title => v
            .split(' ')
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_uppercase()
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect()
                })
            })
            .collect::<Vec<_>>()
            .join(" "),
        Transform::Amount => match v.trim().parse::<i64>() {
            Ok(minor) => {
                let sign = if minor < 0 { "-" } else { "" };
                format!("{sign}{}.{:02}", (minor / 100).abs(), (minor % 100).abs())
            }
            Err(_) => v,
        },
        Transform::Date(format) => match v.trim().parse::<i64>() {
            Ok(secs) => {
                let (y, m, d) = crate::dates::civil_from_days(secs.div_euclid(86_400));
                format
                    .replace("YYYY", &format!("{y:04}"))
                    .replace("MM", &format!("{m:02}"))
                    .replace("DD", &format!("{d:02}"))
            }
            Err(_) => v,
        },
    }
}

impl FieldMapping {
    /// The field's value for this person; `None` when the source has no value (the destination's
    /// value is then left alone).
    pub fn value(&self, p: &Profile) -> Option<String> {
        let raw = match &self.source {
            Source::From(path) => value_of(p, path)?,
            Source::Template(t) => render_template(p, t),
            Source::Value(v) => v.clone(),
        };
        let v = self.transform.iter().fold(raw, |v, t| apply(t, v));
        (!v.is_empty()).then_some(v)
    }
}

/// The cross-reference every sync writes unless told otherwise: the Stripe customer id.
pub fn customer_id_field(to: &str) -> FieldMapping {
    FieldMapping {
        to: to.to_owned(),
        source: Source::From("customer_id".into()),
        transform: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
