//! `POST /v1/customers`, `POST /v1/customers/{id}`, `DELETE /v1/customers/{id}` and the events
//! Stripe creates for them: `customer.created`, `customer.updated` (with
//! `data.previous_attributes`; none when nothing changed) and `customer.deleted` (deleting a
//! customer also cancels its subscriptions: `customer.subscription.deleted`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::emulator::StripeEmulator;
use super::error::StripeError;
use super::ids;
use super::model::{Address, Customer, Ix, SubStatus};
use super::mutate::{self, WriteResult};
use super::params::{FormValue, Params, expand_paths};
use super::render::{self, Ctx};
use super::server::ReqCtx;
use super::state::{RequestInfo, State as St};
use super::webhooks::{Delivery, publish};

/// Parameters applied to the customer.
const SUPPORTED: &[&str] = &[
    "address",
    "description",
    "email",
    "expand",
    "invoice_prefix",
    "metadata",
    "name",
    "phone",
    "preferred_locales",
];
/// Parameters Stripe takes that the emulator accepts and ignores.
const IGNORED: &[&str] = &[
    "balance",
    "cash_balance",
    "coupon",
    "default_source",
    "invoice_settings",
    "next_invoice_sequence",
    "payment_method",
    "promotion_code",
    "shipping",
    "source",
    "tax",
    "tax_exempt",
    "tax_id_data",
    "test_clock",
    "validate",
];

pub async fn create(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    body: Bytes,
) -> Response {
    let version = ctx.version.clone();
    mutate::run(
        &emu,
        &ctx,
        "POST",
        "/v1/customers",
        &body,
        |st, p, req, now| create_customer(st, p, req, now, &version),
    )
}

pub async fn update(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let version = ctx.version.clone();
    let path = format!("/v1/customers/{id}");
    mutate::run(&emu, &ctx, "POST", &path, &body, |st, p, req, now| {
        update_customer(st, &id, p, req, now, &version)
    })
}

pub async fn delete(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/v1/customers/{id}");
    mutate::run(&emu, &ctx, "DELETE", &path, &body, |st, _p, req, now| {
        delete_customer(st, &id, req, now)
    })
}

