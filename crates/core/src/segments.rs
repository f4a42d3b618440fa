//! Segments: rules over a [`Profile`] that decide which lists and tags a person belongs to.
//!
//! Segments are level-triggered: a person belongs to a segment's list or tag exactly while the rule
//! matches, and leaves it when it stops matching — unless the segment is `sticky`, in which case
//! membership, once given, is kept (the diff honours that). Edge-triggered needs ("has ever seen a
//! `charge.failed`") are facts in the profile (`events_seen`), so they reconcile like the rest.
//!
//! The rule language covers what the integrations paysync replaces offer (see `../shared/seeds/`):
//! Constant Contact's payment-activity lists ([`payment_activity_lists`]), ActiveCampaign's
//! `stripe-integration[-<event>]` tags ([`EventTags`]), Center's filters (charged successfully,
//! cannot be charged, refunded, subscribed to a plan, changed subscription, cancelled) with their
//! amount, currency, absolute and relative date, plan and start/end conditions, and PieSync's
//! (subscribed to plan X, has subscriptions, exists on the other side, any field including
//! metadata), combined with `all` / `any` / `not`. Amounts are in minor units (cents).
//!
//! In TOML:
//! ```toml
//! [[segments]]
//! name = "Big spenders this month"
//! tag = "big-spender"
//! rule = { all = [ { charged = { currency = "usd", total = { gte = 10000 }, within = "30d" } },
//!                  { not = { refunded = {} } } ] }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::dates::{parse_date, parse_duration};
use crate::profile::{Profile, SubscriptionFact};

/// A segment of a sync: a rule and where matching people go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    #[serde(flatten)]
    pub target: Target,
    /// Keep people in the list or tag once they matched, even when they no longer do.
    #[serde(default)]
    pub sticky: bool,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    List(String),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    /// Center's "charged successfully", with PieSync-style amount and currency conditions.
    Charged(ChargeFilter),
    /// Center's "cannot be charged": a failed payment.
    PaymentFailed(FailureFilter),
    Refunded(RefundFilter),
    /// Subscribed to (one of) these plans, products, or any; by default in a live status.
    Subscribed(SubscriptionFilter),
    /// A subscription that was cancelled (in the window).
    Cancelled(CancelFilter),
    /// Center's "changed subscription": a subscription update was seen (in the window).
    ChangedSubscription(Window),
    /// PieSync's "has subscriptions": at least one subscription that has not ended.
    HasSubscriptions,
    /// A Stripe event of this type was seen for the person (in the window). `*` ends a prefix.
    Event(EventFilter),
    /// PieSync's "any field": the person's identity and metadata.
    Field(FieldFilter),
    /// PieSync's "exists on the other side": the person is already a contact in the destination.
    ExistsInDestination,
}

/// When something happens: within the last duration, within the next one (for ends and renewals),
/// and/or between two dates (UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// In the past this long, e.g. "30d", "12h", "2w".
    #[serde(default)]
    pub within: Option<Duration>,
    /// From now until this long ahead.
    #[serde(default)]
    pub next: Option<Duration>,
    /// YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub since: Option<Date>,
    /// YYYY-MM-DD, exclusive.
    #[serde(default)]
    pub until: Option<Date>,
}

/// A duration parsed at configuration time (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    pub secs: i64,
}

/// A date parsed at configuration time (unix seconds at UTC midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(pub i64);

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(Duration {
            secs: parse_duration(&s)?,
        })
    }
}

impl From<Duration> for String {
    /// Written back in the largest unit that divides it: "30d", not "2592000s".
    fn from(d: Duration) -> String {
        let units = [(7 * 86_400, "w"), (86_400, "d"), (3_600, "h"), (60, "m")];
        match units.iter().find(|(n, _)| d.secs != 0 && d.secs % n == 0) {
            Some((n, unit)) => format!("{}{unit}", d.secs / n),
            None => format!("{}s", d.secs),
        }
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        parse_date(&s).map(Date)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        let days = d.0.div_euclid(86_400);
        let (y, m, dd) = crate::dates::civil_from_days(days);
        format!("{y:04}-{m:02}-{dd:02}")
    }
}

