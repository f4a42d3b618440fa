//! The [`Destination`] trait: what the reconciler and the delivery layer need from a marketing
//! platform, and what each connector says it can do ([`Capabilities`]).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::contact::{DesiredContact, Email, ListId, RemoteContact};
use crate::error::{DestinationError, Vendor};
use crate::op::{
    FieldChange, ItemOutcome, MembershipChange, Op, Purchase, Removal, RemovalKind, TagChange,
};

/// What a connector can do, for the engine to plan with (batch sizes, pacing, which features a
/// sync configuration may use).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capabilities {
    pub vendor: Vendor,
    /// Most contacts one bulk upsert request carries.
    pub max_bulk_contacts: usize,
    /// Largest body of one bulk upsert request, in bytes.
    pub max_bulk_bytes: usize,
    /// Requests per second the vendor allows (0 = no documented limit).
    pub requests_per_second: u32,
    /// Simultaneous requests the vendor allows (0 = no documented limit).
    pub max_concurrency: usize,
    /// Requests per day the vendor allows (0 = no documented limit).
    pub requests_per_day: u32,
    pub can_create_lists: bool,
    pub can_create_tags: bool,
    pub can_create_fields: bool,
    /// Whether contacts can be held without marketing permission ([`crate::Consent::NonMarketing`]).
    pub supports_non_marketing: bool,
    /// Whether removing a contact from a list is recorded by the vendor as an unsubscribe from it
    /// (ActiveCampaign: list status 2). If so, a removed contact can never be added back to that
    /// list by paysync: prefer tags for segments that come and go.
    pub list_removal_unsubscribes: bool,
    /// Whether [`Destination::record_purchases`] does anything.
    pub supports_purchases: bool,
    /// Whether bulk writes complete asynchronously at the vendor (the call waits for them).
    pub bulk_is_async: bool,
    /// Whether the vendor can archive a contact (keep it out of the audience without deleting).
    pub can_archive: bool,
    /// Whether a [`RemovalKind::Delete`] leaves nothing of the person at the vendor (read back to
    /// check by `paysync erase`). Constant Contact never hard-deletes ("our system does not do a
    /// hard delete", its API support), so its connector empties the record before deleting it.
    pub permanent_delete: bool,
}

/// A list (audience) at a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListInfo {
    pub id: ListId,
    pub name: String,
}

/// A tag at a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    pub id: String,
    pub name: String,
}

/// A custom field at a destination. `key` is what [`DesiredContact::fields`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub id: String,
    pub key: String,
    pub label: String,
}

/// A custom field to create if missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The key contacts will use (for Mailchimp, the merge tag: ≤ 10 characters, upper case).
    pub key: String,
    /// The label shown in the destination's UI.
    pub label: String,
}

/// A position in a destination's change feed, opaque to callers: store it and hand it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeCursor(pub String);

/// Something that changed at the destination, not made by paysync necessarily.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Change {
    /// The contact opted out (or was cleaned). The reconciler must record it as consent.
    Unsubscribed {
        email: Email,
        at_ms: Option<i64>,
        contact: Option<RemoteContact>,
    },
    /// The contact was edited (or created) at the destination; its state now.
    Updated(RemoteContact),
}

impl Change {
    pub fn email(&self) -> &Email {
        match self {
            Change::Unsubscribed { email, .. } => email,
            Change::Updated(c) => &c.email,
        }
    }
}

/// One page of changes. Call again with `next` until `more` is false; then keep `next` for the
/// next poll. Changes may repeat across polls (feeds are at-least-once); applying them is
/// idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub next: ChangeCursor,
    pub more: bool,
}

/// A marketing platform account, as the reconciler sees it.
///
/// Bulk methods take many items and return one outcome per item, in order; an error that hits a
/// whole call (an outage, revoked credentials) is in every affected item's outcome. Calls are
/// rate-limited and retried in-call for transient failures (within a bound); what still fails is
/// for the delivery layer to retry durably.
///
/// Consent is enforced inside every connector, whatever the caller asks (see [`crate::consent`]).
#[async_trait]
pub trait Destination: Send + Sync {
    fn capabilities(&self) -> &Capabilities;

    /// Creates or updates one contact (additive: see [`DesiredContact`]).
    async fn upsert_contact(&self, contact: &DesiredContact) -> ItemOutcome {
        single(self.upsert_contacts(std::slice::from_ref(contact)).await)
    }

