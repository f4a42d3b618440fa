//! Mailchimp Marketing v3 (API-FACTS "Mailchimp"; spec `shared/specs/mailchimp/`).
//!
//! - Auth: API key with its data centre (`<key>-us21` → `https://us21.api.mailchimp.com/3.0`),
//!   HTTP Basic `anystring:<key>`. At most 10 simultaneous connections per key (a semaphore);
//!   no documented request rate; 120 s request timeout.
//! - The connector is bound to one audience (`list_id`): lists in [`DesiredContact::lists`] other
//!   than it are refused as invalid, removal from it archives the member, audiences are not
//!   created. Segmentation within the audience is by tags.
//! - Single upsert: `PUT /lists/{id}/members/{md5(lowercased email)}` with `status_if_new` and
//!   without `status`, so an existing member's permission is untouched; the answer tells the
//!   member's status, and a second PUT with `status` changes it only when [`crate::consent`]
//!   allows (never out of unsubscribed/cleaned).
//! - Bulk upsert: batch subscribe `POST /lists/{id}` (≤ 500 members): first with
//!   `update_existing: false` and each member's status (creates the new ones; existing ones come
//!   back as `ERROR_CONTACT_EXISTS`), then the existing ones with `update_existing: true` and no
//!   status (fields only; their statuses come back), then status changes the rules allow.
//! - Tags: `POST …/members/{hash}/tags` (created on first use); many at once through
//!   `POST /batches` (asynchronous, polled), with a per-member rerun if any operation failed
//!   (the results archive is not read: tag writes are idempotent).
//! - Merge fields for custom fields (`FNAME`, `LNAME`, `PHONE`, `ADDRESS` for the standard ones).
//! - Changes: `GET /lists/{id}/members?since_last_changed=…&sort_field=last_changed`.

mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

pub use wire::subscriber_hash;
use wire::*;

use futures_util::future::join_all;

use crate::batching::{BatchLimits, split};
use crate::catalog::{Catalog, Entry};
use crate::consent::{ConsentDecision, Refusal, decide, would_resubscribe};
use crate::contact::{
    Consent, DesiredContact, Email, ListId, OptOutBy, RemoteConsent, RemoteContact,
};
use crate::destination::{
    Capabilities, Change, ChangeCursor, ChangePage, Destination, FieldInfo, FieldSpec, ListInfo,
    TagInfo,
};
use crate::error::{DestinationError, Vendor};
use crate::http::{Body, HttpCore, HttpSettings, RetryPolicy, StaticAuth};
use crate::op::{
    Ack, FieldChange, ItemOutcome, MembershipChange, Outcomes, Removal, RemovalKind, TagChange,
};
use crate::poll::{JobState, JobTimer, PollPolicy, wait_for};
use crate::timefmt;

const VENDOR: Vendor = Vendor::Mailchimp;
/// Batch subscribe takes at most 500 members (API-FACTS "Mailchimp").
pub const MAX_BATCH_MEMBERS: usize = 500;
/// No byte limit is documented for batch subscribe; stay well under common proxy limits.
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Simultaneous connections per API key (API-FACTS "Mailchimp").
pub const MAX_CONNECTIONS: usize = 10;
/// Up to this many member operations are sent one by one; more go through `/batches`.
const SMALL_OPS: usize = 3;
/// Operations per `/batches` request.
const MAX_BATCH_OPERATIONS: usize = 1_000;
/// Merge tags: up to 10 characters (Mailchimp's limit for `tag`).
const MAX_MERGE_TAG_LEN: usize = 10;
/// `count` for member and catalog pages (spec maximum 1000).
const PAGE: usize = 1_000;

/// What a [`Mailchimp`] connector needs.
#[derive(Debug, Clone)]
pub struct MailchimpConfig {
    /// `<key>-<dc>`.
    pub api_key: SecretString,
    /// Overrides `https://<dc>.api.mailchimp.com/3.0` (emulators, tests).
    pub api_base: Option<String>,
    /// The audience this connector writes to.
    pub list_id: ListId,
    pub http: HttpSettings,
    pub poll: PollPolicy,
    /// Whether tag changes may start tag-triggered automations (`is_syncing: false`). Turn off
    /// for backfills.
    pub tags_trigger_automations: bool,
    /// How far back the change feed starts when there is no cursor yet.
    pub initial_lookback: Duration,
}

impl MailchimpConfig {
    pub fn new(api_key: SecretString, list_id: ListId) -> Self {
        MailchimpConfig {
            api_key,
            api_base: None,
            list_id,
            http: HttpSettings {
                requests_per_second: 0,
                max_concurrency: MAX_CONNECTIONS,
                timeout: Duration::from_secs(120),
                retry: RetryPolicy::default(),
                metrics_label: String::new(),
                shared: None,
            },
            poll: PollPolicy::default(),
            tags_trigger_automations: true,
            initial_lookback: Duration::ZERO,
        }
    }
}

