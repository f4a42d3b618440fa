//! Two-way sync: a contact edited or created at a destination (read from its change feed by the
//! poller in `unsubscribes`) changes or creates the Stripe customer, as the sync's
//! `[syncs.two_way]` says (the rules are `paysync_core::two_way`).
//!
//! Never twice, never echoed:
//! - a write to Stripe carries an idempotency key derived from the contact and the values, and the
//!   customer Stripe returns goes into the ledger in the same transaction that records the contact
//!   as acknowledged — so neither the poll repeating the change nor Stripe's webhook about the
//!   write finds anything left to do;
//! - a customer created for a contact is recorded (`two_way_customers`) before the poll's cursor
//!   moves, and looked up first: a repeated poll or webhook never creates a second one, even
//!   against a Stripe (or localstripe) that forgets idempotency keys.
//!
//! A Stripe failure worth retrying stops the poll before its cursor moves (the change is read
//! again); a refusal (invalid value) is logged to the sync log and skipped.

use std::collections::BTreeMap;
use std::sync::Arc;

use paysync_core::config::Config;
use paysync_core::contact::RemoteContact;
use paysync_core::two_way::{
    CustomerView, TwoWayConfig, carries_email, customer_update, has_edits, new_customer, with_edits,
};
use paysync_core::{ObjectVersion, Snapshot, UnixMs};
use paysync_store::{Level, LogEntry, RemoteState, Store, StoreError, StoredObject};
use paysync_stripe::{ClientConfig, ClientError, StripeClient};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TwoWayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stripe failed in a way worth retrying: the change will be read again.
    #[error("Stripe is unavailable for two-way sync: {0}")]
    Stripe(ClientError),
}

/// Two-way sync of one sync of the destination.
struct Target {
    sync: String,
    account: String,
    config: TwoWayConfig,
    stripe: StripeClient,
}

/// Every two-way sync writing from one destination into Stripe.
pub struct TwoWay {
    store: Arc<dyn Store>,
    destination: String,
    targets: Vec<Target>,
}

/// What learning one contact did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TwoWayStats {
    pub customers_updated: usize,
    pub customers_created: usize,
}

/// Two-way writes take this share of an account's Stripe rate, so that they and the account's
/// own reads (backfill, catch-up, refetch) stay within Stripe's limit together; 429s are retried
/// with backoff by the client.
const RATE_SHARE: u32 = 5;

impl TwoWay {
    /// `None` when no sync to `destination` is two-way.
    pub fn new(
        store: Arc<dyn Store>,
        config: &Config,
        destination: &str,
    ) -> Result<Option<Self>, ClientError> {
        let mut targets = Vec::new();
        for s in config.syncs.iter().filter(|s| s.destination == destination) {
            let (Some(two_way), Some(account)) = (&s.two_way, config.account(&s.account)) else {
                continue;
            };
            let mut client = ClientConfig::for_account(account);
            client.rate_limit_per_sec = (client.rate_limit_per_sec / RATE_SHARE).max(1);
            targets.push(Target {
                sync: s.name.clone(),
                account: s.account.clone(),
                config: two_way.clone(),
                stripe: StripeClient::new(client)?,
            });
        }
        Ok((!targets.is_empty()).then(|| TwoWay {
            store,
            destination: destination.to_owned(),
            targets,
        }))
    }

    /// Carries one contact's state at the destination to Stripe. `list_names`: the
    /// destination's list ids to names.
    pub async fn learn(
        &self,
        contact: &RemoteContact,
        list_names: &BTreeMap<String, String>,
        now: UnixMs,
    ) -> Result<TwoWayStats, TwoWayError> {
        let mut stats = TwoWayStats::default();
        for t in &self.targets {
            self.learn_for(t, contact, list_names, now, &mut stats)
                .await?;
        }
        Ok(stats)
    }

