//! `GET` lists and retrieves for every kind: newest first, `limit` 1–100, `starting_after` /
//! `ending_before` (an unknown id is a 400 `resource_missing`), `created[…]`, each endpoint's own
//! filters, and `expand[]`.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::emulator::StripeEmulator;
use super::error::{ApiResult, StripeError, json_response};
use super::json::{Obj, write_str};
use super::model::{Ix, SubStatus};
use super::params::{FormValue, ListQuery, retrieve_expand};
use super::render::{self, Ctx};
use super::server::ReqCtx;
use super::state::State as St;
use super::table::{CreatedRange, Cursor, Row, Table, page};

/// API-FACTS "Stripe": the Events API only lists the last 30 days.
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Customers,
    Charges,
    Refunds,
    PaymentIntents,
    Subscriptions,
    Invoices,
    CheckoutSessions,
    Events,
    Prices,
    Products,
    WebhookEndpoints,
}

impl Kind {
    fn url(self) -> &'static str {
        match self {
            Kind::Customers => "/v1/customers",
            Kind::Charges => "/v1/charges",
            Kind::Refunds => "/v1/refunds",
            Kind::PaymentIntents => "/v1/payment_intents",
            Kind::Subscriptions => "/v1/subscriptions",
            Kind::Invoices => "/v1/invoices",
            Kind::CheckoutSessions => "/v1/checkout/sessions",
            Kind::Events => "/v1/events",
            Kind::Prices => "/v1/prices",
            Kind::Products => "/v1/products",
            Kind::WebhookEndpoints => "/v1/webhook_endpoints",
        }
    }

    /// The name in "No such …" messages.
    pub fn what(self) -> &'static str {
        match self {
            Kind::Customers => "customer",
            Kind::Charges => "charge",
            Kind::Refunds => "refund",
            Kind::PaymentIntents => "payment_intent",
            Kind::Subscriptions => "subscription",
            Kind::Invoices => "invoice",
            Kind::CheckoutSessions => "checkout.session",
            Kind::Events => "event",
            Kind::Prices => "price",
            Kind::Products => "product",
            Kind::WebhookEndpoints => "webhook_endpoint",
        }
    }

    /// Filters the endpoint takes besides the common list parameters.
    fn filters(self) -> &'static [&'static str] {
        match self {
            Kind::Customers => &["email", "test_clock"],
            Kind::Charges => &["customer", "payment_intent", "transfer_group"],
            Kind::Refunds => &["charge", "payment_intent"],
            Kind::PaymentIntents => &["customer"],
            Kind::Subscriptions => &[
                "customer",
                "price",
                "status",
                "collection_method",
                "current_period_end",
                "current_period_start",
                "test_clock",
                "automatic_tax",
            ],
            Kind::Invoices => &[
                "customer",
                "subscription",
                "status",
                "collection_method",
                "due_date",
            ],
            Kind::CheckoutSessions => &[
                "customer",
                "customer_details",
                "payment_intent",
                "payment_link",
                "status",
                "subscription",
            ],
            Kind::Events => &["type", "types", "delivery_success"],
            Kind::Prices => &[
                "active",
                "currency",
                "lookup_keys",
                "product",
                "recurring",
                "type",
            ],
            Kind::Products => &["active", "ids", "shippable", "url"],
            Kind::WebhookEndpoints => &[],
        }
    }
}

pub async fn list(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    RawQuery(q): RawQuery,
    kind: Kind,
) -> ApiResult {
    let q = ListQuery::parse(q.as_deref().unwrap_or(""), kind.filters())?;
    let now = emu.now();
    let st = emu.read();
    let body = list_body(&st, &ctx.version, &q, kind, now)?;
    Ok(json_response(StatusCode::OK, body))
}

