//! The HTTP surface: `/api/3/*` routes behind the gate (faults, `Api-Token`, the account's
//! 5 requests a second, request accounting) and `/_admin/*`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::Value;

use crate::common::FaultAction;
use crate::common::http::{endpoint_key, json_response};
use crate::common::query::{query_get, query_pairs};

use super::admin;
use super::emulator::ActiveCampaignEmulator;
use super::error::{AcError, AcResult};
use super::import;
use super::model::{Fmt, State as AcState};
use super::ops::{self, parse_body};

type S = State<ActiveCampaignEmulator>;

fn respond(r: AcResult) -> Response {
    match r {
        Ok((status, v)) => json_response(status, &v),
        Err(e) => e.into_response(),
    }
}

/// Runs `f` on the state with a parsed body.
fn write_with(
    emu: &ActiveCampaignEmulator,
    body: &Bytes,
    f: impl FnOnce(&mut AcState, i64, Fmt, &Value) -> AcResult,
) -> Response {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let now = emu.now();
    let fmt = emu.fmt();
    respond(f(&mut emu.write(), now, fmt, &v))
}

fn read_with(emu: &ActiveCampaignEmulator, f: impl FnOnce(&AcState, Fmt) -> AcResult) -> Response {
    let fmt = emu.fmt();
    respond(f(&emu.read(), fmt))
}

pub fn router(emu: ActiveCampaignEmulator) -> Router {
    let api = Router::new()
        .route("/api/3/users/me", get(users_me))
        .route("/api/3/contact/sync", post(contact_sync))
        .route("/api/3/contacts", get(contacts))
        .route("/api/3/contacts/{id}", get(contact).delete(delete_contact))
        .route("/api/3/contacts/{id}/contactLists", get(contact_lists))
        .route("/api/3/contacts/{id}/contactTags", get(contact_tags))
        .route(
            "/api/3/contacts/{id}/fieldValues",
            get(contact_field_values),
        )
        .route("/api/3/lists", get(lists).post(create_list))
        .route("/api/3/lists/{id}", get(list))
        .route("/api/3/contactLists", post(contact_list))
        .route("/api/3/tags", get(tags).post(create_tag))
        .route("/api/3/tags/{id}", get(tag))
        .route("/api/3/contactTags", post(contact_tag))
        .route("/api/3/contactTags/{id}", delete(delete_contact_tag))
        .route("/api/3/fields", get(fields).post(create_field))
        .route("/api/3/fields/{id}", get(field))
        .route("/api/3/fieldRels", post(field_rel))
        .route("/api/3/fieldValues", post(field_value))
        .route(
            "/api/3/import/bulk_import",
            post(bulk_import).get(import_summary),
        )
        .route("/api/3/import/info", get(import_info))
        .route(
            "/api/3/connections",
            get(connections).post(create_connection),
        )
        .route(
            "/api/3/connections/{id}",
            get(connection).delete(delete_connection),
        )
        .route(
            "/api/3/ecomCustomers",
            get(ecom_customers).post(create_ecom_customer),
        )
        .route(
            "/api/3/ecomCustomers/{id}",
            get(ecom_customer)
                .put(update_ecom_customer)
                .delete(delete_ecom_customer),
        )
        .route(
            "/api/3/ecomOrders",
            get(ecom_orders).post(create_ecom_order),
        )
        .route(
            "/api/3/ecomOrders/{id}",
            get(ecom_order)
                .put(update_ecom_order)
                .delete(delete_ecom_order),
        )
        .route_layer(middleware::from_fn_with_state(emu.clone(), gate))
        .fallback(unrecognized)
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(emu.clone());
    api.merge(admin::router(emu))
}

async fn unrecognized(State(emu): S, req: Request) -> Response {
    emu.requests().record("unrecognized", 404);
    AcError::message(
        404,
        format!("Not Found: {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

fn authorized(emu: &ActiveCampaignEmulator, req: &Request) -> bool {
    let Some(token) = req
        .headers()
        .get("api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return false;
    };
    let tokens = &emu.config().api_tokens;
    tokens.is_empty() || tokens.iter().any(|t| t == token)
}

async fn gate(State(emu): S, req: Request, next: Next) -> Response {
    let endpoint = endpoint_key(&req);
    let decision = emu.faults().decide();
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    let resp = match decision.action {
        Some(FaultAction::Outage) => AcError::server_error(503).into_response(),
        Some(FaultAction::Error(s)) => AcError::server_error(s).into_response(),
        Some(FaultAction::Throttle) => AcError::rate_limited().into_response(),
        None => {
            if !authorized(&emu, &req) {
                AcError::forbidden().into_response()
            } else if !emu.inner.limiter.check("account") {
                emu.inner
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                AcError::rate_limited().into_response()
            } else {
                next.run(req).await
            }
        }
    };
    emu.requests().record(&endpoint, resp.status().as_u16());
    resp
}

/// `GET /users/me`: the token's user (what clients call to check a token).
async fn users_me(State(emu): S) -> Response {
    let f = emu.fmt();
    json_response(
        200,
        &serde_json::json!({"user": {
            "username": "admin", "firstName": "Account", "lastName": "Owner",
            "email": "owner@paysync.example", "phone": "", "signature": null,
            "cdate": f.t(0), "udate": f.t(0),
            "links": {"lists": "/api/3/users/1/lists"}, "id": "1",
        }}),
    )
}

// Contacts ------------------------------------------------------------------------------------

async fn contact_sync(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::contact_sync)
}

async fn contacts(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::list_contacts(st, f, &q))
}

async fn contact(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_contact(st, f, &id))
}

