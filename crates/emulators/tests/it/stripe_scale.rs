use paysync_emulators::stripe::{ObjectKind, SeedSpec};

use crate::helpers::{Api, NOW, stripe};

#[tokio::test]
async fn seeds_100k_customers() {
    let h = stripe(0).await;
    let emu = h.emulator.clone();
    let report = tokio::task::spawn_blocking(move || {
        emu.seed(&SeedSpec {
            customers: 100_000,
            seed: 9,
            history_days: 365,
            now: Some(NOW),
            ..Default::default()
        })
    })
    .await
    .unwrap();
    let counts = h.emulator.counts();
    assert_eq!(counts.customers + counts.deleted_customers, 100_000);
    assert_eq!(report.customers, counts.customers);
    assert_eq!(report.guests, 10_000);
    assert!(counts.charges > 100_000);
    assert!(counts.subscriptions > 30_000);
    assert!(counts.events > 10_000);
    let api = Api::new(&h);
    let page = api.get_ok("/v1/customers?limit=100").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    let ids = h.emulator.ids(ObjectKind::Customers);
    let last_page = api
        .get_ok(&format!(
            "/v1/customers?limit=100&starting_after={}",
            ids[ids.len() - 101]
        ))
        .await;
    assert_eq!(last_page["data"].as_array().unwrap().len(), 100);
    assert_eq!(last_page["has_more"], false);
}

#[tokio::test]
async fn admin_seed_and_clock() {
    let h = stripe(0).await;
    let api = Api::new(&h);
    let r = api
        .http
        .post(format!("{}/_admin/seed", api.base))
        .json(&serde_json::json!({"customers": 200, "seed": 5, "history_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert!(report["customers"].as_u64().unwrap() > 190);
    let state = api.get_ok("/_admin/state").await;
    assert!(state["counts"]["customers"].as_u64().unwrap() > 190);
    let r = api
        .http
        .post(format!("{}/_admin/clock", api.base))
        .json(&serde_json::json!({"set": 2_000_000_000}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!((v["now"].as_i64().unwrap() - 2_000_000_000).abs() <= 1);
    // 30 days of history, now far in the future: no event is listed any more.
    let ev = api.get_ok("/v1/events").await;
    assert!(ev["data"].as_array().unwrap().is_empty());
}

/// Timing, not a check: `cargo test --release -p paysync-emulators --test it -- --ignored
/// --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing only"]
async fn measure_seed_and_pages() {
    let h = stripe(0).await;
    let emu = h.emulator.clone();
    let t = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        emu.seed(&SeedSpec {
            customers: 100_000,
            seed: 9,
            history_days: 365,
            now: Some(NOW),
            events: std::env::var("SEED_EVENTS").map_or(true, |v| v != "0"),
            ..Default::default()
        })
    })
    .await
    .unwrap();
    println!("seed 100k: {:?} ({report:?})", t.elapsed());
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .unwrap_or("");
        println!("after seeding: {rss}");
    }
    let api = Api::new(&h);
    let ids = h.emulator.ids(ObjectKind::Customers);
    for (path, n) in [
        ("/v1/customers?limit=100", 300),
        ("/v1/charges?limit=100", 300),
        ("/v1/subscriptions?limit=100", 300),
        ("/v1/events?limit=100", 300),
        ("/v1/customers?limit=10", 1000),
    ] {
        let t = std::time::Instant::now();
        let mut bytes = 0;
        for i in 0..n {
            let after = &ids[(i * 97) % (ids.len() - 200)];
            let url = if path.starts_with("/v1/customers") {
                format!("{path}&starting_after={after}")
            } else {
                path.to_owned()
            };
            let r = api
                .http
                .get(format!("{}{url}", api.base))
                .bearer_auth(crate::helpers::KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            bytes += r.bytes().await.unwrap().len();
        }
        println!(
            "GET {path}: {:?} per request over loopback, {} bytes per page",
            t.elapsed() / n as u32,
            bytes / n
        );
    }
}