/// The JSON of one list page.
pub fn list_body(
    st: &St,
    version: &str,
    q: &ListQuery,
    kind: Kind,
    now: i64,
) -> Result<Vec<u8>, StripeError> {
    let c = Ctx::new(st, version, &q.expand);
    let customer = |st: &St| -> Option<Option<Ix>> {
        q.filter_str("customer").map(|id| st.customers.lookup(id))
    };
    let mut out = Vec::with_capacity(2048 * q.limit.min(20));
    match kind {
        Kind::Customers => {
            let t = &st.customers;
            let email = q.filter_str("email");
            let idx: &[Ix] = match email {
                Some(e) => st.by_email.get(e).map_or(&[], |v| v.as_slice()),
                None => t.order(),
            };
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| !x.deleted,
                |x, out| render::customer(&c, x, out),
            )?;
        }
        Kind::Charges => {
            let t = &st.charges;
            let idx = by_customer(t, customer(st));
            let pi = q
                .filter_str("payment_intent")
                .map(|id| st.payment_intents.lookup(id));
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| match pi {
                    None => true,
                    Some(p) => p.is_some() && x.payment_intent == p,
                },
                |x, out| render::charge(&c, x, out),
            )?;
        }
        Kind::Refunds => {
            let t = &st.refunds;
            let mut own: Vec<Ix> = Vec::new();
            let idx: &[Ix] = match q.filter_str("charge") {
                Some(id) => {
                    if let Some(ch) = st.charges.lookup(id) {
                        own = st.charges.get(ch).refunds.clone();
                        own.sort_by_key(|&r| t.key(r));
                    }
                    &own
                }
                None => t.order(),
            };
            let pi = q
                .filter_str("payment_intent")
                .map(|id| st.payment_intents.lookup(id));
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| match pi {
                    None => true,
                    Some(p) => p.is_some() && st.charges.get(x.charge).payment_intent == p,
                },
                |x, out| render::refund(&c, x, out),
            )?;
        }
        Kind::PaymentIntents => {
            let t = &st.payment_intents;
            let idx = by_customer(t, customer(st));
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |_| true,
                |x, out| render::payment_intent(&c, x, out),
            )?;
        }
        Kind::Subscriptions => {
            let t = &st.subscriptions;
            let idx = by_customer(t, customer(st));
            let status = q.filter_str("status");
            let want: Option<SubStatus> = match status {
                None | Some("all") | Some("ended") => None,
                Some(s) => Some(SubStatus::parse(s).ok_or_else(|| {
                    StripeError::invalid("Invalid status: must be one of active, all, canceled, ended, incomplete, incomplete_expired, past_due, paused, trialing, or unpaid".to_string())
                    .param("status")
                })?),
            };
            let price = q.filter_str("price").map(|id| st.catalog.price_ix(id));
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| {
                    let status_ok = match (status, want) {
                        (Some("all"), _) => true,
                        (Some("ended"), _) => {
                            matches!(x.status, SubStatus::Canceled | SubStatus::IncompleteExpired)
                        }
                        (_, Some(s)) => x.status == s,
                        // API-FACTS: without `status`, canceled subscriptions are left out.
                        _ => x.status != SubStatus::Canceled,
                    };
                    status_ok
                        && match price {
                            None => true,
                            Some(p) => p.is_some() && x.items.iter().any(|i| Some(i.price) == p),
                        }
                },
                |x, out| render::subscription(&c, x, out),
            )?;
        }
        Kind::Invoices => {
            let t = &st.invoices;
            let idx = by_customer(t, customer(st));
            let sub = q
                .filter_str("subscription")
                .map(|id| st.subscriptions.lookup(id));
            let status = q.filter_str("status");
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| {
                    status.is_none_or(|s| x.status.as_str() == s)
                        && match sub {
                            None => true,
                            Some(s) => s.is_some() && x.subscription == s,
                        }
                },
                |x, out| render::invoice(&c, x, out),
            )?;
        }
        Kind::CheckoutSessions => {
            let t = &st.sessions;
            let idx = by_customer(t, customer(st));
            let pi = q
                .filter_str("payment_intent")
                .map(|id| st.payment_intents.lookup(id));
            let sub = q
                .filter_str("subscription")
                .map(|id| st.subscriptions.lookup(id));
            let status = q.filter_str("status");
            let email = match q.filters.get("customer_details") {
                Some(FormValue::Map(m)) => m.get("email").and_then(FormValue::as_str),
                _ => None,
            };
            write_page(
                &mut out,
                kind,
                t,
                idx,
                q,
                |x| {
                    status.is_none_or(|s| x.status == s)
                        && email.is_none_or(|e| x.details_email.as_deref() == Some(e))
                        && match pi {
                            None => true,
                            Some(p) => p.is_some() && x.payment_intent == p,
                        }
                        && match sub {
                            None => true,
                            Some(s) => s.is_some() && x.subscription == s,
                        }
                },
                |x, out| render::checkout_session(&c, x, out),
            )?;
        }
        Kind::Events => {
            let t = &st.events;
            let mut q2 = q.clone();
            let floor = now - EVENT_RETENTION_SECS;
            q2.created = CreatedRange {
                gte: Some(q.created.gte.map_or(floor, |g| g.max(floor))),
                lte: q.created.lte,
            };
            let mut types: Vec<String> = Vec::new();
            if let Some(t) = q.filter_str("type") {
                types.push(t.to_owned());
            }
            if let Some(v) = q.filters.get("types") {
                let l = v
                    .as_list()
                    .ok_or_else(|| StripeError::invalid("Invalid array").param("types"))?;
                types.extend(l.into_iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
            write_page(
                &mut out,
                kind,
                t,
                t.order(),
                &q2,
                |x| types.is_empty() || types.iter().any(|p| type_matches(p, x.kind)),
                |x, out| render::event(&c, x, out),
            )?;
        }
        Kind::Prices => {
            let cat = &st.catalog;
            let product = q.filter_str("product").map(|id| cat.product_ix(id));
            let ptype = q.filter_str("type");
            let items: Vec<(i64, &str, usize)> = cat
                .prices
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    product.is_none_or(|pr| pr == Some(p.product))
                        && ptype.is_none_or(|t| (t == "recurring") == p.recurring.is_some())
                })
                .map(|(i, p)| (p.created, &*p.id, i))
                .collect();
            small_page(&mut out, kind, items, q, |i, out| {
                render::price(&c, i as u16, out)
            })?;
        }
        Kind::Products => {
            let items: Vec<(i64, &str, usize)> = st
                .catalog
                .products
                .iter()
                .enumerate()
                .map(|(i, p)| (p.created, &*p.id, i))
                .collect();
            small_page(&mut out, kind, items, q, |i, out| {
                render::product(&c, i as u16, out)
            })?;
        }
        Kind::WebhookEndpoints => {
            let items: Vec<(i64, &str, usize)> = st
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| (e.created, &*e.id, i))
                .collect();
            small_page(&mut out, kind, items, q, |i, out| {
                render::webhook_endpoint(&st.endpoints[i], false, out)
            })?;
        }
    }
    Ok(out)
}