/// The data centre of an API key: what follows its last `-` (`…-us21` → `us21`).
pub fn data_center(api_key: &str) -> Option<&str> {
    let (_, dc) = api_key.rsplit_once('-')?;
    (!dc.is_empty() && dc.chars().all(|c| c.is_ascii_alphanumeric())).then_some(dc)
}

/// A Mailchimp audience.
pub struct Mailchimp {
    http: HttpCore,
    list: ListId,
    caps: Capabilities,
    merge_fields: Catalog,
    tags: Catalog,
    poll: PollPolicy,
    /// How long asynchronous jobs take, learnt (see `JobTimer`).
    jobs: JobTimer,
    is_syncing: bool,
    lookback: Duration,
}

impl std::fmt::Debug for Mailchimp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailchimp")
            .field("http", &self.http)
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

/// Member operations for `/batches` or one by one.
struct MemberOp {
    index: usize,
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Mailchimp {
    pub fn new(cfg: MailchimpConfig) -> Result<Self, DestinationError> {
        let key = cfg.api_key.expose_secret();
        let base = match &cfg.api_base {
            Some(b) => b.clone(),
            None => {
                let dc = data_center(key).ok_or_else(|| {
                    DestinationError::config(
                        VENDOR,
                        "the API key has no data centre suffix (…-us21)",
                    )
                })?;
                format!("https://{dc}.api.mailchimp.com/3.0")
            }
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("paysync:{key}"));
        let auth = StaticAuth::new(VENDOR, AUTHORIZATION, &format!("Basic {basic}"))?;
        let http = HttpCore::new(VENDOR, &base, &cfg.http, Arc::new(auth), decode_error)?;
        if cfg.list_id.as_str().is_empty() {
            return Err(DestinationError::config(
                VENDOR,
                "list_id (the audience) is empty",
            ));
        }
        Ok(Mailchimp {
            http,
            caps: Capabilities {
                vendor: VENDOR,
                max_bulk_contacts: MAX_BATCH_MEMBERS,
                max_bulk_bytes: MAX_BATCH_BYTES,
                requests_per_second: cfg.http.requests_per_second,
                max_concurrency: cfg.http.max_concurrency,
                requests_per_day: 0,
                can_create_lists: false,
                can_create_tags: true,
                can_create_fields: true,
                supports_non_marketing: true,
                list_removal_unsubscribes: false,
                supports_purchases: false,
                bulk_is_async: false,
                can_archive: true,
                permanent_delete: true,
            },
            list: cfg.list_id,
            merge_fields: Catalog::new(true),
            tags: Catalog::new(true),
            poll: cfg.poll,
            jobs: JobTimer::default(),
            is_syncing: !cfg.tags_trigger_automations,
            lookback: cfg.initial_lookback,
        })
    }

    fn member_path(&self, email: &Email) -> String {
        format!("lists/{}/members/{}", self.list, subscriber_hash(email))
    }

    fn check_lists(&self, lists: &BTreeSet<ListId>) -> Result<(), String> {
        match lists.iter().find(|l| **l != self.list) {
            Some(other) => Err(format!(
                "this Mailchimp connector writes to audience {}, not {other}",
                self.list
            )),
            None => Ok(()),
        }
    }

    async fn load_merge_fields(&self) -> Result<Vec<Entry>, DestinationError> {
        let page: MergeFields = self
            .http
            .get_json(
                &format!("lists/{}/merge-fields", self.list),
                &[("count", PAGE.to_string())],
            )
            .await?;
        Ok(page
            .merge_fields
            .into_iter()
            .map(|f| Entry::new(id_text(&f.merge_id), f.tag))
            .collect())
    }

    /// The merge fields to send for a contact, or why it cannot be sent.
    async fn merge_fields_for(
        &self,
        fields: &BTreeMap<String, String>,
        first: Option<&str>,
        last: Option<&str>,
        phone: Option<&str>,
        address: Option<&crate::contact::Address>,
    ) -> Result<Result<Map<String, Value>, String>, DestinationError> {
        self.merge_fields
            .ensure_loaded(|| self.load_merge_fields())
            .await?;
        let mut merge = Map::new();
        let mut standard = |tag: &str, v: Option<&str>| {
            if let Some(v) = v
                && self.merge_fields.id_of(tag).is_some()
            {
                merge.insert(tag.to_owned(), Value::String(v.trim().to_owned()));
            }
        };
        standard("FNAME", first);
        standard("LNAME", last);
        standard("PHONE", phone);
        // An ADDRESS merge field needs addr1, city, state and zip (Mailchimp refuses partial ones).
        if let Some(a) = address
            && self.merge_fields.id_of("ADDRESS").is_some()
            && let (Some(addr1), Some(city), Some(state), Some(zip)) =
                (&a.line1, &a.city, &a.state, &a.postal_code)
        {
            merge.insert(
                "ADDRESS".to_owned(),
                json!({
                    "addr1": addr1,
                    "addr2": a.line2.clone().unwrap_or_default(),
                    "city": city,
                    "state": state,
                    "zip": zip,
                    "country": a.country.clone().unwrap_or_default(),
                }),
            );
        }
        let (_, missing) = self
            .merge_fields
            .resolve(fields.keys().map(String::as_str), || {
                self.load_merge_fields()
            })
            .await?;
        if !missing.is_empty() {
            let names: Vec<String> = missing.into_iter().collect();
            return Ok(Err(format!(
                "audience {} has no merge field {}",
                self.list,
                names.join(", ")
            )));
        }
        for (k, v) in fields {
            merge.insert(k.trim().to_uppercase(), Value::String(v.clone()));
        }
        Ok(Ok(merge))
    }

    async fn merge_fields_of(
        &self,
        c: &DesiredContact,
    ) -> Result<Result<Map<String, Value>, String>, DestinationError> {
        self.merge_fields_for(
            &c.fields,
            c.first_name.as_deref(),
            c.last_name.as_deref(),
            c.phone.as_deref(),
            c.address.as_ref(),
        )
        .await
    }

    /// The outcome of a failed member write.
    fn write_failure(consent: Consent, e: DestinationError) -> ItemOutcome {
        match e.code.as_deref() {
            Some(COMPLIANCE_STATE) => ItemOutcome::refused(
                Refusal::new(
                    consent,
                    RemoteConsent::Unsubscribed {
                        by: OptOutBy::Unknown,
                    },
                ),
                None,
            ),
            Some(FORGOTTEN_EMAIL) => ItemOutcome::Invalid(e.to_string()),
            _ => ItemOutcome::from_error(e),
        }
    }

    async fn put_member(
        &self,
        c: &DesiredContact,
        status: Option<&'static str>,
        merge: Map<String, Value>,
    ) -> Result<Member, DestinationError> {
        let body = MemberPut {
            email_address: c.email.as_str(),
            status_if_new: status_of(c.consent),
            status,
            merge_fields: merge,
        };
        self.http
            .send_json(Method::PUT, &self.member_path(&c.email), &body)
            .await?
            .json(VENDOR, "member")
    }

    /// One contact through `PUT …/members/{hash}`.
    async fn upsert_one(&self, c: &DesiredContact, merge: Map<String, Value>) -> ItemOutcome {
        // Only an unsubscribe may be written over an existing member blindly.
        let first_status = (c.consent == Consent::Unsubscribed).then_some("unsubscribed");
        let member = match self.put_member(c, first_status, merge).await {
            Ok(m) => m,
            Err(e) => return Self::write_failure(c.consent, e),
        };
        let current = consent_of(&member.status);
        let mut ack = Ack::id(member.stable_id()).with_consent(Some(current));
        let mut outcome = None;
        match decide(Some(current), c.consent) {
            ConsentDecision::Keep => {}
            ConsentDecision::Refuse(r) => {
                outcome = Some(ItemOutcome::refused(r, Some(ack.clone())))
            }
            ConsentDecision::Set(target) if status_of(target) != member.status => {
                debug_assert!(!would_resubscribe(Some(current), target));
                match self
                    .put_member(c, Some(status_of(target)), Map::new())
                    .await
                {
                    Ok(m) => ack.consent = Some(consent_of(&m.status)),
                    Err(e) => return Self::write_failure(c.consent, e),
                }
            }
            ConsentDecision::Set(_) => {}
        }
        if !c.tags.is_empty() {
            let op = self.tag_op(0, &c.email, &c.tags, "active");
            if let Some((_, Err(e))) = self.run_member_ops(vec![op]).await.into_iter().next() {
                return ItemOutcome::from_error(e);
            }
        }
        outcome.unwrap_or(ItemOutcome::Ok(ack))
    }

    async fn batch_subscribe(
        &self,
        members: Vec<BatchMember<'_>>,
        update_existing: bool,
    ) -> Result<BatchSubscribeResult, DestinationError> {
        let body = BatchSubscribe {
            members,
            update_existing,
        };
        self.http
            .send_json(Method::POST, &format!("lists/{}", self.list), &body)
            .await?
            .json(VENDOR, "batch subscribe result")
    }

    /// The batch subscribes of one pass, sent at once (the HTTP layer keeps within Mailchimp's
    /// connection limit), so that a pass waits for its slowest call rather than for all of them
    /// in turn; the results come back in chunk order.
    async fn batch_subscribe_all<'a>(
        &self,
        chunks: Vec<Vec<usize>>,
        member: impl Fn(usize) -> BatchMember<'a>,
        update_existing: bool,
    ) -> Vec<(Vec<usize>, Result<BatchSubscribeResult, DestinationError>)> {
        join_all(chunks.into_iter().map(|chunk| {
            let members = chunk.iter().map(|&i| member(i)).collect();
            async move { (chunk, self.batch_subscribe(members, update_existing).await) }
        }))
        .await
    }

