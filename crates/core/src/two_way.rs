//! Two-way sync (off by default): what a contact edited or created at a destination changes in
//! Stripe. Pure: the engine reads the contact, what paysync last acknowledged there, and the Stripe
//! customer from the ledger, and sends what these functions return.
//!
//! ```toml
//! [syncs.two_way]
//! fields = [
//!   { stripe = "name", prefer = "newer" },                 # first/last name → Stripe name
//!   { stripe = "phone", prefer = "destination" },
//!   { stripe = "metadata.company", from = "COMPANY" },     # a destination field → metadata
//!   { stripe = "description", from = "NOTES", prefer = "stripe" },
//! ]
//! memberships_field = "marketing"        # metadata key listing the contact's lists and tags
//! create_customers = { lists = ["Leads"] } # contacts created there on these lists (or with
//!                                          # these tags; both empty: any) become customers
//! actions = [ { if = { tag = "vip" }, then = { description = "VIP" } },    # PieSync's IF/THEN
//!             { if = { list = "Verified" }, then = { email = true } } ]
//! email = false                          # true: address changes there change Stripe's
//! ```
//!
//! Rules:
//! - **Echoes are never written back.** A destination value counts as an edit only when it differs
//!   from what paysync acknowledged there (what paysync itself wrote, or the last edit it learnt).
//!   Once an edit is carried to Stripe, the engine records the contact as acknowledged, so the
//!   Stripe webhook that follows finds nothing to send, and a repeated poll finds no edit.
//! - **Conflicts per field** (`prefer`): `destination` — the edit wins; `stripe` — the edit only
//!   fills an empty Stripe value (otherwise Stripe's value is sent back to the destination);
//!   `newer` (default) — the edit wins when the contact changed after the Stripe customer last
//!   did (Stripe keeps no per-field times: the customer's last change is what is compared).
//! - Empty destination values never clear Stripe fields.
//! - An email changed at the destination (the same contact id, another address) changes the
//!   Stripe customer's email only when `email = true`, or an action says so for that contact;
//!   otherwise it is left alone (and never makes a second customer).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::contact::RemoteContact;
use crate::mapping::merge_name;

/// `[syncs.two_way]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoWayConfig {
    #[serde(default)]
    pub fields: Vec<TwoWayField>,
    /// Stripe metadata key that receives the contact's list names and tags (`a, b, c`).
    pub memberships_field: Option<String>,
    /// Contacts created at the destination that become Stripe customers.
    pub create_customers: Option<CreateCustomers>,
    /// Whether an email changed at the destination changes the Stripe customer's email (for
    /// every contact; `actions` can enable it for some). Off by default: a receipt sent to a
    /// changed address goes to whoever holds it now.
    #[serde(default)]
    pub email: bool,
    #[serde(default)]
    pub actions: Vec<TwoWayAction>,
}

/// One Stripe field kept from the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoWayField {
    /// `name`, `phone`, `description` or `metadata.<key>`.
    pub stripe: String,
    /// The contact's `name` (first and last), `phone`, or a custom field key. Default: `name`
    /// for `stripe = "name"`, `phone` for `phone`; required otherwise.
    pub from: Option<String>,
    #[serde(default)]
    pub prefer: Prefer,
}