async fn delete_contact(State(emu): S, Path(id): Path<String>) -> Response {
    respond(ops::delete_contact(&mut emu.write(), &id))
}

async fn contact_lists(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::contact_contact_lists(st, f, &id))
}

async fn contact_tags(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::contact_contact_tags(st, f, &id))
}

async fn contact_field_values(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::contact_field_values(st, f, &id))
}

// Lists -----------------------------------------------------------------------------------------

async fn lists(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_lists(st, f, &q))
}

async fn create_list(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_list)
}

async fn list(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_list(st, f, &id))
}

async fn contact_list(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::post_contact_list)
}

// Tags ------------------------------------------------------------------------------------------

async fn tags(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_tags(st, f, &q))
}

async fn create_tag(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_tag)
}

async fn tag(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_tag(st, f, &id))
}

async fn contact_tag(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::post_contact_tag)
}

async fn delete_contact_tag(State(emu): S, Path(id): Path<String>) -> Response {
    respond(ops::delete_contact_tag(&mut emu.write(), &id))
}

// Fields ----------------------------------------------------------------------------------------

async fn fields(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_fields(st, f, &q))
}

async fn create_field(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_field)
}

async fn field(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_field(st, f, &id))
}

async fn field_rel(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_field_rel)
}

async fn field_value(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::post_field_value)
}

// Bulk import -----------------------------------------------------------------------------------

async fn bulk_import(State(emu): S, body: Bytes) -> Response {
    let len = body.len();
    let v = if len >= super::config::IMPORT_MAX_BYTES {
        Value::Null
    } else {
        match parse_body(&body) {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        }
    };
    let now = emu.now();
    let cfg = emu.config();
    let r = import::create(
        &mut emu.write(),
        now,
        len,
        &v,
        cfg.import_multi_per_minute,
        cfg.import_single_per_minute,
    );
    match r {
        Ok((body, batch_id)) => {
            import::spawn(emu.clone(), batch_id);
            json_response(200, &body)
        }
        Err(e) => e.into_response(),
    }
}

async fn import_info(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    respond(import::info(&emu.read(), query_get(&q, "batchId")))
}

async fn import_summary(State(emu): S) -> Response {
    respond(import::summary(&emu.read(), emu.config().utc_offset_secs))
}

// Deep Data -------------------------------------------------------------------------------------

async fn connections(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_connections(st, f, &q))
}

async fn create_connection(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_connection)
}

async fn connection(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_connection(st, f, &id))
}

async fn delete_connection(State(emu): S, Path(id): Path<String>) -> Response {
    respond(ops::delete_connection(&mut emu.write(), &id))
}

async fn ecom_customers(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_ecom_customers(st, f, &q))
}

async fn create_ecom_customer(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_ecom_customer)
}

async fn ecom_customer(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_ecom_customer(st, f, &id))
}

async fn update_ecom_customer(State(emu): S, Path(id): Path<String>, body: Bytes) -> Response {
    write_with(&emu, &body, |st, now, f, v| {
        ops::update_ecom_customer(st, now, f, &id, v)
    })
}

async fn ecom_orders(State(emu): S, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    read_with(&emu, |st, f| ops::get_ecom_orders(st, f, &q))
}

async fn create_ecom_order(State(emu): S, body: Bytes) -> Response {
    write_with(&emu, &body, ops::create_ecom_order)
}

async fn ecom_order(State(emu): S, Path(id): Path<String>) -> Response {
    read_with(&emu, |st, f| ops::get_ecom_order(st, f, &id))
}

async fn update_ecom_order(State(emu): S, Path(id): Path<String>, body: Bytes) -> Response {
    write_with(&emu, &body, |st, now, f, v| {
        ops::update_ecom_order(st, now, f, &id, v)
    })
}

async fn delete_ecom_customer(State(emu): S, Path(id): Path<String>) -> Response {
    respond(ops::delete_ecom_customer(&mut emu.write(), &id))
}

async fn delete_ecom_order(State(emu): S, Path(id): Path<String>) -> Response {
    respond(ops::delete_ecom_order(&mut emu.write(), &id))
}