    /// Many contacts through batch subscribe (see the module docs for the passes).
    async fn upsert_bulk(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(contacts.len());
        let mut merges: Vec<Map<String, Value>> = vec![Map::new(); contacts.len()];
        for (i, c) in contacts.iter().enumerate() {
            if let Err(why) = self.check_lists(&c.lists) {
                out.set(i, ItemOutcome::Invalid(why));
                continue;
            }
            match self.merge_fields_of(c).await {
                Ok(Ok(m)) => merges[i] = m,
                Ok(Err(why)) => out.set(i, ItemOutcome::Invalid(why)),
                Err(e) => out.set(i, ItemOutcome::Failed(e)),
            }
        }
        let by_email = |indices: &[usize]| -> BTreeMap<String, Vec<usize>> {
            let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &i in indices {
                m.entry(contacts[i].email.as_str().to_owned())
                    .or_default()
                    .push(i);
            }
            m
        };
        let member = |i: usize, status: Option<&'static str>, with_fields: bool| BatchMember {
            email_address: contacts[i].email.as_str(),
            status,
            merge_fields: if with_fields {
                merges[i].clone()
            } else {
                Map::new()
            },
        };
        let chunks = |indices: &[usize],
                      status: &dyn Fn(usize) -> Option<&'static str>,
                      with_fields: bool| {
            let sizes: Vec<usize> = (0..contacts.len())
                .map(|i| {
                    if indices.contains(&i) {
                        serde_json::to_vec(&member(i, status(i), with_fields))
                            .map_or(usize::MAX / 2, |b| b.len())
                    } else {
                        0
                    }
                })
                .collect();
            // `{"members":[` … `],"update_existing":false}`
            split(
                indices,
                |i| sizes[i],
                48,
                BatchLimits {
                    max_items: MAX_BATCH_MEMBERS,
                    max_bytes: MAX_BATCH_BYTES,
                },
            )
        };

