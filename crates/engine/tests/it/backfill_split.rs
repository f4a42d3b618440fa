//! A queued backfill split across workers (issue 8): two workers (each with its own roles, as
//! two processes would have) share the units of a 200-day backfill on PostgreSQL, and the
//! ledger ends with exactly what one unsplit backfill of the same window reads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use paysync_emulators::stripe::{SeedSpec, StripeEmulatorConfig, serve_stripe};
use paysync_engine::alerts::Alerter;
use paysync_engine::backfill::{self, Backfill, Pickup, Window};
use paysync_engine::roles::Roles;
use paysync_store::scratch::ScratchSchema;
use paysync_store::{PgStore, SqliteStore, Store};
use paysync_stripe::{ClientConfig, StripeClient};

fn client(api_base: &str) -> StripeClient {
    StripeClient::new(ClientConfig {
        api_base: api_base.to_owned(),
        api_key: "sk_test_split".to_owned().into(),
        connect_account: None,
        api_version: paysync_core::config::DEFAULT_STRIPE_VERSION.into(),
        rate_limit_per_sec: 200,
        timeout: Duration::from_secs(30),
        max_retries: 3,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_secs(1),
    })
    .expect("client")
}

fn ids(objects: &[paysync_store::StoredObject]) -> Vec<String> {
    objects.iter().map(|o| o.object_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_a_queued_backfill_and_read_what_one_would() {
    let stripe = serve_stripe(StripeEmulatorConfig {
        rate_limit: None,
        seed: Some(SeedSpec {
            customers: 300,
            history_days: 365,
            events: false,
            ..SeedSpec::default()
        }),
        ..StripeEmulatorConfig::default()
    })
    .await
    .expect("stripe emulator");
    let base = std::env::var("PAYSYNC_TEST_DATABASE_URL")
        .expect("PAYSYNC_TEST_DATABASE_URL is not set: run the tests with ./scripts/test.sh");
    let schema = ScratchSchema::create(&base, "engine_split").expect("PostgreSQL");
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&schema.url(), 0).await.expect("store"));
    let now = paysync_engine::now_ms();
    let window = Window::last_days(200, now);

    let units = backfill::queue(store.as_ref(), "main", window, now)
        .await
        .expect("queue");
    assert!(
        units > backfill::RESOURCES.len(),
        "{units} units: not split in time"
    );
    assert!(backfill::queued(store.as_ref(), "main").await.unwrap());
    let alerter = Alerter::new(&Default::default(), store.clone()).expect("alerter");
    let workers: Vec<Arc<Pickup>> = (0..2)
        .map(|_| {
            Pickup::new(
                store.clone(),
                client(&stripe.url()),
                "main".into(),
                Roles::new(store.clone()),
                alerter.clone(),
            )
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while backfill::queued(store.as_ref(), "main").await.unwrap() {
        for w in &workers {
            w.round().await.expect("round");
        }
        if tokio::time::Instant::now() > deadline {
            let left: Vec<String> = store
                .cursors("main", "backfill.")
                .await
                .unwrap()
                .into_iter()
                .filter(|(_, c)| c.value.contains("\"done\":false"))
                .map(|(name, c)| format!("{name}: {}", c.value))
                .collect();
            panic!("backfill not done: {left:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken: Vec<usize> = workers
        .iter()
        .map(|w| w.units_taken.load(Ordering::Relaxed))
        .collect();
    assert_eq!(taken.iter().sum::<usize>(), units, "{taken:?}");
    assert!(
        taken.iter().all(|&n| n > 0),
        "one worker did it all: {taken:?}"
    );

    // One process, one unsplit pass over the same window, into another store.
    let dir = tempfile::tempdir().unwrap();
    let alone: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), 0).await.unwrap());
    Backfill {
        store: alone.clone(),
        client: client(&stripe.url()),
        account: "main".into(),
        window,
    }
    .run(Arc::new(|_| {}))
    .await
    .expect("unsplit backfill");
    let split = ids(&store.all_objects("main").await.unwrap());
    assert!(!split.is_empty());
    assert_eq!(split, ids(&alone.all_objects("main").await.unwrap()));
}
