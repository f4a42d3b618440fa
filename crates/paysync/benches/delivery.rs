//! Delivery benchmarks (issue 5): the real `paysync` binary as child processes, the Stripe and
//! destination emulators in this process, with their documented limits.
//!
//! - `latency`: signed webhooks for new customers at 50 and 200 events/s for 20 s; the time from
//!   posting each event to its contact existing in the Mailchimp emulator (p50/p99), with the
//!   default 2 s coalescing window and with 250 ms.
//! - `economy`: 100 customers, each getting a burst of 10 events; destination API calls against a
//!   naive forwarder's one call per event.
//! - `backfill`: N customers (default 100,000; `BENCH_CUSTOMERS`; `BENCH_DESTINATIONS` picks
//!   destinations) seeded in the Stripe emulator,
//!   `paysync backfill`, then `paysync serve` until every contact is delivered, per destination:
//!   wall time, API calls, the lower bound the vendor's limits allow, peak RSS of paysync.
//! - `scale`: a backfill of N customers (default 20,000; `BENCH_SCALE_CUSTOMERS`), reconciled by
//!   one worker while the destination is paused, then delivered into a latency-bound Mailchimp
//!   emulator (50 ms added to every call) by 1, 2 and 4 `paysync worker` processes sharing a
//!   PostgreSQL database (a scratch schema at `PAYSYNC_TEST_DATABASE_URL`, default
//!   postgres://postgres@127.0.0.1:5432/test): time from the workers' start until every
//!   contact is delivered.
//!
//!   cargo bench -p paysync --bench delivery [-- latency|economy|backfill|scale]

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paysync_emulators::EmulatorHandle;
use paysync_emulators::activecampaign::{ActiveCampaignConfig, serve_activecampaign};
use paysync_emulators::constant_contact::{ConstantContactConfig, serve_constant_contact};
use paysync_emulators::mailchimp::{MailchimpConfig, MailchimpEmulator, serve_mailchimp};
use paysync_emulators::stripe::{SeedSpec, StripeEmulatorConfig, serve_stripe};
use serde_json::Value;

