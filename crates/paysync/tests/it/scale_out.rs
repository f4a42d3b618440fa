//! Scale-out on PostgreSQL (issue 8): one receiver (`serve --receive-only`) and three workers
//! share a database; the SDK's activity streams in through the receiver's webhook endpoint; one
//! worker is SIGKILLed mid-run, holding roles and leased rows. The others take its work over and
//! the Mailchimp emulator ends exactly as the rules say, with nothing lost and no dead letter.

use std::time::Duration;

use crate::delivery::{
    Mailchimp, SECRET, assert_audience_matches, paysync_for, status, wait_for_delivery,
};
use crate::harness::*;

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
    let mut workers: Vec<Option<Proc>> = (0..3)
        .map(|i| Some(paysync.spawn(&["worker"], &format!("worker{i}"))))
        .collect();
    // The first worker takes the account's roles (catch-up, applier, reconciler) first.
    wait_until(
        Duration::from_secs(30),
        "a worker to take the roles",
        || paysync.log("worker0").contains("took a role"),
    );
    let hook = paysync.url("/webhooks/stripe/main");
    let dir = paysync.dir.path().to_path_buf();
    let manifest = std::thread::scope(|scope| {
        let seed = scope.spawn(|| stripe.seed(80, Some((&hook, SECRET)), &dir));
        // Mid-run: contacts are being delivered when the role holder dies.
        wait_until(Duration::from_secs(60), "deliveries to start", || {
            status(&paysync)["destinations"][0]["pending"]
                .as_i64()
                .is_some_and(|p| p > 0)
                || seed.is_finished()
        });
        drop(workers[0].take()); // SIGKILL
        seed.join().expect("seed thread")
    });
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    assert_audience_matches(&paysync, &mc, &manifest);
    // The survivors took the dead worker's roles over.
    let survivors = paysync.log("worker1") + &paysync.log("worker2");
    assert!(
        survivors.contains("took a role"),
        "no worker took the roles over:\n{survivors}"
    );
    drop(workers);
}