        // Pass 1: create the new members with their status.
        let fresh = out.pending();
        let mut existing = Vec::new();
        let pass1 = chunks(&fresh, &|i| Some(status_of(contacts[i].consent)), true);
        for &i in &pass1.oversized {
            out.set(
                i,
                ItemOutcome::Invalid("member too large for batch subscribe".into()),
            );
        }
        for (chunk, result) in self
            .batch_subscribe_all(
                pass1.chunks,
                |i| member(i, Some(status_of(contacts[i].consent)), true),
                false,
            )
            .await
        {
            let index = by_email(&chunk);
            match result {
                Err(e) => out.set_all(&chunk, &ItemOutcome::from_error(e)),
                Ok(r) => {
                    for m in &r.new_members {
                        for &i in lookup(&index, &m.email_address) {
                            out.set(
                                i,
                                ItemOutcome::Ok(
                                    Ack::id(m.stable_id())
                                        .with_consent(Some(consent_of(&m.status))),
                                ),
                            );
                        }
                    }
                    for e in &r.errors {
                        for &i in lookup(&index, &e.email_address) {
                            if e.error_code.as_deref() == Some(ERROR_CONTACT_EXISTS) {
                                existing.push(i);
                            } else {
                                out.set(i, Self::batch_error(contacts[i].consent, e));
                            }
                        }
                    }
                    // Anything not reported goes the single way (its state is unknown).
                    for &i in &chunk {
                        if !out.is_set(i) && !existing.contains(&i) {
                            out.set(i, self.upsert_one(&contacts[i], merges[i].clone()).await);
                        }
                    }
                }
            }
        }

        // Pass 2: update the existing members' fields; only an unsubscribe touches their status.
        let unsubscribe =
            |i: usize| (contacts[i].consent == Consent::Unsubscribed).then_some("unsubscribed");
        let mut changes: Vec<(usize, Consent)> = Vec::new();
        let pass2 = chunks(&existing, &unsubscribe, true);
        for &i in &pass2.oversized {
            out.set(
                i,
                ItemOutcome::Invalid("member too large for batch subscribe".into()),
            );
        }
        for (chunk, result) in self
            .batch_subscribe_all(pass2.chunks, |i| member(i, unsubscribe(i), true), true)
            .await
        {
            let index = by_email(&chunk);
            match result {
                Err(e) => out.set_all(&chunk, &ItemOutcome::from_error(e)),
                Ok(r) => {
                    for m in r.updated_members.iter().chain(&r.new_members) {
                        let current = consent_of(&m.status);
                        let ack = Ack::id(m.stable_id()).with_consent(Some(current));
                        for &i in lookup(&index, &m.email_address) {
                            match decide(Some(current), contacts[i].consent) {
                                ConsentDecision::Refuse(r) => {
                                    out.set(i, ItemOutcome::refused(r, Some(ack.clone())))
                                }
                                ConsentDecision::Set(t) if status_of(t) != m.status => {
                                    changes.push((i, t))
                                }
                                _ => out.set(i, ItemOutcome::Ok(ack.clone())),
                            }
                        }
                    }
                    for e in &r.errors {
                        for &i in lookup(&index, &e.email_address) {
                            out.set(i, Self::batch_error(contacts[i].consent, e));
                        }
                    }
                    for &i in &chunk {
                        if !out.is_set(i) && !changes.iter().any(|(j, _)| *j == i) {
                            out.set(i, self.upsert_one(&contacts[i], merges[i].clone()).await);
                        }
                    }
                }
            }
        }

