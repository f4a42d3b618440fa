//! The reconciler: for each dirty person and each sync of the account, the contact the
//! destination should hold (`core::reconcile::desired`), diffed against what it acknowledged,
//! queued in the outbox (`Store::commit_reconciled`). Delivery workers drain the outbox.
//!
//! A person whose row is in flight, or whose acknowledged state changed while they were being
//! reconciled, stays dirty and is reconciled again on the next pass: the diff is always taken
//! against the newest acknowledged state, so nothing is sent twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use paysync_core::ObjectKind;
use paysync_core::config::SyncConfig;
use paysync_core::contact::{Consent, Email, ListId};
use paysync_core::profile::{PersonObject, Profile, fold};
use paysync_core::reconcile::{Managed, Skip, SyncRules, deletion_ops, desired, diff};
use paysync_core::segments::Context;
use paysync_core::{UnixMs, ops::Op};
use paysync_store::{
    ConsentRecord, Decision, DeliveryState, PersonRecord, ReconcileStats, Reconciled, Store,
    StoreError, Suppression,
};

/// Persons per pass (one transaction of decisions).
const BATCH: usize = 200;

/// A sync ready to reconcile: its configuration and the destination's ids for its lists.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub config: SyncConfig,
    /// List names (as segments name them) to the destination's ids.
    pub lists: BTreeMap<String, ListId>,
}

impl SyncPlan {
    pub fn rules(&self) -> SyncRules<'_> {
        let r = &self.config.rules;
        SyncRules {
            filter: r.filter.as_ref(),
            segments: &r.segments,
            event_tags: r.event_tags.as_ref(),
            fields: &r.fields,
            consent: r.consent,
            lists: &self.lists,
        }
    }

    pub fn managed(&self) -> Managed {
        Managed::of(&self.rules())
    }
}

/// The profile of a person as the store returned them.
pub fn profile_of(person: &PersonRecord) -> Profile {
    let objects: Vec<PersonObject<'_>> = person
        .objects
        .iter()
        .map(|o| PersonObject {
            kind: ObjectKind::from_object_field(&o.kind),
            object_id: &o.object_id,
            body: &o.body,
            deleted: o.deleted,
        })
        .collect();
    let mut profile = fold(&objects, &person.events_seen);
    // A deleted customer's tombstone has no email; the ledger kept the last one known.
    if profile.identity.email.is_none() && profile.identity.deleted {
        profile.identity.email = person.email.clone();
    }
    profile
}

/// The outbox key of a person: their normalised email, when they have a valid one.
pub fn person_key(profile: &Profile) -> Option<Email> {
    profile
        .identity
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
}

/// What one sync should do for one person, given what its destination acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// These operations (empty: the destination already holds the desired contact).
    Ops(Vec<Op>),
    /// Not pushed, and why (held and counted).
    Skipped(Skip),
}

/// Whether a person is suppressed at a sync's destination: they unsubscribed there, or (when
/// unsubscribes are carried) at any destination.
pub fn is_suppressed(suppressions: &[Suppression], destination: &str, carry: bool) -> bool {
    suppressions
        .iter()
        .any(|s| carry || s.destination == destination)
}

/// What paysync knows of a person's consent at a sync, beyond Stripe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentFacts {
    /// Unsubscribed at the destination (or anywhere, when carried): outranks every rule.
    pub suppressed: bool,
    /// Confirmed the sync's opt-in email.
    pub opted_in: bool,
}

/// Whether a person is asked to opt in: their first Stripe customer was created within the
/// sync's window (new customers always are).
pub fn opt_in_eligible(profile: &Profile, window_days: u32, now_ms: UnixMs) -> bool {
    let since = now_ms.div_euclid(1000) - i64::from(window_days) * 86_400;
    profile.identity.created.is_some_and(|c| c >= since)
}

