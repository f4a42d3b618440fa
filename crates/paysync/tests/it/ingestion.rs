//! Stripe → ledger against localstripe driven by the official SDK: webhooks, backfill (and its
//! resumption after SIGKILL), Events-API catch-up, refetch mode.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const SECRET: &str = "whsec_ingestion_test";

fn count(manifest: &Value, key: &str) -> u64 {
    manifest["counts"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("manifest has no counts.{key}"))
}

/// Everything the SDK created is in the ledger, once: live customers (and deleted ones when events
/// were received: the API lists no deleted customers), charges (failed ones too), refunds,
/// subscriptions of every status, invoices.
fn assert_ledger_matches(status: &Value, manifest: &Value, saw_events: bool) {
    let (customers, deleted) = objects(status, "customer");
    assert_eq!(
        customers,
        count(manifest, "customers"),
        "live customers\n{status:#}"
    );
    let expected_deleted = if saw_events {
        count(manifest, "deleted_customers")
    } else {
        0
    };
    assert_eq!(deleted, expected_deleted, "deleted customers");
    assert_eq!(
        objects(status, "charge").0,
        count(manifest, "charges"),
        "charges"
    );
    assert_eq!(
        objects(status, "refund").0,
        count(manifest, "refunds"),
        "refunds"
    );
    let (subs, cancelled) = objects(status, "subscription");
    assert_eq!(
        subs + cancelled,
        count(manifest, "subscriptions"),
        "subscriptions"
    );
    assert_eq!(
        objects(status, "invoice").0,
        count(manifest, "invoices"),
        "invoices"
    );
}

#[test]
fn webhooks_and_backfill_store_everything_the_sdk_created() {
    let stripe = Localstripe::start();
    let paysync = Paysync::one_account(&stripe.url, SECRET, "");
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(200, Some((&hook, SECRET)), paysync.dir.path());
    let created = count(&manifest, "customers") + count(&manifest, "deleted_customers");
    assert!(created >= 200, "the SDK created {created} customers");
    assert!(count(&manifest, "failed_charges") > 0 && count(&manifest, "refunds") > 0);

    // localstripe sends every webhook once, about a second after the event, concurrently.
    let sent = count(&manifest, "events");
    wait_until(
        Duration::from_secs(60),
        "all webhooks to be stored and applied",
        || {
            let status = paysync.status("main");
            status["events"].as_u64() == Some(sent) && status["pending_events"] == 0
        },
    );
    let status = paysync.status("main");
    assert_eq!(
        status["rejected_webhooks"],
        Value::Array(vec![]),
        "{}",
        paysync.serve_log()
    );
    assert!(status["last_webhook_at"].is_i64());
    // Webhooks alone already carry customers (localstripe never sends charge.* events).
    let (customers, deleted) = objects(&status, "customer");
    assert_eq!(
        (customers, deleted),
        (
            count(&manifest, "customers"),
            count(&manifest, "deleted_customers")
        )
    );

    // The backfill fills in the rest while the server keeps running.
    paysync.run(&["backfill", "--account", "main"]);
    let status = paysync.status("main");
    assert_ledger_matches(&status, &manifest, true);
    // Customers the SDK created without an email are held and counted, never pushed.
    let without_email: Vec<&Value> = manifest["emails"]["customers_without_email"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|id| {
            !manifest["ids"]["deleted_customers"]
                .as_array()
                .unwrap()
                .contains(id)
        })
        .collect();
    assert!(
        !without_email.is_empty(),
        "the seed makes customers without email"
    );
    assert_eq!(
        status["customers_without_email"].as_u64(),
        Some(without_email.len() as u64)
    );
    assert!(status["dirty_customers"].as_u64().unwrap() >= count(&manifest, "customers"));

    // A second backfill reads everything again and changes nothing.
    paysync.run(&["backfill", "--all"]);
    assert_ledger_matches(&paysync.status("main"), &manifest, true);

    // A person the SDK charged successfully, previewed: one profile with their charges.
    let paid = paying_customer(&manifest);
    let email = paid["email"].as_str().unwrap();
    let preview: Value =
        serde_json::from_str(&paysync.run(&["preview", "--email", email])).unwrap();
    assert_eq!(
        preview["profile"]["identity"]["email"],
        email.to_lowercase()
    );
    let charges = preview["profile"]["charges"].as_array().unwrap();
    assert!(
        charges.len() as u64 >= paid["charges"].as_u64().unwrap(),
        "{preview:#}"
    );
}

