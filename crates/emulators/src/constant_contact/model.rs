//! The account's objects and how the API renders them (swagger `ContactResource`,
//! `ContactList`, `Tag`, `CustomField`). Absent properties are left out, not `null`.

use serde_json::{Map, Value, json};

use super::time::{fmt_date, fmt_ms};

/// `email_address.permission_to_send`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    Explicit,
    Implicit,
    NotSet,
    PendingConfirmation,
    TempHold,
    Unsubscribed,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Self::Explicit,
        Self::Implicit,
        Self::NotSet,
        Self::PendingConfirmation,
        Self::TempHold,
        Self::Unsubscribed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Implicit => "implicit",
            Self::NotSet => "not_set",
            Self::PendingConfirmation => "pending_confirmation",
            Self::TempHold => "temp_hold",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Who did it: `Account` (the account owner, an integration) or `Contact` (the person).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Account,
    Contact,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "Account",
            Self::Contact => "Contact",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Account" => Some(Self::Account),
            "Contact" => Some(Self::Contact),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    pub id: String,
    pub number: String,
    /// home | work | mobile | other
    pub kind: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    pub id: String,
    /// home | work | other
    pub kind: String,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    /// As given; looked up case-insensitively.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub birthday_month: Option<i64>,
    pub birthday_day: Option<i64>,
    pub anniversary: Option<String>,
    pub permission: Permission,
    pub opt_in_source: Option<Source>,
    pub opt_in_ms: Option<i64>,
    pub opt_out_source: Option<Source>,
    pub opt_out_ms: Option<i64>,
    pub opt_out_reason: Option<String>,
    pub email_created_ms: i64,
    pub email_updated_ms: i64,
    pub create_source: Source,
    pub update_source: Source,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Deleted contacts keep their record (and can be revived).
    pub deleted_ms: Option<i64>,
    /// `(custom_field_id, value)`, in the order they were first set.
    pub custom_fields: Vec<(String, String)>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub lists: Vec<String>,
    pub tags: Vec<String>,
}

impl Contact {
    pub fn is_deleted(&self) -> bool {
        self.deleted_ms.is_some()
    }

    pub fn is_unsubscribed(&self) -> bool {
        self.permission == Permission::Unsubscribed
    }

    /// Unsubscribed by their own action: the account cannot opt them back in.
    pub fn self_unsubscribed(&self) -> bool {
        self.is_unsubscribed() && self.opt_out_source == Some(Source::Contact)
    }

    /// "Active" (billable, mailable): neither deleted nor unsubscribed.
    pub fn is_active(&self) -> bool {
        !self.is_deleted() && !self.is_unsubscribed()
    }

    /// The contact's `status` in `GET /contacts?status=…` terms.
    pub fn matches_status(&self, status: &str) -> bool {
        match status {
            "all" => true,
            "deleted" => self.is_deleted(),
            "active" => self.is_active(),
            s => !self.is_deleted() && self.permission.as_str() == s,
        }
    }

    pub fn email_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("address".into(), json!(self.email));
        m.insert("permission_to_send".into(), json!(self.permission.as_str()));
        m.insert("created_at".into(), json!(fmt_ms(self.email_created_ms)));
        m.insert("updated_at".into(), json!(fmt_ms(self.email_updated_ms)));
        if let Some(s) = self.opt_in_source {
            m.insert("opt_in_source".into(), json!(s.as_str()));
        }
        if let Some(t) = self.opt_in_ms {
            m.insert("opt_in_date".into(), json!(fmt_ms(t)));
        }
        if self.is_unsubscribed() {
            if let Some(s) = self.opt_out_source {
                m.insert("opt_out_source".into(), json!(s.as_str()));
            }
            if let Some(t) = self.opt_out_ms {
                m.insert("opt_out_date".into(), json!(fmt_ms(t)));
            }
            if let Some(r) = &self.opt_out_reason {
                m.insert("opt_out_reason".into(), json!(r));
            }
        }
        let confirm = match self.permission {
            Permission::PendingConfirmation => "pending",
            Permission::Explicit if self.opt_in_source == Some(Source::Contact) => "confirmed",
            _ => "off",
        };
        m.insert("confirm_status".into(), json!(confirm));
        Value::Object(m)
    }

    /// The `ContactResource`, with the sub-resources `include` names.
    pub fn to_json(&self, inc: Include) -> Value {
        let mut m = Map::new();
        m.insert("contact_id".into(), json!(self.id));
        m.insert("email_address".into(), self.email_json());
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        opt("first_name", &self.first_name);
        opt("last_name", &self.last_name);
        opt("job_title", &self.job_title);
        opt("company_name", &self.company_name);
        if let Some(v) = self.birthday_month {
            m.insert("birthday_month".into(), json!(v));
        }
        if let Some(v) = self.birthday_day {
            m.insert("birthday_day".into(), json!(v));
        }
        if let Some(v) = &self.anniversary {
            m.insert("anniversary".into(), json!(v));
        }
        m.insert("update_source".into(), json!(self.update_source.as_str()));
        m.insert("create_source".into(), json!(self.create_source.as_str()));
        m.insert("created_at".into(), json!(fmt_ms(self.created_ms)));
        m.insert("updated_at".into(), json!(fmt_ms(self.updated_ms)));
        if let Some(t) = self.deleted_ms {
            m.insert("deleted_at".into(), json!(fmt_date(t)));
        }
        if inc.custom_fields {
            let cfs: Vec<Value> = self
                .custom_fields
                .iter()
                .map(|(id, v)| json!({"custom_field_id": id, "value": v}))
                .collect();
            m.insert("custom_fields".into(), Value::Array(cfs));
        }
        if inc.phone_numbers {
            let v: Vec<Value> = self
                .phones
                .iter()
                .map(|p| {
                    json!({
                        "phone_number_id": p.id,
                        "phone_number": p.number,
                        "kind": p.kind,
                        "created_at": fmt_ms(p.created_ms),
                        "updated_at": fmt_ms(p.updated_ms),
                    })
                })
                .collect();
            m.insert("phone_numbers".into(), Value::Array(v));
        }
        if inc.street_addresses {
            let v: Vec<Value> = self
                .addresses
                .iter()
                .map(|a| {
                    let mut o = Map::new();
                    o.insert("street_address_id".into(), json!(a.id));
                    o.insert("kind".into(), json!(a.kind));
                    for (k, v) in [
                        ("street", &a.street),
                        ("city", &a.city),
                        ("state", &a.state),
                        ("postal_code", &a.postal_code),
                        ("country", &a.country),
                    ] {
                        if let Some(v) = v {
                            o.insert(k.into(), json!(v));
                        }
                    }
                    o.insert("created_at".into(), json!(fmt_ms(a.created_ms)));
                    o.insert("updated_at".into(), json!(fmt_ms(a.updated_ms)));
                    Value::Object(o)
                })
                .collect();
            m.insert("street_addresses".into(), Value::Array(v));
        }
        if inc.list_memberships {
            m.insert("list_memberships".into(), json!(self.lists));
        }
        if inc.taggings {
            m.insert("taggings".into(), json!(self.tags));
        }
        if inc.notes {
            m.insert("notes".into(), json!([]));
        }
        Value::Object(m)
    }
}

