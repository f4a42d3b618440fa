//! Limits shared through PostgreSQL (issue 8): two workers' limiters for one destination that
//! allows two simultaneous requests never let more than two run at once between them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use paysync_destinations::http::SharedLimit;
use paysync_engine::shared_limits::StoreLimits;
use paysync_store::scratch::ScratchSchema;
use paysync_store::{PgStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_share_a_destinations_simultaneous_requests() {
    let base = std::env::var("PAYSYNC_TEST_DATABASE_URL")
        .expect("PAYSYNC_TEST_DATABASE_URL is not set: run the tests with ./scripts/test.sh");
    let schema = ScratchSchema::create(&base, "engine_limits").expect("PostgreSQL");
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&schema.url(), 0).await.expect("store"));
    // Two workers, each allowing itself 2 at once: together still 2.
    let workers: Vec<Arc<StoreLimits>> = (0..2)
        .map(|_| {
            Arc::new(StoreLimits::new(
                store.clone(),
                "mc",
                0,
                2,
                Duration::from_secs(10),
            ))
        })
        .collect();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut requests = Vec::new();
    for i in 0..16 {
        let limits = workers[i % 2].clone();
        let (running, most) = (running.clone(), most.clone());
        requests.push(tokio::spawn(async move {
            let _permit = limits.acquire().await;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            running.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    for r in requests {
        r.await.expect("request");
    }
    // Slots are given back in the background: all 16 went through, never more than 2 at once.
    assert_eq!(most.load(Ordering::SeqCst), 2);
}