    /// Creates or updates many contacts with the vendor's bulk endpoint, split by its size and
    /// byte limits.
    async fn upsert_contacts(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome>;

    /// Adds contacts to lists. A list membership is a marketing subscription at these vendors,
    /// so this is an upsert with [`crate::Consent::Subscribed`] and nothing else, under the
    /// consent rules (see [`MembershipChange::as_subscription`]).
    async fn add_to_lists(&self, changes: &[MembershipChange]) -> Vec<ItemOutcome> {
        let contacts: Vec<DesiredContact> = changes
            .iter()
            .map(MembershipChange::as_subscription)
            .collect();
        self.upsert_contacts(&contacts).await
    }

    /// Removes contacts from lists (see [`Capabilities::list_removal_unsubscribes`]).
    async fn remove_from_lists(&self, changes: &[MembershipChange]) -> Vec<ItemOutcome>;

    /// Adds tags (by name; missing tags are created where the vendor needs that).
    async fn add_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome>;

    async fn remove_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome>;

    /// Sets custom field values on existing contacts.
    async fn set_fields(&self, changes: &[FieldChange]) -> Vec<ItemOutcome>;

    /// Records purchases (e-commerce data). Connectors without it answer every item `Invalid`.
    async fn record_purchases(&self, purchases: &[Purchase]) -> Vec<ItemOutcome> {
        let message = format!("{} does not take purchase data", self.capabilities().vendor);
        purchases
            .iter()
            .map(|_| ItemOutcome::Invalid(message.clone()))
            .collect()
    }

    /// Takes contacts out of the destination (see [`RemovalKind`]). A contact the destination
    /// does not hold is already removed: `Ok`. An archive asked of a vendor without one
    /// ([`Capabilities::can_archive`]) is `Invalid`.
    async fn remove_contacts(&self, removals: &[Removal]) -> Vec<ItemOutcome>;

    /// What the destination holds for one person; `None` when it does not know them.
    async fn read_contact(&self, email: &Email) -> Result<Option<RemoteContact>, DestinationError>;

    async fn lists(&self) -> Result<Vec<ListInfo>, DestinationError>;
    async fn tags(&self) -> Result<Vec<TagInfo>, DestinationError>;
    async fn fields(&self) -> Result<Vec<FieldInfo>, DestinationError>;

    /// The lists with these names, creating the missing ones (where the vendor allows).
    async fn ensure_lists(&self, names: &[String]) -> Result<Vec<ListInfo>, DestinationError>;
    async fn ensure_tags(&self, names: &[String]) -> Result<Vec<TagInfo>, DestinationError>;
    async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<Vec<FieldInfo>, DestinationError>;

    /// Unsubscribes and edits made at the destination since `cursor` (`None`: from now, or as
    /// far back as the connector's `initial_lookback`).
    async fn changes_since(
        &self,
        cursor: Option<&ChangeCursor>,
    ) -> Result<ChangePage, DestinationError>;

    /// Applies a mixed list of operations, grouping them by kind so each kind goes through its
    /// bulk path. Outcomes come back in the order of `ops`.
    async fn apply(&self, ops: &[Op]) -> Vec<ItemOutcome> {
        let mut upserts = Vec::new();
        let mut adds = Vec::new();
        let mut removes = Vec::new();
        let mut tag_adds = Vec::new();
        let mut tag_removes = Vec::new();
        let mut fields = Vec::new();
        let mut purchases = Vec::new();
        let mut removals = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Upsert(c) => upserts.push((i, c.clone())),
                Op::AddToLists(m) => adds.push((i, m.clone())),
                Op::RemoveFromLists(m) => removes.push((i, m.clone())),
                Op::AddTags(t) => tag_adds.push((i, t.clone())),
                Op::RemoveTags(t) => tag_removes.push((i, t.clone())),
                Op::SetFields(f) => fields.push((i, f.clone())),
                Op::RecordPurchase(p) => purchases.push((i, p.clone())),
                Op::Remove(r) => removals.push((i, r.clone())),
            }
        }
        let mut out: Vec<Option<ItemOutcome>> = vec![None; ops.len()];
        // Upserts first: they may create the contacts the other operations refer to.
        scatter(
            &mut out,
            &upserts,
            self.upsert_contacts(&items(&upserts)).await,
        );
        scatter(&mut out, &adds, self.add_to_lists(&items(&adds)).await);
        scatter(
            &mut out,
            &removes,
            self.remove_from_lists(&items(&removes)).await,
        );
        scatter(&mut out, &tag_adds, self.add_tags(&items(&tag_adds)).await);
        scatter(
            &mut out,
            &tag_removes,
            self.remove_tags(&items(&tag_removes)).await,
        );
        scatter(&mut out, &fields, self.set_fields(&items(&fields)).await);
        scatter(
            &mut out,
            &purchases,
            self.record_purchases(&items(&purchases)).await,
        );
        // Last: a removal ends whatever else was asked of the contact in the same round.
        scatter(
            &mut out,
            &removals,
            self.remove_contacts(&items(&removals)).await,
        );
        let vendor = self.capabilities().vendor;
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    ItemOutcome::Failed(DestinationError::permanent(vendor, "no outcome"))
                })
            })
            .collect()
    }
}

/// The outcome for an archive asked of a vendor that has none.
pub(crate) fn no_archive(vendor: Vendor) -> ItemOutcome {
    ItemOutcome::Invalid(format!(
        "{vendor} cannot archive contacts: use on_delete = \"delete\", \"unsubscribe\" or a tag"
    ))
}

/// Whether a removal asks for an archive the vendor cannot do.
pub(crate) fn wants_unsupported_archive(caps: &Capabilities, r: &Removal) -> bool {
    r.how == RemovalKind::Archive && !caps.can_archive
}

fn items<T: Clone>(indexed: &[(usize, T)]) -> Vec<T> {
    indexed.iter().map(|(_, t)| t.clone()).collect()
}

fn scatter<T>(out: &mut [Option<ItemOutcome>], indexed: &[(usize, T)], results: Vec<ItemOutcome>) {
    for ((i, _), r) in indexed.iter().zip(results) {
        out[*i] = Some(r);
    }
}

fn single(mut outcomes: Vec<ItemOutcome>) -> ItemOutcome {
    outcomes
        .pop()
        .unwrap_or_else(|| ItemOutcome::Invalid("the connector returned no outcome".to_owned()))
}

/// How long in-call waits for an asynchronous job may take before the item is reported
/// transient (the job goes on at the vendor; retrying the item is idempotent).
pub const DEFAULT_JOB_WAIT: Duration = Duration::from_secs(120);