        // Pass 3: permission changes the consent rules allowed (never out of an opt-out).
        let targets: BTreeMap<usize, Consent> = changes.iter().copied().collect();
        let changing: Vec<usize> = targets.keys().copied().collect();
        let pass3 = chunks(&changing, &|i| Some(status_of(targets[&i])), false);
        for (chunk, result) in self
            .batch_subscribe_all(
                pass3.chunks,
                |i| member(i, Some(status_of(targets[&i])), false),
                true,
            )
            .await
        {
            let index = by_email(&chunk);
            match result {
                Err(e) => out.set_all(&chunk, &ItemOutcome::from_error(e)),
                Ok(r) => {
                    for m in r.updated_members.iter().chain(&r.new_members) {
                        for &i in lookup(&index, &m.email_address) {
                            out.set(
                                i,
                                ItemOutcome::Ok(
                                    Ack::id(m.stable_id())
                                        .with_consent(Some(consent_of(&m.status))),
                                ),
                            );
                        }
                    }
                    for e in &r.errors {
                        for &i in lookup(&index, &e.email_address) {
                            out.set(i, Self::batch_error(contacts[i].consent, e));
                        }
                    }
                    for &i in &chunk {
                        if !out.is_set(i) {
                            out.set(i, self.upsert_one(&contacts[i], merges[i].clone()).await);
                        }
                    }
                }
            }
        }

        // Tags, for every member that now exists (refused ones too: tags grant nothing).
        let tagged: Vec<usize> = (0..contacts.len())
            .filter(|&i| !contacts[i].tags.is_empty())
            .filter(|&i| {
                matches!(
                    out.get(i),
                    Some(ItemOutcome::Ok(_) | ItemOutcome::ConsentRefused { .. })
                )
            })
            .collect();
        let ops = tagged
            .iter()
            .map(|&i| self.tag_op(i, &contacts[i].email, &contacts[i].tags, "active"))
            .collect();
        for (i, result) in self.run_member_ops(ops).await {
            if let Err(e) = result {
                if let Some(ItemOutcome::ConsentRefused { .. }) = out.get(i) {
                    tracing::warn!(error = %e, "tags of a consent-refused Mailchimp member failed");
                } else {
                    out.set(i, ItemOutcome::from_error(e));
                }
            }
        }
        out.finish(VENDOR)
    }

    fn batch_error(consent: Consent, e: &BatchError) -> ItemOutcome {
        if e.error.contains("compliance state") || e.error.contains(COMPLIANCE_STATE) {
            ItemOutcome::refused(
                Refusal::new(
                    consent,
                    RemoteConsent::Unsubscribed {
                        by: OptOutBy::Unknown,
                    },
                ),
                None,
            )
        } else {
            ItemOutcome::Invalid(format!(
                "Mailchimp refused the member: {} ({})",
                e.error,
                e.error_code.as_deref().unwrap_or("no code")
            ))
        }
    }

    fn tag_op(
        &self,
        index: usize,
        email: &Email,
        tags: &BTreeSet<String>,
        status: &'static str,
    ) -> MemberOp {
        let body = TagsPost {
            tags: tags
                .iter()
                .map(|t| TagState {
                    name: t.clone(),
                    status,
                })
                .collect(),
            is_syncing: self.is_syncing,
        };
        MemberOp {
            index,
            method: Method::POST,
            path: format!("{}/tags", self.member_path(email)),
            body: Some(serde_json::to_value(body).unwrap_or(Value::Null)),
        }
    }

    /// Runs member operations: a few one by one, many through `/batches` (one call and a few
    /// status reads). A batch with failed operations is rerun one by one to learn which failed;
    /// the operations are idempotent.
    async fn run_member_ops(
        &self,
        ops: Vec<MemberOp>,
    ) -> Vec<(usize, Result<(), DestinationError>)> {
        if ops.len() <= SMALL_OPS {
            let mut results = Vec::new();
            for op in &ops {
                results.push((op.index, self.run_one(op).await));
            }
            return results;
        }
        // The batches run at once: Mailchimp processes them side by side, so a round waits for
        // its slowest batch, not for the sum of them (the HTTP layer keeps within the connection
        // limit; the status reads between are spaced by the job timer).
        let runs = ops.chunks(MAX_BATCH_OPERATIONS).map(|chunk| async move {
            match self.run_batch(chunk).await {
                Ok(0) => chunk.iter().map(|op| (op.index, Ok(()))).collect(),
                Ok(_) | Err(_) => {
                    let mut results = Vec::new();
                    for op in chunk {
                        results.push((op.index, self.run_one(op).await));
                    }
                    results
                }
            }
        });
        join_all(runs).await.into_iter().flatten().collect()
    }

    async fn run_one(&self, op: &MemberOp) -> Result<(), DestinationError> {
        let body = match &op.body {
            Some(b) => Some(Body::json(VENDOR, b)?),
            None => None,
        };
        self.http
            .send(op.method.clone(), self.http.url(&op.path), body)
            .await
            .map(|_| ())
    }

    /// One `/batches` run; the number of failed operations.
    async fn run_batch(&self, ops: &[MemberOp]) -> Result<u64, DestinationError> {
        let request = BatchRequest {
            operations: ops
                .iter()
                .map(|op| BatchOperation {
                    method: method_name(&op.method),
                    path: format!("/{}", op.path),
                    body: op.body.as_ref().map(Value::to_string),
                    operation_id: op.index.to_string(),
                })
                .collect(),
        };
        let started: BatchStatus = self
            .http
            .send_json(Method::POST, "batches", &request)
            .await?
            .json(VENDOR, "batch")?;
        let path = format!("batches/{}", started.id);
        let done = wait_for(
            VENDOR,
            &started.id,
            &self.poll,
            Some((&self.jobs, ops.len())),
            || async {
                let s: BatchStatus = self.http.get_json(&path, &[]).await?;
                Ok(if s.status == "finished" {
                    JobState::Done(s)
                } else {
                    JobState::Running
                })
            },
        )
        .await?;
        if done.errored_operations > 0 {
            tracing::info!(
                batch = %done.id,
                errored = done.errored_operations,
                total = done.total_operations,
                "Mailchimp batch had failed operations; rerunning them one by one",
            );
        }
        Ok(done.errored_operations)
    }

    fn remote_contact(&self, m: Member) -> Result<RemoteContact, DestinationError> {
        let email = Email::parse(&m.email_address)
            .map_err(|e| DestinationError::permanent(VENDOR, format!("member email: {e}")))?;
        let mut c = RemoteContact::new(m.stable_id(), email, consent_of(&m.status));
        let text = |k: &str| {
            m.merge_fields
                .get(k)
                .and_then(value_text)
                .filter(|s| !s.is_empty())
        };
        c.first_name = text("FNAME");
        c.last_name = text("LNAME");
        c.phone = text("PHONE");
        c.fields = custom_values(&m.merge_fields);
        if m.status != "archived" {
            c.lists.insert(self.list.clone());
        }
        c.tags = m.tags.iter().map(|t| t.name.clone()).collect();
        c.updated_at_ms = m.last_changed.as_deref().and_then(timefmt::parse);
        Ok(c)
    }
}