/// `type=customer.*` matches every `customer.` event.
fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

fn by_customer<T: Row>(t: &Table<T>, customer: Option<Option<Ix>>) -> &[Ix] {
    match customer {
        None => t.order(),
        Some(None) => &[],
        Some(Some(c)) => t.of_customer(c),
    }
}

fn cursor<T: Row>(t: &Table<T>, q: &ListQuery, kind: Kind) -> Result<Cursor, StripeError> {
    let resolve = |id: &str, param: &str| {
        t.lookup(id)
            .map(|ix| t.key(ix))
            .ok_or_else(|| StripeError::missing(StatusCode::BAD_REQUEST, kind.what(), id, param))
    };
    Ok(match (&q.starting_after, &q.ending_before) {
        (Some(id), _) => Cursor::StartingAfter(resolve(id, "starting_after")?),
        (None, Some(id)) => Cursor::EndingBefore(resolve(id, "ending_before")?),
        (None, None) => Cursor::First,
    })
}

fn write_page<T: Row>(
    out: &mut Vec<u8>,
    kind: Kind,
    t: &Table<T>,
    idx: &[Ix],
    q: &ListQuery,
    keep: impl Fn(&T) -> bool,
    render: impl Fn(&T, &mut Vec<u8>),
) -> Result<(), StripeError> {
    let cur = cursor(t, q, kind)?;
    let (ixs, more) = page(t.rows(), idx, q.created, cur, q.limit, keep);
    envelope(out, kind, more, |out| {
        for (i, ix) in ixs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            render(t.get(*ix), out);
        }
    });
    Ok(())
}

