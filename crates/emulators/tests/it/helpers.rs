use axum::http::HeaderMap;
use paysync_emulators::EmulatorHandle;
use paysync_emulators::common::RateLimit;
use paysync_emulators::stripe::{SeedSpec, StripeEmulator, StripeEmulatorConfig, serve_stripe};
use reqwest::StatusCode;
use serde_json::Value;

pub const KEY: &str = "sk_test_paysync123";
/// The fixed "now" of seeded test datasets: 2025-10-09T08:53:20Z.
pub const NOW: i64 = 1_760_000_000;

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

/// A Stripe emulator without rate limit, seeded with `customers` customers (if any) at a clock
/// set to [`NOW`].
pub async fn stripe(customers: usize) -> EmulatorHandle<StripeEmulator> {
    stripe_with(
        StripeEmulatorConfig {
            rate_limit: None,
            ..Default::default()
        },
        customers,
    )
    .await
}

pub async fn stripe_with(
    cfg: StripeEmulatorConfig,
    customers: usize,
) -> EmulatorHandle<StripeEmulator> {
    let h = serve_stripe(cfg).await.expect("serve");
    h.emulator.clock().set(NOW);
    if customers > 0 {
        h.emulator.seed(&SeedSpec {
            customers,
            seed: 42,
            history_days: 120,
            now: Some(NOW),
            ..Default::default()
        });
    }
    h
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Api {
    pub fn new<E>(h: &EmulatorHandle<E>) -> Self {
        Self {
            base: h.url(),
            http: client(),
        }
    }

    async fn reply(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let r = self
            .http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("send");
        Self::reply(r).await
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
        r.body
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)], idem: Option<&str>) -> Reply {
        let mut rb = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(KEY)
            .form(form);
        if let Some(k) = idem {
            rb = rb.header("idempotency-key", k);
        }
        Self::reply(rb.send().await.expect("send")).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        let r = self
            .http
            .delete(format!("{}{}", self.base, path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("send");
        Self::reply(r).await
    }

    /// Every object of a list, walking `starting_after` with pages of `limit`.
    pub async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(a) = &after {
                url.push_str(&format!("&starting_after={a}"));
            }
            let page = self.get_ok(&url).await;
            assert_eq!(page["object"], "list");
            let data = page["data"].as_array().expect("data").clone();
            assert!(data.len() <= limit);
            let more = page["has_more"].as_bool().expect("has_more");
            if let Some(last) = data.last() {
                after = Some(last["id"].as_str().expect("id").to_owned());
            }
            let empty = data.is_empty();
            out.extend(data);
            if !more {
                break;
            }
            assert!(!empty, "has_more with an empty page");
        }
        out
    }

    /// Every object of a list, walking backwards with `ending_before` from the oldest one.
    pub async fn walk_back(&self, path: &str, oldest: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out: Vec<Value> = Vec::new();
        let mut before = oldest.to_owned();
        loop {
            let page = self
                .get_ok(&format!("{path}{sep}limit={limit}&ending_before={before}"))
                .await;
            let data = page["data"].as_array().expect("data").clone();
            let more = page["has_more"].as_bool().expect("has_more");
            if let Some(first) = data.first() {
                before = first["id"].as_str().expect("id").to_owned();
            }
            // Pages are newest first; prepend to keep the whole list newest first.
            let mut merged = data;
            merged.extend(out);
            out = merged;
            if !more {
                break;
            }
        }
        out
    }
}

pub fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|x| x["id"].as_str().expect("id").to_owned())
        .collect()
}

#[allow(dead_code)]
pub fn rate(per_sec: f64) -> Option<RateLimit> {
    Some(RateLimit::per_second(per_sec))
}
