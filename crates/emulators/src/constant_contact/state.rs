//! The account's data and the rules that change it: create-or-update by email, full overwrite,
//! delete and revive, consent transitions, lists, tags, custom fields. Handlers parse and
//! validate requests into the typed inputs here; everything that mutates lives in this file
//! (and `activities`), takes the time as an argument, and does no I/O.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::activities::Activity;
use super::error::CcError;
use super::ids;
use super::model::{Address, Contact, ContactList, CustomField, Permission, Phone, Source, Tag};
use super::time::fmt_ms;

/// A contact may be on at most 50 lists, carry 50 tags and 25 custom fields (swagger
/// `ContactResource`).
pub const MAX_LISTS_PER_CONTACT: usize = 50;
pub const MAX_TAGS_PER_CONTACT: usize = 50;
pub const MAX_FIELDS_PER_CONTACT: usize = 25;
const MAX_PHONES: usize = 3;
const MAX_ADDRESSES: usize = 3;

/// Consent rules that depend on configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    pub confirmed_opt_in: bool,
    pub sign_up_form_resubscribes: bool,
}

/// One attempt to bring an unsubscribed contact back, for `/_admin/state` (`consent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentEvent {
    pub contact_id: String,
    pub email: String,
    /// `sign_up_form`, `put`, `contacts_json_import`.
    pub via: &'static str,
    pub previous_opt_out_source: Option<Source>,
    pub at_ms: i64,
}

impl ConsentEvent {
    fn to_json(&self) -> Value {
        json!({
            "contact_id": self.contact_id,
            "email": self.email,
            "via": self.via,
            "previous_opt_out_source": self.previous_opt_out_source.map(Source::as_str),
            "at": fmt_ms(self.at_ms),
        })
    }
}

/// Every transition out of `unsubscribed` (`resubscribed`) and every refused attempt to add
/// lists or permission to a contact who unsubscribed themselves (`refused`).
#[derive(Clone, Debug, Default)]
pub struct ConsentLog {
    pub resubscribed: Vec<ConsentEvent>,
    pub refused: Vec<ConsentEvent>,
}

impl ConsentLog {
    fn event(c: &Contact, via: &'static str, now: i64) -> ConsentEvent {
        ConsentEvent {
            contact_id: c.id.clone(),
            email: c.email.clone(),
            via,
            previous_opt_out_source: c.opt_out_source,
            at_ms: now,
        }
    }

    pub fn to_json(&self) -> Value {
        let self_unsub = self
            .resubscribed
            .iter()
            .filter(|e| e.previous_opt_out_source == Some(Source::Contact))
            .count();
        json!({
            "resubscribed_self_unsubscribed": self_unsub,
            "resubscribed": self.resubscribed.iter().map(ConsentEvent::to_json).collect::<Vec<_>>(),
            "refused": self.refused.iter().map(ConsentEvent::to_json).collect::<Vec<_>>(),
        })
    }
}

/// An address as given in a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressIn {
    pub kind: String,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// Contact properties of a partial update (`None` = leave as is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub birthday_month: Option<i64>,
    pub birthday_day: Option<i64>,
    pub anniversary: Option<String>,
    /// `(kind, number)`: replaces the number of that kind, or adds one (up to 3).
    pub phones: Vec<(String, String)>,
    /// Replaces the address of that kind, or adds one (up to 3).
    pub addresses: Vec<AddressIn>,
}

/// `POST /contacts/sign_up_form`, validated.
#[derive(Clone, Debug, Default)]
pub struct SignUp {
    pub email: String,
    pub profile: Profile,
    pub lists: Vec<String>,
    /// `(custom_field_id, value)`.
    pub custom_fields: Vec<(String, String)>,
}

/// `email_address` of `PUT /contacts/{id}`.
#[derive(Clone, Debug, Default)]
pub struct EmailPut {
    pub address: String,
    pub permission: Option<Permission>,
    pub opt_out_reason: Option<String>,
}

/// `PUT /contacts/{id}`, validated: top-level properties overwrite (absent = cleared);
/// sub-resources (`Some`) replace, `None` leaves them.
#[derive(Clone, Debug)]
pub struct Put {
    pub update_source: Source,
    pub email: Option<EmailPut>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub birthday_month: Option<i64>,
    pub birthday_day: Option<i64>,
    pub anniversary: Option<String>,
    pub custom_fields: Option<Vec<(String, String)>>,
    pub phones: Option<Vec<(String, String)>>,
    pub addresses: Option<Vec<AddressIn>>,
    pub lists: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
}