/// Lists of a handful of items (prices, products, endpoints): sorted here, same semantics.
fn small_page(
    out: &mut Vec<u8>,
    kind: Kind,
    mut items: Vec<(i64, &str, usize)>,
    q: &ListQuery,
    render: impl Fn(usize, &mut Vec<u8>),
) -> Result<(), StripeError> {
    items.retain(|(c, _, _)| {
        q.created.gte.is_none_or(|g| *c >= g) && q.created.lte.is_none_or(|l| *c <= l)
    });
    items.sort_by_key(|(c, _, i)| std::cmp::Reverse((*c, *i)));
    let find = |id: &str, param: &str| {
        items
            .iter()
            .position(|(_, x, _)| *x == id)
            .ok_or_else(|| StripeError::missing(StatusCode::BAD_REQUEST, kind.what(), id, param))
    };
    let (window, more): (Vec<usize>, bool) = match (&q.starting_after, &q.ending_before) {
        (Some(id), _) => {
            let p = find(id, "starting_after")?;
            let rest = &items[p + 1..];
            (
                rest.iter().take(q.limit).map(|x| x.2).collect(),
                rest.len() > q.limit,
            )
        }
        (None, Some(id)) => {
            let p = find(id, "ending_before")?;
            let start = p.saturating_sub(q.limit);
            (items[start..p].iter().map(|x| x.2).collect(), start > 0)
        }
        (None, None) => (
            items.iter().take(q.limit).map(|x| x.2).collect(),
            items.len() > q.limit,
        ),
    };
    envelope(out, kind, more, |out| {
        for (i, ix) in window.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            render(*ix, out);
        }
    });
    Ok(())
}

fn envelope(out: &mut Vec<u8>, kind: Kind, more: bool, data: impl FnOnce(&mut Vec<u8>)) {
    let mut o = Obj::new(out);
    o.str("object", "list")
        .with("data", |out| {
            out.push(b'[');
            data(out);
            out.push(b']');
        })
        .bool("has_more", more)
        .with("url", |out| write_str(out, kind.url()));
    o.end();
}

pub async fn retrieve(
    State(emu): State<StripeEmulator>,
    Extension(ctx): Extension<ReqCtx>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    kind: Kind,
) -> ApiResult {
    let expand = retrieve_expand(q.as_deref())?;
    let now = emu.now();
    let st = emu.read();
    let c = Ctx::new(&st, &ctx.version, &expand);
    let missing = || StripeError::missing(StatusCode::NOT_FOUND, kind.what(), &id, "id");
    let mut out = Vec::with_capacity(4096);
    match kind {
        Kind::Customers => {
            let x = st.customers.by_id(&id).ok_or_else(missing)?;
            if x.deleted {
                render::deleted_customer(&x.id, &mut out);
            } else {
                render::customer(&c, x, &mut out);
            }
        }
        Kind::Charges => render::charge(&c, st.charges.by_id(&id).ok_or_else(missing)?, &mut out),
        Kind::Refunds => render::refund(&c, st.refunds.by_id(&id).ok_or_else(missing)?, &mut out),
        Kind::PaymentIntents => render::payment_intent(
            &c,
            st.payment_intents.by_id(&id).ok_or_else(missing)?,
            &mut out,
        ),
        Kind::Subscriptions => render::subscription(
            &c,
            st.subscriptions.by_id(&id).ok_or_else(missing)?,
            &mut out,
        ),
        Kind::Invoices => {
            render::invoice(&c, st.invoices.by_id(&id).ok_or_else(missing)?, &mut out)
        }
        Kind::CheckoutSessions => {
            render::checkout_session(&c, st.sessions.by_id(&id).ok_or_else(missing)?, &mut out)
        }
        Kind::Events => {
            let x = st
                .events
                .by_id(&id)
                .filter(|e| e.created >= now - EVENT_RETENTION_SECS)
                .ok_or_else(missing)?;
            render::event(&c, x, &mut out)
        }
        Kind::Prices => render::price(&c, st.catalog.price_ix(&id).ok_or_else(missing)?, &mut out),
        Kind::Products => render::product(
            &c,
            st.catalog.product_ix(&id).ok_or_else(missing)?,
            &mut out,
        ),
        Kind::WebhookEndpoints => {
            let e = st
                .endpoints
                .iter()
                .find(|e| *e.id == *id)
                .ok_or_else(missing)?;
            render::webhook_endpoint(e, false, &mut out)
        }
    }
    Ok(json_response(StatusCode::OK, out))
}