/// A string parameter: absent, unset (`""`), or a value.
fn opt_string(p: &Params, name: &str) -> Result<Option<Option<String>>, StripeError> {
    match p.get(name) {
        None => Ok(None),
        Some(FormValue::Str(s)) if s.is_empty() => Ok(Some(None)),
        Some(FormValue::Str(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(StripeError::invalid(format!("Invalid string: {name}")).param(name)),
    }
}

fn check_params(p: &Params) -> Result<(), StripeError> {
    match p
        .keys()
        .find(|k| !SUPPORTED.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
    {
        Some(k) => Err(StripeError::unknown_param(k)),
        None => Ok(()),
    }
}

/// A light version of Stripe's email check.
fn check_email(e: &str) -> Result<(), StripeError> {
    let ok = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(StripeError::invalid(format!("Invalid email address: {e}"))
            .code("email_invalid")
            .param("email"))
    }
}

/// The `metadata` change: `""` clears everything, `metadata[k]=""` removes one key.
fn apply_metadata(
    md: &mut super::model::Metadata,
    v: &FormValue,
) -> Result<Map<String, Value>, StripeError> {
    let mut previous = Map::new();
    match v {
        FormValue::Str(s) if s.is_empty() => {
            for (k, old) in std::mem::take(md) {
                previous.insert(k, Value::String(old));
            }
        }
        FormValue::Map(m) => {
            for (k, v) in m {
                let Some(v) = v.as_str() else {
                    return Err(
                        StripeError::invalid(format!("Invalid string: metadata[{k}]"))
                            .param(format!("metadata[{k}]")),
                    );
                };
                let old = if v.is_empty() {
                    md.remove(k)
                } else {
                    if k.len() > 40 {
                        return Err(StripeError::invalid(
                            "Metadata keys can have up to 40 characters.",
                        )
                        .param(format!("metadata[{k}]")));
                    }
                    if v.len() > 500 {
                        return Err(StripeError::invalid(
                            "Metadata values can have up to 500 characters.",
                        )
                        .param(format!("metadata[{k}]")));
                    }
                    md.insert(k.clone(), v.to_owned())
                };
                if old.as_deref() != Some(v) && !(old.is_none() && v.is_empty()) {
                    previous.insert(k.clone(), old.map_or(Value::Null, Value::String));
                }
            }
            if md.len() > 50 {
                return Err(
                    StripeError::invalid("You can have up to 50 metadata keys.").param("metadata")
                );
            }
        }
        _ => return Err(StripeError::invalid("Invalid hash").param("metadata")),
    }
    Ok(previous)
}

fn address_json(a: &Option<Box<Address>>) -> Value {
    match a {
        None => Value::Null,
        Some(a) => json!({
            "city": a.city, "country": a.country, "line1": a.line1,
            "line2": a.line2, "postal_code": a.postal_code, "state": a.state,
        }),
    }
}

fn parse_address(v: &FormValue) -> Result<Option<Box<Address>>, StripeError> {
    match v {
        FormValue::Str(s) if s.is_empty() => Ok(None),
        FormValue::Map(m) => {
            let mut a = Address::default();
            for (k, v) in m {
                let s = v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
                match k.as_str() {
                    "city" => a.city = s,
                    "country" => a.country = s,
                    "line1" => a.line1 = s,
                    "line2" => a.line2 = s,
                    "postal_code" => a.postal_code = s,
                    "state" => a.state = s,
                    other => return Err(StripeError::unknown_param(&format!("address[{other}]"))),
                }
            }
            Ok(Some(Box::new(a)))
        }
        _ => Err(StripeError::invalid("Invalid hash").param("address")),
    }
}

fn render_customer(st: &St, ix: Ix, version: &str, p: &Params) -> Result<Vec<u8>, StripeError> {
    let expand = match p.get("expand") {
        Some(v) => expand_paths(v)?,
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(1024);
    render::customer(
        &Ctx::new(st, version, &expand),
        st.customers.get(ix),
        &mut out,
    );
    Ok(out)
}

/// Applies the supported parameters to `c`; returns `previous_attributes` of what changed.
fn apply(c: &mut Customer, p: &Params) -> Result<Map<String, Value>, StripeError> {
    let mut prev = Map::new();
    let old = c.clone();
    if let Some(email) = opt_string(p, "email")? {
        if let Some(e) = &email {
            check_email(e)?;
        }
        c.email = email.map(Arc::from);
    }
    if let Some(name) = opt_string(p, "name")? {
        c.name = name.map(Arc::from);
    }
    if let Some(v) = opt_string(p, "phone")? {
        c.phone = v;
    }
    if let Some(v) = opt_string(p, "description")? {
        c.description = v;
    }
    if let Some(v) = opt_string(p, "invoice_prefix")?
        && let Some(v) = v
    {
        let ok = (3..=12).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(StripeError::invalid(
                "Invoice prefix must be between 3 and 12 uppercase letters or numbers.",
            )
            .param("invoice_prefix"));
        }
        c.invoice_prefix = v.into();
    }
    if let Some(v) = p.get("address") {
        c.address = parse_address(v)?;
    }
    if let Some(v) = p.get("preferred_locales") {
        c.preferred_locales = match v {
            FormValue::Str(s) if s.is_empty() => Vec::new(),
            v => v
                .as_list()
                .ok_or_else(|| StripeError::invalid("Invalid array").param("preferred_locales"))?
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        };
    }
    if let Some(v) = p.get("metadata") {
        let md_prev = apply_metadata(&mut c.metadata, v)?;
        if !md_prev.is_empty() {
            prev.insert("metadata".into(), Value::Object(md_prev));
        }
    }
    let s = |v: &Option<Arc<str>>| {
        v.as_deref()
            .map_or(Value::Null, |s| Value::String(s.into()))
    };
    let so = |v: &Option<String>| {
        v.as_deref()
            .map_or(Value::Null, |s| Value::String(s.into()))
    };
    if old.email != c.email {
        prev.insert("email".into(), s(&old.email));
    }
    if old.name != c.name {
        prev.insert("name".into(), s(&old.name));
    }
    if old.phone != c.phone {
        prev.insert("phone".into(), so(&old.phone));
    }
    if old.description != c.description {
        prev.insert("description".into(), so(&old.description));
    }
    if old.invoice_prefix != c.invoice_prefix {
        prev.insert(
            "invoice_prefix".into(),
            Value::String(old.invoice_prefix.to_string()),
        );
    }
    if old.address != c.address {
        prev.insert("address".into(), address_json(&old.address));
    }
    if old.preferred_locales != c.preferred_locales {
        prev.insert("preferred_locales".into(), json!(old.preferred_locales));
    }
    Ok(prev)
}

fn invoice_prefix(st: &mut St) -> Box<str> {
    let id = st.new_id(ids::IdKind("", 8));
    id.to_ascii_uppercase()
        .chars()
        .take(8)
        .collect::<String>()
        .into()
}

pub fn create_customer(
    st: &mut St,
    p: &Params,
    req: &RequestInfo,
    now: i64,
    version: &str,
) -> WriteResult {
    check_params(p)?;
    let id = st.new_id(ids::CUSTOMER);
    let prefix = invoice_prefix(st);
    let mut c = Customer {
        id,
        created: now,
        email: None,
        name: None,
        phone: None,
        description: None,
        address: None,
        metadata: Default::default(),
        invoice_prefix: prefix,
        next_invoice_sequence: 1,
        currency: None,
        delinquent: false,
        preferred_locales: Vec::new(),
        deleted: false,
    };
    apply(&mut c, p)?;
    let ix = st.insert_customer(c);
    let body = render_customer(st, ix, version, p)?;
    let snap = st.snapshot_customer(ix);
    let d = publish(st, now, "customer.created", snap, None, Some(req));
    Ok((StatusCode::OK, body, d))
}

fn live_customer(st: &St, id: &str) -> Result<Ix, StripeError> {
    st.customers
        .lookup(id)
        .filter(|&ix| !st.customers.get(ix).deleted)
        .ok_or_else(|| StripeError::missing(StatusCode::NOT_FOUND, "customer", id, "id"))
}

pub fn update_customer(
    st: &mut St,
    id: &str,
    p: &Params,
    req: &RequestInfo,
    now: i64,
    version: &str,
) -> WriteResult {
    let ix = live_customer(st, id)?;
    check_params(p)?;
    let mut c = st.customers.get(ix).clone();
    let prev = apply(&mut c, p)?;
    let old_email = st.customers.get(ix).email.clone();
    if old_email != c.email {
        if let Some(e) = &old_email {
            st.unindex_email(ix, e);
        }
        if let Some(e) = c.email.clone() {
            st.index_email(ix, e);
        }
    }
    *st.customers.get_mut(ix) = c;
    let body = render_customer(st, ix, version, p)?;
    let mut d = Vec::new();
    if !prev.is_empty() {
        let snap = st.snapshot_customer(ix);
        d = publish(
            st,
            now,
            "customer.updated",
            snap,
            Some(Value::Object(prev)),
            Some(req),
        );
    }
    Ok((StatusCode::OK, body, d))
}

pub fn delete_customer(st: &mut St, id: &str, req: &RequestInfo, now: i64) -> WriteResult {
    let ix = live_customer(st, id)?;
    let mut d: Vec<Delivery> = Vec::new();
    let subs: Vec<Ix> = st
        .subscriptions
        .of_customer(ix)
        .iter()
        .copied()
        .filter(|&s| {
            !matches!(
                st.subscriptions.get(s).status,
                SubStatus::Canceled | SubStatus::IncompleteExpired
            )
        })
        .collect();
    for s in subs {
        let sub = st.subscriptions.get_mut(s);
        sub.status = SubStatus::Canceled;
        sub.canceled_at = Some(now);
        sub.ended_at = Some(now);
        sub.cancellation_reason = Some("cancellation_requested");
        let snap = st.snapshot_subscription(s);
        d.extend(publish(
            st,
            now,
            "customer.subscription.deleted",
            snap,
            None,
            Some(req),
        ));
    }
    let snap = st.snapshot_customer(ix);
    st.customers.get_mut(ix).deleted = true;
    d.extend(publish(st, now, "customer.deleted", snap, None, Some(req)));
    let mut out = Vec::with_capacity(64);
    render::deleted_customer(id, &mut out);
    Ok((StatusCode::OK, out, d))
}