/// Which contacts a bulk activity acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    ContactIds(Vec<String>),
    ListIds(Vec<String>),
    TagIds(Vec<String>),
    AllActive,
}

#[derive(Debug)]
pub struct State {
    pub(super) rng: StdRng,
    pub contacts: Vec<Contact>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    pub lists: Vec<ContactList>,
    list_ix: HashMap<String, usize>,
    pub tags: Vec<Tag>,
    tag_ix: HashMap<String, usize>,
    pub fields: Vec<CustomField>,
    field_ix: HashMap<String, usize>,
    pub activities: Vec<Activity>,
    pub(super) activity_ix: HashMap<String, usize>,
    pub consent: ConsentLog,
}

/// The key contacts are found by: the address, lowercased.
pub fn email_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn set_if<T: Clone>(slot: &mut Option<T>, v: &Option<T>) {
    if v.is_some() {
        slot.clone_from(v);
    }
}

fn push_unique(v: &mut Vec<String>, x: &str) -> bool {
    if v.iter().any(|y| y == x) {
        false
    } else {
        v.push(x.to_owned());
        true
    }
}

impl State {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            contacts: Vec::new(),
            by_id: HashMap::new(),
            by_email: HashMap::new(),
            lists: Vec::new(),
            list_ix: HashMap::new(),
            tags: Vec::new(),
            tag_ix: HashMap::new(),
            fields: Vec::new(),
            field_ix: HashMap::new(),
            activities: Vec::new(),
            activity_ix: HashMap::new(),
            consent: ConsentLog::default(),
        }
    }

    pub fn new_id(&mut self) -> String {
        ids::uuid(&mut self.rng)
    }

    // ---- lookups -------------------------------------------------------------------------

    pub fn contact_ix(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    #[cfg(test)]
    pub fn contact(&self, id: &str) -> Option<&Contact> {
        self.contact_ix(id).map(|i| &self.contacts[i])
    }

    pub fn contact_ix_by_email(&self, email: &str) -> Option<usize> {
        self.by_email.get(&email_key(email)).copied()
    }

    pub fn contact_by_email(&self, email: &str) -> Option<&Contact> {
        self.contact_ix_by_email(email).map(|i| &self.contacts[i])
    }

    pub fn list(&self, id: &str) -> Option<&ContactList> {
        self.list_ix.get(id).map(|&i| &self.lists[i])
    }

    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tag_ix.get(id).map(|&i| &self.tags[i])
    }

    pub fn field(&self, id: &str) -> Option<&CustomField> {
        self.field_ix.get(id).map(|&i| &self.fields[i])
    }

    /// The custom field `cf:<name>` refers to (names compared case-insensitively).
    pub fn field_by_name(&self, name: &str) -> Option<&CustomField> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn activity(&self, id: &str) -> Option<&Activity> {
        self.activity_ix.get(id).map(|&i| &self.activities[i])
    }

    /// 404 unless every list exists.
    pub fn check_lists(&self, ids: &[String]) -> Result<(), CcError> {
        match ids.iter().find(|id| self.list(id).is_none()) {
            Some(id) => Err(CcError::not_found(
                "contacts",
                format!("list_id {id} was not found."),
            )),
            None => Ok(()),
        }
    }

    pub fn check_tags(&self, ids: &[String]) -> Result<(), CcError> {
        match ids.iter().find(|id| self.tag(id).is_none()) {
            Some(id) => Err(CcError::not_found(
                "contacts",
                format!("tag_id {id} was not found."),
            )),
            None => Ok(()),
        }
    }

    pub fn check_fields(&self, cfs: &[(String, String)]) -> Result<(), CcError> {
        match cfs.iter().find(|(id, _)| self.field(id).is_none()) {
            Some((id, _)) => Err(CcError::not_found(
                "contacts",
                format!("custom_field_id {id} was not found."),
            )),
            None => Ok(()),
        }
    }

    // ---- lists, tags, custom fields --------------------------------------------------------

    pub fn create_list(
        &mut self,
        name: String,
        description: Option<String>,
        favorite: bool,
        now: i64,
    ) -> Result<&ContactList, CcError> {
        if self
            .lists
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(&name))
        {
            return Err(CcError::conflict(
                "contacts",
                format!("A list named '{name}' already exists."),
            ));
        }
        let id = self.new_id();
        self.list_ix.insert(id.clone(), self.lists.len());
        self.lists.push(ContactList {
            id,
            name,
            description,
            favorite,
            created_ms: now,
            updated_ms: now,
        });
        Ok(self.lists.last().expect("pushed"))
    }

    pub fn create_tag(
        &mut self,
        name: String,
        tag_source: Option<String>,
        now: i64,
    ) -> Result<&Tag, CcError> {
        if self.tags.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
            return Err(CcError::conflict(
                "contacts",
                format!("A tag named '{name}' already exists."),
            ));
        }
        let id = self.new_id();
        self.tag_ix.insert(id.clone(), self.tags.len());
        self.tags.push(Tag {
            id,
            name,
            tag_source,
            created_ms: now,
            updated_ms: now,
        });
        Ok(self.tags.last().expect("pushed"))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_field(
        &mut self,
        label: String,
        kind: String,
        metadata: Option<Value>,
        choices: Vec<Value>,
        version: Option<i64>,
        max: usize,
        now: i64,
    ) -> Result<&CustomField, CcError> {
        if self.fields.len() >= max {
            return Err(CcError::validation(format!(
                "The account already has the maximum of {max} custom fields."
            )));
        }
        let name: String = label
            .trim()
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        if self
            .fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(&name))
        {
            return Err(CcError::conflict(
                "contacts",
                format!("A custom field named '{name}' already exists."),
            ));
        }
        let id = self.new_id();
        let choices = choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "custom_field_id": id,
                    "choice_id": i as i64 + 1,
                    "choice_label": c.get("choice_label").cloned().unwrap_or(Value::Null),
                    "display_order": c.get("display_order").cloned().unwrap_or(json!(i as i64 + 1)),
                    "created_at": fmt_ms(now),
                    "updated_at": fmt_ms(now),
                })
            })
            .collect();
        self.field_ix.insert(id.clone(), self.fields.len());
        self.fields.push(CustomField {
            id,
            label,
            name,
            kind,
            metadata,
            choices,
            version,
            created_ms: now,
            updated_ms: now,
        });
        Ok(self.fields.last().expect("pushed"))
    }

    // ---- contacts --------------------------------------------------------------------------

    fn insert_contact(&mut self, c: Contact) -> usize {
        let ix = self.contacts.len();
        self.by_id.insert(c.id.clone(), ix);
        self.by_email.insert(email_key(&c.email), ix);
        self.contacts.push(c);
        ix
    }

    fn blank_contact(
        &mut self,
        email: &str,
        by: Source,
        permission: Permission,
        now: i64,
    ) -> Contact {
        Contact {
            id: self.new_id(),
            email: email.trim().to_owned(),
            first_name: None,
            last_name: None,
            job_title: None,
            company_name: None,
            birthday_month: None,
            birthday_day: None,
            anniversary: None,
            permission,
            opt_in_source: (permission != Permission::NotSet).then_some(by),
            opt_in_ms: (permission != Permission::NotSet).then_some(now),
            opt_out_source: None,
            opt_out_ms: None,
            opt_out_reason: None,
            email_created_ms: now,
            email_updated_ms: now,
            create_source: by,
            update_source: by,
            created_ms: now,
            updated_ms: now,
            deleted_ms: None,
            custom_fields: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            lists: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// `POST /contacts/sign_up_form`: `(created, contact_id)`.
    pub fn sign_up(
        &mut self,
        req: SignUp,
        policy: Policy,
        now: i64,
    ) -> Result<(bool, String), CcError> {
        if let Some(ix) = self.contact_ix_by_email(&req.email) {
            let c = &self.contacts[ix];
            let mut lists = c.lists.clone();
            for l in &req.lists {
                push_unique(&mut lists, l);
            }
            if lists.len() > MAX_LISTS_PER_CONTACT {
                return Err(CcError::validation(format!(
                    "A contact can be a member of at most {MAX_LISTS_PER_CONTACT} lists."
                )));
            }
            let mut cfs = c.custom_fields.clone();
            merge_fields(&mut cfs, &req.custom_fields);
            if cfs.len() > MAX_FIELDS_PER_CONTACT {
                return Err(CcError::validation(format!(
                    "A contact can have at most {MAX_FIELDS_PER_CONTACT} custom fields."
                )));
            }
            let (c, consent) = (&mut self.contacts[ix], &mut self.consent);
            apply_profile(c, &req.profile, &mut self.rng, now);
            c.custom_fields = cfs;
            c.deleted_ms = None;
            c.update_source = Source::Contact;
            c.updated_ms = now;
            let subscribed = if c.is_unsubscribed() {
                if c.self_unsubscribed() && !policy.sign_up_form_resubscribes {
                    consent
                        .refused
                        .push(ConsentLog::event(c, "sign_up_form", now));
                    false
                } else {
                    resubscribe(
                        c,
                        Permission::Explicit,
                        Source::Contact,
                        "sign_up_form",
                        consent,
                        now,
                    );
                    true
                }
            } else {
                if !policy.confirmed_opt_in && c.permission != Permission::Explicit {
                    c.permission = Permission::Explicit;
                    c.email_updated_ms = now;
                }
                true
            };
            if subscribed {
                c.lists = lists;
            }
            return Ok((false, c.id.clone()));
        }
        let permission = if policy.confirmed_opt_in {
            Permission::PendingConfirmation
        } else {
            Permission::Explicit
        };
        let mut c = self.blank_contact(&req.email, Source::Contact, permission, now);
        apply_profile(&mut c, &req.profile, &mut self.rng, now);
        merge_fields(&mut c.custom_fields, &req.custom_fields);
        for l in &req.lists {
            push_unique(&mut c.lists, l);
        }
        let id = c.id.clone();
        self.insert_contact(c);
        Ok((true, id))
    }

    /// `PUT /contacts/{id}`.
    pub fn put(&mut self, id: &str, req: Put, now: i64) -> Result<&Contact, CcError> {
        let ix = self
            .contact_ix(id)
            .ok_or_else(|| CcError::not_found("contacts", format!("Contact {id} not found.")))?;
        if let Some(e) = &req.email
            && self
                .contact_ix_by_email(&e.address)
                .is_some_and(|other| other != ix)
        {
            return Err(CcError::conflict(
                "contacts",
                format!("Email address {} already exists.", e.address),
            ));
        }
        let old_key = email_key(&self.contacts[ix].email);
        let (c, consent, rng) = (&mut self.contacts[ix], &mut self.consent, &mut self.rng);
        let by = req.update_source;
        if let Some(e) = &req.email {
            if e.address.trim() != c.email {
                c.email = e.address.trim().to_owned();
                c.email_updated_ms = now;
            }
            if let Some(p) = e.permission {
                if p == Permission::Unsubscribed {
                    unsubscribe(c, by, e.opt_out_reason.clone(), now);
                } else if c.is_unsubscribed() {
                    if c.self_unsubscribed() && by == Source::Account {
                        consent.refused.push(ConsentLog::event(c, "put", now));
                    } else {
                        resubscribe(c, p, by, "put", consent, now);
                    }
                } else if c.permission != p {
                    c.permission = p;
                    c.email_updated_ms = now;
                }
            }
        }
        c.first_name = req.first_name;
        c.last_name = req.last_name;
        c.job_title = req.job_title;
        c.company_name = req.company_name;
        c.birthday_month = req.birthday_month;
        c.birthday_day = req.birthday_day;
        c.anniversary = req.anniversary;
        if let Some(cfs) = req.custom_fields {
            c.custom_fields.clear();
            merge_fields(&mut c.custom_fields, &cfs);
        }
        if let Some(phones) = req.phones {
            c.phones.clear();
            for (kind, number) in phones {
                upsert_phone(c, kind, number, rng, now, false);
            }
        }
        if let Some(addrs) = req.addresses {
            c.addresses.clear();
            for a in addrs {
                upsert_address(c, a, rng, now, false);
            }
        }
        if let Some(lists) = req.lists {
            if c.is_unsubscribed() {
                if !lists.is_empty() && c.self_unsubscribed() {
                    consent.refused.push(ConsentLog::event(c, "put", now));
                }
                c.lists.clear();
            } else {
                c.lists.clear();
                for l in &lists {
                    push_unique(&mut c.lists, l);
                }
            }
        }
        if let Some(tags) = req.tags {
            c.tags.clear();
            for t in &tags {
                push_unique(&mut c.tags, t);
            }
        }
        // PUT revives a deleted contact (swagger putContact).
        c.deleted_ms = None;
        c.update_source = by;
        c.updated_ms = now;
        let new_key = email_key(&c.email);
        if new_key != old_key {
            self.by_email.remove(&old_key);
            self.by_email.insert(new_key, ix);
        }
        Ok(&self.contacts[ix])
    }

    /// `DELETE /contacts/{id}` and the `contact_delete` activity: the record stays (deleted
    /// contacts can be revived) but leaves every list.
    pub fn delete_ix(&mut self, ix: usize, now: i64) {
        let c = &mut self.contacts[ix];
        if c.deleted_ms.is_none() {
            c.deleted_ms = Some(now);
            c.lists.clear();
            c.update_source = Source::Account;
            c.updated_ms = now;
        }
    }

    /// The contact unsubscribes themselves (an unsubscribe link): `opt_out_source: Contact`.
    pub fn self_unsubscribe(
        &mut self,
        email: &str,
        reason: Option<String>,
        now: i64,
    ) -> Option<&Contact> {
        let ix = self.contact_ix_by_email(email)?;
        let c = &mut self.contacts[ix];
        if !c.self_unsubscribed() {
            // Also over an opt-out by the account: the contact's own choice now governs.
            c.permission = Permission::Unsubscribed;
            c.opt_out_source = Some(Source::Contact);
            c.opt_out_ms = Some(now);
            c.opt_out_reason = reason;
            c.email_updated_ms = now;
            c.lists.clear();
            c.update_source = Source::Contact;
            c.updated_ms = now;
        }
        Some(&self.contacts[ix])
    }

    /// Adds or updates one imported contact (`contacts_json_import`); `Ok(list_refused)`.
    pub(super) fn import_one(
        &mut self,
        email: &str,
        profile: &Profile,
        cfs: &[(String, String)],
        list_ids: &[String],
        now: i64,
        errors: &mut Vec<String>,
    ) -> bool {
        let ix = match self.contact_ix_by_email(email) {
            Some(ix) => ix,
            None => {
                // Swagger bulkImportContactsJSON: new contacts are `implicit`, opted in by
                // `Account`.
                let c = self.blank_contact(email, Source::Account, Permission::Implicit, now);
                self.insert_contact(c)
            }
        };
        let (c, consent) = (&mut self.contacts[ix], &mut self.consent);
        apply_profile(c, profile, &mut self.rng, now);
        let mut merged = c.custom_fields.clone();
        merge_fields(&mut merged, cfs);
        if merged.len() > MAX_FIELDS_PER_CONTACT {
            errors.push(format!(
                "{email}: a contact can have at most {MAX_FIELDS_PER_CONTACT} custom fields; extra fields were not imported."
            ));
            merged.truncate(MAX_FIELDS_PER_CONTACT);
        }
        c.custom_fields = merged;
        c.deleted_ms = None;
        c.update_source = Source::Account;
        c.updated_ms = now;
        if c.is_unsubscribed() {
            // Swagger ActivityImport.status.cannot_add_to_list_count: "previously unsubscribed
            // contacts in the import - they cannot be added to a list". Permission is never
            // changed by an import.
            if c.self_unsubscribed() {
                consent
                    .refused
                    .push(ConsentLog::event(c, "contacts_json_import", now));
            }
            return true;
        }
        let mut full = false;
        for l in list_ids {
            if c.lists.len() >= MAX_LISTS_PER_CONTACT && !c.lists.contains(l) {
                full = true;
                continue;
            }
            push_unique(&mut c.lists, l);
        }
        if full {
            errors.push(format!(
                "{email}: a contact can be a member of at most {MAX_LISTS_PER_CONTACT} lists."
            ));
        }
        false
    }

    /// Contact indices a selector names (deleted contacts only when named by id), minus
    /// `exclude`; unknown contact ids are reported in `errors`.
    pub(super) fn select(
        &self,
        sel: &Selector,
        exclude: &[String],
        errors: &mut Vec<String>,
    ) -> Vec<usize> {
        let excluded: HashSet<&str> = exclude.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        match sel {
            Selector::ContactIds(ids) => {
                let mut seen = HashSet::new();
                for id in ids {
                    match self.contact_ix(id) {
                        Some(ix) if seen.insert(ix) => out.push(ix),
                        Some(_) => {}
                        None => errors.push(format!("contact_id {id} was not found.")),
                    }
                }
            }
            Selector::ListIds(ls) => {
                for (ix, c) in self.contacts.iter().enumerate() {
                    if !c.is_deleted() && c.lists.iter().any(|l| ls.contains(l)) {
                        out.push(ix);
                    }
                }
            }
            Selector::TagIds(ts) => {
                for (ix, c) in self.contacts.iter().enumerate() {
                    if !c.is_deleted() && c.tags.iter().any(|t| ts.contains(t)) {
                        out.push(ix);
                    }
                }
            }
            Selector::AllActive => {
                for (ix, c) in self.contacts.iter().enumerate() {
                    if c.is_active() {
                        out.push(ix);
                    }
                }
            }
        }
        out.retain(|&ix| !excluded.contains(self.contacts[ix].id.as_str()));
        out
    }

    /// Counts of members per list: `(all, active)` over contacts that are not deleted.
    pub fn list_counts(&self) -> HashMap<&str, (usize, usize)> {
        let mut m: HashMap<&str, (usize, usize)> = HashMap::new();
        for c in self.contacts.iter().filter(|c| !c.is_deleted()) {
            for l in &c.lists {
                let e = m.entry(l.as_str()).or_default();
                e.0 += 1;
                if c.is_active() {
                    e.1 += 1;
                }
            }
        }
        m
    }

    /// Contacts (not deleted) per tag.
    pub fn tag_counts(&self) -> HashMap<&str, usize> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for c in self.contacts.iter().filter(|c| !c.is_deleted()) {
            for t in &c.tags {
                *m.entry(t.as_str()).or_default() += 1;
            }
        }
        m
    }

    /// Activities queued (initialized or processing).
    pub fn queued_activities(&self) -> usize {
        self.activities.iter().filter(|a| !a.is_done()).count()
    }

    /// One contact as `/_admin/state` shows it: ids and names.
    pub fn contact_dump(&self, c: &Contact) -> Value {
        let list_names: Vec<&str> = c
            .lists
            .iter()
            .filter_map(|l| self.list(l).map(|l| l.name.as_str()))
            .collect();
        let tag_names: Vec<&str> = c
            .tags
            .iter()
            .filter_map(|t| self.tag(t).map(|t| t.name.as_str()))
            .collect();
        let fields: serde_json::Map<String, Value> = c
            .custom_fields
            .iter()
            .map(|(id, v)| {
                let name = self.field(id).map_or(id.as_str(), |f| f.name.as_str());
                (name.to_owned(), json!(v))
            })
            .collect();
        json!({
            "contact_id": c.id,
            "email": c.email,
            "status": if c.is_deleted() { "deleted" } else { c.permission.as_str() },
            "deleted": c.is_deleted(),
            "deleted_at": c.deleted_ms.map(fmt_ms),
            "permission_to_send": c.permission.as_str(),
            "opt_in_source": c.opt_in_source.map(Source::as_str),
            "opt_in_date": c.opt_in_ms.map(fmt_ms),
            "opt_out_source": c.opt_out_source.map(Source::as_str),
            "opt_out_date": c.opt_out_ms.map(fmt_ms),
            "opt_out_reason": c.opt_out_reason,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "job_title": c.job_title,
            "company_name": c.company_name,
            "create_source": c.create_source.as_str(),
            "update_source": c.update_source.as_str(),
            "created_at": fmt_ms(c.created_ms),
            "updated_at": fmt_ms(c.updated_ms),
            "list_ids": c.lists,
            "lists": list_names,
            "tag_ids": c.tags,
            "tags": tag_names,
            "custom_fields": fields,
        })
    }
}