impl Window {
    fn contains(&self, at: i64, now: i64) -> bool {
        self.within.is_none_or(|d| at >= now - d.secs && at <= now)
            && self.next.is_none_or(|d| at >= now && at <= now + d.secs)
            && self.since.is_none_or(|d| at >= d.0)
            && self.until.is_none_or(|d| at < d.0)
    }
}

/// Bounds on an amount (minor units) or a count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default)]
    pub gte: Option<i64>,
    #[serde(default)]
    pub gt: Option<i64>,
    #[serde(default)]
    pub lte: Option<i64>,
    #[serde(default)]
    pub lt: Option<i64>,
}

impl Range {
    fn contains(&self, v: i64) -> bool {
        self.gte.is_none_or(|b| v >= b)
            && self.gt.is_none_or(|b| v > b)
            && self.lte.is_none_or(|b| v <= b)
            && self.lt.is_none_or(|b| v < b)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeFilter {
    /// Only charges in this currency (case-insensitive).
    #[serde(default)]
    pub currency: Option<String>,
    /// At least one charge whose amount is in this range.
    #[serde(default)]
    pub amount: Option<Range>,
    /// The sum of the matching charges is in this range.
    #[serde(default)]
    pub total: Option<Range>,
    /// The number of matching charges is in this range (default: at least one).
    #[serde(default)]
    pub count: Option<Range>,
    #[serde(flatten)]
    pub when: Window,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureFilter {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(flatten)]
    pub when: Window,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundFilter {
    #[serde(default)]
    pub currency: Option<String>,
    /// At least one refund whose amount is in this range.
    #[serde(default)]
    pub amount: Option<Range>,
    #[serde(flatten)]
    pub when: Window,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFilter {
    /// Price or plan ids; any when empty.
    #[serde(default)]
    pub plan: Vec<String>,
    #[serde(default)]
    pub product: Vec<String>,
    /// Statuses that count; default: active, trialing, past_due.
    #[serde(default)]
    pub status: Vec<String>,
    /// The subscription started in this window.
    #[serde(default)]
    pub started: Option<Window>,
    /// The subscription ends (current period end, or scheduled cancellation) in this window.
    #[serde(default)]
    pub ends: Option<Window>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelFilter {
    #[serde(default)]
    pub plan: Vec<String>,
    #[serde(default)]
    pub product: Vec<String>,
    #[serde(flatten)]
    pub when: Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(flatten)]
    pub when: Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFilter {
    /// `email`, `name`, `phone`, `address.<part>`, `metadata.<key>`, `customer_id`.
    pub path: String,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub one_of: Vec<String>,
    #[serde(default)]
    pub contains: Option<String>,
    /// true: the field has a non-empty value; false: it has none.
    #[serde(default)]
    pub exists: Option<bool>,
}

/// What a rule may look at besides the profile.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Unix seconds.
    pub now: i64,
    pub exists_in_destination: bool,
}

const LIVE_STATUSES: &[&str] = &["active", "trialing", "past_due"];
const ENDED_STATUSES: &[&str] = &["canceled", "incomplete_expired"];

fn same_currency(filter: &Option<String>, currency: &str) -> bool {
    filter
        .as_ref()
        .is_none_or(|c| c.eq_ignore_ascii_case(currency))
}

fn on_plan(s: &SubscriptionFact, plans: &[String], products: &[String]) -> bool {
    let plan_ok = plans.is_empty()
        || s.items
            .iter()
            .any(|i| i.price.as_ref().is_some_and(|p| plans.contains(p)));
    let product_ok = products.is_empty()
        || s.items
            .iter()
            .any(|i| i.product.as_ref().is_some_and(|p| products.contains(p)));
    plan_ok && product_ok
}

fn event_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// The value of a field path on the profile, if any.
pub fn field_value<'a>(profile: &'a Profile, path: &str) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let id = &profile.identity;
    let value = match path {
        "email" => id.email.as_deref().map(Cow::Borrowed),
        "name" => id.name.as_deref().map(Cow::Borrowed),
        "phone" => id.phone.as_deref().map(Cow::Borrowed),
        "customer_id" => id.customer_ids.last().map(|s| Cow::Borrowed(s.as_str())),
        _ => {
            if let Some(key) = path.strip_prefix("metadata.") {
                id.metadata.get(key).map(|s| Cow::Borrowed(s.as_str()))
            } else if let Some(part) = path.strip_prefix("address.") {
                let a = id.address.as_ref()?;
                let v = match part {
                    "line1" => &a.line1,
                    "line2" => &a.line2,
                    "city" => &a.city,
                    "state" => &a.state,
                    "postal_code" => &a.postal_code,
                    "country" => &a.country,
                    _ => return None,
                };
                v.as_deref().map(Cow::Borrowed)
            } else {
                None
            }
        }
    };
    value.filter(|v| !v.trim().is_empty())
}

impl Rule {
    pub fn matches(&self, p: &Profile, ctx: &Context) -> bool {
        let now = ctx.now;
        match self {
            Rule::All(rules) => rules.iter().all(|r| r.matches(p, ctx)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(p, ctx)),
            Rule::Not(rule) => !rule.matches(p, ctx),
            Rule::Charged(f) => {
                let matching: Vec<_> = p
                    .charges
                    .iter()
                    .filter(|c| {
                        c.succeeded
                            && same_currency(&f.currency, &c.currency)
                            && f.when.contains(c.created, now)
                    })
                    .collect();
                let amount_ok = f
                    .amount
                    .as_ref()
                    .is_none_or(|r| matching.iter().any(|c| r.contains(c.amount)));
                let total_ok = f
                    .total
                    .as_ref()
                    .is_none_or(|r| r.contains(matching.iter().map(|c| c.amount).sum()));
                let count = matching.len() as i64;
                let count_ok = f.count.as_ref().map_or(count > 0, |r| r.contains(count));
                amount_ok && total_ok && count_ok
            }
            Rule::PaymentFailed(f) => {
                let charge_failed = p.charges.iter().any(|c| {
                    !c.succeeded
                        && same_currency(&f.currency, &c.currency)
                        && f.when.contains(c.created, now)
                });
                // Failures without a stored charge (a failed payment intent) count when no currency is asked.
                let other_failure = f.currency.is_none()
                    && p.payments
                        .last_failure
                        .as_ref()
                        .is_some_and(|l| f.when.contains(l.at, now));
                charge_failed || other_failure
            }
            Rule::Refunded(f) => p.refunds.iter().any(|r| {
                same_currency(&f.currency, &r.currency)
                    && f.when.contains(r.created, now)
                    && f.amount
                        .as_ref()
                        .is_none_or(|range| range.contains(r.amount))
            }),
            Rule::Subscribed(f) => p.subscriptions.iter().any(|s| {
                let status_ok = if f.status.is_empty() {
                    LIVE_STATUSES.contains(&s.status.as_str())
                } else {
                    f.status.iter().any(|st| st == "any" || *st == s.status)
                };
                let started_ok = f
                    .started
                    .as_ref()
                    .is_none_or(|w| s.started_at.is_some_and(|t| w.contains(t, now)));
                let end = s.cancel_at.or(s.current_period_end);
                let ends_ok = f
                    .ends
                    .as_ref()
                    .is_none_or(|w| end.is_some_and(|t| w.contains(t, now)));
                status_ok && started_ok && ends_ok && on_plan(s, &f.plan, &f.product)
            }),
            Rule::Cancelled(f) => p.subscriptions.iter().any(|s| {
                let at = s.canceled_at.or(s.ended_at);
                ENDED_STATUSES.contains(&s.status.as_str())
                    && at.is_some_and(|t| f.when.contains(t, now))
                    && on_plan(s, &f.plan, &f.product)
            }),
            Rule::ChangedSubscription(w) => p
                .events_seen
                .get("customer.subscription.updated")
                .is_some_and(|t| w.contains(*t, now)),
            Rule::HasSubscriptions => p
                .subscriptions
                .iter()
                .any(|s| !ENDED_STATUSES.contains(&s.status.as_str())),
            Rule::Event(f) => p
                .events_seen
                .iter()
                .any(|(t, at)| event_matches(&f.event_type, t) && f.when.contains(*at, now)),
            Rule::Field(f) => {
                let value = field_value(p, &f.path);
                let exists_ok = f.exists.is_none_or(|want| value.is_some() == want);
                let v = value.as_deref().unwrap_or("");
                let equals_ok = f.equals.as_ref().is_none_or(|e| e == v);
                let one_of_ok = f.one_of.is_empty() || f.one_of.iter().any(|e| e == v);
                let contains_ok = f
                    .contains
                    .as_ref()
                    .is_none_or(|c| v.to_lowercase().contains(&c.to_lowercase()));
                exists_ok && equals_ok && one_of_ok && contains_ok
            }
            Rule::ExistsInDestination => ctx.exists_in_destination,
        }
    }
}

/// ActiveCampaign-style tags: `<prefix>` on everyone synced, and `<prefix>-<event>` for every event
/// type seen, where `rename` may map event types (or `prefix.*` patterns) to other names, as
/// ActiveCampaign names its resource events (`Billing_Subscription_Events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTags {
    #[serde(default = "EventTags::default_prefix")]
    pub prefix: String,
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

impl EventTags {
    fn default_prefix() -> String {
        "stripe-integration".into()
    }

    pub fn tags(&self, p: &Profile) -> BTreeSet<String> {
        let mut tags = BTreeSet::from([self.prefix.clone()]);
        for event_type in p.events_seen.keys() {
            let name = self
                .rename
                .iter()
                .find(|(pattern, _)| event_matches(pattern, event_type))
                .map_or(event_type.as_str(), |(_, name)| name.as_str());
            tags.insert(format!("{}-{name}", self.prefix));
        }
        tags
    }
}

/// Constant Contact's payment-activity lists, as segments.
pub fn payment_activity_lists() -> Vec<Segment> {
    let list = |name: &str, rule: Rule| Segment {
        name: name.to_owned(),
        target: Target::List(format!("Stripe: {name}")),
        sticky: false,
        rule,
    };
    let ever_subscribed = Rule::Subscribed(SubscriptionFilter {
        status: vec!["any".into()],
        ..Default::default()
    });
    let subscribed_in = |statuses: &[&str]| {
        Rule::Subscribed(SubscriptionFilter {
            status: statuses.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        })
    };
    vec![
        list("Paying customers", Rule::Charged(ChargeFilter::default())),
        list(
            "One-time buyers",
            Rule::All(vec![
                Rule::Charged(ChargeFilter::default()),
                Rule::Not(Box::new(ever_subscribed)),
            ]),
        ),
        list("Active subscribers", subscribed_in(&["active", "past_due"])),
        list("Trialing", subscribed_in(&["trialing"])),
        list(
            "Cancelled subscribers",
            Rule::All(vec![
                Rule::Cancelled(CancelFilter::default()),
                Rule::Not(Box::new(Rule::HasSubscriptions)),
            ]),
        ),
        list("Refunded", Rule::Refunded(RefundFilter::default())),
        list(
            "Failed payment",
            Rule::PaymentFailed(FailureFilter::default()),
        ),
    ]
}

/// Where a person belongs: every list and tag of the segments they match, plus event tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub lists: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

pub fn membership(
    segments: &[Segment],
    event_tags: Option<&EventTags>,
    p: &Profile,
    ctx: &Context,
) -> Membership {
    let mut m = Membership::default();
    for s in segments.iter().filter(|s| s.rule.matches(p, ctx)) {
        match &s.target {
            Target::List(l) => m.lists.insert(l.clone()),
            Target::Tag(t) => m.tags.insert(t.clone()),
        };
    }
    if let Some(event_tags) = event_tags {
        m.tags.extend(event_tags.tags(p));
    }
    m
}

#[cfg(test)]
mod tests;