fn lookup<'a>(index: &'a BTreeMap<String, Vec<usize>>, email: &str) -> &'a [usize] {
    Email::parse(email)
        .ok()
        .and_then(|e| index.get(e.as_str()))
        .map_or(&[], Vec::as_slice)
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "GET",
    }
}

/// The change feed position: changes after `since_ms`, skipping `offset` already read.
fn parse_cursor(c: &ChangeCursor) -> Option<(i64, usize)> {
    let (since, offset) = c.0.split_once(':')?;
    Some((since.parse().ok()?, offset.parse().ok()?))
}

#[async_trait]
impl Destination for Mailchimp {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn upsert_contacts(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        if contacts.len() != 1 {
            return self.upsert_bulk(contacts).await;
        }
        let c = &contacts[0];
        if let Err(why) = self.check_lists(&c.lists) {
            return vec![ItemOutcome::Invalid(why)];
        }
        vec![match self.merge_fields_of(c).await {
            Ok(Ok(merge)) => self.upsert_one(c, merge).await,
            Ok(Err(why)) => ItemOutcome::Invalid(why),
            Err(e) => ItemOutcome::Failed(e),
        }]
    }

    /// Removal from the audience archives the member (`DELETE …/members/{hash}`): it stays, with
    /// its permission, and is neither emailed nor billed.
    async fn remove_from_lists(&self, changes: &[MembershipChange]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(changes.len());
        let mut ops = Vec::new();
        for (i, m) in changes.iter().enumerate() {
            if let Err(why) = self.check_lists(&m.lists) {
                out.set(i, ItemOutcome::Invalid(why));
            } else if m.lists.is_empty() {
                out.set(i, ItemOutcome::ok());
            } else {
                ops.push(MemberOp {
                    index: i,
                    method: Method::DELETE,
                    path: self.member_path(&m.email),
                    body: None,
                });
            }
        }
        for (i, r) in self.run_member_ops(ops).await {
            out.set(
                i,
                match r {
                    Ok(()) => ItemOutcome::ok(),
                    // Not a member: nothing to remove.
                    Err(e) if e.status == Some(404) => ItemOutcome::ok(),
                    Err(e) => ItemOutcome::from_error(e),
                },
            );
        }
        out.finish(VENDOR)
    }

