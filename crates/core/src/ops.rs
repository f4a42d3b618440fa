//! The operations a diff produces for one destination: upserts and explicit list, tag, field and
//! purchase changes. Connectors (`paysync-destinations`) execute them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::contact::{DesiredContact, Email, ListId};

/// Lists to add a contact to or remove it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    pub email: Email,
    pub lists: BTreeSet<ListId>,
}

impl MembershipChange {
    /// The upsert that subscribes the contact to the lists and changes nothing else.
    pub fn as_subscription(&self) -> DesiredContact {
        let mut c = DesiredContact::new(self.email.clone(), crate::contact::Consent::Subscribed);
        c.lists = self.lists.clone();
        c
    }
}

/// Tag names to add to or remove from a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagChange {
    pub email: Email,
    pub tags: BTreeSet<String>,
}

/// Custom field values to set on an existing contact, by field key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub email: Email,
    pub fields: BTreeMap<String, String>,
}

/// One purchase, for destinations with e-commerce data (ActiveCampaign Deep Data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub email: Email,
    /// The buyer's id at the source (Stripe `cus_…`, or the email for guests).
    pub customer_ref: String,
    /// The order's id at the source (Stripe charge / invoice / checkout session id).
    pub order_ref: String,
    pub total_cents: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// When the order was placed, ms since the epoch.
    pub created_at_ms: i64,
    pub items: Vec<PurchaseItem>,
    /// A live purchase (triggers the destination's automations) or history (backfill).
    pub realtime: bool,
    pub accepts_marketing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseItem {
    pub product_ref: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
}

/// How a contact is taken out of a destination (`on_delete`, `paysync erase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    /// Kept by the vendor but out of the audience (Mailchimp archive; Constant Contact delete,
    /// which it can revive). Vendors without an archive refuse it at configuration time.
    Archive,
    /// Deleted as far as the vendor's API allows (Mailchimp delete-permanent, ActiveCampaign
    /// delete; Constant Contact keeps deleted contacts: see `Capabilities::permanent_delete`).
    Delete,
}

/// A contact to take out of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub email: Email,
    pub how: RemovalKind,
}

/// One change to make at a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Upsert(DesiredContact),
    AddToLists(MembershipChange),
    RemoveFromLists(MembershipChange),
    AddTags(TagChange),
    RemoveTags(TagChange),
    SetFields(FieldChange),
    RecordPurchase(Purchase),
    Remove(Removal),
}

impl Op {
    pub fn email(&self) -> &Email {
        match self {
            Op::Upsert(c) => &c.email,
            Op::AddToLists(m) | Op::RemoveFromLists(m) => &m.email,
            Op::AddTags(t) | Op::RemoveTags(t) => &t.email,
            Op::SetFields(f) => &f.email,
            Op::RecordPurchase(p) => &p.email,
            Op::Remove(r) => &r.email,
        }
    }
}