/// The pure step: profile + rules + acknowledged state → operations. A suppressed person is
/// wanted unsubscribed, whatever the sync's consent mode and segments say; in a sync asking for
/// opt-in by email, someone who has not confirmed is held.
pub fn plan(
    plan: &SyncPlan,
    profile: &Profile,
    state: &DeliveryState,
    facts: ConsentFacts,
    now_ms: UnixMs,
) -> Plan {
    let suppressed = facts.suppressed;
    let ctx = Context {
        now: now_ms.div_euclid(1000),
        exists_in_destination: state.acknowledged.is_some(),
    };
    let mut rules = plan.rules();
    if suppressed {
        rules.consent = Consent::Unsubscribed;
    }
    let awaiting = plan.config.rules.opt_in_window_days.is_some() && !facts.opted_in;
    match desired(profile, &rules, &ctx) {
        Ok(_) if awaiting => Plan::Skipped(Skip::AwaitingOptIn),
        Ok(want) => Plan::Ops(diff(
            &want,
            state.acknowledged.as_ref().map(|a| &a.contact),
            &plan.managed(),
        )),
        // A deleted person gets only what the sync's `on_delete` asks of their contact.
        Err(Skip::Deleted) => match person_key(profile) {
            Some(email) => Plan::Ops(deletion_ops(
                &plan.config.rules.on_delete,
                &email,
                state.acknowledged.as_ref().map(|a| &a.contact),
            )),
            None => Plan::Ops(Vec::new()),
        },
        Err(skip) => Plan::Skipped(skip),
    }
}

/// Reconciles one Stripe account's dirty persons against its syncs.
pub struct Reconciler {
    pub store: Arc<dyn Store>,
    pub account: String,
    pub syncs: Vec<Arc<SyncPlan>>,
    /// `consent.carry_unsubscribes`: an unsubscribe anywhere suppresses everywhere.
    pub carry_unsubscribes: bool,
}

/// What a pass did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    pub persons: usize,
    pub store: ReconcileStats,
    /// Persons without a usable email (held by every sync, never pushed).
    pub held: usize,
}

impl Reconciler {
    /// Reconciles dirty persons until none is left (or only deferred ones); returns the totals.
    pub async fn drain(&self, now: impl Fn() -> UnixMs) -> Result<PassStats, StoreError> {
        let mut total = PassStats::default();
        loop {
            let pass = self.pass(now()).await?;
            total.persons += pass.persons;
            total.held += pass.held;
            total.store.queued += pass.store.queued;
            total.store.unchanged += pass.store.unchanged;
            total.store.deferred += pass.store.deferred;
            // Only deferred persons left: they wait for their rows to come back from workers.
            if pass.persons < BATCH || pass.store.deferred == pass.persons {
                return Ok(total);
            }
        }
    }

    /// One batch of dirty persons.
    pub async fn pass(&self, now: UnixMs) -> Result<PassStats, StoreError> {
        let marks = self.store.dirty_marks(&self.account, BATCH).await?;
        let mut stats = PassStats {
            persons: marks.len(),
            ..PassStats::default()
        };
        let mut batch = Vec::with_capacity(marks.len());
        for mark in marks {
            let person = self.store.person(&self.account, &mark.customer_ref).await?;
            let profile = profile_of(&person);
            let email = person_key(&profile);
            let suppressions = match &email {
                Some(email) => self.store.suppressions(email.as_str()).await?,
                None => Vec::new(),
            };
            let mut decisions = Vec::new();
            let mut held = Vec::new();
            for sync in &self.syncs {
                let outcome = match &email {
                    Some(email) => {
                        let facts = ConsentFacts {
                            suppressed: is_suppressed(
                                &suppressions,
                                &sync.config.destination,
                                self.carry_unsubscribes,
                            ),
                            opted_in: sync.config.opt_in.is_some()
                                && self
                                    .store
                                    .opted_in(&sync.config.name, email.as_str())
                                    .await?,
                        };
                        let outcome = self.decide(sync, &profile, email, facts, now).await?;
                        match &outcome {
                            Err(Skip::AwaitingOptIn) => {
                                self.ask_to_opt_in(sync, &profile, email, now).await?;
                            }
                            Ok(decision) => self.record_prior_consent(sync, decision, now).await?,
                            Err(_) => {}
                        }
                        outcome
                    }
                    None => Err(profile
                        .identity
                        .email
                        .as_ref()
                        .map_or(Skip::NoEmail, |e| Skip::InvalidEmail(e.clone()))),
                };
                match outcome {
                    Ok(decision) => decisions.push(decision),
                    Err(skip) => held.push((sync.config.name.clone(), skip.reason().to_owned())),
                }
            }
            if email.is_none() {
                stats.held += 1;
            }
            batch.push(Reconciled {
                mark,
                person: email.map(|e| e.as_str().to_owned()),
                decisions,
                held,
            });
        }
        if !batch.is_empty() {
            stats.store = self
                .store
                .commit_reconciled(&self.account, batch, now)
                .await?;
        }
        Ok(stats)
    }

