//! Scale-out on PostgreSQL (issue 8): one receiver (`serve --receive-only`) and three workers
//! share a database; the SDK's activity streams in through the receiver's webhook endpoint. The
//! first worker, holding some of the account's roles, is SIGKILLed while contacts are being
//! delivered; a second wave of activity then needs the roles it held. The survivors take them
//! over, and the Mailchimp emulator ends exactly as the rules say for both waves, with nothing
//! lost, no dead letter, and never more connections at once than Mailchimp allows.

use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::{
    Mailchimp, SECRET, assert_audience_matches, paysync_for, status, wait_for_delivery,
};
use crate::harness::*;

/// The roles a worker's log says it took (`took a role role="apply:main" …`).
fn roles_in(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("took a role"))
        .filter_map(|l| l.split("role=\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Two seedings' manifests as one (`b` made after `a`): every customer of both, every event.
fn both(a: &Value, b: &Value) -> Value {
    let all = |key: &dyn Fn(&Value) -> &Value| -> Vec<Value> {
        [a, b]
            .iter()
            .flat_map(|m| key(m).as_array().cloned().unwrap_or_default())
            .collect()
    };
    json!({
        "customer_summaries": all(&|m| &m["customer_summaries"]),
        "emails": { "changed": all(&|m| &m["emails"]["changed"]) },
        // A seeding counts every event localstripe holds, the earlier seeding's too.
        "counts": { "events": b["counts"]["events"] },
    })
}

#[test]
fn three_workers_and_a_receiver_on_postgres_survive_a_killed_worker() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let paysync = paysync_for(&stripe, &mc);
    let _schema = paysync.use_postgres();
    let _receiver = {
        let receiver = paysync.spawn(&["serve", "--receive-only"], "receiver");
        let client = http::blocking_client();
        wait_until(Duration::from_secs(30), "the receiver to answer", || {
            client
                .get(paysync.url("/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        receiver
    };
    let mut workers: Vec<Option<Proc>> = vec![Some(paysync.spawn(&["worker"], "worker0"))];
    // The first worker takes the account's roles before the others start.
    wait_until(Duration::from_secs(30), "the first worker's roles", || {
        roles_in(&paysync.log("worker0")).len() >= 2
    });
    workers.extend((1..3).map(|i| Some(paysync.spawn(&["worker"], &format!("worker{i}")))));
    let hook = paysync.url("/webhooks/stripe/main");
    let dir = paysync.dir.path().to_path_buf();
    let first = std::thread::scope(|scope| {
        let seed = scope.spawn(|| stripe.seed(40, Some((&hook, SECRET)), &dir));
        wait_until(Duration::from_secs(60), "deliveries to start", || {
            status(&paysync)["destinations"][0]["pending"]
                .as_i64()
                .is_some_and(|p| p > 0)
                || seed.is_finished()
        });
        drop(workers[0].take()); // SIGKILL
        seed.join().expect("seed thread")
    });
    let held: Vec<String> = roles_in(&paysync.log("worker0"))
        .into_iter()
        .filter(|r| r.ends_with(":main") && !r.starts_with("catchup"))
        .collect();
    assert!(!held.is_empty(), "{}", paysync.log("worker0"));
    let second = stripe.seed_with(40, Some((&hook, SECRET)), &dir, 7);
    let manifest = both(&first, &second);
    paysync.run(&["backfill", "--all"]);
    let events = manifest["counts"]["events"].as_u64().expect("events");
    if std::panic::catch_unwind(|| wait_for_delivery(&paysync, events)).is_err() {
        panic!(
            "not delivered: {:#}\nworker1:\n{}\nworker2:\n{}\nreceiver:\n{}",
            status(&paysync),
            paysync.log("worker1"),
            paysync.log("worker2"),
            paysync.log("receiver")
        );
    }
    assert_audience_matches(&paysync, &mc, &manifest);
    // The workers shared Mailchimp's ten simultaneous connections (slots in the database)
    // rather than opening ten each.
    assert_eq!(
        mc.emu.emulator.requests().status_count(429),
        0,
        "Mailchimp refused connections beyond its limit"
    );
    // Every frequent role of the dead worker (catch-up is hourly here) passed to a survivor.
    let survivors = roles_in(&(paysync.log("worker1") + &paysync.log("worker2")));
    for role in &held {
        assert!(
            survivors.contains(role),
            "{role} was not taken over: {survivors:?}"
        );
    }
    drop(workers);
}
