//! ActiveCampaign v3 (API-FACTS "ActiveCampaign v3"; the reconstructed spec in
//! `shared/specs/activecampaign/`, trusted less than the facts where they differ).
//!
//! - Auth: `Api-Token` header; base `https://{account}.api-us1.com/api/3`; 5 requests a second
//!   per account (a token bucket).
//! - Single upsert: `POST /contact/sync` (names, phone, `fieldValues`), then the contact's list
//!   statuses (`GET /contacts/{id}/contactLists`) and `POST /contactLists` where the consent rules
//!   allow, then tags (`/tags`, `/contactTags`).
//! - Consent is per list: status 1 subscribed, 2 unsubscribed (3 bounced). The API *can* set an
//!   unsubscribed contact back to 1 (API-FACTS); this connector never does: a list with status 2
//!   or 3 is never set to 1, whatever is asked. Only [`Consent::Subscribed`] puts contacts on
//!   lists (pending and non-marketing contacts are synced without lists); an unsubscribe sets
//!   every list the contact is on to 2. Removing a contact from a list is also status 2 (the
//!   API has no other removal), so it is final: see [`Capabilities::list_removal_unsubscribes`].
//! - Bulk: `POST /import/bulk_import` (≤ 250 contacts, ≤ 400,000 bytes, split), polled with
//!   `GET /import/info?batchId=`; before each import the unsubscribed/bounced members of the
//!   target lists are read (`GET /contacts?listid=…&status=2|3`, cached for
//!   `suppression_max_age`) and kept out of `subscribe`, their refusal reported.
//! - Deep Data for purchases ([`deep_data`]).

mod deep_data;
mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

pub use deep_data::DeepDataConfig;
use wire::*;

use futures_util::future::join_all;

use crate::batching::{BatchLimits, json_sizes, split};
use crate::catalog::{Catalog, Entry};
use crate::consent::{ConsentDecision, Refusal, decide};
use crate::contact::{
    Consent, DesiredContact, Email, ListId, OptOutBy, RemoteConsent, RemoteContact,
};
use crate::destination::{
    Capabilities, Change, ChangeCursor, ChangePage, Destination, FieldInfo, FieldSpec, ListInfo,
    TagInfo, no_archive, wants_unsupported_archive,
};
use crate::error::{DestinationError, Vendor};
use crate::http::{HttpCore, HttpSettings, RetryPolicy, StaticAuth};
use crate::op::{
    Ack, FieldChange, ItemOutcome, MembershipChange, Outcomes, Purchase, Removal, TagChange,
};
use crate::poll::{JobState, JobTimer, PollPolicy, wait_for};
use crate::timefmt;

const VENDOR: Vendor = Vendor::ActiveCampaign;
/// Bulk import limits (API-FACTS "ActiveCampaign v3": ≤ 250 contacts and ≤ 400,000 bytes).
/// Bodies stay strictly below 400,000 bytes: the boundary's side is not documented, and the
/// emulator refuses a body of exactly 400,000.
pub const MAX_IMPORT_CONTACTS: usize = 250;
pub const MAX_IMPORT_BYTES: usize = 399_999;
/// Requests per second per account (API-FACTS).
pub const REQUESTS_PER_SECOND: u32 = 5;
/// Page size of list endpoints (`limit`, AC's maximum 100).
const PAGE: usize = 100;
/// Up to this many tag/field changes go one by one; more go through a bulk import.
const SMALL_OPS: usize = 3;
/// `{"contacts":[` + `]}`.
const IMPORT_ENVELOPE: usize = 15;

/// What an [`ActiveCampaign`] connector needs.
#[derive(Debug, Clone)]
pub struct ActiveCampaignConfig {
    /// The account URL, e.g. `https://acme.api-us1.com` (`/api/3` is appended).
    pub api_url: String,
    pub api_token: SecretString,
    pub http: HttpSettings,
    pub poll: PollPolicy,
    /// Required by `POST /lists` when paysync creates a list.
    pub list_sender_url: String,
    pub list_sender_reminder: String,
    /// How old the cached unsubscribed members of a list may be when an import subscribes
    /// contacts to it.
    pub suppression_max_age: Duration,
    pub deep_data: Option<DeepDataConfig>,
    /// How far back the change feed starts when there is no cursor yet.
    pub initial_lookback: Duration,
}

impl ActiveCampaignConfig {
    pub fn new(api_url: impl Into<String>, api_token: SecretString) -> Self {
        ActiveCampaignConfig {
            api_url: api_url.into(),
            api_token,
            http: HttpSettings {
                requests_per_second: REQUESTS_PER_SECOND,
                max_concurrency: REQUESTS_PER_SECOND as usize,
                timeout: Duration::from_secs(30),
                retry: RetryPolicy::default(),
                metrics_label: String::new(),
                shared: None,
            },
            poll: PollPolicy::default(),
            list_sender_url: "https://paysync.invalid".into(),
            list_sender_reminder: "You gave us your email address when you bought from us.".into(),
            suppression_max_age: Duration::from_secs(30),
            deep_data: None,
            initial_lookback: Duration::from_secs(86_400),
        }
    }
}

