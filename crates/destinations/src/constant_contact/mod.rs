//! Constant Contact v3 (API-FACTS "Constant Contact v3"; the vendor's swagger in
//! `shared/specs/constant-contact/`).
//!
//! - Auth: OAuth 2.0 with PKCE and rotating refresh tokens ([`oauth`]); 4 requests a second,
//!   10,000 a day (a 429 `quota_exceeded` is reported with the time to the 00:00 UTC reset).
//! - Single upsert: the contact is read first (`GET /contacts?email=…&status=all`), the consent
//!   rules decide, then `POST /contacts/sign_up_form` (create-or-update by email, lists and
//!   custom fields appended). The sign-up form grants permission (the swagger: "Updated contacts
//!   have their permission_to_send property set as explicit"), so it is never sent for a contact
//!   who opted out, whoever opted them out (`opt_out_source` Contact or Account).
//! - Unsubscribe: `PUT /contacts/{id}` with `permission_to_send: unsubscribed`, the other
//!   top-level properties sent back as read (PUT overwrites them).
//! - Bulk upsert: `POST /activities/contacts_json_import` per set of lists (an import applies one
//!   `list_ids` to all its rows), split under 40,000 rows and 4 MB (beyond, the vendor silently
//!   drops the excess); custom fields as `cf:<name>`. The account's unsubscribed contacts
//!   (`GET /contacts?status=unsubscribed`, incrementally with `optout_after`) are kept out and
//!   reported as refused. An import that reports errors is narrowed down by halves and small
//!   remainders are read back one by one, so every contact gets its own outcome.
//! - Tags and list removal: `contacts_taggings_add|remove`, `remove_list_memberships` activities
//!   on contact ids (≤ 500 a request, ≤ 50 tags), polled to completion.
//! - No non-marketing contacts (a Constant Contact contact is a marketing contact).
//! - Changes: `GET /contacts?status=unsubscribed&optout_after=…` then `updated_after=…`
//!   (no unsubscribe webhook exists).

mod activities;
pub mod oauth;
mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use activities::*;
pub use activities::{IMPORT_MAX_BYTES, IMPORT_MAX_CONTACTS};
pub use oauth::{
    MemoryTokenStore, OAuth, OAuthClientConfig, Pkce, TokenPair, TokenStore, authorization_url,
};
use wire::*;

use crate::batching::{BatchLimits, group_by};
use crate::catalog::{Catalog, Entry};
use crate::consent::{ConsentDecision, decide};
use crate::contact::{
    Consent, DesiredContact, Email, ListId, OptOutBy, RemoteConsent, RemoteContact, clip,
};
use crate::destination::{
    Capabilities, Change, ChangeCursor, ChangePage, Destination, FieldInfo, FieldSpec, ListInfo,
    TagInfo,
};
use crate::error::{DestinationError, Vendor};
use crate::http::{HttpCore, HttpSettings, RetryPolicy};
use crate::op::{
    Ack, FieldChange, ItemOutcome, MembershipChange, Outcomes, Removal, RemovalKind, TagChange,
};
use crate::poll::PollPolicy;
use crate::timefmt;

const VENDOR: Vendor = Vendor::ConstantContact;
pub const API_BASE: &str = "https://api.cc.email/v3";
/// 4 requests a second, 10,000 a day (API-FACTS).
pub const REQUESTS_PER_SECOND: u32 = 4;
pub const REQUESTS_PER_DAY: u32 = 10_000;
/// `email_address` / `email`: ≤ 50 characters on the sign-up form and in imports (swagger).
const MAX_EMAIL_CHARS: usize = 50;
/// Names, job title, company: ≤ 50 (swagger).
const MAX_NAME_CHARS: usize = 50;
/// `phone_number` on the sign-up form: ≤ 25 (swagger).
const MAX_PHONE_CHARS: usize = 25;
/// Page size of `GET /contacts` (1–500).
const CONTACT_PAGE: usize = 500;
/// An import that reported errors is read back contact by contact at or below this size, and
/// split in halves and re-imported above it.
const READ_BACK_MAX: usize = 20;
/// Contact ids looked up one by one up to this many; more page through the account.
const LOOKUP_ONE_BY_ONE: usize = 50;
/// Remembered email → contact id pairs are dropped past this many, to bound memory.
const MAX_REMEMBERED_IDS: usize = 200_000;
const INCLUDE: &str = "custom_fields,list_memberships,taggings,phone_numbers";

/// What a [`ConstantContact`] connector needs.
#[derive(Clone)]
pub struct ConstantContactConfig {
    /// `https://api.cc.email/v3`, or an emulator's `…/v3`.
    pub api_base: String,
    pub oauth: OAuthClientConfig,
    pub token_store: Arc<dyn TokenStore>,
    pub http: HttpSettings,
    pub poll: PollPolicy,
    /// The list contacts go to when a subscription names none (the sign-up form needs one).
    pub default_list: Option<ListId>,
    /// How old the cached set of unsubscribed contacts may be when an import runs; it is
    /// brought up to date incrementally (`optout_after`) and rebuilt every `suppression_rebuild`.
    pub suppression_max_age: Duration,
    pub suppression_rebuild: Duration,
    /// Per import request; the vendor's 40,000 rows / 4 MB unless lowered (tests).
    pub import_limits: BatchLimits,
    pub initial_lookback: Duration,
}