#[test]
fn a_backfill_killed_midway_resumes_and_stores_nothing_twice() {
    let stripe = Localstripe::start();
    // Two requests a second: the backfill takes long enough to be killed between pages.
    let paysync = Paysync::one_account(&stripe.url, SECRET, "rate_limit_per_sec = 2");
    let manifest = stripe.seed(220, None, paysync.dir.path());

    let mut backfill = Proc(paysync.command().args(["backfill"]).spawn().unwrap());
    let partial = |s: &Value| {
        s["backfill"].as_array().is_some_and(|b| {
            b.iter().any(|r| r["stored"].as_u64() > Some(0)) && b.iter().any(|r| r["done"] == false)
        })
    };
    // localstripe (Python) answers slowly when the whole suite runs on two cores: allow time.
    wait_until(
        Duration::from_secs(180),
        "the backfill to store its first pages",
        || {
            assert!(
                backfill.0.try_wait().ok().flatten().is_none(),
                "the backfill finished before it could be killed"
            );
            partial(&paysync.status("main"))
        },
    );
    backfill.0.kill().expect("SIGKILL the backfill");
    backfill.0.wait().unwrap();
    let interrupted = paysync.status("main");
    assert!(
        partial(&interrupted),
        "killed before finishing: {interrupted:#}"
    );

    let out = paysync.run(&["backfill"]);
    assert!(out.contains("backfill complete"), "{out}");
    let status = paysync.status("main");
    assert_ledger_matches(&status, &manifest, false);
    // Each resource's count is exactly what the API lists: resumed pages were not read twice.
    for resource in status["backfill"].as_array().unwrap() {
        let expected = match resource["resource"].as_str().unwrap() {
            "customers" => count(&manifest, "customers"),
            "charges" => count(&manifest, "charges"),
            "subscriptions" => count(&manifest, "subscriptions"),
            "invoices" => count(&manifest, "invoices"),
            _ => 0,
        };
        assert_eq!(resource["stored"].as_u64(), Some(expected), "{resource}");
        assert_eq!(resource["done"], true);
    }
}

#[test]
fn catch_up_recovers_events_no_webhook_delivered() {
    let stripe = Localstripe::start();
    let paysync = Paysync::one_account(&stripe.url, SECRET, "");
    // No webhook endpoint registered: every event is "missed".
    let manifest = stripe.seed(30, None, paysync.dir.path());
    paysync.run(&["catchup"]);
    paysync.run(&["catchup"]);
    let status = paysync.status("main");
    assert_eq!(
        status["events"].as_u64(),
        Some(count(&manifest, "events")),
        "{status:#}"
    );
    assert!(status["last_webhook_at"].is_null());
    assert!(status["catchup"]["position"]["event_id"].is_string());
    let (customers, deleted) = objects(&status, "customer");
    assert_eq!(
        (customers, deleted),
        (
            count(&manifest, "customers"),
            count(&manifest, "deleted_customers")
        )
    );
    // Polling again finds nothing new.
    let out = paysync.run(&["catchup"]);
    assert!(out.contains("stored 0 new"), "{out}");
}

#[test]
fn refetch_mode_stores_what_the_api_says_not_the_payload() {
    let stripe = Localstripe::start();
    let paysync = Paysync::one_account(&stripe.url, SECRET, "refetch = true");
    let manifest = stripe.seed(20, None, paysync.dir.path());
    // Catch-up stores the events; each object is then read from the API, not taken from them.
    let out = paysync.run(&["catchup"]);
    assert!(out.contains("read"), "{out}");
    paysync.run(&["catchup"]);
    let status = paysync.status("main");
    assert_eq!(status["pending_events"].as_u64(), Some(0), "{status:#}");
    let (customers, deleted) = objects(&status, "customer");
    assert_eq!(
        (customers, deleted),
        (
            count(&manifest, "customers"),
            count(&manifest, "deleted_customers")
        )
    );
}

#[test]
fn a_catch_up_gap_beyond_30_days_is_reported_until_a_backfill_runs() {
    let stripe = Localstripe::start();
    let paysync = Paysync::one_account(&stripe.url, SECRET, "");
    stripe.seed(5, None, paysync.dir.path());
    paysync.run(&["catchup"]);
    // Pretend the last poll happened 31 days ago (paysync was down for a month).
    let month_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 31 * 86_400;
    let position =
        serde_json::json!({ "event_id": "evt_long_gone", "created": month_ago, "forward": true });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = paysync_store::SqliteStore::open(paysync.dir.path().join("paysync.db"), 0)
            .await
            .unwrap();
        use paysync_store::Store;
        store
            .set_cursor("main", "catchup.events", &position.to_string(), 0)
            .await
            .unwrap();
    });

    let out = paysync.run(&["catchup"]);
    assert!(out.contains("GAP beyond 30 days"), "{out}");
    let status = paysync.status("main");
    assert_eq!(status["catchup"]["backfill_needed"], true, "{status:#}");
    assert!(
        paysync
            .run(&["status"])
            .contains("run `paysync backfill --account main`")
    );

    paysync.run(&["backfill"]);
    assert_eq!(paysync.status("main")["catchup"]["backfill_needed"], false);
}