    /// Records, for someone about to be pushed with permission for the first time, the
    /// operator's affirmation that the sync relies on (once per person and destination).
    async fn record_prior_consent(
        &self,
        sync: &SyncPlan,
        decision: &Decision,
        now: UnixMs,
    ) -> Result<(), StoreError> {
        let Some(prior) = &sync.config.prior_consent else {
            return Ok(());
        };
        let grants = decision.ops.iter().any(|op| {
            matches!(op, Op::Upsert(c) if matches!(c.consent, Consent::Subscribed | Consent::Pending))
        });
        if decision.diffed_against.is_some() || !grants {
            return Ok(());
        }
        let details = serde_json::json!({
            "affirmed_by": prior.affirmed_by,
            "affirmed_at": prior.affirmed_at,
            "sync": sync.config.name,
        });
        self.store
            .record_consent_once(ConsentRecord {
                person: decision.person.clone(),
                destination: decision.destination.clone(),
                state: if sync.config.rules.consent == Consent::Pending {
                    "pending"
                } else {
                    "subscribed"
                }
                .into(),
                source: "operator_affirmation".into(),
                basis: prior
                    .statement
                    .clone()
                    .unwrap_or_else(|| "consent affirmed by the operator".into()),
                at: now,
                details: Some(details.to_string()),
            })
            .await?;
        Ok(())
    }

    /// Queues the sync's opt-in email for someone in its window (once ever: the store keeps
    /// one request per sync and person).
    async fn ask_to_opt_in(
        &self,
        sync: &SyncPlan,
        profile: &Profile,
        email: &Email,
        now: UnixMs,
    ) -> Result<(), StoreError> {
        let Some(window) = sync.config.rules.opt_in_window_days else {
            return Ok(());
        };
        if opt_in_eligible(profile, window, now)
            && self
                .store
                .request_opt_in(&sync.config.name, email.as_str(), now)
                .await?
        {
            tracing::debug!(sync = %sync.config.name, "opt-in email requested");
        }
        Ok(())
    }

    async fn decide(
        &self,
        sync: &SyncPlan,
        profile: &Profile,
        email: &Email,
        facts: ConsentFacts,
        now: UnixMs,
    ) -> Result<Result<Decision, Skip>, StoreError> {
        let state = self
            .store
            .delivery_state(&sync.config.name, email.as_str())
            .await?;
        let ops = match plan(sync, profile, &state, facts, now) {
            Plan::Ops(ops) => ops,
            Plan::Skipped(skip) => return Ok(Err(skip)),
        };
        Ok(Ok(Decision {
            sync: sync.config.name.clone(),
            destination: sync.config.destination.clone(),
            person: email.as_str().to_owned(),
            diffed_against: state.acknowledged.as_ref().map(|a| a.rev),
            ops,
            due_at: now + sync.config.coalesce_ms as i64,
        }))
    }
}
