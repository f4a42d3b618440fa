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

async fn render(state: &AppState) -> Result<String, paysync_store::StoreError> {
    let mut out = String::new();
    let store = &state.running().store;
    // `write!` to a String cannot fail.
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("# HELP paysync_webhook_events Stripe events stored (webhooks and catch-up).".into());
    line("# TYPE paysync_webhook_events gauge".into());
    let mut rejections = Vec::new();
    let mut pending = Vec::new();
    for account in &state.running().config.accounts {
        let summary = store.ledger_summary(&account.name).await?;
        let a = label(&account.name);
        line(format!(
            "paysync_webhook_events{{account=\"{a}\"}} {}",
            summary.events
        ));
        pending.push((a.clone(), summary.pending_events, summary.dirty_customers));
        for r in summary.rejections {
            rejections.push((a.clone(), label(&r.reason), r.count));
        }
    }
    line("# HELP paysync_webhook_rejections_total Webhook requests refused, by reason.".into());
    line("# TYPE paysync_webhook_rejections_total counter".into());
    for (a, reason, count) in rejections {
        line(format!(
            "paysync_webhook_rejections_total{{account=\"{a}\",reason=\"{reason}\"}} {count}"
        ));
    }
    line("# HELP paysync_events_pending Events stored but not yet in the ledger.".into());
    line("# TYPE paysync_events_pending gauge".into());
    line("# HELP paysync_people_dirty People waiting to be reconciled.".into());
    line("# TYPE paysync_people_dirty gauge".into());
    for (a, events, dirty) in pending {
        line(format!(
            "paysync_events_pending{{account=\"{a}\"}} {events}"
        ));
        line(format!("paysync_people_dirty{{account=\"{a}\"}} {dirty}"));
    }
    line("# HELP paysync_outbox_rows Outbox rows per destination and state.".into());
    line("# TYPE paysync_outbox_rows gauge".into());
    for o in store.outbox_summary(now_ms()).await? {
        let d = label(&o.destination);
        for (kind, n) in [
            ("pending", o.pending),
            ("due", o.due),
            ("in_flight", o.in_flight),
            ("dead", o.dead),
        ] {
            line(format!(
                "paysync_outbox_rows{{destination=\"{d}\",state=\"{kind}\"}} {n}"
            ));
        }
    }
    line("# HELP paysync_delivered_rows_total Outbox rows settled, by outcome.".into());
    line("# TYPE paysync_delivered_rows_total counter".into());
    line("# HELP paysync_delivered_ops_total Operations sent to destinations.".into());
    line("# TYPE paysync_delivered_ops_total counter".into());
    for d in &state.running().deliverers {
        let name = label(&d.destination);
        let t = &d.totals;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        for (outcome, n) in [
            ("done", get(&t.rows_done)),
            ("retried", get(&t.rows_retried)),
            ("dead", get(&t.rows_dead)),
        ] {
            line(format!(
                "paysync_delivered_rows_total{{destination=\"{name}\",outcome=\"{outcome}\"}} {n}"
            ));
        }
        line(format!(
            "paysync_delivered_ops_total{{destination=\"{name}\"}} {}",
            get(&t.ops)
        ));
    }
    line("# HELP paysync_destination_requests_total Calls to destination APIs, by outcome.".into());
    line("# TYPE paysync_destination_requests_total counter".into());
    line("# HELP paysync_destination_request_seconds Latency of calls to destination APIs.".into());
    line("# TYPE paysync_destination_request_seconds histogram".into());
    for (dest, stats) in paysync_destinations::metrics::snapshot() {
        let d = label(&dest);
        for (outcome, n) in &stats.by_outcome {
            line(format!(
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
        line(histogram);
    }
    Ok(out)
}
