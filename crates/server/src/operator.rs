//! Operator endpoints: `/status` (JSON), `/metrics` (Prometheus text) and `/readyz`. `/status`
//! and `/metrics` are operator routes (a bearer token or a dashboard session, see `auth`).
//! `/readyz` says whether the store answers, for load balancers and orchestrators, and tells
//! nothing else.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use paysync_engine::{now_ms, status};
use serde_json::json;

use crate::{AppState, error};

pub(crate) async fn status_json(State(state): State<AppState>) -> Response {
    let mut accounts = Vec::new();
    for account in &state.running().config.accounts {
        match status::account_status(&state.running().store, account).await {
            Ok(s) => accounts.push(s),
            Err(e) => {
                tracing::error!(account = %account.name, error = %e, "status unavailable");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    &e.to_string(),
                );
            }
        }
    }
    Json(json!({ "accounts": accounts })).into_response()
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.running().store.outbox_summary(now_ms()).await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    match render(&state).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "try again later",
            )
        }
    }
}

/// Prometheus text being written (`write!` to a String cannot fail).
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    /// A metric family's HELP and TYPE lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, text: String) {
        self.0.push_str(&text);
        self.0.push('\n');
    }
}

async fn render(state: &AppState) -> Result<String, paysync_store::StoreError> {
    // One generation throughout, should the configuration be reloaded meanwhile.
    let running = state.running();
    let store = &running.store;
    let mut out = Exposition::default();
    out.family(
        "paysync_webhook_events",
        "gauge",
        "Stripe events stored (webhooks and catch-up).",
    );
    let mut rejections = Vec::new();
    let mut pending = Vec::new();
    for account in &running.config.accounts {
        let summary = store.ledger_summary(&account.name).await?;
        let a = label(&account.name);
        out.line(format!(
            "paysync_webhook_events{{account=\"{a}\"}} {}",
            summary.events
        ));
        pending.push((a.clone(), summary.pending_events, summary.dirty_customers));
        for r in summary.rejections {
            rejections.push((a.clone(), label(&r.reason), r.count));
        }
    }
    out.family(
        "paysync_webhook_rejections_total",
        "counter",
        "Webhook requests refused, by reason.",
    );
    for (a, reason, count) in rejections {
        out.line(format!(
            "paysync_webhook_rejections_total{{account=\"{a}\",reason=\"{reason}\"}} {count}"
        ));
    }
    out.family(
        "paysync_events_pending",
        "gauge",
        "Events stored but not yet in the ledger.",
    );
    out.family(
        "paysync_people_dirty",
        "gauge",
        "People waiting to be reconciled.",
    );
    for (a, events, dirty) in pending {
        out.line(format!(
            "paysync_events_pending{{account=\"{a}\"}} {events}"
        ));
        out.line(format!("paysync_people_dirty{{account=\"{a}\"}} {dirty}"));
    }
    out.family(
        "paysync_outbox_rows",
        "gauge",
        "Outbox rows per destination and state.",
    );
    for o in store.outbox_summary(now_ms()).await? {
        let d = label(&o.destination);
        for (kind, n) in [
            ("pending", o.pending),
            ("due", o.due),
            ("in_flight", o.in_flight),
            ("dead", o.dead),
        ] {
            out.line(format!(
                "paysync_outbox_rows{{destination=\"{d}\",state=\"{kind}\"}} {n}"
            ));
        }
    }
    out.family(
        "paysync_delivered_rows_total",
        "counter",
        "Outbox rows settled, by outcome.",
    );
    out.family(
        "paysync_delivered_ops_total",
        "counter",
        "Operations sent to destinations.",
    );
    for d in &running.deliverers {
        let name = label(&d.destination);
        let t = &d.totals;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        for (outcome, n) in [
            ("done", get(&t.rows_done)),
            ("retried", get(&t.rows_retried)),
            ("dead", get(&t.rows_dead)),
        ] {
            out.line(format!(
                "paysync_delivered_rows_total{{destination=\"{name}\",outcome=\"{outcome}\"}} {n}"
            ));
        }
        out.line(format!(
            "paysync_delivered_ops_total{{destination=\"{name}\"}} {}",
            get(&t.ops)
        ));
    }
    out.family(
        "paysync_destination_requests_total",
        "counter",
        "Calls to destination APIs, by outcome.",
    );
    out.family(
        "paysync_destination_request_seconds",
        "histogram",
        "Latency of calls to destination APIs.",
    );
    for (dest, stats) in paysync_destinations::metrics::snapshot() {
        let d = label(&dest);
        for (outcome, n) in &stats.by_outcome {
            out.line(format!(
                "paysync_destination_requests_total{{destination=\"{d}\",outcome=\"{outcome}\"}} {n}"
            ));
        }
        let mut histogram = String::new();
        for (bound, n) in paysync_destinations::metrics::LATENCY_BUCKETS
            .iter()
            .zip(stats.buckets)
        {
            let _ = writeln!(
                histogram,
                "paysync_destination_request_seconds_bucket{{destination=\"{d}\",le=\"{bound}\"}} {n}"
            );
        }
        let _ = write!(
            histogram,
            "paysync_destination_request_seconds_bucket{{destination=\"{d}\",le=\"+Inf\"}} {}\n\
             paysync_destination_request_seconds_sum{{destination=\"{d}\"}} {}\n\
             paysync_destination_request_seconds_count{{destination=\"{d}\"}} {}",
            stats.count, stats.sum_secs, stats.count
        );
        out.line(histogram);
    }
    Ok(out.0)
}
