//! `[[syncs]]`: what one Stripe account's people become at one destination — the permission
//! paysync records, the lists and tags (segments), and the fields (mapping).
//!
//! ```toml
//! [[syncs]]
//! name = "customers-to-cc"
//! account = "main"              # Stripe account (default: the only one)
//! destination = "cc"
//! consent = "non_marketing"     # or "subscribed" / "pending" when the business has opt-in
//! payment_activity_lists = true # Constant Contact's "Stripe: Paying customers" … lists
//! event_tags = { prefix = "stripe-integration" }  # ActiveCampaign-style event tags
//! fields = [ { to = "company", from = "metadata.company" } ]
//!
//! [[syncs.segments]]
//! name = "Big spenders"
//! tag = "big-spender"
//! rule = { charged = { total = { gte = 10000 } } }
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::destinations::DestinationConfig;
use super::{Problems, StripeAccount, valid_name};
use crate::contact::Consent;
use crate::mapping::FieldMapping;
use crate::segments::{EventTags, Segment, Target, payment_activity_lists};

/// The coalescing window by default: a person's changes within it become one delivery.
pub const DEFAULT_COALESCE_MS: u64 = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub name: String,
    pub account: Option<String>,
    pub destination: String,
    #[serde(default = "RawSync::default_consent")]
    pub consent: Consent,
    #[serde(default)]
    pub payment_activity_lists: bool,
    pub event_tags: Option<EventTags>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    #[serde(default = "RawSync::default_coalesce_ms")]
    pub coalesce_ms: u64,
}

impl RawSync {
    fn default_consent() -> Consent {
        Consent::NonMarketing
    }
    fn default_coalesce_ms() -> u64 {
        DEFAULT_COALESCE_MS
    }
}

/// A validated sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    pub name: String,
    pub account: String,
    pub destination: String,
    pub rules: SyncRulesConfig,
    pub coalesce_ms: u64,
}

/// Everything that decides the contact a person should be at the destination. When it changes,
/// every person of the account is re-reconciled (the diff then finds exactly the affected ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRulesConfig {
    pub consent: Consent,
    /// The built-in lists (when asked for) followed by the custom segments.
    pub segments: Vec<Segment>,
    pub event_tags: Option<EventTags>,
    pub fields: Vec<FieldMapping>,
}

impl SyncRulesConfig {
    /// A stable text form of the rules, stored to notice when they change.
    pub fn fingerprint(&self) -> String {
        // Serialising plain data to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The list names the segments put people on (the destination must have them).
    pub fn list_names(&self) -> BTreeSet<String> {
        self.segments
            .iter()
            .filter_map(|s| match &s.target {
                Target::List(name) => Some(name.clone()),
                Target::Tag(_) => None,
            })
            .collect()
    }

    /// The destination field keys the mapping writes.
    pub fn field_keys(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.to.clone()).collect()
    }
}

pub(super) fn resolve_syncs(
    raw: &[RawSync],
    accounts: &[StripeAccount],
    destinations: &[DestinationConfig],
    problems: &mut Problems,
) -> Vec<SyncConfig> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let at = |key: &str| format!("syncs[{i}].{key}");
        let errors_before = problems.error_count();
        if !valid_name(&s.name) {
            problems.error(
                at("name"),
                format!("{:?} must be 1-64 characters of a-z, 0-9, - and _", s.name),
            );
        }
        if raw[..i].iter().any(|e| e.name == s.name) {
            problems.error(
                at("name"),
                format!("{:?} is used by an earlier sync", s.name),
            );
        }
        let account = match (&s.account, accounts) {
            (Some(name), _) if accounts.iter().any(|a| &a.name == name) => Some(name.clone()),
            (Some(name), _) => {
                problems.error(
                    at("account"),
                    format!("no Stripe account is named {name:?}"),
                );
                None
            }
            (None, [only]) => Some(only.name.clone()),
            (None, _) => {
                problems.error(
                    at("account"),
                    "is required when there is not exactly one Stripe account",
                );
                None
            }
        };
        if !destinations.iter().any(|d| d.name == s.destination) {
            problems.error(
                at("destination"),
                format!("no destination is named {:?}", s.destination),
            );
        }
        if s.consent == Consent::Unsubscribed {
            problems.error(
                at("consent"),
                "\"unsubscribed\" would unsubscribe everyone; use subscribed, pending or \
                 non_marketing",
            );
        }
        if s.coalesce_ms > 60_000 {
            problems.error(at("coalesce_ms"), "must be at most 60000 (one minute)");
        }
        let mut segments = if s.payment_activity_lists {
            payment_activity_lists()
        } else {
            Vec::new()
        };
        let mut names: BTreeSet<String> = segments.iter().map(|g| g.name.clone()).collect();
        for (j, seg) in s.segments.iter().enumerate() {
            if !names.insert(seg.name.clone()) {
                problems.error(
                    format!("syncs[{i}].segments[{j}].name"),
                    format!("{:?} names another segment of this sync", seg.name),
                );
            }
        }
        segments.extend(s.segments.iter().cloned());
        let mut keys = BTreeSet::new();
        for (j, f) in s.fields.iter().enumerate() {
            if !keys.insert(&f.to) {
                problems.error(
                    format!("syncs[{i}].fields[{j}].to"),
                    format!("{:?} is mapped twice", f.to),
                );
            }
        }
        if s.segments.is_empty() && !s.payment_activity_lists && s.event_tags.is_none() {
            problems.warn(
                at("segments"),
                "no segments, built-in lists or event tags: contacts get fields only",
            );
        }
        let Some(account) = account else { continue };
        if problems.error_count() > errors_before {
            continue;
        }
        out.push(SyncConfig {
            name: s.name.clone(),
            account,
            destination: s.destination.clone(),
            rules: SyncRulesConfig {
                consent: s.consent,
                segments,
                event_tags: s.event_tags.clone(),
                fields: s.fields.clone(),
            },
            coalesce_ms: s.coalesce_ms,
        });
    }
    out
}