    async fn learn_for(
        &self,
        t: &Target,
        contact: &RemoteContact,
        list_names: &BTreeMap<String, String>,
        now: UnixMs,
        stats: &mut TwoWayStats,
    ) -> Result<(), TwoWayError> {
        let person = contact.email.as_str();
        if self.store.is_erased(person).await? {
            return Ok(());
        }
        let acknowledged = self
            .store
            .delivery_state(&t.sync, person)
            .await?
            .acknowledged
            .map(|a| a.contact);
        let record = self
            .store
            .person(&t.account, &format!("email:{person}"))
            .await?;
        let customer = newest_live_customer(&record.objects);
        let mut learnt = RemoteState {
            account: t.account.clone(),
            sync: t.sync.clone(),
            person: person.to_owned(),
            contact: None,
            moved_from: None,
            snapshots: Vec::new(),
            reconcile: false,
            at: now,
        };
        match customer {
            None if acknowledged.is_some() => return Ok(()),
            None => {
                // The same contact under another address: an email change, never a new customer.
                if let Some((old, old_ack)) = self
                    .store
                    .acknowledged_by_remote_id(&t.sync, &contact.remote_id)
                    .await?
                    && old != person
                {
                    return self
                        .email_changed(t, contact, &old, old_ack.contact, list_names, now, stats)
                        .await;
                }
                let Some(params) = new_customer(&t.config, &self.destination, contact, list_names)
                else {
                    return Ok(());
                };
                if self
                    .store
                    .created_customer(&self.destination, &contact.remote_id)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                let key = idempotency_key("create", &self.destination, contact, &params);
                let Some(created) = self.post(t, "customers", &params, &key, person).await? else {
                    return Ok(());
                };
                let id = created.object_id.clone();
                self.store
                    .record_created_customer(
                        &self.destination,
                        &contact.remote_id,
                        &t.account,
                        &id,
                        now,
                    )
                    .await?;
                // The contact as it is there: the reconciler then sends only what Stripe adds
                // (the cross-reference id, segments).
                learnt.contact = Some(contact.clone());
                learnt.snapshots.push(created);
                stats.customers_created += 1;
                self.log(t, "two_way.customer_created", &id, params.keys(), now)
                    .await?;
            }
            Some((object, view)) => {
                let params =
                    customer_update(&t.config, contact, acknowledged.as_ref(), &view, list_names);
                if !params.is_empty() {
                    let key = idempotency_key("update", &self.destination, contact, &params);
                    let path = format!("customers/{}", object.object_id);
                    if let Some(updated) = self.post(t, &path, &params, &key, person).await? {
                        learnt.snapshots.push(updated);
                        stats.customers_updated += 1;
                        self.log(
                            t,
                            "two_way.customer_updated",
                            &object.object_id,
                            params.keys(),
                            now,
                        )
                        .await?;
                    }
                }
                if let Some(ack) = &acknowledged
                    && has_edits(&t.config, contact, Some(ack))
                {
                    // What the destination holds now; where Stripe kept its value, the
                    // reconciler sends it back.
                    learnt.contact = Some(with_edits(&t.config, ack, contact));
                    learnt.reconcile = true;
                }
                if learnt.contact.is_none() && learnt.snapshots.is_empty() {
                    return Ok(());
                }
            }
        }
        self.store.learn_remote_state(learnt).await?;
        Ok(())
    }

    /// The contact's address changed at the destination (from `old`): when the configuration
    /// carries email changes, the Stripe customer of `old` takes the new address (with the
    /// contact's other edits), and the acknowledged contact moves to the new address.
    #[allow(clippy::too_many_arguments)]
    async fn email_changed(
        &self,
        t: &Target,
        contact: &RemoteContact,
        old: &str,
        old_ack: RemoteContact,
        list_names: &BTreeMap<String, String>,
        now: UnixMs,
        stats: &mut TwoWayStats,
    ) -> Result<(), TwoWayError> {
        if !carries_email(&t.config, contact, list_names) {
            tracing::info!(sync = %t.sync, "an address changed at the destination; two-way email is off, so Stripe keeps the old one");
            return Ok(());
        }
        let record = self
            .store
            .person(&t.account, &format!("email:{old}"))
            .await?;
        let Some((object, view)) = newest_live_customer(&record.objects) else {
            return Ok(());
        };
        let person = contact.email.as_str();
        let mut params = customer_update(&t.config, contact, Some(&old_ack), &view, list_names);
        params.insert("email".into(), person.to_owned());
        let key = idempotency_key("email", &self.destination, contact, &params);
        let path = format!("customers/{}", object.object_id);
        let Some(updated) = self.post(t, &path, &params, &key, person).await? else {
            return Ok(());
        };
        let mut moved = with_edits(&t.config, &old_ack, contact);
        moved.email = contact.email.clone();
        self.store
            .learn_remote_state(RemoteState {
                account: t.account.clone(),
                sync: t.sync.clone(),
                person: person.to_owned(),
                contact: Some(moved),
                moved_from: Some(old.to_owned()),
                snapshots: vec![updated],
                reconcile: true,
                at: now,
            })
            .await?;
        stats.customers_updated += 1;
        self.log(
            t,
            "two_way.customer_updated",
            &object.object_id,
            params.keys(),
            now,
        )
        .await?;
        Ok(())
    }

