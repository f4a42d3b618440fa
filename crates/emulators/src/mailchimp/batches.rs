//! `POST /batches`: operations run in the background, through the same route table as HTTP
//! requests (without the gate: no auth, limits, faults or request accounting), then the batch
//! is `finished` with its results as a tar.gz served at `response_body_url`.
//!
//! Timeline (Mailchimp documents `pending → preprocessing → started → finalizing → finished`;
//! the emulator shows the three that matter): `pending` for the first half of
//! `batch_delay_ms`, then `started` while the operations run (`finished_operations` grows),
//! then `finished` once the whole delay has passed. The archive holds one JSON file: an array of
//! `{status_code, operation_id, response}` where `response` is the JSON body as a string, as
//! Mailchimp's result files do.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::Method;
use serde_json::{Value, json};

use crate::common::archive::tar_gz;
use crate::common::projection::project;
use crate::common::query::{query_get, query_pairs};
use crate::common::random::random_uuid;

use super::emulator::MailchimpEmulator;
use super::error::Problem;
use super::ops::OpResult;
use super::routes::{Route, resolve};
use super::server::execute;

fn params_to_query(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(m)) = v else {
        return Vec::new();
    };
    m.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// Runs one operation; returns its status and response body (a JSON string, "" for 204).
async fn run_op(emu: &MailchimpEmulator, op: &Value) -> (u16, String) {
    let method = op["method"]
        .as_str()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::GET);
    let raw = op["path"].as_str().unwrap_or("");
    let (path, qs) = raw.split_once('?').unwrap_or((raw, ""));
    let path = path.strip_prefix("/3.0").unwrap_or(path);
    let mut query = query_pairs(Some(qs));
    query.extend(params_to_query(op.get("params")));
    let body = op["body"].as_str().unwrap_or("").as_bytes().to_vec();
    let result: OpResult = match resolve(path) {
        None => Err(Problem::not_found()),
        Some(Route::Batches | Route::Batch(_)) => Err(Problem::invalid(
            "Batch operations cannot themselves start or read batches.",
        )),
        Some(route) => {
            let fut: Pin<Box<dyn Future<Output = OpResult> + Send + '_>> =
                Box::pin(execute(emu, &method, &route, &query, &body, ""));
            fut.await
        }
    };
    match result {
        Ok(r) => {
            let body = r.body.map_or_else(String::new, |mut v| {
                project(
                    &mut v,
                    query_get(&query, "fields"),
                    query_get(&query, "exclude_fields"),
                );
                v.to_string()
            });
            (r.status, body)
        }
        Err(p) => {
            let instance = random_uuid(&mut rand::rng());
            (p.status, p.body(&instance).to_string())
        }
    }
}

/// Starts the background run of batch `id`.
pub fn spawn(emu: MailchimpEmulator, id: String) {
    let generation = emu.read().generation;
    let delay = emu.batch_delay();
    tokio::spawn(async move {
        tokio::time::sleep(delay / 2).await;
        let ops = {
            let mut st = emu.write();
            if st.generation != generation {
                return;
            }
            let Some(b) = st.batch_mut(&id) else { return };
            if b.status != "pending" {
                return;
            }
            b.status = "started";
            std::mem::take(&mut b.operations)
        };
        let mut results = Vec::with_capacity(ops.len());
        let mut errored = 0;
        for (i, op) in ops.iter().enumerate() {
            let (status, body) = run_op(&emu, op).await;
            if status >= 400 {
                errored += 1;
            }
            results.push(json!({
                "status_code": status,
                "operation_id": op.get("operation_id").cloned().unwrap_or(Value::Null),
                "response": body,
            }));
            if i % 50 == 49 {
                let mut st = emu.write();
                if st.generation != generation {
                    return;
                }
                match st.batch_mut(&id) {
                    Some(b) => {
                        b.finished = i + 1;
                        b.errored = errored;
                    }
                    None => return,
                }
            }
        }
        {
            let mut st = emu.write();
            if st.generation != generation {
                return;
            }
            match st.batch_mut(&id) {
                Some(b) => {
                    b.finished = ops.len();
                    b.errored = errored;
                }
                None => return,
            }
        }
        tokio::time::sleep(delay - delay / 2).await;
        let now = emu.now();
        let file = serde_json::to_vec(&results).unwrap_or_default();
        let archive = tar_gz(&[(format!("{id}.json"), file)], now);
        let mut st = emu.write();
        if st.generation != generation {
            return;
        }
        if let Some(b) = st.batch_mut(&id) {
            b.status = "finished";
            b.completed_at = Some(now);
            b.results = Some(Arc::new(archive));
        }
    });
}