/// Which sub-resources to render (`include=custom_fields,list_memberships,…`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Include {
    pub custom_fields: bool,
    pub list_memberships: bool,
    pub phone_numbers: bool,
    pub street_addresses: bool,
    pub taggings: bool,
    pub notes: bool,
}

impl Include {
    pub const ALL: Include = Include {
        custom_fields: true,
        list_memberships: true,
        phone_numbers: true,
        street_addresses: true,
        taggings: true,
        notes: false,
    };

    /// Parses the comma-separated `include` value; `Err(value)` names an unknown one.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut inc = Include::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "custom_fields" => inc.custom_fields = true,
                "list_memberships" => inc.list_memberships = true,
                "phone_numbers" => inc.phone_numbers = true,
                "street_addresses" => inc.street_addresses = true,
                "taggings" => inc.taggings = true,
                "notes" => inc.notes = true,
                other => return Err(other.to_owned()),
            }
        }
        Ok(inc)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactList {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub favorite: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl ContactList {
    pub fn to_json(&self, membership_count: Option<usize>) -> Value {
        let mut m = Map::new();
        m.insert("list_id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("favorite".into(), json!(self.favorite));
        m.insert("created_at".into(), json!(fmt_ms(self.created_ms)));
        m.insert("updated_at".into(), json!(fmt_ms(self.updated_ms)));
        if let Some(n) = membership_count {
            m.insert("membership_count".into(), json!(n));
        }
        Value::Object(m)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub id: String,
    pub name: String,
    pub tag_source: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Tag {
    pub fn to_json(&self, contacts_count: Option<usize>) -> Value {
        let mut m = Map::new();
        m.insert("tag_id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        if let Some(n) = contacts_count {
            m.insert("contacts_count".into(), json!(n));
        }
        m.insert("created_at".into(), json!(fmt_ms(self.created_ms)));
        m.insert("updated_at".into(), json!(fmt_ms(self.updated_ms)));
        if let Some(s) = &self.tag_source {
            m.insert("tag_source".into(), json!(s));
        }
        Value::Object(m)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CustomField {
    pub id: String,
    pub label: String,
    /// The label with blanks replaced by underscores (swagger `CustomField.name`); what
    /// `cf:<name>` refers to in imports.
    pub name: String,
    pub kind: String,
    pub metadata: Option<Value>,
    pub choices: Vec<Value>,
    pub version: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl CustomField {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("custom_field_id".into(), json!(self.id));
        m.insert("label".into(), json!(self.label));
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.kind));
        if let Some(md) = &self.metadata {
            m.insert("metadata".into(), md.clone());
        }
        if let Some(v) = self.version {
            m.insert("version".into(), json!(v));
        }
        if !self.choices.is_empty() {
            m.insert("choices".into(), Value::Array(self.choices.clone()));
        }
        m.insert("updated_at".into(), json!(fmt_ms(self.updated_ms)));
        m.insert("created_at".into(), json!(fmt_ms(self.created_ms)));
        Value::Object(m)
    }
}