    /// A form POST to Stripe; the object it returns as a snapshot. `None`: Stripe refused the
    /// values (logged, skipped); a retryable failure is an error.
    async fn post(
        &self,
        t: &Target,
        path: &str,
        params: &BTreeMap<String, String>,
        key: &str,
        person: &str,
    ) -> Result<Option<Snapshot>, TwoWayError> {
        let form: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match t.stripe.post(path, &form, key).await {
            Ok(raw) => {
                let read_at = crate::now_ms();
                Ok(Snapshot::parse(&raw, ObjectVersion::of_api_read(read_at, false)).ok())
            }
            Err(e) if e.is_retryable() => Err(TwoWayError::Stripe(e)),
            Err(e) => {
                tracing::warn!(sync = %t.sync, error = %e, "Stripe refused a two-way write; skipped");
                self.store
                    .log(LogEntry {
                        at: crate::now_ms(),
                        account: Some(t.account.clone()),
                        kind: "two_way.refused".into(),
                        level: Level::Warn,
                        message: format!("Stripe refused the write to {path}: {e}"),
                        detail: Some(serde_json::json!({"sync": t.sync, "person": person})),
                    })
                    .await?;
                Ok(None)
            }
        }
    }

    async fn log(
        &self,
        t: &Target,
        kind: &str,
        customer: &str,
        fields: impl Iterator<Item = &String>,
        now: UnixMs,
    ) -> Result<(), StoreError> {
        let fields: Vec<&String> = fields.collect();
        tracing::info!(sync = %t.sync, kind, customer, ?fields, "two-way write to Stripe");
        self.store
            .log(LogEntry {
                at: now,
                account: Some(t.account.clone()),
                kind: kind.to_owned(),
                level: Level::Info,
                message: format!("{customer}: {} from {}", join(&fields), self.destination),
                // Field names only: values stay out of the log.
                detail: Some(serde_json::json!({
                    "sync": t.sync, "destination": self.destination, "customer": customer, "fields": fields,
                })),
            })
            .await
    }
}

fn join(fields: &[&String]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The same contact state and values give the same key, so a retried or repeated write is one
/// write at Stripe (within its 24 hours of idempotency).
fn idempotency_key(
    what: &str,
    destination: &str,
    contact: &RemoteContact,
    params: &BTreeMap<String, String>,
) -> String {
    let mut h = Sha256::new();
    for part in [what, destination, &contact.remote_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in params {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let digest: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("paysync-2w-{what}-{digest}")
}

/// The person's newest live customer (the one a write goes to), as the ledger holds it.
fn newest_live_customer(objects: &[StoredObject]) -> Option<(&StoredObject, CustomerView)> {
    objects
        .iter()
        .filter(|o| o.kind == "customer" && !o.deleted)
        .filter_map(|o| {
            let body: Value = serde_json::from_str(&o.body).ok()?;
            let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
            let metadata = body
                .get("metadata")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let created = body.get("created").and_then(Value::as_i64).unwrap_or(0);
            let view = CustomerView {
                id: o.object_id.clone(),
                name: text("name"),
                phone: text("phone"),
                description: text("description"),
                metadata,
                changed_at_ms: ObjectVersion::second_of(&o.version).unwrap_or(0) * 1000,
            };
            Some((created, o, view))
        })
        .max_by_key(|(created, o, _)| (*created, o.object_id.clone()))
        .map(|(_, o, view)| (o, view))
}