    /// Archive: `DELETE …/members/{hash}`; delete: `POST …/actions/delete-permanent` (the
    /// address can then never be re-added by the API: "Forgotten Email Not Subscribed").
    async fn remove_contacts(&self, removals: &[Removal]) -> Vec<ItemOutcome> {
        let ops = removals
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let member = self.member_path(&r.email);
                let (method, path) = match r.how {
                    RemovalKind::Archive => (Method::DELETE, member),
                    RemovalKind::Delete => {
                        (Method::POST, format!("{member}/actions/delete-permanent"))
                    }
                };
                MemberOp {
                    index,
                    method,
                    path,
                    body: None,
                }
            })
            .collect();
        let mut out = Outcomes::new(removals.len());
        for (i, r) in self.run_member_ops(ops).await {
            out.set(
                i,
                match r {
                    // Not (or no longer) a member: nothing left to remove.
                    Ok(())
                    | Err(DestinationError {
                        status: Some(404), ..
                    }) => ItemOutcome::ok(),
                    Err(e) => ItemOutcome::from_error(e),
                },
            );
        }
        out.finish(VENDOR)
    }

    async fn add_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        self.tag_changes(changes, "active").await
    }

    async fn remove_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        self.tag_changes(changes, "inactive").await
    }

    async fn set_fields(&self, changes: &[FieldChange]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(changes.len());
        let mut ops = Vec::new();
        for (i, f) in changes.iter().enumerate() {
            match self
                .merge_fields_for(&f.fields, None, None, None, None)
                .await
            {
                Ok(Ok(merge)) if merge.is_empty() => out.set(i, ItemOutcome::ok()),
                Ok(Ok(merge)) => ops.push(MemberOp {
                    index: i,
                    method: Method::PATCH,
                    path: self.member_path(&f.email),
                    body: Some(
                        serde_json::to_value(MemberPatch {
                            merge_fields: merge,
                        })
                        .unwrap_or(Value::Null),
                    ),
                }),
                Ok(Err(why)) => out.set(i, ItemOutcome::Invalid(why)),
                Err(e) => out.set(i, ItemOutcome::Failed(e)),
            }
        }
        for (i, r) in self.run_member_ops(ops).await {
            out.set(
                i,
                r.map_or_else(ItemOutcome::from_error, |()| ItemOutcome::ok()),
            );
        }
        out.finish(VENDOR)
    }

    async fn read_contact(&self, email: &Email) -> Result<Option<RemoteContact>, DestinationError> {
        match self.http.get(&self.member_path(email), &[]).await {
            Ok(r) => Ok(Some(self.remote_contact(r.json(VENDOR, "member")?)?)),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn lists(&self) -> Result<Vec<ListInfo>, DestinationError> {
        let page: Lists = self
            .http
            .get_json(
                "lists",
                &[
                    ("count", PAGE.to_string()),
                    ("fields", "lists.id,lists.name".into()),
                ],
            )
            .await?;
        Ok(page
            .lists
            .into_iter()
            .map(|l| ListInfo {
                id: ListId(l.id),
                name: l.name,
            })
            .collect())
    }

    async fn tags(&self) -> Result<Vec<TagInfo>, DestinationError> {
        let found: TagSearch = self
            .http
            .get_json(&format!("lists/{}/tag-search", self.list), &[])
            .await?;
        let tags: Vec<TagInfo> = found
            .tags
            .into_iter()
            .map(|t| TagInfo {
                id: id_text(&t.id),
                name: t.name,
            })
            .collect();
        self.tags.replace(
            tags.iter()
                .map(|t| Entry::new(t.id.clone(), t.name.clone()))
                .collect(),
        );
        Ok(tags)
    }

    async fn fields(&self) -> Result<Vec<FieldInfo>, DestinationError> {
        let page: MergeFields = self
            .http
            .get_json(
                &format!("lists/{}/merge-fields", self.list),
                &[("count", PAGE.to_string())],
            )
            .await?;
        self.merge_fields.replace(
            page.merge_fields
                .iter()
                .map(|f| Entry::new(id_text(&f.merge_id), f.tag.clone()))
                .collect(),
        );
        Ok(page
            .merge_fields
            .into_iter()
            .map(|f| FieldInfo {
                id: id_text(&f.merge_id),
                key: f.tag,
                label: f.name,
            })
            .collect())
    }

    /// Audiences are not created by paysync (Mailchimp needs the sender's postal address and a
    /// permission reminder for each): names must match existing audiences.
    async fn ensure_lists(&self, names: &[String]) -> Result<Vec<ListInfo>, DestinationError> {
        let lists = self.lists().await?;
        names
            .iter()
            .map(|n| {
                lists.iter().find(|l| l.name == *n).cloned().ok_or_else(|| {
                    DestinationError::unsupported(VENDOR, &format!("creating audience {n:?}"))
                })
            })
            .collect()
    }

    /// Mailchimp creates tags on first use: names not there yet come back with their name as id.
    async fn ensure_tags(&self, names: &[String]) -> Result<Vec<TagInfo>, DestinationError> {
        let existing = self.tags().await?;
        Ok(names
            .iter()
            .map(|n| {
                existing
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(n))
                    .cloned()
                    .unwrap_or_else(|| TagInfo {
                        id: n.clone(),
                        name: n.clone(),
                    })
            })
            .collect())
    }

    async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<Vec<FieldInfo>, DestinationError> {
        let mut fields = self.fields().await?;
        for spec in specs {
            let tag = spec.key.trim().to_uppercase();
            if fields.iter().any(|f| f.key.eq_ignore_ascii_case(&tag)) {
                continue;
            }
            if tag.is_empty()
                || tag.len() > MAX_MERGE_TAG_LEN
                || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(DestinationError::permanent(
                    VENDOR,
                    format!("merge tag {tag:?} must be 1–10 letters, digits or underscores"),
                ));
            }
            let created: MergeField = self
                .http
                .send_json(
                    Method::POST,
                    &format!("lists/{}/merge-fields", self.list),
                    &MergeFieldPost {
                        tag: &tag,
                        name: &spec.label,
                        kind: "text",
                    },
                )
                .await?
                .json(VENDOR, "merge field")?;
            self.merge_fields
                .insert(Entry::new(id_text(&created.merge_id), created.tag.clone()));
            fields.push(FieldInfo {
                id: id_text(&created.merge_id),
                key: created.tag,
                label: created.name,
            });
        }
        Ok(fields
            .into_iter()
            .filter(|f| specs.iter().any(|s| s.key.eq_ignore_ascii_case(&f.key)))
            .collect())
    }

    async fn changes_since(
        &self,
        cursor: Option<&ChangeCursor>,
    ) -> Result<ChangePage, DestinationError> {
        let (since, offset) = match cursor {
            Some(c) => parse_cursor(c).ok_or_else(|| {
                DestinationError::config(
                    VENDOR,
                    format!("not a Mailchimp change cursor: {:?}", c.0),
                )
            })?,
            None => (
                timefmt::now_ms() - i64::try_from(self.lookback.as_millis()).unwrap_or(0),
                0,
            ),
        };
        let page: Members = self
            .http
            .get_json(
                &format!("lists/{}/members", self.list),
                &[
                    ("since_last_changed", timefmt::rfc3339(since)),
                    ("sort_field", "last_changed".into()),
                    ("sort_dir", "ASC".into()),
                    ("count", PAGE.to_string()),
                    ("offset", offset.to_string()),
                ],
            )
            .await?;
        let more = page.members.len() >= PAGE;
        let mut newest = since;
        let mut changes = Vec::new();
        for m in page.members {
            let at = m.last_changed.as_deref().and_then(timefmt::parse);
            newest = newest.max(at.unwrap_or(since));
            let contact = match self.remote_contact(m) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a Mailchimp member with an unusable address");
                    continue;
                }
            };
            changes.push(if contact.consent.is_opted_out() {
                Change::Unsubscribed {
                    email: contact.email.clone(),
                    at_ms: at,
                    contact: Some(contact),
                }
            } else {
                Change::Updated(contact)
            });
        }
        // Same-second changes may straddle polls: restart a second early (changes repeat,
        // harmlessly) once the pages of this position are read.
        let next = if more {
            format!("{since}:{}", offset + PAGE)
        } else {
            format!("{}:0", (newest - 1_000).max(since))
        };
        Ok(ChangePage {
            changes,
            next: ChangeCursor(next),
            more,
        })
    }
}

