//! The reconciler's pure heart: `desired` (what one destination should hold for a person), `diff`
//! (the smallest set of operations from what it acknowledged to that), and `acknowledge` (what it
//! holds once those operations succeeded).
//!
//! Rules that hold whatever the configuration says:
//! - A contact that opted out (or bounced) is never given permission again: no list additions, and
//!   an upsert never asks for `Subscribed`/`Pending`. Connectors enforce the same rule again.
//! - paysync only removes the lists and tags it manages (the targets of the sync's segments and its
//!   event-tag prefix), never those the contact got elsewhere, and never sticky ones.
//! - List membership is a marketing subscription at every vendor, so only people whose consent is
//!   `Subscribed` are put on lists; non-marketing customers are segmented with tags.
//! - A permission the person gave at the destination is not downgraded to "non-marketing" because
//!   Stripe knows nothing of it: only an explicit `Unsubscribed` (a suppression) removes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::contact::{
    Address, Consent, DesiredContact, Email, ListId, RemoteConsent, RemoteContact,
};
use crate::mapping::{FieldMapping, split_name};
use crate::ops::{FieldChange, MembershipChange, Op, Removal, RemovalKind, TagChange};
use crate::profile::Profile;
use crate::segments::{Context, EventTags, Rule, Segment, Target, membership};

/// What a sync asks of one destination.
#[derive(Debug, Clone)]
pub struct SyncRules<'a> {
    /// Only people matching this are pushed (PieSync's "sync only…"); others are held.
    pub filter: Option<&'a Rule>,
    pub segments: &'a [Segment],
    pub event_tags: Option<&'a EventTags>,
    pub fields: &'a [FieldMapping],
    /// The permission paysync records for the people it syncs (from the sync's consent mode).
    pub consent: Consent,
    /// List names (as segments name them) to the destination's ids.
    pub lists: &'a BTreeMap<String, ListId>,
}

/// Why a person is not pushed to a destination (held and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NoEmail,
    InvalidEmail(String),
    /// Every Stripe customer of the person is deleted (deletion sync decides what happens).
    Deleted,
    /// A segment names a list the destination does not have yet (ensure the catalog first).
    UnknownList(String),
    /// The sync's filter does not match the person.
    FilteredOut,
    /// The sync asks for opt-in by email and the person has not confirmed (yet).
    AwaitingOptIn,
}

impl Skip {
    /// A short machine-readable reason, as status counts it.
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::NoEmail => "no_email",
            Skip::InvalidEmail(_) => "invalid_email",
            Skip::Deleted => "deleted",
            Skip::UnknownList(_) => "unknown_list",
            Skip::FilteredOut => "filtered_out",
            Skip::AwaitingOptIn => "awaiting_opt_in",
        }
    }
}

fn contact_address(p: &Profile) -> Option<Address> {
    let a = p.identity.address.as_ref()?;
    let address = Address {
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
    };
    (!address.is_empty()).then_some(address)
}

/// What a sync does at the destination when every Stripe customer of a person is deleted
/// (`on_delete`). The person's contact is left otherwise as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Nothing: the contact stays as it is.
    #[default]
    Keep,
    /// The contact is unsubscribed (kept for the history, sent no more marketing).
    Unsubscribe,
    /// The contact gets this tag (PieSync's "trash" tag), for the business to act on.
    Tag(String),
    /// The contact is archived (kept by the vendor, out of the audience).
    Archive,
    /// The contact is deleted (permanently where the vendor allows).
    Delete,
}

impl OnDelete {
    pub fn is_keep(&self) -> bool {
        *self == OnDelete::Keep
    }
}

/// The operations `on_delete` asks for, given what the destination acknowledged: none for a
/// person it never received, none when already done.
pub fn deletion_ops(
    on_delete: &OnDelete,
    email: &Email,
    acknowledged: Option<&RemoteContact>,
) -> Vec<Op> {
    let Some(remote) = acknowledged.filter(|r| !r.removed) else {
        return Vec::new();
    };
    let remove = |how| {
        vec![Op::Remove(Removal {
            email: email.clone(),
            how,
        })]
    };
    match on_delete {
        OnDelete::Keep => Vec::new(),
        OnDelete::Unsubscribe if remote.consent.is_opted_out() => Vec::new(),
        OnDelete::Unsubscribe => vec![Op::Upsert(DesiredContact::new(
            email.clone(),
            Consent::Unsubscribed,
        ))],
        OnDelete::Tag(tag) if remote.tags.contains(tag) => Vec::new(),
        OnDelete::Tag(tag) => vec![Op::AddTags(TagChange {
            email: email.clone(),
            tags: BTreeSet::from([tag.clone()]),
        })],
        OnDelete::Archive => remove(RemovalKind::Archive),
        OnDelete::Delete => remove(RemovalKind::Delete),
    }
}

