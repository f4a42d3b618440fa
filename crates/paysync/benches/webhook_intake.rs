//! P1: signed webhook events verified and durably committed by `paysync serve`, on loopback.
//!
//! Runs the real `paysync serve` binary (SQLite, synchronous=FULL, group commit) as its own process
//! and drives it from here with pre-signed, distinct events over keep-alive HTTP/1.1 connections:
//! - saturation: C connections posting back to back (events/s, latency percentiles);
//! - fixed rate: 1,000 events/s for 10 s (latency percentiles).
//!
//! The server's CPU per event comes from /proc/<pid>/stat (utime + stime). The load generator runs
//! on the same 2 cores on a single thread, so the saturation figures are a lower bound.
//!   cargo bench -p paysync --bench webhook_intake

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_bench_secret";
const CLOCK_TICKS_PER_SEC: f64 = 100.0; // USER_HZ on Linux

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("paysync.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = \"{}\"\n[stripe]\ncatchup_interval_secs = 86400\n\
             [[stripe.accounts]]\nname = \"bench\"\nmode = \"test\"\napi_key = \"env:BENCH_KEY\"\n\
             webhook_secrets = [\"env:BENCH_WHSEC\"]\napi_base = \"http://127.0.0.1:9\"\n",
            dir.path().join("bench.db").display()
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_paysync"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("BENCH_KEY", "sk_test_bench")
        .env("BENCH_WHSEC", SECRET)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .expect("start paysync serve");
    let pid = server.id();
    let url = format!("http://127.0.0.1:{port}/webhooks/stripe/bench");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    rt.block_on(wait_ready(&client, port));

    println!("| scenario | events | events/s | p50 ms | p99 ms | max ms | server CPU µs/event |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut next_id = 0u64;
    for connections in [16usize, 64] {
        let events = Arc::new(signed_events(&mut next_id, 40_000));
        let cpu_before = cpu_ticks(pid);
        let result = rt.block_on(saturate(&client, &url, events, connections));
        let cpu = cpu_ticks(pid) - cpu_before;
        result.row(&format!("saturation, {connections} connections"), cpu);
    }
    let events = Arc::new(signed_events(&mut next_id, 10_000));
    let cpu_before = cpu_ticks(pid);
    let result = rt.block_on(fixed_rate(&client, &url, events, 1_000));
    result.row("fixed rate 1,000 events/s", cpu_ticks(pid) - cpu_before);

    let _ = server.kill();
    let _ = server.wait();
}

/// Distinct events shaped like Stripe's (a charge with its billing details, ~1.6 kB), signed now.
fn signed_events(next_id: &mut u64, n: usize) -> Vec<(String, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (0..n)
        .map(|_| {
            *next_id += 1;
            let i = *next_id;
            let body = serde_json::json!({
                "id": format!("evt_bench{i:012}"), "object": "event", "api_version": "2024-06-20",
                "created": now, "livemode": false, "pending_webhooks": 1, "type": "charge.succeeded",
                "request": { "id": format!("req_{i}"), "idempotency_key": null },
                "data": { "object": {
                    "id": format!("ch_bench{i:012}"), "object": "charge", "amount": 1999 + (i % 500) as i64,
                    "amount_captured": 1999, "amount_refunded": 0, "currency": "usd", "captured": true,
                    "customer": format!("cus_bench{:08}", i % 5_000), "paid": true, "status": "succeeded",
                    "created": now, "livemode": false, "description": "Subscription update",
                    "billing_details": { "email": format!("person{}@example.com", i % 5_000), "name": "Jenny Rosen",
                        "phone": null, "address": { "city": "Berlin", "country": "DE", "line1": "Alexanderplatz 1",
                        "line2": null, "postal_code": "10178", "state": null } },
                    "payment_method": format!("pm_bench{i}"), "receipt_email": null, "refunded": false,
                    "outcome": { "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
                        "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized" },
                    "payment_method_details": { "type": "card", "card": { "brand": "visa", "country": "US",
                        "exp_month": 8, "exp_year": 2030, "funding": "credit", "last4": "4242" } },
                    "metadata": { "order_id": format!("{i}") }, "refunds": { "object": "list", "data": [],
                        "has_more": false, "total_count": 0, "url": format!("/v1/charges/ch_bench{i:012}/refunds") }
                } }
            })
            .to_string();
            let header = paysync_stripe::signature::sign_header(SECRET, now, body.as_bytes());
            (body, header)
        })
        .collect()
}

struct Outcome {
    latencies: Vec<Duration>,
    elapsed: Duration,
    failures: usize,
}

impl Outcome {
    fn row(mut self, name: &str, cpu_ticks: u64) {
        assert_eq!(
            self.failures, 0,
            "{name}: {} requests were not answered 200",
            self.failures
        );
        self.latencies.sort();
        let n = self.latencies.len();
        let pct = |p: f64| self.latencies[((n as f64 * p) as usize).min(n - 1)].as_secs_f64() * 1e3;
        let cpu_us = cpu_ticks as f64 / CLOCK_TICKS_PER_SEC * 1e6 / n as f64;
        println!(
            "| {name} | {n} | {:.0} | {:.2} | {:.2} | {:.2} | {cpu_us:.0} |",
            n as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &str, header: &str) -> (Duration, bool) {
    let start = Instant::now();
    let ok = match client
        .post(url)
        .header("Stripe-Signature", header)
        .body(body.to_owned())
        .send()
        .await
    {
        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
        Err(_) => false,
    };
    (start.elapsed(), ok)
}

async fn saturate(
    client: &reqwest::Client,
    url: &str,
    events: Arc<Vec<(String, String)>>,
    connections: usize,
) -> Outcome {
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..connections {
        let (client, url, events) = (client.clone(), url.to_owned(), events.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            let mut failures = 0;
            for (body, header) in events.iter().skip(w).step_by(connections) {
                let (latency, ok) = post(&client, &url, body, header).await;
                out.push(latency);
                failures += usize::from(!ok);
            }
            (out, failures)
        });
    }
    collect(workers, start).await
}

async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    events: Arc<Vec<(String, String)>>,
    per_sec: u64,
) -> Outcome {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..events.len() {
        ticker.tick().await;
        let (client, url, events) = (client.clone(), url.to_owned(), events.clone());
        workers.spawn(async move {
            let (body, header) = &events[i];
            let (latency, ok) = post(&client, &url, body, header).await;
            (vec![latency], usize::from(!ok))
        });
    }
    collect(workers, start).await
}

async fn collect(
    mut workers: tokio::task::JoinSet<(Vec<Duration>, usize)>,
    start: Instant,
) -> Outcome {
    let mut latencies = Vec::new();
    let mut failures = 0;
    while let Some(joined) = workers.join_next().await {
        let (l, f) = joined.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    Outcome {
        latencies,
        elapsed: start.elapsed(),
        failures,
    }
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..300 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("paysync serve did not start");
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