const SECRET: &str = "whsec_bench_delivery";
const MC_KEY: &str = "benchkey0123456789-us1";

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if wants("latency") {
        println!("\n## Freshness: webhook → contact in Mailchimp\n");
        println!(
            "| rate (events/s) | coalescing window | events | p50 (ms) | p99 (ms) | max (ms) |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for rate in [50, 200] {
            for window in [2_000, 250] {
                latency(&rt, rate, window);
            }
        }
    }
    if wants("economy") {
        println!("\n## API economy: 100 customers × a burst of 10 events\n");
        economy(&rt);
    }
    if wants("scale") {
        let n: usize = std::env::var("BENCH_SCALE_CUSTOMERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        println!(
            "\n## Scale-out on PostgreSQL: {n} customers, Mailchimp answering in 50 ms + batch time\n"
        );
        println!(
            "| workers | contacts | reconciled by one worker (s) | delivered (s) | contacts/s delivered | speed-up | API calls |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        let mut one = None;
        for workers in [1, 2, 4] {
            let (row, rate) = scale(&rt, workers, n);
            let base = *one.get_or_insert(rate);
            println!(
                "{}",
                row.replace("{speedup}", &format!("{:.2}×", rate / base))
            );
        }
    }
    if wants("backfill") {
        let n: usize = std::env::var("BENCH_CUSTOMERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        println!("\n## Backfill of {n} customers into each destination\n");
        println!(
            "| destination | contacts | backfill (s) | deliver (s) | lower bound (s) | API calls | minimal calls | peak RSS backfill (MB) | peak RSS serve (MB) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        // BENCH_DESTINATIONS=mailchimp,constant-contact runs some of them only.
        let only = std::env::var("BENCH_DESTINATIONS").unwrap_or_default();
        let breakdowns: Vec<String> = ["mailchimp", "activecampaign", "constant-contact"]
            .into_iter()
            .filter(|d| only.is_empty() || only.split(',').any(|o| o.trim() == *d))
            .map(|dest| backfill(&rt, dest, n))
            .collect();
        println!("\nAPI calls by endpoint:\n");
        for line in breakdowns {
            println!("- {line}");
        }
    }
}

/// A paysync configuration in a temporary directory and the child processes run against it.
struct Paysync {
    dir: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
}

impl Paysync {
    fn new(stripe: &str, destinations: &str, env: Vec<(String, String)>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        std::fs::write(
            dir.path().join("paysync.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = \"{}\"\n[stripe]\ncatchup_interval_secs = 86400\n\
                 [[stripe.accounts]]\nname = \"bench\"\nmode = \"test\"\napi_key = \"env:BENCH_KEY\"\n\
                 webhook_secrets = [\"env:BENCH_WHSEC\"]\napi_base = \"{stripe}\"\nrate_limit_per_sec = 100\n{destinations}",
                dir.path().join("bench.db").display()
            ),
        )
        .expect("config");
        let mut env = env;
        env.push(("BENCH_KEY".into(), "sk_test_bench".into()));
        env.push(("BENCH_WHSEC".into(), SECRET.into()));
        // Seals the Constant Contact target's rotating tokens.
        env.push(("PAYSYNC_MASTER_KEY".into(), "ab".repeat(32)));
        Paysync { dir, port, env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paysync"));
        cmd.arg("--config")
            .arg(self.dir.path().join("paysync.toml"))
            .args(args)
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    fn serve(&self) -> Child {
        let mut child = self.command(&["serve"]).spawn().expect("paysync serve");
        let client = Http::new();
        for _ in 0..600 {
            if client.get_ok(&format!("http://127.0.0.1:{}/healthz", self.port)) {
                return child;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("paysync serve did not start");
    }

    fn status(&self) -> Value {
        let out = self
            .command(&["status", "--json"])
            .stdout(Stdio::piped())
            .output()
            .expect("status");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Nobody dirty, nothing queued, every event applied.
    fn settled(&self) -> bool {
        let s = self.status();
        let a = &s["accounts"][0];
        let queued: i64 = s["destinations"].as_array().map_or(1, |d| {
            d.iter().map(|d| d["pending"].as_i64().unwrap_or(1)).sum()
        });
        a["dirty_customers"] == 0 && a["pending_events"] == 0 && queued == 0
    }

    fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/stripe/bench", self.port)
    }
}

/// Peak resident set of a live process, in MB (VmHWM).
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Waits for `child` to exit, sampling its peak RSS; returns the peak.
fn wait_sampling(child: &mut Child) -> f64 {
    let mut peak = 0.0_f64;
    loop {
        peak = peak.max(peak_rss_mb(child.id()));
        if child.try_wait().expect("wait").is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mailchimp(rt: &tokio::runtime::Runtime) -> (EmulatorHandle<MailchimpEmulator>, String) {
    let emu = rt
        .block_on(serve_mailchimp(MailchimpConfig::default()))
        .expect("mailchimp emulator");
    let list = emu.emulator.create_list("Bench");
    (emu, list)
}

fn mc_destination(emu: &EmulatorHandle<MailchimpEmulator>, list: &str, coalesce_ms: u64) -> String {
    format!(
        "[[destinations]]\nname = \"mc\"\nkind = \"mailchimp\"\napi_key = \"env:MC_KEY\"\nlist_id = \"{list}\"\n\
         api_base = \"{}/3.0\"\n\n[[syncs]]\nname = \"to-mc\"\ndestination = \"mc\"\ncoalesce_ms = {coalesce_ms}\n\
         event_tags = {{}}\n\n[[syncs.segments]]\nname = \"Paying\"\ntag = \"paying\"\nrule = {{ charged = {{}} }}\n",
        emu.url()
    )
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A signed `customer.created` (n = 0) or `charge.succeeded` event for customer `c`.
fn event(c: usize, n: usize, tag: &str) -> (String, String) {
    let now = now_secs();
    let object = if n == 0 {
        serde_json::json!({"id": format!("cus_{tag}{c:07}"), "object": "customer", "created": now,
            "email": format!("{tag}{c}@example.com"), "name": format!("Person {c}")})
    } else {
        serde_json::json!({"id": format!("ch_{tag}{c:07}x{n}"), "object": "charge", "amount": 1000 + n,
            "amount_captured": 1000 + n, "amount_refunded": 0, "currency": "usd", "captured": true,
            "customer": format!("cus_{tag}{c:07}"), "paid": true, "status": "succeeded", "created": now,
            "refunded": false})
    };
    let kind = if n == 0 {
        "customer.created"
    } else {
        "charge.succeeded"
    };
    let body = serde_json::json!({"id": format!("evt_{tag}{c:07}x{n}"), "object": "event",
        "api_version": "2024-06-20", "created": now, "livemode": false, "type": kind,
        "data": {"object": object}})
    .to_string();
    let header = paysync_stripe::signature::sign_header(SECRET, now, body.as_bytes());
    (body, header)
}

/// Blocking HTTP from any thread: a current-thread runtime around reqwest.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::new(),
        }
    }

    fn get_ok(&self, url: &str) -> bool {
        self.rt
            .block_on(self.client.get(url).send())
            .is_ok_and(|r| r.status().is_success())
    }

    fn post(&self, url: &str, (body, header): &(String, String)) {
        let r = self
            .rt
            .block_on(
                self.client
                    .post(url)
                    .header("Stripe-Signature", header)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send(),
            )
            .expect("post webhook");
        assert!(r.status().is_success(), "webhook answered {}", r.status());
    }
}

fn latency(rt: &tokio::runtime::Runtime, rate: u64, window_ms: u64) {
    let (emu, list) = mailchimp(rt);
    let paysync = Paysync::new(
        "http://127.0.0.1:9",
        &mc_destination(&emu, &list, window_ms),
        vec![("MC_KEY".into(), MC_KEY.into())],
    );
    let mut server = paysync.serve();
    std::thread::sleep(Duration::from_secs(2)); // the sync prepares its destination
    let url = paysync.webhook_url();
    let tag = format!("l{rate}w{window_ms}");
    let total = (rate * 20) as usize;
    let sent: std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let poster = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            let client = Http::new();
            let start = Instant::now();
            for c in 0..total {
                let due = start + Duration::from_micros(c as u64 * 1_000_000 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let ev = event(c, 0, &tag);
                client.post(&url, &ev);
                sent.lock()
                    .expect("sent")
                    .insert(format!("{tag}{c}@example.com"), Instant::now());
            }
        })
    };
    let mut latencies = Vec::with_capacity(total);
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < total && Instant::now() < deadline {
        let pending: Vec<(String, Instant)> = sent
            .lock()
            .expect("sent")
            .iter()
            .filter(|(e, _)| !seen.contains(*e))
            .map(|(e, t)| (e.clone(), *t))
            .collect();
        for (email, at) in pending {
            if emu.emulator.member_status(&list, &email).is_some() {
                latencies.push(at.elapsed());
                seen.insert(email);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    poster.join().expect("poster");
    let _ = server.kill();
    let _ = server.wait();
    latencies.sort();
    let n = latencies.len();
    let pct = |p: f64| latencies[((n as f64 * p) as usize).min(n - 1)].as_secs_f64() * 1e3;
    println!(
        "| {rate} | {window_ms} ms | {n}/{total} | {:.0} | {:.0} | {:.0} |",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn write_calls(state: &Value) -> u64 {
    state["requests"]["by_endpoint"].as_object().map_or(0, |m| {
        m.iter()
            .filter(|(k, _)| !k.starts_with("GET"))
            .map(|(_, v)| v.as_u64().unwrap_or(0))
            .sum()
    })
}

fn total_calls(state: &Value) -> u64 {
    state["requests"]["total"].as_u64().unwrap_or(0)
}

fn economy(rt: &tokio::runtime::Runtime) {
    let (emu, list) = mailchimp(rt);
    let paysync = Paysync::new(
        "http://127.0.0.1:9",
        &mc_destination(&emu, &list, 2_000),
        vec![("MC_KEY".into(), MC_KEY.into())],
    );
    let mut server = paysync.serve();
    std::thread::sleep(Duration::from_secs(2));
    let before = total_calls(&emu.emulator.state_json());
    let client = Http::new();
    let url = paysync.webhook_url();
    let customers = 100;
    // Each customer's burst of 10 events within ~100 ms; a customer every 50 ms.
    for c in 0..customers {
        for n in 0..10 {
            client.post(&url, &event(c, n, "econ"));
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let start = Instant::now();
    while !paysync.settled() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let state = emu.emulator.state_json();
    let _ = server.kill();
    let _ = server.wait();
    let calls = total_calls(&state) - before;
    let events = customers * 10;
    println!("| forwarder | events | API calls | calls per 1,000 events |");
    println!("| --- | --- | --- | --- |");
    println!("| naive (one call per event) | {events} | {events} | 1000 |");
    println!(
        "| paysync (reconcile, coalesce 2 s, bulk) | {events} | {calls} (writes {}) | {:.0} |",
        write_calls(&state),
        calls as f64 * 1000.0 / events as f64
    );
    println!("\ncalls by endpoint: {}", state["requests"]["by_endpoint"]);
    let members = state["lists"][0]["counts"]["members"].as_u64().unwrap_or(0);
    assert_eq!(members, customers as u64, "every customer delivered");
}

/// A destination under test: its configuration, how to read its emulator's state, the fewest
/// calls its bulk endpoint allows for n contacts, and its request rate.
struct Target {
    destination: String,
    env: Vec<(String, String)>,
    state: Box<dyn Fn() -> Value>,
    /// Requests the emulator has answered (cheap, unlike `state`).
    calls: Box<dyn Fn() -> u64>,
    minimal: fn(u64) -> u64,
    rate: f64,
}

/// The Stripe emulator with `customers` seeded, without a rate limit.
fn seeded_stripe(
    rt: &tokio::runtime::Runtime,
    customers: usize,
) -> EmulatorHandle<paysync_emulators::stripe::StripeEmulator> {
    rt.block_on(serve_stripe(StripeEmulatorConfig {
        seed: Some(SeedSpec {
            customers,
            ..SeedSpec::default()
        }),
        rate_limit: None,
        ..StripeEmulatorConfig::default()
    }))
    .expect("stripe emulator")
}

/// Runs one destination's backfill, prints its table row, and answers its calls by endpoint.
fn backfill(rt: &tokio::runtime::Runtime, dest: &str, customers: usize) -> String {
    let stripe = seeded_stripe(rt, customers);
    let Target {
        destination,
        env,
        state,
        calls,
        minimal,
        rate,
    } = match dest {
        "mailchimp" => {
            let (emu, list) = mailchimp(rt);
            let cfg = mc_destination(&emu, &list, 2_000);
            let emu = std::sync::Arc::new(emu);
            Target {
                destination: cfg,
                env: vec![("MC_KEY".into(), MC_KEY.into())],
                state: Box::new({
                    let emu = emu.clone();
                    move || emu.emulator.state_json()
                }),
                calls: Box::new(move || emu.emulator.requests().total()),
                minimal: |n| n.div_ceil(500),
                // No request rate: 10 connections; a batch of 500 takes the emulator's batch time.
                rate: 10.0,
            }
        }
        "activecampaign" => {
            let emu = rt
                .block_on(serve_activecampaign(ActiveCampaignConfig::default()))
                .expect("activecampaign emulator");
            let cfg = format!(
                "[[destinations]]\nname = \"ac\"\nkind = \"activecampaign\"\napi_url = \"{}\"\napi_token = \"env:AC_TOKEN\"\n\n\
                 [[syncs]]\nname = \"to-ac\"\ndestination = \"ac\"\nevent_tags = {{}}\n",
                emu.url()
            );
            let emu = std::sync::Arc::new(emu);
            Target {
                destination: cfg,
                env: vec![("AC_TOKEN".into(), "bench-token".into())],
                state: Box::new({
                    let emu = emu.clone();
                    move || emu.emulator.state_json()
                }),
                calls: Box::new(move || emu.emulator.requests().total()),
                minimal: |n| n.div_ceil(250),
                rate: 5.0,
            }
        }
        _ => {
            let emu = rt
                .block_on(serve_constant_contact(ConstantContactConfig::default()))
                .expect("constant contact emulator");
            let token = emu
                .emulator
                .issue_token()
                .refresh_token
                .expect("refresh token");
            let cfg = format!(
                "[[destinations]]\nname = \"cc\"\nkind = \"constant_contact\"\napi_base = \"{0}/v3\"\n\
                 authorize_url = \"{0}/oauth2/default/v1/authorize\"\ntoken_url = \"{0}/oauth2/default/v1/token\"\n\
                 client_id = \"paysync-cc-client\"\nclient_secret = \"env:CC_SECRET\"\nredirect_uri = \"http://127.0.0.1/cb\"\n\
                 refresh_token = \"env:CC_REFRESH\"\ndefault_list = \"Stripe customers\"\n\n\
                 [[syncs]]\nname = \"to-cc\"\ndestination = \"cc\"\nconsent = \"subscribed\"\npayment_activity_lists = true\n",
                emu.url()
            );
            let emu = std::sync::Arc::new(emu);
            Target {
                destination: cfg,
                env: vec![
                    ("CC_SECRET".into(), "paysync-cc-secret".into()),
                    ("CC_REFRESH".into(), token),
                ],
                state: Box::new({
                    let emu = emu.clone();
                    move || emu.emulator.state_json(false)
                }),
                calls: Box::new(move || emu.emulator.requests().total()),
                minimal: |n| n.div_ceil(40_000),
                rate: 4.0,
            }
        }
    };
    let paysync = Paysync::new(&stripe.url(), &destination, env);
    let started = Instant::now();
    let mut backfill = paysync
        .command(&["backfill", "--all"])
        .spawn()
        .expect("paysync backfill");
    let backfill_rss = wait_sampling(&mut backfill);
    let backfill_secs = started.elapsed().as_secs_f64();
    let start_state = state();
    let before = total_calls(&start_state);
    let delivering = Instant::now();
    let mut server = paysync.serve();
    let mut serve_rss = 0.0_f64;
    let mut last_check = Instant::now();
    // Delivery ends with the destination's last request (status is read only every 10 s).
    let (mut seen, mut last_request) = (calls(), delivering);
    loop {
        serve_rss = serve_rss.max(peak_rss_mb(server.id()));
        let now_calls = calls();
        if now_calls != seen {
            (seen, last_request) = (now_calls, Instant::now());
        }
        // `status` reads the whole ledger: not too often, or it slows the run it measures.
        if last_check.elapsed() > Duration::from_secs(10) {
            last_check = Instant::now();
            if paysync.settled() {
                break;
            }
        }
        if delivering.elapsed() > Duration::from_secs(3_600) {
            println!("| {dest} | timed out after an hour |");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let deliver_secs = last_request.duration_since(delivering).as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    let end = state();
    let calls = total_calls(&end) - before;
    let status = paysync.status();
    let contacts = status["syncs"][0]["contacts"].as_u64().unwrap_or(0);
    let min_calls = minimal(contacts);
    println!(
        "| {dest} | {contacts} | {backfill_secs:.1} | {deliver_secs:.1} | {:.1} | {calls} | {min_calls} | {backfill_rss:.0} | {serve_rss:.0} |",
        min_calls as f64 / rate,
    );
    let dead = status["destinations"][0]["dead"].as_i64().unwrap_or(-1);
    assert_eq!(dead, 0, "dead letters in the {dest} backfill");
    let by_endpoint = |s: &Value| -> HashMap<String, u64> {
        s["requests"]["by_endpoint"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = by_endpoint(&start_state);
    let mut spent: Vec<(String, u64)> = by_endpoint(&end)
        .into_iter()
        .map(|(k, v)| {
            let n = v - first.get(&k).copied().unwrap_or(0);
            (k, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    spent.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let parts: Vec<String> = spent.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{dest}: {}", parts.join(", "))
}

/// One `scale` run: backfill `customers` into the ledger; let one worker reconcile them all with
/// the destination paused (the shared pause, `pause:mc`), so that the outbox holds every contact;
/// then lift the pause and time `workers` workers delivering them to a Mailchimp emulator that
/// takes 50 ms per call (plus its batch time). Reconciliation is one role, in one process at a
/// time: it is timed apart. Returns the table's row (`{speedup}` left to fill) and contacts per
/// second delivered.
fn scale(rt: &tokio::runtime::Runtime, workers: usize, customers: usize) -> (String, f64) {
    let stripe = seeded_stripe(rt, customers);
    let emu = rt
        .block_on(serve_mailchimp(MailchimpConfig {
            // Each worker keeps to Mailchimp's 10 connections on its own (not shared).
            max_concurrent: None,
            faults: paysync_emulators::FaultConfig {
                latency_ms: 50,
                ..paysync_emulators::FaultConfig::default()
            },
            ..MailchimpConfig::default()
        }))
        .expect("mailchimp emulator");
    let list = emu.emulator.create_list("Bench");
    let base = std::env::var("PAYSYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = paysync_store::scratch::ScratchSchema::create(&base, "paysync_bench")
        .expect("a scratch schema in PostgreSQL");
    let paysync = Paysync::new(
        &stripe.url(),
        &mc_destination(&emu, &list, 2_000),
        vec![
            ("MC_KEY".into(), MC_KEY.into()),
            ("PAYSYNC_STORE__URL".into(), schema.url()),
        ],
    );
    let backfill = paysync
        .command(&["backfill", "--all"])
        .stderr(Stdio::piped())
        .output()
        .expect("paysync backfill");
    assert!(
        backfill.status.success(),
        "backfill failed: {}",
        String::from_utf8_lossy(&backfill.stderr)
    );
    let sql = |statement: &str| {
        let mut db = postgres::Client::connect(&schema.url(), postgres::NoTls).expect("database");
        db.batch_execute(statement).expect("pause statement");
    };
    sql("INSERT INTO rate_limits (key, tat) VALUES ('pause:mc', 9000000000000)");
    let reconciling = Instant::now();
    let mut reconciler = paysync
        .command(&["worker"])
        .spawn()
        .expect("paysync worker");
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let s = paysync.status();
        if s["accounts"][0]["dirty_customers"] == 0
            && s["destinations"][0]["pending"].as_i64().unwrap_or(0) > 0
        {
            break;
        }
        assert!(
            reconciling.elapsed() < Duration::from_secs(1_800),
            "not reconciled"
        );
    }
    let reconciled = reconciling.elapsed().as_secs_f64();
    let _ = reconciler.kill();
    let _ = reconciler.wait();
    sql("DELETE FROM rate_limits WHERE key = 'pause:mc'");

    let before = emu.emulator.requests().total();
    let started = Instant::now();
    let mut running: Vec<Child> = (0..workers)
        .map(|_| {
            paysync
                .command(&["worker"])
                .spawn()
                .expect("paysync worker")
        })
        .collect();
    let (mut seen, mut last_request) = (before, started);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let calls = emu.emulator.requests().total();
        if calls != seen {
            (seen, last_request) = (calls, Instant::now());
        }
        if paysync.settled() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1_800),
            "{workers} workers: not delivered after 30 minutes"
        );
    }
    let delivered = last_request.duration_since(started).as_secs_f64();
    for mut w in running.drain(..) {
        let _ = w.kill();
        let _ = w.wait();
    }
    let s = paysync.status();
    let contacts = s["syncs"][0]["contacts"].as_u64().unwrap_or(0);
    assert_eq!(s["destinations"][0]["dead"], 0, "dead letters");
    let rate = contacts as f64 / delivered;
    let row = format!(
        "| {workers} | {contacts} | {reconciled:.1} | {delivered:.1} | {rate:.0} | {{speedup}} | {} |",
        emu.emulator.requests().total() - before
    );
    (row, rate)
}