fn merge_fields(into: &mut Vec<(String, String)>, new: &[(String, String)]) {
    for (id, v) in new {
        match into.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1.clone_from(v),
            None => into.push((id.clone(), v.clone())),
        }
    }
}

fn upsert_phone(
    c: &mut Contact,
    kind: String,
    number: String,
    rng: &mut StdRng,
    now: i64,
    by_kind: bool,
) {
    if by_kind && let Some(p) = c.phones.iter_mut().find(|p| p.kind == kind) {
        if p.number != number {
            p.number = number;
            p.updated_ms = now;
        }
        return;
    }
    if c.phones.len() < MAX_PHONES {
        c.phones.push(Phone {
            id: ids::uuid(rng),
            number,
            kind,
            created_ms: now,
            updated_ms: now,
        });
    }
}

fn upsert_address(c: &mut Contact, a: AddressIn, rng: &mut StdRng, now: i64, by_kind: bool) {
    if by_kind && let Some(x) = c.addresses.iter_mut().find(|x| x.kind == a.kind) {
        set_if(&mut x.street, &a.street);
        set_if(&mut x.city, &a.city);
        set_if(&mut x.state, &a.state);
        set_if(&mut x.postal_code, &a.postal_code);
        set_if(&mut x.country, &a.country);
        x.updated_ms = now;
        return;
    }
    if c.addresses.len() < MAX_ADDRESSES {
        c.addresses.push(Address {
            id: ids::uuid(rng),
            kind: a.kind,
            street: a.street,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
            created_ms: now,
            updated_ms: now,
        });
    }
}