impl Mailchimp {
    async fn tag_changes(&self, changes: &[TagChange], status: &'static str) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(changes.len());
        let mut ops = Vec::new();
        for (i, t) in changes.iter().enumerate() {
            if t.tags.is_empty() {
                out.set(i, ItemOutcome::ok());
            } else {
                ops.push(self.tag_op(i, &t.email, &t.tags, status));
            }
        }
        for (i, r) in self.run_member_ops(ops).await {
            out.set(
                i,
                match r {
                    Ok(()) => ItemOutcome::ok(),
                    Err(e) if e.status == Some(404) => {
                        ItemOutcome::Invalid(format!("not a member of audience {}", self.list))
                    }
                    Err(e) => ItemOutcome::from_error(e),
                },
            );
        }
        out.finish(VENDOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn data_centres() {
        assert_eq!(data_center("0123abcd-us21"), Some("us21"));
        assert_eq!(data_center("abc-def-us6"), Some("us6"));
        assert_eq!(data_center("nodash"), None);
        assert_eq!(data_center("abc-"), None);
        assert_eq!(data_center("abc-us/1"), None);
    }

    #[test]
    fn key_without_data_centre_is_a_config_error_without_the_key() {
        let err = Mailchimp::new(MailchimpConfig::new(
            SecretString::from("supersecretkey"),
            ListId::new("aud1"),
        ))
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(!err.to_string().contains("supersecret"));
    }

    #[test]
    fn cursors() {
        assert_eq!(
            parse_cursor(&ChangeCursor("1700000000000:1000".into())),
            Some((1_700_000_000_000, 1000))
        );
        assert_eq!(parse_cursor(&ChangeCursor("x".into())), None);
    }
}