impl std::fmt::Debug for ConstantContactConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConstantContactConfig")
            .field("api_base", &self.api_base)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl ConstantContactConfig {
    pub fn new(oauth: OAuthClientConfig, token_store: Arc<dyn TokenStore>) -> Self {
        ConstantContactConfig {
            api_base: API_BASE.into(),
            oauth,
            token_store,
            http: HttpSettings {
                requests_per_second: REQUESTS_PER_SECOND,
                max_concurrency: REQUESTS_PER_SECOND as usize,
                timeout: Duration::from_secs(30),
                retry: RetryPolicy::default(),
                metrics_label: String::new(),
                shared: None,
            },
            poll: PollPolicy::default(),
            default_list: None,
            suppression_max_age: Duration::from_secs(10),
            suppression_rebuild: Duration::from_secs(3_600),
            import_limits: BatchLimits {
                max_items: IMPORT_MAX_CONTACTS,
                max_bytes: IMPORT_MAX_BYTES,
            },
            initial_lookback: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Suppression {
    checked: Option<Instant>,
    rebuilt: Option<Instant>,
    newest_opt_out_ms: Option<i64>,
    emails: HashSet<String>,
}

/// A Constant Contact account.
pub struct ConstantContact {
    http: HttpCore,
    oauth: Arc<OAuth>,
    caps: Capabilities,
    lists: Catalog,
    tags: Catalog,
    fields: Catalog,
    poll: PollPolicy,
    default_list: Option<ListId>,
    import_limits: BatchLimits,
    suppression_max_age: Duration,
    suppression_rebuild: Duration,
    suppression: Mutex<Suppression>,
    ids: std::sync::Mutex<HashMap<String, String>>,
    lookback: Duration,
}

impl std::fmt::Debug for ConstantContact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConstantContact")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The change feed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Changes after this instant (ms).
    since: i64,
    /// `u`: unsubscribes (`optout_after`), then `e`: edits (`updated_after`).
    phase: char,
    /// The next page link within the phase.
    next: Option<String>,
    /// The newest change seen in this round.
    newest: i64,
}

impl ConstantContact {
    pub fn new(cfg: ConstantContactConfig) -> Result<Self, DestinationError> {
        let oauth = Arc::new(OAuth::new(cfg.oauth, cfg.token_store)?);
        let http = HttpCore::new(
            VENDOR,
            &cfg.api_base,
            &cfg.http,
            Arc::new(oauth::BearerAuth(oauth.clone())),
            decode_error,
        )?;
        Ok(ConstantContact {
            http,
            oauth,
            caps: Capabilities {
                vendor: VENDOR,
                max_bulk_contacts: cfg.import_limits.max_items,
                max_bulk_bytes: cfg.import_limits.max_bytes,
                requests_per_second: cfg.http.requests_per_second,
                max_concurrency: cfg.http.max_concurrency,
                requests_per_day: REQUESTS_PER_DAY,
                can_create_lists: true,
                can_create_tags: true,
                can_create_fields: true,
                supports_non_marketing: false,
                list_removal_unsubscribes: false,
                supports_purchases: false,
                bulk_is_async: true,
                // Its delete keeps the contact, restorable (an archive in all but name); it
                // never hard-deletes, so a delete overwrites the personal data first.
                can_archive: true,
                permanent_delete: true,
            },
            lists: Catalog::new(false),
            tags: Catalog::new(true),
            fields: Catalog::new(false),
            poll: cfg.poll,
            default_list: cfg.default_list,
            import_limits: cfg.import_limits,
            suppression_max_age: cfg.suppression_max_age,
            suppression_rebuild: cfg.suppression_rebuild,
            suppression: Mutex::new(Suppression::default()),
            ids: std::sync::Mutex::new(HashMap::new()),
            lookback: cfg.initial_lookback,
        })
    }

    /// The account's OAuth tokens (for the connect flow: [`OAuth::exchange_code`]).
    pub fn oauth(&self) -> &Arc<OAuth> {
        &self.oauth
    }

    fn remember(&self, email: &str, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= MAX_REMEMBERED_IDS {
            ids.clear();
        }
        ids.insert(email.to_owned(), id.to_owned());
    }

    fn forget(&self, email: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(email);
    }

    fn remembered(&self, email: &str) -> Option<String> {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(email)
            .cloned()
    }

    /// Every page of a collection, following `_links.next.href`.
    async fn all_pages<P: DeserializeOwned, T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, DestinationError> {
        let mut items = Vec::new();
        let mut response = self.http.get(path, query).await?;
        loop {
            let (page, next) = split(response.json(VENDOR, path)?);
            items.extend(page);
            match next {
                Some(href) => response = self.http.get_url(self.http.link(&href)?).await?,
                None => return Ok(items),
            }
        }
    }

    async fn load_lists(&self) -> Result<Vec<Entry>, DestinationError> {
        self.all_pages(
            "contact_lists",
            &[("limit", "500".into())],
            |p: ListsPage| {
                let next = p.links.next_href().map(str::to_owned);
                (
                    p.lists
                        .into_iter()
                        .map(|l| Entry::new(l.list_id, l.name))
                        .collect(),
                    next,
                )
            },
        )
        .await
    }

    async fn load_tags(&self) -> Result<Vec<Entry>, DestinationError> {
        self.all_pages("contact_tags", &[("limit", "500".into())], |p: TagsPage| {
            let next = p.links.next_href().map(str::to_owned);
            (
                p.tags
                    .into_iter()
                    .map(|t| Entry::new(t.tag_id, t.name))
                    .collect(),
                next,
            )
        })
        .await
    }

    async fn load_fields(&self) -> Result<Vec<Entry>, DestinationError> {
        self.all_pages(
            "contact_custom_fields",
            &[("limit", "100".into())],
            |p: CustomFieldsPage| {
                let next = p.links.next_href().map(str::to_owned);
                (
                    p.custom_fields
                        .into_iter()
                        .map(|f| Entry::new(f.custom_field_id.clone(), f.key()))
                        .collect(),
                    next,
                )
            },
        )
        .await
    }

    async fn create_tag(&self, name: &str) -> Result<Entry, DestinationError> {
        let created: Tag = self
            .http
            .send_json(Method::POST, "contact_tags", &TagPost { name })
            .await?
            .json(VENDOR, "tag")?;
        Ok(Entry::new(created.tag_id, created.name))
    }

    /// The contact with this address, with its lists, tags and custom fields.
    async fn find(&self, email: &Email) -> Result<Option<ContactResource>, DestinationError> {
        let page: ContactsPage = self
            .http
            .get_json(
                "contacts",
                &[
                    ("email", email.as_str().to_owned()),
                    ("status", "all".into()),
                    ("include", INCLUDE.into()),
                ],
            )
            .await?;
        let found = page.contacts.into_iter().find(|c| {
            c.email_address
                .as_ref()
                .and_then(|e| Email::parse(&e.address).ok())
                .is_some_and(|e| e == *email)
        });
        if let Some(c) = &found {
            self.remember(email.as_str(), &c.contact_id);
        }
        Ok(found)
    }

    /// Contact ids of these addresses (absent ones are left out). Many unknown ones are found by
    /// paging through the account's contacts, those updated after `touched_after` (ms) if given.
    async fn contact_ids(
        &self,
        emails: &[&Email],
        touched_after: Option<i64>,
    ) -> Result<HashMap<String, String>, DestinationError> {
        let mut ids = HashMap::new();
        let mut missing = Vec::new();
        for e in emails {
            match self.remembered(e.as_str()) {
                Some(id) => {
                    ids.insert(e.as_str().to_owned(), id);
                }
                None => missing.push(*e),
            }
        }
        if missing.len() > LOOKUP_ONE_BY_ONE {
            let wanted: HashSet<&str> = missing.iter().map(|e| e.as_str()).collect();
            let mut query = vec![
                ("status", "all".to_owned()),
                ("limit", CONTACT_PAGE.to_string()),
            ];
            if let Some(t) = touched_after {
                query.push(("updated_after", timefmt::rfc3339(t)));
            }
            let all = self
                .all_pages("contacts", &query, |p: ContactsPage| {
                    let next = p.links.next_href().map(str::to_owned);
                    (p.contacts, next)
                })
                .await?;
            for c in all {
                if let Some(e) = c
                    .email_address
                    .as_ref()
                    .and_then(|e| Email::parse(&e.address).ok())
                {
                    self.remember(e.as_str(), &c.contact_id);
                    if wanted.contains(e.as_str()) {
                        ids.insert(e.as_str().to_owned(), c.contact_id.clone());
                    }
                }
            }
        }
        // Whatever the pages did not show (or all of them, when few), one by one.
        for e in missing {
            if !ids.contains_key(e.as_str())
                && let Some(c) = self.find(e).await?
            {
                ids.insert(e.as_str().to_owned(), c.contact_id);
            }
        }
        Ok(ids)
    }

    /// The addresses that unsubscribed, at most `suppression_max_age` old.
    async fn suppressed(&self) -> Result<HashSet<String>, DestinationError> {
        let mut s = self.suppression.lock().await;
        if s.checked
            .is_some_and(|t| t.elapsed() <= self.suppression_max_age)
        {
            return Ok(s.emails.clone());
        }
        let rebuild = s
            .rebuilt
            .is_none_or(|t| t.elapsed() > self.suppression_rebuild);
        let mut query = vec![
            ("status", "unsubscribed".to_owned()),
            ("limit", CONTACT_PAGE.to_string()),
        ];
        if !rebuild && let Some(newest) = s.newest_opt_out_ms {
            // A second early: opt-outs in the same second are read again, harmlessly.
            query.push(("optout_after", timefmt::rfc3339(newest - 1_000)));
        }
        let contacts = self
            .all_pages("contacts", &query, |p: ContactsPage| {
                let next = p.links.next_href().map(str::to_owned);
                (p.contacts, next)
            })
            .await?;
        if rebuild {
            s.emails.clear();
            s.rebuilt = Some(Instant::now());
        }
        for c in contacts {
            if let Some(at) = c.opt_out_ms() {
                s.newest_opt_out_ms = Some(s.newest_opt_out_ms.map_or(at, |n| n.max(at)));
            }
            if let Some(e) = c
                .email_address
                .as_ref()
                .and_then(|e| Email::parse(&e.address).ok())
            {
                s.emails.insert(String::from(e));
            }
        }
        s.checked = Some(Instant::now());
        Ok(s.emails.clone())
    }

    /// Forgets the suppression cache's age (an import reported contacts it could not list).
    async fn expire_suppression(&self) {
        self.suppression.lock().await.checked = None;
    }

    /// The lists a subscription goes to, or why it cannot.
    fn lists_for(&self, c: &DesiredContact) -> Result<Vec<String>, String> {
        let lists: Vec<String> = if c.lists.is_empty() {
            self.default_list.iter().map(|l| l.0.clone()).collect()
        } else {
            c.lists.iter().map(|l| l.0.clone()).collect()
        };
        if lists.is_empty() {
            return Err("Constant Contact subscribes contacts to lists: name one, or configure default_list".into());
        }
        if lists.len() > MAX_LISTS {
            return Err(format!("more than {MAX_LISTS} lists"));
        }
        Ok(lists)
    }

    fn check_email(email: &Email) -> Result<(), String> {
        if email.as_str().chars().count() > MAX_EMAIL_CHARS {
            Err(format!(
                "Constant Contact takes addresses of at most {MAX_EMAIL_CHARS} characters"
            ))
        } else {
            Ok(())
        }
    }

    /// Custom field ids and names for a contact's fields, or why they cannot be sent.
    async fn custom_fields(
        &self,
        fields: &BTreeMap<String, String>,
    ) -> Result<Result<Vec<(String, String, String)>, String>, DestinationError> {
        if fields.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        if fields.len() > MAX_IMPORT_CUSTOM_FIELDS {
            return Ok(Err(format!(
                "more than {MAX_IMPORT_CUSTOM_FIELDS} custom fields"
            )));
        }
        let (found, missing) = self
            .fields
            .resolve(fields.keys().map(String::as_str), || self.load_fields())
            .await?;
        if !missing.is_empty() {
            let names: Vec<String> = missing.into_iter().collect();
            return Ok(Err(format!(
                "Constant Contact has no custom field {}",
                names.join(", ")
            )));
        }
        Ok(Ok(fields
            .iter()
            .map(|(k, v)| (found[k.as_str()].clone(), k.clone(), clip(v, 255)))
            .collect()))
    }

    async fn sign_up(
        &self,
        c: &DesiredContact,
        lists: Vec<String>,
        fields: &[(String, String, String)],
    ) -> Result<String, DestinationError> {
        let address = c
            .address
            .as_ref()
            .filter(|a| !a.is_empty())
            .map(|a| StreetAddress {
                kind: "home",
                street: join_lines(a.line1.as_deref(), a.line2.as_deref()).map(|s| clip(&s, 255)),
                city: a.city.as_deref().map(|s| clip(s, 50)),
                state: a.state.as_deref().map(|s| clip(s, 50)),
                postal_code: a.postal_code.as_deref().map(|s| clip(s, 50)),
                country: a.country.as_deref().map(|s| clip(s, 50)),
            });
        let body = SignUpForm {
            email_address: c.email.as_str().to_owned(),
            first_name: c.first_name.as_deref().map(|s| clip(s, MAX_NAME_CHARS)),
            last_name: c.last_name.as_deref().map(|s| clip(s, MAX_NAME_CHARS)),
            phone_number: c
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|p| p.chars().count() <= MAX_PHONE_CHARS)
                .map(str::to_owned),
            list_memberships: lists,
            custom_fields: fields
                .iter()
                .map(|(id, _, value)| CustomFieldValue {
                    custom_field_id: id.clone(),
                    value: value.clone(),
                })
                .collect(),
            street_address: address,
        };
        let answer: SignUpAnswer = self
            .http
            .send_json(Method::POST, "contacts/sign_up_form", &body)
            .await?
            .json(VENDOR, "sign-up answer")?;
        self.remember(c.email.as_str(), &answer.contact_id);
        Ok(answer.contact_id)
    }

    /// A JSON import row (`JsonImportContact`).
    fn import_row(c: &DesiredContact, fields: &[(String, String, String)]) -> Map<String, Value> {
        let mut row = Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                row.insert(k.to_owned(), Value::String(v));
            }
        };
        put("email", Some(c.email.as_str().to_owned()));
        put(
            "first_name",
            c.first_name.as_deref().map(|s| clip(s, MAX_NAME_CHARS)),
        );
        put(
            "last_name",
            c.last_name.as_deref().map(|s| clip(s, MAX_NAME_CHARS)),
        );
        put("phone", c.phone.as_deref().map(|s| clip(s, 50)));
        if let Some(a) = &c.address {
            put("street", a.line1.as_deref().map(|s| clip(s, 255)));
            put("street2", a.line2.as_deref().map(|s| clip(s, 255)));
            put("city", a.city.as_deref().map(|s| clip(s, 50)));
            put("state", a.state.as_deref().map(|s| clip(s, 50)));
            put("zip", a.postal_code.as_deref().map(|s| clip(s, 50)));
            put("country", a.country.as_deref().map(|s| clip(s, 50)));
        }
        for (_, name, value) in fields {
            row.insert(format!("cf:{name}"), Value::String(value.clone()));
        }
        row
    }

    /// One contact, read first so the consent rules see its current permission.
    async fn upsert_one(&self, c: &DesiredContact) -> ItemOutcome {
        if let Err(why) = Self::check_email(&c.email) {
            return ItemOutcome::Invalid(why);
        }
        let current = match self.find(&c.email).await {
            Ok(r) => r,
            Err(e) => return ItemOutcome::Failed(e),
        };
        let consent = current.as_ref().map(ContactResource::consent);
        let ack = |id: &str, consent: Option<RemoteConsent>| Ack::id(id).with_consent(consent);
        match c.consent {
            Consent::NonMarketing => {
                return ItemOutcome::Invalid(
                    "Constant Contact holds marketing contacts only".into(),
                );
            }
            Consent::Unsubscribed => {
                let Some(current) = current else {
                    return ItemOutcome::ok();
                };
                if consent.is_some_and(RemoteConsent::is_opted_out) {
                    return ItemOutcome::Ok(ack(&current.contact_id, consent));
                }
                let mut put = ContactPut::keeping(&current);
                put.email_address.permission_to_send = Some("unsubscribed");
                return match self
                    .http
                    .send_json(
                        Method::PUT,
                        &format!("contacts/{}", current.contact_id),
                        &put,
                    )
                    .await
                {
                    Ok(_) => ItemOutcome::Ok(ack(
                        &current.contact_id,
                        Some(RemoteConsent::Unsubscribed {
                            by: OptOutBy::Account,
                        }),
                    )),
                    Err(e) => ItemOutcome::from_error(e),
                };
            }
            Consent::Subscribed | Consent::Pending => {}
        }
        if let ConsentDecision::Refuse(r) = decide(consent, c.consent) {
            let id = current.as_ref().map_or("", |c| c.contact_id.as_str());
            return ItemOutcome::refused(r, Some(ack(id, consent)));
        }
        let lists = match self.lists_for(c) {
            Ok(l) => l,
            Err(why) => return ItemOutcome::Invalid(why),
        };
        let fields = match self.custom_fields(&c.fields).await {
            Ok(Ok(f)) => f,
            Ok(Err(why)) => return ItemOutcome::Invalid(why),
            Err(e) => return ItemOutcome::Failed(e),
        };
        // The sign-up form would make an existing pending contact explicit, skipping its
        // confirmation: an import changes an existing contact's properties and lists only.
        if c.consent == Consent::Pending && current.is_some() {
            let row = Self::import_row(c, &fields);
            let mut out = Outcomes::new(1);
            self.import_groups(
                &mut out,
                std::slice::from_ref(c),
                vec![(lists, vec![0])],
                &[row],
            )
            .await;
            let outcome = out.finish(VENDOR).pop().unwrap_or_else(ItemOutcome::ok);
            if outcome.is_ok() && !c.tags.is_empty() {
                let results = self
                    .tag_contacts(vec![(0, c.email.clone(), c.tags.clone())], true, None)
                    .await;
                if let Some((_, Err(o))) = results.into_iter().next() {
                    return o;
                }
            }
            return outcome;
        }
        let id = match self.sign_up(c, lists, &fields).await {
            Ok(id) => id,
            Err(e) => return ItemOutcome::from_error(e),
        };
        if !c.tags.is_empty() {
            let results = self
                .tag_contacts(vec![(0, c.email.clone(), c.tags.clone())], true, None)
                .await;
            if let Some((_, Err(o))) = results.into_iter().next() {
                return o;
            }
        }
        ItemOutcome::Ok(ack(&id, None))
    }

    /// Imports groups of contacts, each sharing its lists (all started, then awaited
    /// together); settles their outcomes. An import reporting errors is narrowed down: halves
    /// re-imported (idempotent), small remainders read back.
    async fn import_groups(
        &self,
        out: &mut Outcomes,
        contacts: &[DesiredContact],
        groups: Vec<(Vec<String>, Vec<usize>)>,
        rows: &[Map<String, Value>],
    ) {
        let report = self.import_rows(&groups, rows).await;
        for &i in &report.oversized {
            out.set(
                i,
                ItemOutcome::Invalid("contact larger than an import request".into()),
            );
        }
        let mut narrowed = Vec::new();
        for (lists, chunk, result) in report.chunks {
            match result {
                Err(e) => out.set_all(&chunk, &ItemOutcome::Failed(e)),
                Ok((_, ActivityEnd::Failed(why))) => {
                    out.set_all(
                        &chunk,
                        &ItemOutcome::Failed(DestinationError::transient(VENDOR, why)),
                    );
                }
                Ok((
                    job,
                    ActivityEnd::Completed {
                        errors: 0,
                        cannot_add_to_list: 0,
                    },
                )) => {
                    out.set_all(&chunk, &ItemOutcome::Ok(Ack::default().with_job(Some(job))));
                }
                Ok((
                    job,
                    ActivityEnd::Completed {
                        errors,
                        cannot_add_to_list,
                    },
                )) => {
                    tracing::info!(activity = %job, errors, cannot_add_to_list, rows = chunk.len(), "Constant Contact import reported problems; narrowing down");
                    if cannot_add_to_list > 0 {
                        self.expire_suppression().await;
                    }
                    if chunk.len() <= READ_BACK_MAX {
                        for &i in &chunk {
                            out.set(i, self.read_back(&contacts[i], &lists).await);
                        }
                    } else {
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        narrowed.push((lists.clone(), a.to_vec()));
                        narrowed.push((lists, b.to_vec()));
                    }
                }
            }
        }
        if !narrowed.is_empty() {
            Box::pin(self.import_groups(out, contacts, narrowed, rows)).await;
        }
    }

    /// Whether an imported contact is there with its lists.
    async fn read_back(&self, c: &DesiredContact, lists: &[String]) -> ItemOutcome {
        match self.find(&c.email).await {
            Err(e) => ItemOutcome::Failed(e),
            Ok(None) => ItemOutcome::Invalid("Constant Contact did not import this contact".into()),
            Ok(Some(r)) => {
                let consent = r.consent();
                let ack = Ack::id(r.contact_id.clone()).with_consent(Some(consent));
                if consent.is_opted_out() {
                    return ItemOutcome::refused(
                        crate::consent::Refusal::new(c.consent, consent),
                        Some(ack),
                    );
                }
                if lists.iter().all(|l| r.list_memberships.contains(l)) {
                    ItemOutcome::Ok(ack)
                } else {
                    ItemOutcome::Invalid("the import did not add this contact to its lists".into())
                }
            }
        }
    }

    async fn upsert_bulk(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(contacts.len());
        let mut rows: Vec<Map<String, Value>> = vec![Map::new(); contacts.len()];
        let mut lists: Vec<Vec<String>> = vec![Vec::new(); contacts.len()];
        let suppressed = match self.suppressed().await {
            Ok(s) => Some(s),
            Err(e) => {
                out.set_all(
                    &(0..contacts.len()).collect::<Vec<_>>(),
                    &ItemOutcome::Failed(e),
                );
                None
            }
        };
        for (i, c) in contacts.iter().enumerate() {
            if out.is_set(i) {
                continue;
            }
            // Unsubscribes need the contact's id, pending contacts the sign-up form's confirmed
            // opt-in: one by one.
            if matches!(
                c.consent,
                Consent::Unsubscribed | Consent::Pending | Consent::NonMarketing
            ) {
                out.set(i, self.upsert_one(c).await);
                continue;
            }
            if let Err(why) = Self::check_email(&c.email) {
                out.set(i, ItemOutcome::Invalid(why));
                continue;
            }
            if suppressed
                .as_ref()
                .is_some_and(|s| s.contains(c.email.as_str()))
            {
                out.set(
                    i,
                    ItemOutcome::refused(
                        crate::consent::Refusal::new(
                            c.consent,
                            RemoteConsent::Unsubscribed {
                                by: OptOutBy::Unknown,
                            },
                        ),
                        None,
                    ),
                );
                continue;
            }
            match self.lists_for(c) {
                Ok(l) => lists[i] = l,
                Err(why) => {
                    out.set(i, ItemOutcome::Invalid(why));
                    continue;
                }
            }
            match self.custom_fields(&c.fields).await {
                Ok(Ok(f)) => rows[i] = Self::import_row(c, &f),
                Ok(Err(why)) => out.set(i, ItemOutcome::Invalid(why)),
                Err(e) => out.set(i, ItemOutcome::Failed(e)),
            }
        }
        let imported = out.pending();
        let started = timefmt::now_ms();
        let groups = group_by(imported.iter().copied(), |i| lists[i].clone());
        self.import_groups(&mut out, contacts, groups.into_iter().collect(), &rows)
            .await;
        // Tags of the imported contacts, in bulk (the one-by-one ones were tagged already).
        let tagged: Vec<(usize, Email, BTreeSet<String>)> = imported
            .into_iter()
            .filter(|&i| !contacts[i].tags.is_empty() && out.get(i).is_some_and(ItemOutcome::is_ok))
            .map(|i| (i, contacts[i].email.clone(), contacts[i].tags.clone()))
            .collect();
        // The imported contacts were all touched after the imports started (a minute's margin
        // for clock skew).
        for (i, r) in self
            .tag_contacts(tagged, true, Some(started - 60_000))
            .await
        {
            if let Err(o) = r {
                out.set(i, o);
            }
        }
        out.finish(VENDOR)
    }

    /// Adds or removes tags of contacts (by address) with tagging activities, one per set of
    /// tags and 500 contacts. Per item: done, or its outcome.
    async fn tag_contacts(
        &self,
        items: Vec<(usize, Email, BTreeSet<String>)>,
        add: bool,
        touched_after: Option<i64>,
    ) -> Vec<(usize, Result<(), ItemOutcome>)> {
        let mut results = Vec::new();
        if items.is_empty() {
            return results;
        }
        let names: BTreeSet<&str> = items
            .iter()
            .flat_map(|(_, _, t)| t.iter().map(String::as_str))
            .collect();
        let tag_ids = if add {
            self.tags
                .resolve_or_create(
                    names,
                    || self.load_tags(),
                    |name: String| async move { self.create_tag(&name).await },
                )
                .await
        } else {
            self.tags
                .resolve(names, || self.load_tags())
                .await
                .map(|(found, _)| found)
        };
        let tag_ids = match tag_ids {
            Ok(t) => t,
            Err(e) => {
                return items
                    .into_iter()
                    .map(|(i, _, _)| (i, Err(ItemOutcome::Failed(e.clone()))))
                    .collect();
            }
        };
        let emails: Vec<&Email> = items.iter().map(|(_, e, _)| e).collect();
        let contact_ids = match self.contact_ids(&emails, touched_after).await {
            Ok(ids) => ids,
            Err(e) => {
                return items
                    .into_iter()
                    .map(|(i, _, _)| (i, Err(ItemOutcome::Failed(e.clone()))))
                    .collect();
            }
        };
        let mut by_tags: BTreeMap<BTreeSet<String>, Vec<(usize, String)>> = BTreeMap::new();
        for (i, email, tags) in &items {
            let Some(id) = contact_ids.get(email.as_str()) else {
                results.push((
                    *i,
                    if add {
                        Err(ItemOutcome::Invalid(
                            "no such contact in Constant Contact".into(),
                        ))
                    } else {
                        Ok(())
                    },
                ));
                continue;
            };
            let ids: BTreeSet<String> = tags
                .iter()
                .filter_map(|t| tag_ids.get(t.as_str()).cloned())
                .collect();
            if ids.is_empty() {
                results.push((*i, Ok(())));
            } else {
                by_tags.entry(ids).or_default().push((*i, id.clone()));
            }
        }
        let path = if add {
            "activities/contacts_taggings_add"
        } else {
            "activities/contacts_taggings_remove"
        };
        for (ids, members) in by_tags {
            let contact_ids: Vec<String> = members.iter().map(|(_, id)| id.clone()).collect();
            let mut failed: HashMap<usize, ItemOutcome> = HashMap::new();
            for tag_chunk in tag_chunks(&ids) {
                for (range, r) in self
                    .contact_activity(path, &contact_ids, |c| tag_activity_body(c, &tag_chunk))
                    .await
                {
                    let problem = match r {
                        Ok((_, ActivityEnd::Completed { .. })) => None,
                        Ok((_, ActivityEnd::Failed(why))) => Some(ItemOutcome::Failed(
                            DestinationError::transient(VENDOR, why),
                        )),
                        Err(e) => Some(ItemOutcome::Failed(e)),
                    };
                    if let Some(p) = problem {
                        for (i, _) in &members[range] {
                            failed.entry(*i).or_insert_with(|| p.clone());
                        }
                    }
                }
            }
            for (i, _) in members {
                results.push((i, failed.remove(&i).map_or(Ok(()), Err)));
            }
        }
        results
    }

    fn remote_contact(&self, r: &ContactResource) -> Option<RemoteContact> {
        let email = Email::parse(&r.email_address.as_ref()?.address).ok()?;
        let mut c = RemoteContact::new(r.contact_id.clone(), email, r.consent());
        c.first_name = r.first_name.clone().filter(|s| !s.is_empty());
        c.last_name = r.last_name.clone().filter(|s| !s.is_empty());
        c.phone = r.phone_numbers.iter().find_map(|p| p.phone_number.clone());
        c.lists = r.list_memberships.iter().cloned().map(ListId).collect();
        for f in &r.custom_fields {
            if let Some(name) = self.fields.name_of(&f.custom_field_id) {
                c.fields.insert(name, f.value.clone());
            }
        }
        c.tags = r
            .taggings
            .iter()
            .filter_map(|t| self.tags.name_of(t))
            .collect();
        c.updated_at_ms = r.updated_at.as_deref().and_then(timefmt::parse);
        Some(c)
    }

    /// Makes sure the catalogs know the ids a contact refers to, for [`Self::remote_contact`].
    async fn know_ids(&self, r: &ContactResource) -> Result<(), DestinationError> {
        if r.custom_fields
            .iter()
            .any(|f| self.fields.name_of(&f.custom_field_id).is_none())
        {
            self.fields.replace(self.load_fields().await?);
        }
        if r.taggings.iter().any(|t| self.tags.name_of(t).is_none()) {
            self.tags.replace(self.load_tags().await?);
        }
        Ok(())
    }
}