/// Who wins when both sides changed a field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    #[default]
    Newer,
    Stripe,
    Destination,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomers {
    /// List names (a contact on any of them qualifies).
    #[serde(default)]
    pub lists: Vec<String>,
    /// Tag names (a contact with any of them qualifies).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// PieSync-style "IF the contact … THEN update Stripe …".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoWayAction {
    #[serde(rename = "if")]
    pub when: Condition,
    pub then: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Condition {
    Tag(String),
    List(String),
    /// A custom field holds exactly this value.
    Field {
        key: String,
        equals: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Carry the contact's email change to Stripe ("update email").
    #[serde(default)]
    pub email: bool,
}

/// A Stripe field two-way sync can write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StripeField {
    Name,
    Phone,
    Description,
    Metadata(String),
}

impl StripeField {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "name" => Ok(StripeField::Name),
            "phone" => Ok(StripeField::Phone),
            "description" => Ok(StripeField::Description),
            _ => match s.strip_prefix("metadata.") {
                // Stripe: keys up to 40 characters, no square brackets.
                Some(key) if !key.is_empty() && key.len() <= 40 && !key.contains(['[', ']']) => {
                    Ok(StripeField::Metadata(key.to_owned()))
                }
                _ => Err(format!(
                    "{s:?} is not name, phone, description or metadata.<key> (1-40 characters)"
                )),
            },
        }
    }

    /// The form parameter of `POST /v1/customers`.
    pub fn param(&self) -> String {
        match self {
            StripeField::Name => "name".into(),
            StripeField::Phone => "phone".into(),
            StripeField::Description => "description".into(),
            StripeField::Metadata(k) => format!("metadata[{k}]"),
        }
    }
}

impl TwoWayField {
    /// The contact field this Stripe field is read from.
    pub fn source(&self) -> Result<String, String> {
        match (&self.from, self.stripe.as_str()) {
            (Some(from), _) => Ok(from.clone()),
            (None, "name") => Ok("name".into()),
            (None, "phone") => Ok("phone".into()),
            (None, other) => Err(format!(
                "{other:?} needs `from`: the contact field it comes from"
            )),
        }
    }
}

impl TwoWayConfig {
    /// Problems with the configuration, by key.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            match StripeField::parse(&f.stripe) {
                Ok(field) => {
                    if !seen.insert(field) {
                        out.push((
                            format!("fields[{i}].stripe"),
                            format!("{:?} is kept twice", f.stripe),
                        ));
                    }
                }
                Err(e) => out.push((format!("fields[{i}].stripe"), e)),
            }
            if let Err(e) = f.source() {
                out.push((format!("fields[{i}].from"), e));
            }
        }
        if let Some(key) = &self.memberships_field
            && let Err(e) = StripeField::parse(&format!("metadata.{key}"))
        {
            out.push(("memberships_field".into(), e));
        }
        for (i, a) in self.actions.iter().enumerate() {
            if a.then.description.is_none() && a.then.metadata.is_empty() && !a.then.email {
                out.push((format!("actions[{i}].then"), "changes nothing".into()));
            }
            for key in a.then.metadata.keys() {
                if let Err(e) = StripeField::parse(&format!("metadata.{key}")) {
                    out.push((format!("actions[{i}].then.metadata"), e));
                }
            }
        }
        out
    }
}

/// The Stripe customer as the ledger holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerView {
    pub id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// When the customer last changed (as far as the ledger knows), ms since the epoch.
    pub changed_at_ms: i64,
}

impl CustomerView {
    fn get(&self, field: &StripeField) -> Option<&str> {
        match field {
            StripeField::Name => self.name.as_deref(),
            StripeField::Phone => self.phone.as_deref(),
            StripeField::Description => self.description.as_deref(),
            StripeField::Metadata(k) => self.metadata.get(k).map(String::as_str),
        }
        .filter(|v| !v.is_empty())
    }
}