/// An ActiveCampaign account.
pub struct ActiveCampaign {
    http: HttpCore,
    caps: Capabilities,
    lists: Catalog,
    tags: Catalog,
    fields: Catalog,
    poll: PollPolicy,
    /// How long asynchronous jobs take, learnt (see `JobTimer`).
    jobs: JobTimer,
    sender_url: String,
    sender_reminder: String,
    suppression_max_age: Duration,
    lookback: Duration,
    /// Per list: when read, and the emails unsubscribed or bounced on it.
    suppressed: Mutex<HashMap<String, (Instant, HashSet<String>)>>,
    deep_data: Option<deep_data::DeepData>,
}

impl std::fmt::Debug for ActiveCampaign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveCampaign")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl ActiveCampaign {
    pub fn new(cfg: ActiveCampaignConfig) -> Result<Self, DestinationError> {
        let auth = StaticAuth::new(
            VENDOR,
            HeaderName::from_static("api-token"),
            cfg.api_token.expose_secret(),
        )?;
        let base = format!("{}/api/3", cfg.api_url.trim_end_matches('/'));
        let http = HttpCore::new(VENDOR, &base, &cfg.http, Arc::new(auth), decode_error)?;
        Ok(ActiveCampaign {
            caps: Capabilities {
                vendor: VENDOR,
                max_bulk_contacts: MAX_IMPORT_CONTACTS,
                max_bulk_bytes: MAX_IMPORT_BYTES,
                requests_per_second: cfg.http.requests_per_second,
                max_concurrency: cfg.http.max_concurrency,
                requests_per_day: 0,
                can_create_lists: true,
                can_create_tags: true,
                can_create_fields: true,
                supports_non_marketing: true,
                list_removal_unsubscribes: true,
                supports_purchases: cfg.deep_data.is_some(),
                bulk_is_async: true,
                can_archive: false,
                permanent_delete: true,
            },
            deep_data: cfg.deep_data.map(deep_data::DeepData::new),
            http,
            lists: Catalog::new(false),
            tags: Catalog::new(true),
            fields: Catalog::new(true),
            poll: cfg.poll,
            jobs: JobTimer::default(),
            sender_url: cfg.list_sender_url,
            sender_reminder: cfg.list_sender_reminder,
            suppression_max_age: cfg.suppression_max_age,
            lookback: cfg.initial_lookback,
            suppressed: Mutex::new(HashMap::new()),
        })
    }

    /// Every page of a list endpoint (`limit`/`offset`).
    async fn paged<P: DeserializeOwned, T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, DestinationError> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE.to_string()));
            q.push(("offset", offset.to_string()));
            let page = items(self.http.get_json(path, &q).await?);
            let n = page.len();
            all.extend(page);
            if n < PAGE {
                return Ok(all);
            }
            offset += n;
        }
    }

    async fn load_fields(&self) -> Result<Vec<Entry>, DestinationError> {
        let fields = self.paged("fields", &[], |p: Fields| p.fields).await?;
        Ok(fields
            .into_iter()
            .map(|f| {
                Entry::new(
                    f.id,
                    if f.perstag.is_empty() {
                        f.title
                    } else {
                        f.perstag
                    },
                )
            })
            .collect())
    }

    async fn load_tags(&self) -> Result<Vec<Entry>, DestinationError> {
        let tags = self.paged("tags", &[], |p: Tags| p.tags).await?;
        Ok(tags.into_iter().map(|t| Entry::new(t.id, t.tag)).collect())
    }

    async fn load_lists(&self) -> Result<Vec<Entry>, DestinationError> {
        let lists = self.paged("lists", &[], |p: Lists| p.lists).await?;
        Ok(lists
            .into_iter()
            .map(|l| Entry::new(l.id, l.name))
            .collect())
    }

    /// Field ids for a contact's custom fields, or why they cannot be sent.
    async fn field_ids(
        &self,
        fields: &BTreeMap<String, String>,
    ) -> Result<Result<Vec<(String, String)>, String>, DestinationError> {
        if fields.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let (found, missing) = self
            .fields
            .resolve(fields.keys().map(String::as_str), || self.load_fields())
            .await?;
        if !missing.is_empty() {
            let names: Vec<String> = missing.into_iter().collect();
            return Ok(Err(format!(
                "ActiveCampaign has no field {}",
                names.join(", ")
            )));
        }
        Ok(Ok(fields
            .iter()
            .map(|(k, v)| (found[k.as_str()].clone(), v.clone()))
            .collect()))
    }

    async fn tag_ids(
        &self,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, DestinationError> {
        self.tags
            .resolve_or_create(
                names.iter().map(String::as_str),
                || self.load_tags(),
                |name: String| async move { self.create_tag(&name).await },
            )
            .await
    }

    async fn create_tag(&self, name: &str) -> Result<Entry, DestinationError> {
        let created: TagEnvelope = self
            .http
            .send_json(
                Method::POST,
                "tags",
                &TagPost {
                    tag: TagBody {
                        tag: name,
                        tag_type: "contact",
                    },
                },
            )
            .await?
            .json(VENDOR, "tag")?;
        Ok(Entry::new(created.tag.id, created.tag.tag))
    }

    async fn sync(
        &self,
        email: &Email,
        c: Option<&DesiredContact>,
        field_values: Vec<(String, String)>,
    ) -> Result<String, DestinationError> {
        let body = ContactSync {
            contact: SyncContact {
                email: email.as_str(),
                first_name: c.and_then(|c| c.first_name.as_deref()),
                last_name: c.and_then(|c| c.last_name.as_deref()),
                phone: c.and_then(|c| c.phone.as_deref()),
                field_values: field_values
                    .into_iter()
                    .map(|(field, value)| SyncFieldValue { field, value })
                    .collect(),
            },
        };
        let r: ContactEnvelope = self
            .http
            .send_json(Method::POST, "contact/sync", &body)
            .await?
            .json(VENDOR, "contact")?;
        Ok(r.contact.id)
    }

    async fn find_contact(&self, email: &Email) -> Result<Option<String>, DestinationError> {
        let found: ContactList = self
            .http
            .get_json("contacts", &[("email", email.as_str().to_owned())])
            .await?;
        Ok(found
            .contacts
            .into_iter()
            .find(|c| Email::parse(&c.email).is_ok_and(|e| e == *email))
            .map(|c| c.id))
    }

    async fn list_statuses(
        &self,
        contact: &str,
    ) -> Result<BTreeMap<String, String>, DestinationError> {
        let lists: ContactLists = self
            .http
            .get_json(&format!("contacts/{contact}/contactLists"), &[])
            .await?;
        Ok(lists
            .contact_lists
            .into_iter()
            .map(|l| (l.list, l.status))
            .collect())
    }

    async fn set_list_status(
        &self,
        contact: &str,
        list: &str,
        status: &'static str,
    ) -> Result<(), DestinationError> {
        self.http
            .send_json(
                Method::POST,
                "contactLists",
                &ContactListPost {
                    contact_list: ContactListBody {
                        list: list.to_owned(),
                        contact: contact.to_owned(),
                        status,
                    },
                },
            )
            .await
            .map(|_| ())
    }

    /// Applies a contact's list memberships under the consent rules; returns the first refusal
    /// and the contact's permission afterwards.
    async fn apply_lists(
        &self,
        contact: &str,
        consent: Consent,
        lists: &BTreeSet<ListId>,
    ) -> Result<(Option<Refusal>, RemoteConsent), DestinationError> {
        let mut statuses = self.list_statuses(contact).await?;
        let mut refusal = None;
        match consent {
            Consent::Unsubscribed => {
                for (list, status) in statuses.iter_mut() {
                    if status == LIST_ACTIVE || status == LIST_UNCONFIRMED {
                        self.set_list_status(contact, list, LIST_UNSUBSCRIBED)
                            .await?;
                        *status = LIST_UNSUBSCRIBED.to_owned();
                    }
                }
                if statuses.is_empty() {
                    return Ok((None, RemoteConsent::NotSet));
                }
                return Ok((
                    None,
                    RemoteConsent::Unsubscribed {
                        by: OptOutBy::Account,
                    },
                ));
            }
            // Lists are marketing subscriptions: only explicit consent puts a contact on one.
            Consent::NonMarketing | Consent::Pending => {}
            Consent::Subscribed => {
                for list in lists {
                    let current = statuses.get(list.as_str()).and_then(|s| list_consent(s));
                    match decide(current, consent) {
                        ConsentDecision::Set(Consent::Subscribed)
                            if statuses.get(list.as_str()).map(String::as_str)
                                != Some(LIST_ACTIVE) =>
                        {
                            self.set_list_status(contact, list.as_str(), LIST_ACTIVE)
                                .await?;
                            statuses.insert(list.0.clone(), LIST_ACTIVE.to_owned());
                        }
                        ConsentDecision::Refuse(r) => {
                            refusal.get_or_insert(Refusal {
                                reason: format!("list {list}: {}", r.reason),
                                ..r
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok((refusal, aggregate_consent(&statuses)))
    }

    async fn add_contact_tags(
        &self,
        contact: &str,
        names: &BTreeSet<String>,
    ) -> Result<(), DestinationError> {
        if names.is_empty() {
            return Ok(());
        }
        let ids = self.tag_ids(names).await?;
        let have: BTreeSet<String> = self
            .contact_tags(contact)
            .await?
            .into_iter()
            .map(|t| t.tag)
            .collect();
        let numeric = |what: &str, id: &str| {
            id.parse::<i64>().map_err(|_| {
                DestinationError::permanent(VENDOR, format!("{what} id {id:?} is not numeric"))
            })
        };
        for id in ids.values().filter(|id| !have.contains(*id)) {
            self.http
                .send_json(
                    Method::POST,
                    "contactTags",
                    &ContactTagPost {
                        contact_tag: ContactTagBody {
                            contact: numeric("contact", contact)?,
                            tag: numeric("tag", id)?,
                        },
                    },
                )
                .await?;
        }
        Ok(())
    }

    async fn contact_tags(&self, contact: &str) -> Result<Vec<ContactTagRecord>, DestinationError> {
        let tags: ContactTags = self
            .http
            .get_json(&format!("contacts/{contact}/contactTags"), &[])
            .await?;
        Ok(tags.contact_tags)
    }

    /// One contact: sync, lists, tags.
    async fn upsert_one(&self, c: &DesiredContact) -> ItemOutcome {
        let fields = match self.field_ids(&c.fields).await {
            Ok(Ok(f)) => f,
            Ok(Err(why)) => return ItemOutcome::Invalid(why),
            Err(e) => return ItemOutcome::Failed(e),
        };
        let id = match self.sync(&c.email, Some(c), fields).await {
            Ok(id) => id,
            Err(e) => return ItemOutcome::from_error(e),
        };
        let (refusal, consent) = match self.apply_lists(&id, c.consent, &c.lists).await {
            Ok(r) => r,
            Err(e) => return ItemOutcome::from_error(e),
        };
        if let Err(e) = self.add_contact_tags(&id, &c.tags).await {
            return ItemOutcome::from_error(e);
        }
        let ack = Ack::id(id).with_consent(Some(consent));
        match refusal {
            Some(r) => ItemOutcome::refused(r, Some(ack)),
            None => ItemOutcome::Ok(ack),
        }
    }

    /// The emails unsubscribed or bounced on `list`, read again when older than the limit.
    async fn suppressed_on(&self, list: &str) -> Result<HashSet<String>, DestinationError> {
        let mut cache = self.suppressed.lock().await;
        if let Some((at, set)) = cache.get(list)
            && at.elapsed() <= self.suppression_max_age
        {
            return Ok(set.clone());
        }
        let mut set = HashSet::new();
        for status in [LIST_UNSUBSCRIBED, LIST_BOUNCED] {
            let contacts = self
                .paged(
                    "contacts",
                    &[("listid", list.to_owned()), ("status", status.to_owned())],
                    |p: ContactList| p.contacts,
                )
                .await?;
            set.extend(
                contacts
                    .into_iter()
                    .filter_map(|c| Email::parse(&c.email).ok())
                    .map(String::from),
            );
        }
        cache.insert(list.to_owned(), (Instant::now(), set.clone()));
        Ok(set)
    }

    /// Many contacts through bulk imports (unsubscribes go one by one: they need each contact's
    /// lists).
    async fn upsert_bulk(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(contacts.len());
        let mut imports: Vec<Option<ImportContact<'_>>> = vec![None; contacts.len()];
        let mut refusals: Vec<Option<Refusal>> = vec![None; contacts.len()];
        // The opted-out members of every list this call subscribes to, read once.
        let mut suppressed: HashMap<&str, Result<HashSet<String>, DestinationError>> =
            HashMap::new();
        for c in contacts.iter().filter(|c| c.consent == Consent::Subscribed) {
            for list in &c.lists {
                if !suppressed.contains_key(list.as_str()) {
                    suppressed.insert(list.as_str(), self.suppressed_on(list.as_str()).await);
                }
            }
        }
        for (i, c) in contacts.iter().enumerate() {
            if c.consent == Consent::Unsubscribed {
                out.set(i, self.upsert_one(c).await);
                continue;
            }
            let fields = match self.field_ids(&c.fields).await {
                Ok(Ok(f)) => f,
                Ok(Err(why)) => {
                    out.set(i, ItemOutcome::Invalid(why));
                    continue;
                }
                Err(e) => {
                    out.set(i, ItemOutcome::Failed(e));
                    continue;
                }
            };
            let mut fields_out = Vec::new();
            for (id, value) in fields {
                match id.parse::<i64>() {
                    Ok(id) => fields_out.push(ImportField { id, value }),
                    Err(_) => out.set(
                        i,
                        ItemOutcome::Invalid(format!("field id {id:?} is not numeric")),
                    ),
                }
            }
            if out.is_set(i) {
                continue;
            }
            let mut subscribe = Vec::new();
            if c.consent == Consent::Subscribed {
                for list in &c.lists {
                    match &suppressed[list.as_str()] {
                        Ok(s) if s.contains(c.email.as_str()) => {
                            refusals[i].get_or_insert(Refusal {
                                reason: format!("list {list}: unsubscribed or bounced; paysync never re-subscribes"),
                                ..Refusal::new(c.consent, RemoteConsent::Unsubscribed { by: OptOutBy::Unknown })
                            });
                        }
                        Ok(_) => subscribe.push(ImportList {
                            listid: list.0.clone(),
                        }),
                        Err(e) => {
                            out.set(i, ItemOutcome::Failed(e.clone()));
                            break;
                        }
                    }
                }
            }
            if out.is_set(i) {
                continue;
            }
            imports[i] = Some(ImportContact {
                email: c.email.as_str(),
                first_name: c.first_name.as_deref(),
                last_name: c.last_name.as_deref(),
                phone: c.phone.as_deref(),
                tags: c.tags.iter().map(String::as_str).collect(),
                fields: fields_out,
                subscribe,
                unsubscribe: Vec::new(),
            });
        }
        let ready: Vec<usize> = (0..contacts.len())
            .filter(|&i| imports[i].is_some())
            .collect();
        let results = self.import(&ready, &imports).await;
        for (i, r) in results {
            out.set(
                i,
                match (r, refusals[i].take()) {
                    (Ok(()), Some(refusal)) => ItemOutcome::refused(refusal, Some(Ack::default())),
                    (Ok(()), None) => ItemOutcome::Ok(
                        Ack::default().with_consent(
                            (contacts[i].consent == Consent::Subscribed
                                && !contacts[i].lists.is_empty())
                            .then_some(RemoteConsent::Subscribed),
                        ),
                    ),
                    (Err(o), _) => o,
                },
            );
        }
        out.finish(VENDOR)
    }

    /// Sends the prepared import rows of `indices` in chunks within the limits and waits for
    /// each import; per item, `Ok` or the outcome to report.
    async fn import(
        &self,
        indices: &[usize],
        rows: &[Option<ImportContact<'_>>],
    ) -> Vec<(usize, Result<(), ItemOutcome>)> {
        let sizes = json_sizes(rows);
        let plan = split(
            indices,
            |i| sizes[i],
            IMPORT_ENVELOPE,
            BatchLimits {
                max_items: MAX_IMPORT_CONTACTS,
                max_bytes: MAX_IMPORT_BYTES,
            },
        );
        let mut results: Vec<(usize, Result<(), ItemOutcome>)> = plan
            .oversized
            .iter()
            .map(|&i| {
                (
                    i,
                    Err(ItemOutcome::Invalid(format!(
                        "contact larger than the {MAX_IMPORT_BYTES}-byte import limit"
                    ))),
                )
            })
            .collect();
        // The imports go together (the HTTP layer keeps to the request rate): a round waits
        // for its slowest import, not for all of them in turn.
        let imports = plan.chunks.into_iter().map(|chunk| async move {
            let body = BulkImport {
                contacts: chunk.iter().filter_map(|&i| rows[i].clone()).collect(),
            };
            let outcome = self.run_import(&body).await;
            (chunk, outcome)
        });
        for (chunk, outcome) in join_all(imports).await {
            match outcome {
                Ok(failed) => {
                    for &i in &chunk {
                        let email = rows[i].as_ref().map_or("", |r| r.email);
                        results.push((
                            i,
                            if failed.contains(email) {
                                Err(ItemOutcome::Invalid(
                                    "ActiveCampaign's import reported this contact as failed"
                                        .into(),
                                ))
                            } else {
                                Ok(())
                            },
                        ));
                    }
                }
                Err(e) => {
                    let o = ItemOutcome::Failed(e);
                    results.extend(chunk.iter().map(|&i| (i, Err(o.clone()))));
                }
            }
        }
        results
    }

    /// One import: queue it, wait for it; the emails it reported as failed.
    async fn run_import(&self, body: &BulkImport<'_>) -> Result<HashSet<String>, DestinationError> {
        let queued: ImportQueued = self
            .http
            .send_json(Method::POST, "import/bulk_import", body)
            .await?
            .json(VENDOR, "import")?;
        let batch = queued.batch_id.ok_or_else(|| {
            DestinationError::transient(VENDOR, "import queued without a batchId")
        })?;
        let total = body.contacts.len();
        let info = wait_for(
            VENDOR,
            &batch,
            &self.poll,
            Some((&self.jobs, total)),
            || async {
                let info: ImportInfo = self
                    .http
                    .get_json("import/info", &[("batchId", batch.clone())])
                    .await?;
                let status = info.status.as_deref().unwrap_or("").to_ascii_lowercase();
                let done = matches!(
                    status.as_str(),
                    "completed" | "complete" | "finished" | "done"
                ) || (status.is_empty()
                    && info.success.len() + info.failure.len() >= total);
                Ok(if done {
                    JobState::Done(info)
                } else {
                    JobState::Running
                })
            },
        )
        .await?;
        Ok(info
            .failure
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|e| Email::parse(e).ok())
            .map(String::from)
            .collect())
    }

    /// Tag or field changes of many contacts through imports (which create missing contacts).
    async fn import_partial(
        &self,
        rows: Vec<(usize, ImportContact<'_>)>,
        len: usize,
    ) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(len);
        let mut table: Vec<Option<ImportContact<'_>>> = vec![None; len];
        let mut indices = Vec::new();
        for (i, row) in rows {
            indices.push(i);
            table[i] = Some(row);
        }
        for (i, r) in self.import(&indices, &table).await {
            out.set(i, r.map_or_else(|o| o, |()| ItemOutcome::ok()));
        }
        for i in out.pending() {
            out.set(i, ItemOutcome::ok());
        }
        out.finish(VENDOR)
    }
}

/// A contact's permission over all its lists: subscribed if active anywhere, else unsubscribed
/// if it left any, else pending or not set.
fn aggregate_consent(statuses: &BTreeMap<String, String>) -> RemoteConsent {
    let has = |s: &str| statuses.values().any(|v| v == s);
    if has(LIST_ACTIVE) {
        RemoteConsent::Subscribed
    } else if has(LIST_UNSUBSCRIBED) {
        RemoteConsent::Unsubscribed {
            by: OptOutBy::Unknown,
        }
    } else if has(LIST_BOUNCED) {
        RemoteConsent::Cleaned
    } else if has(LIST_UNCONFIRMED) {
        RemoteConsent::Pending
    } else {
        RemoteConsent::NotSet
    }
}

/// The feed position: `{date}|{phase}|{offset}`, phase `u` (unsubscribes) then `e` (edits).
fn parse_cursor(c: &ChangeCursor) -> Option<(String, char, usize)> {
    let mut parts = c.0.split('|');
    let date = parts.next()?.to_owned();
    let phase = parts.next()?.chars().next()?;
    let offset = parts.next()?.parse().ok()?;
    (timefmt::parse(&date).is_some() && matches!(phase, 'u' | 'e')).then_some((date, phase, offset))
}

#[async_trait]
impl Destination for ActiveCampaign {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn upsert_contacts(&self, contacts: &[DesiredContact]) -> Vec<ItemOutcome> {
        if contacts.len() == 1 {
            return vec![self.upsert_one(&contacts[0]).await];
        }
        self.upsert_bulk(contacts).await
    }

    /// Status 2 on each list (ActiveCampaign's only removal; final for paysync).
    async fn remove_from_lists(&self, changes: &[MembershipChange]) -> Vec<ItemOutcome> {
        let mut out = Vec::with_capacity(changes.len());
        for m in changes {
            let result = async {
                let Some(id) = self.find_contact(&m.email).await? else {
                    return Ok(ItemOutcome::ok());
                };
                let statuses = self.list_statuses(&id).await?;
                for list in &m.lists {
                    if matches!(
                        statuses.get(list.as_str()).map(String::as_str),
                        Some(LIST_ACTIVE | LIST_UNCONFIRMED)
                    ) {
                        self.set_list_status(&id, list.as_str(), LIST_UNSUBSCRIBED)
                            .await?;
                    }
                }
                Ok::<_, DestinationError>(ItemOutcome::Ok(Ack::id(id)))
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    /// `DELETE /contacts/{id}`, and the person's Deep Data customers and orders.
    async fn remove_contacts(&self, removals: &[Removal]) -> Vec<ItemOutcome> {
        let mut out = Vec::with_capacity(removals.len());
        for r in removals {
            if wants_unsupported_archive(&self.caps, r) {
                out.push(no_archive(VENDOR));
                continue;
            }
            let result = async {
                if let Some(deep) = &self.deep_data {
                    deep.forget(&self.http, &r.email).await?;
                }
                if let Some(id) = self.find_contact(&r.email).await? {
                    deep_data::gone_is_fine(self.http.delete(&format!("contacts/{id}")).await)?;
                }
                Ok::<_, DestinationError>(ItemOutcome::ok())
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    async fn add_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        if changes.len() > SMALL_OPS {
            let rows = changes
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.tags.is_empty())
                .map(|(i, t)| {
                    (
                        i,
                        import_row(
                            &t.email,
                            t.tags.iter().map(String::as_str).collect(),
                            Vec::new(),
                        ),
                    )
                })
                .collect();
            return self.import_partial(rows, changes.len()).await;
        }
        let mut out = Vec::with_capacity(changes.len());
        for t in changes {
            let result = async {
                let Some(id) = self.find_contact(&t.email).await? else {
                    return Ok(ItemOutcome::Invalid(
                        "no such contact in ActiveCampaign".into(),
                    ));
                };
                self.add_contact_tags(&id, &t.tags).await?;
                Ok::<_, DestinationError>(ItemOutcome::Ok(Ack::id(id)))
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    async fn remove_tags(&self, changes: &[TagChange]) -> Vec<ItemOutcome> {
        let mut out = Vec::with_capacity(changes.len());
        for t in changes {
            let result = async {
                let Some(id) = self.find_contact(&t.email).await? else {
                    return Ok(ItemOutcome::ok());
                };
                let (ids, _) = self
                    .tags
                    .resolve(t.tags.iter().map(String::as_str), || self.load_tags())
                    .await?;
                let wanted: BTreeSet<&String> = ids.values().collect();
                for ct in self.contact_tags(&id).await? {
                    if wanted.contains(&ct.tag) {
                        match self.http.delete(&format!("contactTags/{}", ct.id)).await {
                            Ok(_) => {}
                            Err(e) if e.status == Some(404) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(ItemOutcome::Ok(Ack::id(id)))
            }
            .await;
            out.push(result.unwrap_or_else(ItemOutcome::from_error));
        }
        out
    }

    /// Field values through `contact/sync` (few) or imports (many); both create a contact that
    /// does not exist yet.
    async fn set_fields(&self, changes: &[FieldChange]) -> Vec<ItemOutcome> {
        let mut out = Outcomes::new(changes.len());
        let mut resolved = Vec::new();
        for (i, f) in changes.iter().enumerate() {
            match self.field_ids(&f.fields).await {
                Ok(Ok(ids)) => resolved.push((i, ids)),
                Ok(Err(why)) => out.set(i, ItemOutcome::Invalid(why)),
                Err(e) => out.set(i, ItemOutcome::Failed(e)),
            }
        }
        if resolved.len() > SMALL_OPS {
            let mut rows = Vec::new();
            for (i, ids) in resolved {
                let fields: Result<Vec<ImportField>, String> = ids
                    .into_iter()
                    .map(|(id, value)| {
                        id.parse::<i64>()
                            .map(|id| ImportField { id, value })
                            .map_err(|_| format!("field id {id:?} is not numeric"))
                    })
                    .collect();
                match fields {
                    Ok(fields) => rows.push((i, import_row(&changes[i].email, Vec::new(), fields))),
                    Err(why) => out.set(i, ItemOutcome::Invalid(why)),
                }
            }
            let imported = self.import_partial(rows, changes.len()).await;
            for (i, o) in imported.into_iter().enumerate() {
                if !out.is_set(i) {
                    out.set(i, o);
                }
            }
            return out.finish(VENDOR);
        }
        for (i, ids) in resolved {
            out.set(
                i,
                match self.sync(&changes[i].email, None, ids).await {
                    Ok(id) => ItemOutcome::Ok(Ack::id(id)),
                    Err(e) => ItemOutcome::from_error(e),
                },
            );
        }
        out.finish(VENDOR)
    }

    async fn record_purchases(&self, purchases: &[Purchase]) -> Vec<ItemOutcome> {
        let Some(dd) = &self.deep_data else {
            return purchases
                .iter()
                .map(|_| {
                    ItemOutcome::Invalid(
                        "Deep Data is not configured for this ActiveCampaign account".into(),
                    )
                })
                .collect();
        };
        let mut out = Vec::with_capacity(purchases.len());
        for p in purchases {
            out.push(dd.record(&self.http, p).await);
        }
        out
    }

    async fn read_contact(&self, email: &Email) -> Result<Option<RemoteContact>, DestinationError> {
        let Some(id) = self.find_contact(email).await? else {
            return Ok(None);
        };
        let detail: ContactDetail = self.http.get_json(&format!("contacts/{id}"), &[]).await?;
        let statuses: BTreeMap<String, String> = detail
            .contact_lists
            .iter()
            .map(|l| (l.list.clone(), l.status.clone()))
            .collect();
        let mut c = RemoteContact::new(id.clone(), email.clone(), aggregate_consent(&statuses));
        c.first_name = detail.contact.first_name.filter(|s| !s.is_empty());
        c.last_name = detail.contact.last_name.filter(|s| !s.is_empty());
        c.phone = detail.contact.phone.filter(|s| !s.is_empty());
        c.updated_at_ms = detail.contact.udate.as_deref().and_then(timefmt::parse);
        for (list, status) in &statuses {
            match status.as_str() {
                LIST_ACTIVE => {
                    c.lists.insert(ListId(list.clone()));
                }
                LIST_UNSUBSCRIBED | LIST_BOUNCED => {
                    c.unsubscribed_lists.insert(ListId(list.clone()));
                }
                _ => {}
            }
        }
        if !detail.field_values.is_empty() {
            self.fields.ensure_loaded(|| self.load_fields()).await?;
        }
        for fv in detail.field_values {
            if let (Some(key), Some(value)) = (self.fields.name_of(&fv.field), fv.value) {
                c.fields.insert(key, value);
            }
        }
        let tags = self.contact_tags(&id).await?;
        if !tags.is_empty() {
            self.tags.ensure_loaded(|| self.load_tags()).await?;
        }
        for t in tags {
            if self.tags.name_of(&t.tag).is_none() {
                self.tags.replace(self.load_tags().await?);
            }
            if let Some(name) = self.tags.name_of(&t.tag) {
                c.tags.insert(name);
            }
        }
        Ok(Some(c))
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
        let fields = self.paged("fields", &[], |p: Fields| p.fields).await?;
        self.fields.replace(
            fields
                .iter()
                .map(|f| {
                    Entry::new(
                        f.id.clone(),
                        if f.perstag.is_empty() {
                            f.title.clone()
                        } else {
                            f.perstag.clone()
                        },
                    )
                })
                .collect(),
        );
        Ok(fields
            .into_iter()
            .map(|f| FieldInfo {
                id: f.id,
                key: f.perstag,
                label: f.title,
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
                    let created: ListEnvelope = self
                        .http
                        .send_json(
                            Method::POST,
                            "lists",
                            &ListPost {
                                list: ListBody {
                                    name: &name,
                                    stringid: slug(&name),
                                    sender_url: &self.sender_url,
                                    sender_reminder: &self.sender_reminder,
                                },
                            },
                        )
                        .await?
                        .json(VENDOR, "list")?;
                    Ok(Entry::new(created.list.id, created.list.name))
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
        let set: BTreeSet<String> = names.iter().cloned().collect();
        let ids = self.tag_ids(&set).await?;
        Ok(names
            .iter()
            .map(|n| TagInfo {
                id: ids[n.as_str()].clone(),
                name: n.clone(),
            })
            .collect())
    }

    async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<Vec<FieldInfo>, DestinationError> {
        let mut out = Vec::new();
        for spec in specs {
            let perstag = spec.key.trim().to_uppercase();
            let (found, _) = self
                .fields
                .resolve([perstag.as_str()], || self.load_fields())
                .await?;
            let id = match found.get(perstag.as_str()) {
                Some(id) => id.clone(),
                None => {
                    let created: FieldEnvelope = self
                        .http
                        .send_json(
                            Method::POST,
                            "fields",
                            &FieldPost {
                                field: FieldBody {
                                    title: &spec.label,
                                    kind: "text",
                                    perstag: &perstag,
                                },
                            },
                        )
                        .await?
                        .json(VENDOR, "field")?;
                    let id = created.field.id;
                    let numeric = id.parse::<i64>().map_err(|_| {
                        DestinationError::permanent(
                            VENDOR,
                            format!("field id {id:?} is not numeric"),
                        )
                    })?;
                    // relid 0: the field applies to every list.
                    self.http
                        .send_json(
                            Method::POST,
                            "fieldRels",
                            &FieldRelPost {
                                field_rel: FieldRelBody {
                                    field: numeric,
                                    relid: 0,
                                },
                            },
                        )
                        .await?;
                    self.fields.insert(Entry::new(id.clone(), perstag.clone()));
                    id
                }
            };
            out.push(FieldInfo {
                id,
                key: perstag,
                label: spec.label.clone(),
            });
        }
        Ok(out)
    }

    /// Unsubscribes (`status=2`) then edits, by `filters[updated_after]` (a date: ActiveCampaign
    /// filters by day, so a poll re-reads the previous day and changes repeat harmlessly).
    async fn changes_since(
        &self,
        cursor: Option<&ChangeCursor>,
    ) -> Result<ChangePage, DestinationError> {
        let (date, phase, offset) = match cursor {
            Some(c) => parse_cursor(c).ok_or_else(|| {
                DestinationError::config(
                    VENDOR,
                    format!("not an ActiveCampaign change cursor: {:?}", c.0),
                )
            })?,
            None => (
                timefmt::date(
                    timefmt::now_ms() - i64::try_from(self.lookback.as_millis()).unwrap_or(0),
                ),
                'u',
                0,
            ),
        };
        let mut query = vec![
            ("filters[updated_after]", date.clone()),
            ("orders[id]", "ASC".to_owned()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
        ];
        if phase == 'u' {
            query.push(("status", LIST_UNSUBSCRIBED.to_owned()));
        }
        let page: ContactList = self.http.get_json("contacts", &query).await?;
        let more = page.contacts.len() >= PAGE;
        let mut changes = Vec::new();
        for record in page.contacts {
            let Ok(email) = Email::parse(&record.email) else {
                continue;
            };
            let at = record.udate.as_deref().and_then(timefmt::parse);
            if phase == 'u' {
                changes.push(Change::Unsubscribed {
                    email,
                    at_ms: at,
                    contact: None,
                });
            } else {
                let mut c = RemoteContact::new(record.id, email, RemoteConsent::NotSet);
                c.first_name = record.first_name.filter(|s| !s.is_empty());
                c.last_name = record.last_name.filter(|s| !s.is_empty());
                c.phone = record.phone.filter(|s| !s.is_empty());
                c.updated_at_ms = at;
                changes.push(Change::Updated(c));
            }
        }
        let next = match (more, phase) {
            (true, p) => format!("{date}|{p}|{}", offset + PAGE),
            (false, 'u') => format!("{date}|e|0"),
            (false, _) => format!("{}|u|0", timefmt::date(timefmt::now_ms() - 86_400_000)),
        };
        Ok(ChangePage {
            changes,
            more: more || phase == 'u',
            next: ChangeCursor(next),
        })
    }
}

fn import_row<'a>(
    email: &'a Email,
    tags: Vec<&'a str>,
    fields: Vec<ImportField>,
) -> ImportContact<'a> {
    ImportContact {
        email: email.as_str(),
        first_name: None,
        last_name: None,
        phone: None,
        tags,
        fields,
        subscribe: Vec::new(),
        unsubscribe: Vec::new(),
    }
}

/// A list's `stringid`: lower-case letters, digits and hyphens.
fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() { "list".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Stripe Customers!"), "stripe-customers");
        assert_eq!(slug("  "), "list");
    }

    #[test]
    fn aggregate() {
        let m = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            aggregate_consent(&m(&[("1", "2"), ("2", "1")])),
            RemoteConsent::Subscribed
        );
        assert!(aggregate_consent(&m(&[("1", "2")])).is_opted_out());
        assert_eq!(aggregate_consent(&m(&[])), RemoteConsent::NotSet);
    }

    #[test]
    fn cursors() {
        assert_eq!(
            parse_cursor(&ChangeCursor("2026-11-22|e|100".into())),
            Some(("2026-11-22".into(), 'e', 100))
        );
        assert_eq!(parse_cursor(&ChangeCursor("2026-11-22|x|0".into())), None);
        assert_eq!(parse_cursor(&ChangeCursor("garbage".into())), None);
    }

    #[test]
    fn splits_imports_by_count_and_bytes() {
        let emails: Vec<Email> = (0..600)
            .map(|i| Email::parse(&format!("c{i}@example.com")).unwrap())
            .collect();
        let rows: Vec<Option<ImportContact<'_>>> = emails
            .iter()
            .map(|e| {
                Some(import_row(
                    e,
                    vec![],
                    vec![ImportField {
                        id: 1,
                        value: "x".repeat(1_000),
                    }],
                ))
            })
            .collect();
        let sizes = json_sizes(&rows);
        let idx: Vec<usize> = (0..rows.len()).collect();
        let plan = split(
            &idx,
            |i| sizes[i],
            IMPORT_ENVELOPE,
            BatchLimits {
                max_items: MAX_IMPORT_CONTACTS,
                max_bytes: MAX_IMPORT_BYTES,
            },
        );
        // ~1,050 bytes a row: 250 fit by count (≈ 262 kB), so count splits first.
        assert_eq!(
            plan.chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![250, 250, 100]
        );
        let rows: Vec<Option<ImportContact<'_>>> = emails
            .iter()
            .map(|e| {
                Some(import_row(
                    e,
                    vec![],
                    vec![ImportField {
                        id: 1,
                        value: "x".repeat(3_000),
                    }],
                ))
            })
            .collect();
        let sizes = json_sizes(&rows);
        let plan = split(
            &idx,
            |i| sizes[i],
            IMPORT_ENVELOPE,
            BatchLimits {
                max_items: MAX_IMPORT_CONTACTS,
                max_bytes: MAX_IMPORT_BYTES,
            },
        );
        for c in &plan.chunks {
            let body = serde_json::to_vec(&BulkImport {
                contacts: c.iter().filter_map(|&i| rows[i].clone()).collect(),
            })
            .unwrap();
            assert!(body.len() <= MAX_IMPORT_BYTES, "{}", body.len());
            assert!(c.len() < MAX_IMPORT_CONTACTS);
        }
        assert_eq!(plan.chunks.iter().map(Vec::len).sum::<usize>(), 600);
    }
}