/// The contact the destination should hold for this person.
pub fn desired(p: &Profile, rules: &SyncRules<'_>, ctx: &Context) -> Result<DesiredContact, Skip> {
    let raw = p.identity.email.as_deref().ok_or(Skip::NoEmail)?;
    let email = Email::parse(raw).map_err(|e| Skip::InvalidEmail(e.to_string()))?;
    if p.identity.deleted {
        return Err(Skip::Deleted);
    }
    if rules.filter.is_some_and(|f| !f.matches(p, ctx)) {
        return Err(Skip::FilteredOut);
    }
    let mut contact = DesiredContact::new(email, rules.consent);
    if let Some(name) = &p.identity.name {
        let (first, last) = split_name(name);
        contact.first_name = first;
        contact.last_name = last;
    }
    contact.phone = p.identity.phone.clone();
    contact.address = contact_address(p);
    for mapping in rules.fields {
        if let Some(value) = mapping.value(p) {
            contact.fields.insert(mapping.to.clone(), value);
        }
    }
    let member = membership(rules.segments, rules.event_tags, p, ctx);
    if rules.consent == Consent::Subscribed {
        for name in member.lists {
            let id = rules.lists.get(&name).ok_or(Skip::UnknownList(name))?;
            contact.lists.insert(id.clone());
        }
    }
    contact.tags = member.tags;
    Ok(contact)
}

/// The lists and tags a sync is responsible for, and which of them are sticky.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    pub lists: BTreeSet<ListId>,
    pub tags: BTreeSet<String>,
    pub sticky_lists: BTreeSet<ListId>,
    pub sticky_tags: BTreeSet<String>,
    /// Tags starting with this prefix (event tags) are managed too.
    pub tag_prefix: Option<String>,
}

impl Managed {
    pub fn of(rules: &SyncRules<'_>) -> Self {
        let mut m = Managed {
            tag_prefix: rules.event_tags.map(|t| t.prefix.clone()),
            ..Managed::default()
        };
        for s in rules.segments {
            match &s.target {
                Target::List(name) => {
                    if let Some(id) = rules.lists.get(name) {
                        m.lists.insert(id.clone());
                        if s.sticky {
                            m.sticky_lists.insert(id.clone());
                        }
                    }
                }
                Target::Tag(tag) => {
                    m.tags.insert(tag.clone());
                    if s.sticky {
                        m.sticky_tags.insert(tag.clone());
                    }
                }
            }
        }
        m
    }

    fn manages_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
            || self
                .tag_prefix
                .as_ref()
                .is_some_and(|p| tag == p || tag.starts_with(&format!("{p}-")))
    }
}

/// Whether `desired` changes the permission the destination holds, and to what.
fn consent_change(desired: Consent, remote: RemoteConsent) -> Option<Consent> {
    match (desired, remote) {
        (_, r) if r.is_opted_out() => None,
        (Consent::Unsubscribed, _) => Some(Consent::Unsubscribed),
        (
            Consent::Subscribed | Consent::Pending,
            RemoteConsent::NotSet | RemoteConsent::NonMarketing,
        ) => Some(desired),
        (Consent::Subscribed, RemoteConsent::Pending) => None,
        (Consent::NonMarketing, RemoteConsent::NotSet) => Some(Consent::NonMarketing),
        _ => None,
    }
}

/// The consent an upsert carries so that it changes nothing it should not.
fn as_held(remote: RemoteConsent) -> Consent {
    match remote {
        RemoteConsent::Subscribed => Consent::Subscribed,
        RemoteConsent::Pending => Consent::Pending,
        RemoteConsent::NonMarketing | RemoteConsent::NotSet => Consent::NonMarketing,
        RemoteConsent::Unsubscribed { .. } | RemoteConsent::Cleaned => Consent::Unsubscribed,
    }
}

fn changed(want: &Option<String>, have: &Option<String>) -> Option<String> {
    want.as_ref().filter(|w| Some(*w) != have.as_ref()).cloned()
}

