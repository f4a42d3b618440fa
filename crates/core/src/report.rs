//! The contacts report (`paysync report`): one row per person joining their Stripe payment facts
//! with the lists and tags each sync puts them on and their consent state at each destination —
//! the spreadsheet users otherwise build by merging exports by hand. Pure: the caller gathers
//! the profile and the consent states.

use std::collections::BTreeMap;

use crate::config::SyncConfig;
use crate::mapping::value_of;
use crate::profile::Profile;
use crate::segments::{Context, membership};

/// Stripe's zero-decimal currencies: an amount in them has no minor unit.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// An amount in minor units as a decimal in its currency: 123456 usd → `1234.56`, 500 jpy → `500`.
pub fn decimal_amount(minor: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str()) {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (minor / 100).abs(), (minor % 100).abs())
}

/// What one destination knows of the person's consent (from the consent ledger and suppressions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentState {
    /// The newest consent fact recorded (`subscribed`, `unsubscribed`, …), if any.
    pub state: Option<String>,
    pub suppressed: bool,
}

/// The report's columns, for these syncs.
pub fn header(syncs: &[SyncConfig]) -> Vec<String> {
    let mut h: Vec<String> = [
        "email",
        "customers",
        "paid",
        "refunded",
        "payments",
        "failed_payments",
        "first_payment",
        "last_payment",
        "subscription_status",
        "subscription_plan",
    ]
    .map(str::to_owned)
    .to_vec();
    for s in syncs {
        for column in ["lists", "tags", "consent"] {
            h.push(format!("{}:{column}", s.name));
        }
    }
    h
}

/// One person's row, in [`header`]'s order. `consent` is keyed by destination name; `now` in
/// unix seconds (for segments with relative dates).
pub fn row(
    email: &str,
    customers: &[String],
    profile: &Profile,
    syncs: &[SyncConfig],
    consent: &BTreeMap<String, ConsentState>,
    now: i64,
) -> Vec<String> {
    let per_currency = |pick: fn(&crate::profile::CurrencyTotals) -> i64| {
        profile
            .money
            .iter()
            .filter(|(_, t)| pick(t) != 0)
            .map(|(cur, t)| format!("{} {}", decimal_amount(pick(t), cur), cur.to_uppercase()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let payments: u64 = profile.money.values().map(|t| u64::from(t.payments)).sum();
    let date = |secs: Option<i64>| {
        secs.map(|s| crate::dates::rfc3339(s * 1000))
            .unwrap_or_default()
    };
    let mut r = vec![
        email.to_owned(),
        customers.join(" "),
        per_currency(|t| t.paid),
        per_currency(|t| t.refunded),
        payments.to_string(),
        profile.payments.failed_payments.to_string(),
        date(profile.payments.first_payment_at),
        date(profile.payments.last_payment_at),
        value_of(profile, "subscription.status").unwrap_or_default(),
        value_of(profile, "subscription.plan").unwrap_or_default(),
    ];
    let ctx = Context {
        now,
        exists_in_destination: false,
    };
    for s in syncs {
        let m = membership(
            &s.rules.segments,
            s.rules.event_tags.as_ref(),
            profile,
            &ctx,
        );
        r.push(m.lists.into_iter().collect::<Vec<_>>().join("; "));
        r.push(m.tags.into_iter().collect::<Vec<_>>().join("; "));
        let c = consent.get(&s.destination).cloned().unwrap_or_default();
        r.push(match (c.suppressed, c.state) {
            (true, _) => "suppressed".to_owned(),
            (false, Some(state)) => state,
            (false, None) => String::new(),
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_their_currency() {
        assert_eq!(decimal_amount(123_456, "usd"), "1234.56");
        assert_eq!(decimal_amount(-5, "eur"), "-0.05");
        assert_eq!(decimal_amount(500, "JPY"), "500");
    }
}
