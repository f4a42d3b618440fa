//! The blast radius of a configuration before anything is sent (`paysync preview --impact`):
//! for every person of an account, the operations each sync's rules would produce against what
//! the destination acknowledged, counted per list and tag, and how many list joins an opt-out
//! would block.

use std::collections::{BTreeMap, BTreeSet};

use paysync_core::UnixMs;
use paysync_core::contact::Consent;
use paysync_core::ops::Op;
use paysync_core::reconcile::desired;
use paysync_core::segments::{Context, membership};
use paysync_store::{Store, StoreError};
use serde::Serialize;

use crate::reconcile::{ConsentFacts, Plan, SyncPlan, is_suppressed, person_key, plan, profile_of};

/// Persons read per page.
const PAGE: usize = 500;

/// Joins and leaves of one list or tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Movement {
    pub join: u64,
    pub leave: u64,
}

/// What a sync's rules would do to its destination now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncImpact {
    pub sync: String,
    pub destination: String,
    pub persons: u64,
    /// Persons who would get at least one operation.
    pub contacts_changed: u64,
    /// Contacts the destination does not know yet.
    pub new_contacts: u64,
    /// Contacts whose field values would change.
    pub field_updates: u64,
    /// By list name.
    pub lists: BTreeMap<String, Movement>,
    pub tags: BTreeMap<String, Movement>,
    /// List joins not made because the contact opted out at the destination.
    pub blocked_by_unsubscribe: u64,
    /// Contacts that would be archived or deleted (`on_delete`).
    pub removals: u64,
    /// Persons held: without a usable email, or naming a list the destination lacks.
    pub held: u64,
    /// Persons each list's segments match now, whatever the destination holds (the live
    /// member counts the dashboard shows beside each segment).
    pub list_members: BTreeMap<String, u64>,
    /// The same for tags (segments and event tags).
    pub tag_members: BTreeMap<String, u64>,
}

/// Counts the impact of `plans` (all of the same account) over every person of `account`.
pub async fn impact(
    store: &dyn Store,
    account: &str,
    plans: &[SyncPlan],
    carry_unsubscribes: bool,
    now: UnixMs,
) -> Result<Vec<SyncImpact>, StoreError> {
    let mut out: Vec<SyncImpact> = plans
        .iter()
        .map(|p| SyncImpact {
            sync: p.config.name.clone(),
            destination: p.config.destination.clone(),
            ..SyncImpact::default()
        })
        .collect();
    let names: Vec<BTreeMap<&paysync_core::contact::ListId, &String>> = plans
        .iter()
        .map(|p| p.lists.iter().map(|(name, id)| (id, name)).collect())
        .collect();
    let mut seen = BTreeSet::new();
    let mut after = String::new();
    loop {
        let keys = store.person_keys(account, &after, PAGE).await?;
        let Some(last) = keys.last() else { break };
        after = last.clone();
        for key in keys {
            let person = store.person(account, &key).await?;
            let profile = profile_of(&person);
            let Some(email) = person_key(&profile) else {
                out.iter_mut().for_each(|i| i.held += 1);
                continue;
            };
            // Several Stripe customers with one email are one person.
            if !seen.insert(email.as_str().to_owned()) {
                continue;
            }
            let suppressions = store.suppressions(email.as_str()).await?;
            for ((sync, counts), list_names) in plans.iter().zip(&mut out).zip(&names) {
                counts.persons += 1;
                let state = store
                    .delivery_state(&sync.config.name, email.as_str())
                    .await?;
                let facts = ConsentFacts {
                    suppressed: is_suppressed(
                        &suppressions,
                        &sync.config.destination,
                        carry_unsubscribes,
                    ),
                    opted_in: store.opted_in(&sync.config.name, email.as_str()).await?,
                };
                let ops = match plan(sync, &profile, &state, facts, now) {
                    Plan::Ops(ops) => ops,
                    Plan::Skipped(_) => {
                        counts.held += 1;
                        continue;
                    }
                };
                count_members(counts, sync, &profile, now);
                if let Some(ack) = &state.acknowledged
                    && ack.contact.consent.is_opted_out()
                {
                    let ctx = Context {
                        now: now.div_euclid(1000),
                        exists_in_destination: true,
                    };
                    let mut rules = sync.rules();
                    // Which lists the person would be on, were they subscribed.
                    rules.consent = Consent::Subscribed;
                    if let Ok(want) = desired(&profile, &rules, &ctx) {
                        counts.blocked_by_unsubscribe +=
                            want.lists
                                .iter()
                                .filter(|l| !ack.contact.lists.contains(*l))
                                .count() as u64;
                    }
                }
                if ops.is_empty() {
                    continue;
                }
                counts.contacts_changed += 1;
                if state.acknowledged.is_none() {
                    counts.new_contacts += 1;
                }
                count_ops(counts, &ops, list_names);
            }
        }
    }
    Ok(out)
}

fn count_members(
    counts: &mut SyncImpact,
    sync: &SyncPlan,
    profile: &paysync_core::profile::Profile,
    now: UnixMs,
) {
    let ctx = Context {
        now: now.div_euclid(1000),
        exists_in_destination: true,
    };
    let rules = sync.rules();
    let member = membership(rules.segments, rules.event_tags, profile, &ctx);
    for list in member.lists {
        *counts.list_members.entry(list).or_default() += 1;
    }
    for tag in member.tags {
        *counts.tag_members.entry(tag).or_default() += 1;
    }
}

fn count_ops(
    counts: &mut SyncImpact,
    ops: &[Op],
    list_names: &BTreeMap<&paysync_core::contact::ListId, &String>,
) {
    let name = |id: &paysync_core::contact::ListId| {
        list_names
            .get(id)
            .map_or_else(|| id.0.clone(), |n| (*n).clone())
    };
    let mut fields = false;
    for op in ops {
        match op {
            Op::Upsert(c) => {
                fields |= !c.fields.is_empty();
                for l in &c.lists {
                    counts.lists.entry(name(l)).or_default().join += 1;
                }
                for t in &c.tags {
                    counts.tags.entry(t.clone()).or_default().join += 1;
                }
            }
            Op::AddToLists(m) => m
                .lists
                .iter()
                .for_each(|l| counts.lists.entry(name(l)).or_default().join += 1),
            Op::RemoveFromLists(m) => m
                .lists
                .iter()
                .for_each(|l| counts.lists.entry(name(l)).or_default().leave += 1),
            Op::AddTags(t) => t
                .tags
                .iter()
                .for_each(|t| counts.tags.entry(t.clone()).or_default().join += 1),
            Op::RemoveTags(t) => t
                .tags
                .iter()
                .for_each(|t| counts.tags.entry(t.clone()).or_default().leave += 1),
            Op::SetFields(_) => fields = true,
            Op::RecordPurchase(_) => {}
            Op::Remove(_) => counts.removals += 1,
        }
    }
    counts.field_updates += u64::from(fields);
}