/// The operations that take the destination from `acknowledged` (`None`: it does not know the
/// person; a contact paysync removed counts as unknown) to `desired`. Empty when nothing differs.
pub fn diff(
    desired: &DesiredContact,
    acknowledged: Option<&RemoteContact>,
    managed: &Managed,
) -> Vec<Op> {
    let Some(remote) = acknowledged.filter(|r| !r.removed) else {
        return vec![Op::Upsert(desired.clone())];
    };
    let email = &desired.email;
    let mut ops = Vec::new();
    let mut upsert = DesiredContact::new(email.clone(), as_held(remote.consent));
    upsert.first_name = changed(&desired.first_name, &remote.first_name);
    upsert.last_name = changed(&desired.last_name, &remote.last_name);
    upsert.phone = changed(&desired.phone, &remote.phone);
    let consent = consent_change(desired.consent, remote.consent);
    if let Some(c) = consent {
        upsert.consent = c;
    }
    if upsert.first_name.is_some()
        || upsert.last_name.is_some()
        || upsert.phone.is_some()
        || consent.is_some()
    {
        ops.push(Op::Upsert(upsert));
    }
    let fields: BTreeMap<String, String> = desired
        .fields
        .iter()
        .filter(|(k, v)| remote.fields.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !fields.is_empty() {
        ops.push(Op::SetFields(FieldChange {
            email: email.clone(),
            fields,
        }));
    }
    // A list membership is a subscription: only for people who consented, never after an opt-out.
    let may_subscribe = desired.consent == Consent::Subscribed && !remote.consent.is_opted_out();
    let add_lists: BTreeSet<ListId> = desired
        .lists
        .iter()
        .filter(|l| {
            may_subscribe && !remote.lists.contains(*l) && !remote.unsubscribed_lists.contains(*l)
        })
        .cloned()
        .collect();
    if !add_lists.is_empty() {
        ops.push(Op::AddToLists(MembershipChange {
            email: email.clone(),
            lists: add_lists,
        }));
    }
    let remove_lists: BTreeSet<ListId> = remote
        .lists
        .iter()
        .filter(|l| {
            managed.lists.contains(*l)
                && !managed.sticky_lists.contains(*l)
                && !desired.lists.contains(*l)
        })
        .cloned()
        .collect();
    if !remove_lists.is_empty() {
        ops.push(Op::RemoveFromLists(MembershipChange {
            email: email.clone(),
            lists: remove_lists,
        }));
    }
    let add_tags: BTreeSet<String> = desired.tags.difference(&remote.tags).cloned().collect();
    if !add_tags.is_empty() {
        ops.push(Op::AddTags(TagChange {
            email: email.clone(),
            tags: add_tags,
        }));
    }
    let remove_tags: BTreeSet<String> = remote
        .tags
        .iter()
        .filter(|t| {
            managed.manages_tag(t)
                && !managed.sticky_tags.contains(*t)
                && !desired.tags.contains(*t)
        })
        .cloned()
        .collect();
    if !remove_tags.is_empty() {
        ops.push(Op::RemoveTags(TagChange {
            email: email.clone(),
            tags: remove_tags,
        }));
    }
    ops
}

fn remote_consent_of(c: Consent) -> RemoteConsent {
    match c {
        Consent::Subscribed => RemoteConsent::Subscribed,
        Consent::Pending => RemoteConsent::Pending,
        Consent::NonMarketing => RemoteConsent::NonMarketing,
        Consent::Unsubscribed => RemoteConsent::Unsubscribed {
            by: crate::contact::OptOutBy::Account,
        },
    }
}

/// What the destination holds after `ops` succeeded on `before` (`None`: a new contact with
/// `remote_id`). The same consent rules apply as at the vendors: an opted-out contact stays so.
pub fn acknowledge(
    before: Option<&RemoteContact>,
    remote_id: &str,
    ops: &[Op],
) -> Option<RemoteContact> {
    let mut state = before.cloned();
    for op in ops {
        let email = op.email().clone();
        let contact = state
            .get_or_insert_with(|| RemoteContact::new(remote_id, email, RemoteConsent::NotSet));
        let opted_out = contact.consent.is_opted_out();
        match op {
            Op::Upsert(d) => {
                contact.removed = false;
                contact.first_name = d.first_name.clone().or(contact.first_name.take());
                contact.last_name = d.last_name.clone().or(contact.last_name.take());
                contact.phone = d.phone.clone().or(contact.phone.take());
                contact.fields.extend(d.fields.clone());
                let granting = matches!(d.consent, Consent::Subscribed | Consent::Pending);
                if !(opted_out && granting) {
                    contact.consent = remote_consent_of(d.consent);
                }
                if contact.consent == RemoteConsent::Subscribed {
                    contact.lists.extend(
                        d.lists
                            .iter()
                            .filter(|l| !contact.unsubscribed_lists.contains(*l))
                            .cloned(),
                    );
                }
                contact.tags.extend(d.tags.clone());
            }
            Op::SetFields(f) => contact.fields.extend(f.fields.clone()),
            Op::AddToLists(m) if !opted_out => {
                contact.lists.extend(
                    m.lists
                        .iter()
                        .filter(|l| !contact.unsubscribed_lists.contains(*l))
                        .cloned(),
                );
                if matches!(
                    contact.consent,
                    RemoteConsent::NotSet | RemoteConsent::NonMarketing
                ) {
                    contact.consent = RemoteConsent::Subscribed;
                }
            }
            Op::AddToLists(_) => {}
            Op::RemoveFromLists(m) => contact.lists.retain(|l| !m.lists.contains(l)),
            Op::AddTags(t) => contact.tags.extend(t.tags.clone()),
            Op::RemoveTags(t) => contact.tags.retain(|x| !t.tags.contains(x)),
            Op::RecordPurchase(_) => {}
            // What the vendor keeps of a removed contact is not paysync's to diff against; its
            // consent is kept (an opt-out still governs if the person comes back).
            Op::Remove(_) => {
                let consent = contact.consent;
                *contact =
                    RemoteContact::new(contact.remote_id.clone(), contact.email.clone(), consent);
                contact.removed = true;
            }
        }
    }
    state
}

#[cfg(test)]
mod tests;