/// A contact field's value (`name` joins first and last).
fn contact_value(c: &RemoteContact, source: &str) -> Option<String> {
    let v = match source {
        "name" => {
            let parts: Vec<&str> = [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        "phone" => c.phone.clone(),
        key => c.fields.get(key).cloned(),
    };
    v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Whether the contact changed `source` at the destination (not an echo of paysync's writes).
fn edited(remote: &RemoteContact, acknowledged: Option<&RemoteContact>, source: &str) -> bool {
    match source {
        // Names compare by part: one part edited is an edit of that part only.
        "name" => {
            let part = |c: Option<&RemoteContact>, first: bool| {
                c.and_then(|c| {
                    if first {
                        c.first_name.clone()
                    } else {
                        c.last_name.clone()
                    }
                })
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
            };
            let changed = |first| {
                let now = part(Some(remote), first);
                now.is_some() && now != part(acknowledged, first)
            };
            changed(true) || changed(false)
        }
        _ => {
            let now = contact_value(remote, source);
            now.is_some() && acknowledged.and_then(|a| contact_value(a, source)) != now
        }
    }
}

/// The value to write for `field` from the contact; for names, only the edited part replaces
/// its counterpart in the Stripe name (a customer without a name gets the whole name).
fn new_value(
    field: &StripeField,
    source: &str,
    remote: &RemoteContact,
    acknowledged: Option<&RemoteContact>,
    customer: &CustomerView,
) -> Option<String> {
    if *field == StripeField::Name && source == "name" && customer.name.is_some() {
        let first = changed_part(&remote.first_name, acknowledged.map(|a| &a.first_name));
        let last = changed_part(&remote.last_name, acknowledged.map(|a| &a.last_name));
        return merge_name(customer.name.as_deref(), first, last);
    }
    contact_value(remote, source)
}

/// A name part, when it is set and differs from what was acknowledged.
fn changed_part<'a>(now: &'a Option<String>, before: Option<&Option<String>>) -> Option<&'a str> {
    let now = now.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
    let before = before.and_then(|b| b.as_deref()).map(str::trim);
    (before != Some(now)).then_some(now)
}

/// The contact's list names and tags, as the memberships field holds them.
fn memberships(remote: &RemoteContact, list_names: &BTreeMap<String, String>) -> String {
    let mut all: BTreeSet<String> = remote
        .lists
        .iter()
        .filter_map(|id| list_names.get(&id.0).cloned())
        .collect();
    all.extend(remote.tags.iter().cloned());
    all.into_iter().collect::<Vec<_>>().join(", ")
}

fn matches(c: &Condition, remote: &RemoteContact, list_names: &BTreeMap<String, String>) -> bool {
    match c {
        Condition::Tag(t) => remote.tags.iter().any(|x| x.eq_ignore_ascii_case(t)),
        Condition::List(name) => remote
            .lists
            .iter()
            .any(|id| list_names.get(&id.0) == Some(name)),
        Condition::Field { key, equals } => remote.fields.get(key) == Some(equals),
    }
}

/// The form parameters of `POST /v1/customers/{id}` that carry the destination's edits to the
/// Stripe customer; empty when there is nothing to write. `list_names` maps the destination's
/// list ids to names.
pub fn customer_update(
    cfg: &TwoWayConfig,
    remote: &RemoteContact,
    acknowledged: Option<&RemoteContact>,
    customer: &CustomerView,
    list_names: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let contact_is_newer = remote.updated_at_ms.unwrap_or(0) > customer.changed_at_ms;
    for f in &cfg.fields {
        let (Ok(field), Ok(source)) = (StripeField::parse(&f.stripe), f.source()) else {
            continue;
        };
        if !edited(remote, acknowledged, &source) {
            continue;
        }
        let Some(value) = new_value(&field, &source, remote, acknowledged, customer) else {
            continue;
        };
        let current = customer.get(&field);
        if current == Some(value.as_str()) {
            continue;
        }
        let wins = match f.prefer {
            Prefer::Destination => true,
            Prefer::Stripe => current.is_none(),
            Prefer::Newer => current.is_none() || contact_is_newer,
        };
        if wins {
            out.insert(field.param(), value);
        }
    }
    let mut set = |field: StripeField, value: String| {
        if customer.get(&field) != Some(value.as_str()) && !value.is_empty() {
            out.insert(field.param(), value);
        }
    };
    if let Some(key) = &cfg.memberships_field {
        set(
            StripeField::Metadata(key.clone()),
            memberships(remote, list_names),
        );
    }
    for a in cfg
        .actions
        .iter()
        .filter(|a| matches(&a.when, remote, list_names))
    {
        if let Some(d) = &a.then.description {
            set(StripeField::Description, d.clone());
        }
        for (k, v) in &a.then.metadata {
            set(StripeField::Metadata(k.clone()), v.clone());
        }
    }
    out
}

/// Whether an email change of this contact may reach Stripe.
pub fn carries_email(
    cfg: &TwoWayConfig,
    remote: &RemoteContact,
    list_names: &BTreeMap<String, String>,
) -> bool {
    cfg.email
        || cfg
            .actions
            .iter()
            .any(|a| a.then.email && matches(&a.when, remote, list_names))
}

/// Whether the contact holds an edit, made at the destination, of a field kept two ways.
pub fn has_edits(
    cfg: &TwoWayConfig,
    remote: &RemoteContact,
    acknowledged: Option<&RemoteContact>,
) -> bool {
    cfg.fields
        .iter()
        .filter_map(|f| f.source().ok())
        .any(|source| edited(remote, acknowledged, &source))
}

/// The acknowledged contact with the destination's values of the fields kept two ways: what
/// the destination now holds of them, whoever wins in Stripe. Other fields keep what paysync
/// acknowledged, so a vendor's way of reporting them never looks like an edit.
pub fn with_edits(
    cfg: &TwoWayConfig,
    acknowledged: &RemoteContact,
    remote: &RemoteContact,
) -> RemoteContact {
    let mut out = acknowledged.clone();
    for source in cfg.fields.iter().filter_map(|f| f.source().ok()) {
        match source.as_str() {
            "name" => {
                out.first_name = remote.first_name.clone();
                out.last_name = remote.last_name.clone();
            }
            "phone" => out.phone = remote.phone.clone(),
            key => match remote.fields.get(key) {
                Some(v) => {
                    out.fields.insert(key.to_owned(), v.clone());
                }
                None => {
                    out.fields.remove(key);
                }
            },
        }
    }
    out
}

/// Metadata keys paysync writes on customers it creates: where the contact came from.
pub const SOURCE_KEY: &str = "paysync_source";
pub const CONTACT_ID_KEY: &str = "paysync_contact_id";

/// The form parameters of `POST /v1/customers` for a contact created at `destination`, or
/// `None` when the configuration does not create customers for it.
pub fn new_customer(
    cfg: &TwoWayConfig,
    destination: &str,
    remote: &RemoteContact,
    list_names: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let rule = cfg.create_customers.as_ref()?;
    let qualifies = (rule.lists.is_empty() && rule.tags.is_empty())
        || rule
            .lists
            .iter()
            .any(|l| matches(&Condition::List(l.clone()), remote, list_names))
        || rule
            .tags
            .iter()
            .any(|t| matches(&Condition::Tag(t.clone()), remote, list_names));
    if !qualifies {
        return None;
    }
    let empty = CustomerView::default();
    let mut params = customer_update(
        &TwoWayConfig {
            fields: cfg
                .fields
                .iter()
                .map(|f| TwoWayField {
                    prefer: Prefer::Destination,
                    ..f.clone()
                })
                .collect(),
            ..cfg.clone()
        },
        remote,
        None,
        &empty,
        list_names,
    );
    // A new customer gets the contact's name and phone even where they are not kept both ways.
    for source in ["name", "phone"] {
        if let Some(v) = contact_value(remote, source) {
            params.entry(source.to_owned()).or_insert(v);
        }
    }
    params.insert("email".into(), remote.email.as_str().to_owned());
    params.insert(
        StripeField::Metadata(SOURCE_KEY.into()).param(),
        destination.to_owned(),
    );
    params.insert(
        StripeField::Metadata(CONTACT_ID_KEY.into()).param(),
        remote.remote_id.clone(),
    );
    Some(params)
}

#[cfg(test)]
mod tests;