fn apply_profile(c: &mut Contact, p: &Profile, rng: &mut StdRng, now: i64) {
    set_if(&mut c.first_name, &p.first_name);
    set_if(&mut c.last_name, &p.last_name);
    set_if(&mut c.job_title, &p.job_title);
    set_if(&mut c.company_name, &p.company_name);
    set_if(&mut c.birthday_month, &p.birthday_month);
    set_if(&mut c.birthday_day, &p.birthday_day);
    set_if(&mut c.anniversary, &p.anniversary);
    for (kind, number) in &p.phones {
        upsert_phone(c, kind.clone(), number.clone(), rng, now, true);
    }
    for a in &p.addresses {
        upsert_address(c, a.clone(), rng, now, true);
    }
}

/// Opts the contact out (`by` = who asked), leaving every list. An earlier opt-out keeps its
/// source and date.
fn unsubscribe(c: &mut Contact, by: Source, reason: Option<String>, now: i64) {
    if c.is_unsubscribed() {
        return;
    }
    c.permission = Permission::Unsubscribed;
    c.opt_out_source = Some(by);
    c.opt_out_ms = Some(now);
    c.opt_out_reason = reason;
    c.email_updated_ms = now;
    c.lists.clear();
}

/// Opts an unsubscribed contact back in, and logs it.
fn resubscribe(
    c: &mut Contact,
    to: Permission,
    by: Source,
    via: &'static str,
    log: &mut ConsentLog,
    now: i64,
) {
    log.resubscribed.push(ConsentLog::event(c, via, now));
    c.permission = to;
    c.opt_out_source = None;
    c.opt_out_ms = None;
    c.opt_out_reason = None;
    c.opt_in_source = Some(by);
    c.opt_in_ms = Some(now);
    c.email_updated_ms = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (State, String, String) {
        let mut st = State::new(1);
        let a = st
            .create_list("A".into(), None, false, 1)
            .unwrap()
            .id
            .clone();
        let b = st
            .create_list("B".into(), None, false, 1)
            .unwrap()
            .id
            .clone();
        (st, a, b)
    }

    fn sign(
        st: &mut State,
        email: &str,
        lists: &[&String],
        policy: Policy,
        now: i64,
    ) -> (bool, String) {
        st.sign_up(
            SignUp {
                email: email.into(),
                lists: lists.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            policy,
            now,
        )
        .unwrap()
    }

    #[test]
    fn sign_up_creates_then_appends() {
        let (mut st, a, b) = setup();
        let (created, id) = sign(&mut st, "Ann@Example.com", &[&a], Policy::default(), 10);
        assert!(created);
        let (created2, id2) = sign(&mut st, "ann@example.com", &[&b], Policy::default(), 20);
        assert!(!created2);
        assert_eq!(id, id2);
        let c = st.contact(&id).unwrap();
        assert_eq!(c.lists, vec![a, b]);
        assert_eq!(c.permission, Permission::Explicit);
        assert_eq!(c.opt_in_source, Some(Source::Contact));
        assert_eq!(c.updated_ms, 20);
        assert_eq!(c.email, "Ann@Example.com");
    }

    #[test]
    fn self_unsubscribed_stays_unsubscribed() {
        let (mut st, a, b) = setup();
        let (_, id) = sign(&mut st, "x@example.com", &[&a], Policy::default(), 10);
        st.self_unsubscribe("X@example.com", None, 11).unwrap();
        assert!(st.contact(&id).unwrap().lists.is_empty());
        sign(&mut st, "x@example.com", &[&b], Policy::default(), 12);
        let c = st.contact(&id).unwrap();
        assert_eq!(c.permission, Permission::Unsubscribed);
        assert_eq!(c.opt_out_source, Some(Source::Contact));
        assert!(c.lists.is_empty());
        assert_eq!(st.consent.refused.len(), 1);
        assert!(st.consent.resubscribed.is_empty());
        // The documented Constant Contact behaviour, when asked for.
        let lenient = Policy {
            sign_up_form_resubscribes: true,
            ..Default::default()
        };
        sign(&mut st, "x@example.com", &[&b], lenient, 13);
        let c = st.contact(&id).unwrap();
        assert_eq!(c.permission, Permission::Explicit);
        assert_eq!(c.lists, vec![b]);
        assert_eq!(st.consent.resubscribed.len(), 1);
    }

    #[test]
    fn import_never_resubscribes() {
        let (mut st, a, _) = setup();
        let (_, id) = sign(&mut st, "y@example.com", &[&a], Policy::default(), 10);
        st.self_unsubscribe("y@example.com", Some("bye".into()), 11);
        let mut errs = Vec::new();
        let profile = Profile {
            first_name: Some("Y".into()),
            ..Default::default()
        };
        let refused = st.import_one(
            "y@example.com",
            &profile,
            &[],
            std::slice::from_ref(&a),
            12,
            &mut errs,
        );
        assert!(refused);
        let c = st.contact(&id).unwrap();
        assert_eq!(c.permission, Permission::Unsubscribed);
        assert_eq!(c.first_name.as_deref(), Some("Y"));
        assert!(c.lists.is_empty());
        assert!(!st.import_one("new@example.com", &profile, &[], &[a], 12, &mut errs));
        let n = st.contact_by_email("new@example.com").unwrap();
        assert_eq!(n.permission, Permission::Implicit);
        assert_eq!(n.opt_in_source, Some(Source::Account));
    }

    #[test]
    fn put_overwrites_and_guards_consent() {
        let (mut st, a, _) = setup();
        let (_, id) = sign(&mut st, "z@example.com", &[&a], Policy::default(), 10);
        st.self_unsubscribe("z@example.com", None, 11);
        let put = Put {
            update_source: Source::Account,
            email: Some(EmailPut {
                address: "z@example.com".into(),
                permission: Some(Permission::Explicit),
                opt_out_reason: None,
            }),
            first_name: Some("Zed".into()),
            last_name: None,
            job_title: None,
            company_name: None,
            birthday_month: None,
            birthday_day: None,
            anniversary: None,
            custom_fields: None,
            phones: None,
            addresses: None,
            lists: Some(vec![a.clone()]),
            tags: None,
        };
        let c = st.put(&id, put, 12).unwrap();
        assert_eq!(c.permission, Permission::Unsubscribed);
        assert!(c.lists.is_empty());
        assert_eq!(c.first_name.as_deref(), Some("Zed"));
        assert_eq!(st.consent.refused.len(), 2);
    }

    #[test]
    fn delete_and_revive() {
        let (mut st, a, _) = setup();
        let (_, id) = sign(&mut st, "d@example.com", &[&a], Policy::default(), 10);
        let ix = st.contact_ix(&id).unwrap();
        st.delete_ix(ix, 11);
        assert!(st.contact(&id).unwrap().is_deleted());
        assert!(st.contact(&id).unwrap().lists.is_empty());
        let (created, id2) = sign(&mut st, "d@example.com", &[&a], Policy::default(), 12);
        assert!(!created);
        assert_eq!(id, id2);
        assert!(!st.contact(&id).unwrap().is_deleted());
    }

    #[test]
    fn emails() {
        assert!(valid_email("a.b+c@example.co.uk"));
        for e in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@.com",
        ] {
            assert!(!valid_email(e), "{e}");
        }
    }
}