fn join_lines(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) => Some(format!("{a}, {b}")),
        (Some(a), None) => Some(a.to_owned()),
        (None, Some(b)) => Some(b.to_owned()),
        (None, None) => None,
    }
}

#[async_trait]
impl Destination for ConstantContact {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn upsert_contacts(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        if contacts.len() == 1 {
            return vec![self.upsert_one(&contacts[0]).await];
        }
        self.upsert_bulk(contacts).await
    }

    async fn remove_from_lists(&self, changes: &[MembershipChange]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(changes.len());
        let emails: Vec<&Email> = changes.iter().map(|m| &m.email).collect();
        let ids = match self.contact_ids(&emails, None).await {
            Ok(ids) => ids,
            Err(e) => {
                out.set_all(
                    &(0..changes.len()).collect::<Vec<_>>(),
                    &ItemOutcome::Failed(e),
                );
                return out.finish(VENDOR);
            }
        };
        let mut groups: BTreeMap<Vec<String>, Vec<(usize, String)>> = BTreeMap::new();
        for (i, m) in changes.iter().enumerate() {
            match ids.get(m.email.as_str()) {
                // Not a contact: on no list.
                None => out.set(i, ItemOutcome::ok()),
                Some(_) if m.lists.is_empty() => out.set(i, ItemOutcome::ok()),
                Some(id) => groups
                    .entry(m.lists.iter().map(|l| l.0.clone()).collect())
                    .or_default()
                    .push((i, id.clone())),
            }
        }
        for (lists, members) in groups {
            let contact_ids: Vec<String> = members.iter().map(|(_, id)| id.clone()).collect();
            for list_chunk in lists.chunks(MAX_LISTS) {
                for (range, r) in self
                    .contact_activity("activities/remove_list_memberships", &contact_ids, |c| {
                        remove_lists_body(c, list_chunk)
                    })
                    .await
                {
                    let outcome = match r {
                        Ok((job, ActivityEnd::Completed { .. })) => {
                            ItemOutcome::Ok(Ack::default().with_job(Some(job)))
                        }
                        Ok((_, ActivityEnd::Failed(why))) => {
                            ItemOutcome::Failed(DestinationError::transient(VENDOR, why))
                        }
                        Err(e) => ItemOutcome::Failed(e),
                    };
                    for (i, id) in &members[range] {
                        match out.get(*i) {
                            Some(ItemOutcome::Ok(_)) | None => {
                                let o = match &outcome {
                                    ItemOutcome::Ok(a) => ItemOutcome::Ok(Ack {
                                        remote_id: Some(id.clone()),
                                        ..a.clone()
                                    }),
                                    other => other.clone(),
                                };
                                out.set(*i, o);
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        out.finish(VENDOR)
    }

    async fn add_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        self.tag_changes(changes, true).await
    }

    /// Archive: `DELETE /contacts/{id}` (Constant Contact keeps the contact, hidden and
    /// restorable). Delete: Constant Contact never hard-deletes, so the contact's personal data
    /// is overwritten first (`PUT` with a random placeholder address and nothing else), then it
    /// is deleted: the record it keeps holds nothing of the person.
    async fn remove_contacts(&self, removals: &[Removal]) -> Vec<ItemOutcome> {
        let emails: Vec<&Email> = removals.iter().map(|r| &r.email).collect();
        let ids = match self.contact_ids(&emails, None).await {
            Ok(ids) => ids,
            Err(e) => {
                return removals
                    .iter()
                    .map(|_| ItemOutcome::from_error(e.clone()))
                    .collect();
            }
        };
        let mut out = Vec::with_capacity(removals.len());
        for r in removals {
            let Some(id) = ids.get(r.email.as_str()) else {
                out.push(ItemOutcome::ok());
                continue;
            };
            let path = format!("contacts/{id}");
            let result = async {
                if r.how == RemovalKind::Delete {
                    let blank = ContactPut::blank(erased_placeholder());
                    self.http.send_json(Method::PUT, &path, &blank).await?;
                    self.forget(r.email.as_str());
                }
                match self.http.delete(&path).await {
                    Ok(_)
                    | Err(DestinationError {
                        status: Some(404), ..
                    }) => Ok(ItemOutcome::Ok(Ack::id(id.clone()))),
                    Err(e) => Err(e),
                }
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    async fn remove_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        self.tag_changes(changes, false).await
    }

    /// Custom fields of existing contacts: the contact is read and `PUT` back with the merged
    /// fields (PUT overwrites, so everything read is sent back).
    async fn set_fields(&self, changes: &[FieldChange]) -> Vec<ItemOutcome> {
        let mut out = Vec::with_capacity(changes.len());
        for f in changes {
            let result = async {
                let fields = match self.custom_fields(&f.fields).await? {
                    Ok(fields) => fields,
                    Err(why) => return Ok(ItemOutcome::Invalid(why)),
                };
                let Some(current) = self.find(&f.email).await? else {
                    return Ok(ItemOutcome::Invalid(
                        "no such contact in Constant Contact".into(),
                    ));
                };
                let mut merged: BTreeMap<String, String> = current
                    .custom_fields
                    .iter()
                    .map(|v| (v.custom_field_id.clone(), v.value.clone()))
                    .collect();
                for (id, _, value) in fields {
                    merged.insert(id, value);
                }
                let mut put = ContactPut::keeping(&current);
                put.custom_fields = Some(
                    merged
                        .into_iter()
                        .map(|(custom_field_id, value)| CustomFieldValue {
                            custom_field_id,
                            value,
                        })
                        .collect(),
                );
                self.http
                    .send_json(
                        Method::PUT,
                        &format!("contacts/{}", current.contact_id),
                        &put,
                    )
                    .await?;
                Ok::<_, DestinationError>(ItemOutcome::Ok(Ack::id(current.contact_id)))
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    async fn read_contact(&self, email: &Email) -> Result<Option<RemoteContact>, DestinationError> {
        let Some(r) = self.find(email).await? else {
            return Ok(None);
        };
        self.know_ids(&r).await?;
        Ok(self.remote_contact(&r))
    }

    async fn lists(&self) -> Result<Vec<ListInfo>, DestinationError> {
        let lists = self.load_lists().await?;
        self.lists.replace(lists.clone());
        Ok(lists
            .into_iter()
            .map(|e| ListInfo {
                id: ListId(e.id),
                name: e.name,
            })
            .collect())
    }

    async fn tags(&self) -> Result<Vec<TagInfo>, DestinationError> {
        let tags = self.load_tags().await?;
        self.tags.replace(tags.clone());
        Ok(tags
            .into_iter()
            .map(|e| TagInfo {
                id: e.id,
                name: e.name,
            })
            .collect())
    }

    async fn fields(&self) -> Result<Vec<FieldInfo>, DestinationError> {
        let fields = self
            .all_pages(
                "contact_custom_fields",
                &[("limit", "100".into())],
                |p: CustomFieldsPage| {
                    let next = p.links.next_href().map(str::to_owned);
                    (p.custom_fields, next)
                },
            )
            .await?;
        self.fields.replace(
            fields
                .iter()
                .map(|f| Entry::new(f.custom_field_id.clone(), f.key()))
                .collect(),
        );
        Ok(fields
            .into_iter()
            .map(|f| FieldInfo {
                key: f.key(),
                id: f.custom_field_id,
                label: f.label,
            })
            .collect())
    }

    async fn ensure_lists(&self, names: &[String]) -> Result<Vec<ListInfo>, DestinationError> {
        let ids = self
            .lists
            .resolve_or_create(
                names.iter().map(String::as_str),
                || self.load_lists(),
                |name: String| async move {
                    let created: ContactList = self
                        .http
                        .send_json(
                            Method::POST,
                            "contact_lists",
                            &ListInput {
                                name: &name,
                                favorite: false,
                            },
                        )
                        .await?
                        .json(VENDOR, "list")?;
                    Ok(Entry::new(created.list_id, created.name))
                },
            )
            .await?;
        Ok(names
            .iter()
            .map(|n| ListInfo {
                id: ListId(ids[n.as_str()].clone()),
                name: n.clone(),
            })
            .collect())
    }

    async fn ensure_tags(&self, names: &[String]) -> Result<Vec<TagInfo>, DestinationError> {
        let ids = self
            .tags
            .resolve_or_create(
                names.iter().map(String::as_str),
                || self.load_tags(),
                |name: String| async move { self.create_tag(&name).await },
            )
            .await?;
        Ok(names
            .iter()
            .map(|n| TagInfo {
                id: ids[n.as_str()].clone(),
                name: n.clone(),
            })
            .collect())
    }

    /// Creates missing custom fields (type `string`) labelled `spec.label`; Constant Contact
    /// derives the key (`name`) from the label, blanks → underscores, so a spec whose key is
    /// its label with underscores gets that key.
    async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<Vec<FieldInfo>, DestinationError> {
        let mut existing = self.fields().await?;
        let mut out = Vec::new();
        for spec in specs {
            if let Some(f) = existing
                .iter()
                .find(|f| f.key == spec.key || f.label == spec.label)
            {
                out.push(f.clone());
                continue;
            }
            let created: CustomField = self
                .http
                .send_json(
                    Method::POST,
                    "contact_custom_fields",
                    &CustomFieldRequest {
                        label: &spec.label,
                        kind: "string",
                    },
                )
                .await?
                .json(VENDOR, "custom field")?;
            self.fields
                .insert(Entry::new(created.custom_field_id.clone(), created.key()));
            let info = FieldInfo {
                key: created.key(),
                id: created.custom_field_id,
                label: created.label,
            };
            existing.push(info.clone());
            out.push(info);
        }
        Ok(out)
    }

    async fn changes_since(
        &self,
        cursor: Option<&ChangeCursor>,
    ) -> Result<ChangePage, DestinationError> {
        let cur: Cursor = match cursor {
            Some(c) => serde_json::from_str(&c.0).map_err(|_| {
                DestinationError::config(
                    VENDOR,
                    format!("not a Constant Contact change cursor: {:?}", c.0),
                )
            })?,
            None => {
                let since =
                    timefmt::now_ms() - i64::try_from(self.lookback.as_millis()).unwrap_or(0);
                Cursor {
                    since,
                    phase: 'u',
                    next: None,
                    newest: since,
                }
            }
        };
        let response = match &cur.next {
            Some(href) => self.http.get_url(self.http.link(href)?).await?,
            None => {
                let mut query = vec![
                    ("include", INCLUDE.to_owned()),
                    ("limit", CONTACT_PAGE.to_string()),
                ];
                if cur.phase == 'u' {
                    query.push(("status", "unsubscribed".into()));
                    query.push(("optout_after", timefmt::rfc3339(cur.since)));
                } else {
                    query.push(("status", "all".into()));
                    query.push(("updated_after", timefmt::rfc3339(cur.since)));
                }
                self.http.get("contacts", &query).await?
            }
        };
        let page: ContactsPage = response.json(VENDOR, "contacts")?;
        let mut newest = cur.newest;
        let mut changes = Vec::new();
        for r in &page.contacts {
            self.know_ids(r).await?;
            let Some(contact) = self.remote_contact(r) else {
                continue;
            };
            let at = if cur.phase == 'u' {
                r.opt_out_ms()
            } else {
                contact.updated_at_ms
            };
            newest = newest.max(at.unwrap_or(cur.since));
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
        let next = match (page.links.next_href(), cur.phase) {
            (Some(href), phase) => Cursor {
                next: Some(href.to_owned()),
                newest,
                phase,
                ..cur
            },
            (None, 'u') => Cursor {
                phase: 'e',
                next: None,
                newest,
                ..cur
            },
            // A round is done: the next starts a second before the newest change seen.
            (None, _) => {
                let since = (newest - 1_000).max(cur.since);
                Cursor {
                    since,
                    phase: 'u',
                    next: None,
                    newest: since,
                }
            }
        };
        let more = next.next.is_some() || next.phase == 'e';
        Ok(ChangePage {
            changes,
            next: ChangeCursor(serde_json::to_string(&next).unwrap_or_default()),
            more,
        })
    }
}

impl ConstantContact {
    async fn tag_changes(&self, changes: &[TagChange], add: bool) -> Vec<ItemOutcome> {
        let items = changes
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.email.clone(), t.tags.clone()))
            .collect();
        let mut out = Outcomes::new(changes.len());
        for (i, r) in self.tag_contacts(items, add, None).await {
            out.set(i, r.map_or_else(|o| o, |()| ItemOutcome::ok()));
        }
        out.finish(VENDOR)
    }
}

/// An address no one holds, for a contact whose data is erased (`.invalid` is reserved, RFC 2606;
/// random, so nothing links it to the person).
fn erased_placeholder() -> String {
    let token: u64 = rand::random();
    format!("erased-{token:016x}@erased.invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_rows_carry_custom_fields_as_cf() {
        let c = DesiredContact::new(
            Email::parse("Ann@Example.com").unwrap(),
            Consent::Subscribed,
        )
        .with_name("Ann", &"L".repeat(80));
        let row = ConstantContact::import_row(&c, &[("id1".into(), "plan".into(), "gold".into())]);
        assert_eq!(row["email"], "ann@example.com");
        assert_eq!(row["cf:plan"], "gold");
        assert_eq!(
            row["last_name"].as_str().unwrap().len(),
            50,
            "clipped to the vendor's limit"
        );
        assert!(!row.contains_key("phone"));
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            since: 5,
            phase: 'e',
            next: Some("/v3/contacts?cursor=x".into()),
            newest: 9,
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&s).unwrap(), c);
    }
}
