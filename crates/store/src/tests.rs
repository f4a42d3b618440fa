use paysync_core::{EventEnvelope, ObjectVersion, Snapshot};
use proptest::prelude::*;
use serde_json::value::RawValue;

use crate::*;

fn test_key() -> SecretKey {
    SecretKey::from_hex(&"ab".repeat(32)).unwrap()
}

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.db"), 0)
        .await
        .unwrap()
        .with_secret_key(test_key());
    (dir, store)
}

/// A new PostgreSQL store in a schema of its own at `PAYSYNC_TEST_DATABASE_URL` (required: the
/// suite runs on both backends, so PostgreSQL being unreachable fails it).
async fn open_pg() -> (scratch::ScratchSchema, PgStore) {
    let base = std::env::var("PAYSYNC_TEST_DATABASE_URL").expect(
        "PAYSYNC_TEST_DATABASE_URL is not set: run the tests with ./scripts/test.sh \
         (PostgreSQL at postgres://postgres@127.0.0.1:5432/test by default)",
    );
    let schema = scratch::ScratchSchema::create(&base, "store_test")
        .unwrap_or_else(|e| panic!("PostgreSQL at PAYSYNC_TEST_DATABASE_URL: {e}"));
    let store = PgStore::open(&schema.url(), 0)
        .await
        .unwrap()
        .with_secret_key(test_key());
    (schema, store)
}

/// Runs `test` on a new SQLite store, then on a new PostgreSQL store.
fn on_both<F, Fut>(test: F)
where
    F: Fn(std::sync::Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt().block_on(async {
        let (_dir, sqlite) = open().await;
        eprintln!("on SQLite");
        test(std::sync::Arc::new(sqlite)).await;
        let (_schema, pg) = open_pg().await;
        eprintln!("on PostgreSQL");
        test(std::sync::Arc::new(pg)).await;
    })
}

fn event(id: &str, event_type: &str, created: i64, object: &str) -> InboxEvent {
    let payload = format!(
        r#"{{"id":"{id}","object":"event","type":"{event_type}","created":{created},"livemode":false,"data":{{"object":{object}}}}}"#
    );
    let envelope = EventEnvelope::parse(payload.as_bytes()).unwrap();
    InboxEvent {
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        created,
        livemode: false,
        source: EventSource::Webhook,
        payload,
        received_at: 1_000,
        refetch: false,
    }
}

/// Stores events and carries them into the ledger, as intake and the applier do.
async fn deliver(store: &dyn Store, events: Vec<InboxEvent>) -> Vec<IngestOutcome> {
    let outcomes = store.ingest("a", events).await.unwrap();
    while store.apply_pending("a", 7, 2_000).await.unwrap() > 0 {}
    outcomes
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_duplicate_event_is_stored_once() {
    on_both(|store| async move {
        let e = event(
            "evt_1",
            "customer.created",
            10,
            r#"{"id":"cus_1","object":"customer"}"#,
        );
        let out = deliver(&*store, vec![e.clone(), e.clone()]).await;
        assert_eq!(out, [IngestOutcome::Stored, IngestOutcome::Duplicate]);
        let out = deliver(&*store, vec![e.clone()]).await;
        assert_eq!(out, [IngestOutcome::Duplicate]);
        assert_eq!(store.ledger_summary("a").await.unwrap().pending_events, 0);
        // The same event id under another account is another event.
        let out = store.ingest("b", vec![e]).await.unwrap();
        assert_eq!(out, [IngestOutcome::Stored]);
        assert_eq!(store.ledger_summary("a").await.unwrap().events, 1);
    });
}

#[test]
fn an_older_snapshot_never_replaces_a_newer_one() {
    on_both(|store| async move {
        let newer = event(
            "evt_2",
            "customer.updated",
            20,
            r#"{"id":"cus_1","object":"customer","name":"new"}"#,
        );
        let older = event(
            "evt_1",
            "customer.updated",
            10,
            r#"{"id":"cus_1","object":"customer","name":"old"}"#,
        );
        deliver(&*store, vec![newer]).await;
        deliver(&*store, vec![older]).await;
        let obj = store.object("a", "cus_1").await.unwrap().unwrap();
        assert!(obj.body.contains("new"));
        // A backfilled read from before the event does not win either.
        let raw =
            RawValue::from_string(r#"{"id":"cus_1","object":"customer","name":"read"}"#.into())
                .unwrap();
        let read = Snapshot::parse(&raw, ObjectVersion::of_api_read(15_000, false)).unwrap();
        let stats = store
            .apply(
                "a",
                ApplyBatch {
                    snapshots: vec![read],
                    at: 30_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            stats,
            ApplyStats {
                written: 0,
                stale: 1
            }
        );
        assert!(
            store
                .object("a", "cus_1")
                .await
                .unwrap()
                .unwrap()
                .body
                .contains("new")
        );
    });
}

#[test]
fn a_refund_finds_its_customer_through_its_charge_in_either_order() {
    on_both(|store| async move {
        let refund = event(
            "evt_r",
            "refund.created",
            11,
            r#"{"id":"re_1","object":"refund","charge":"ch_1"}"#,
        );
        let charge = event(
            "evt_c",
            "charge.succeeded",
            10,
            r#"{"id":"ch_1","object":"charge","customer":"cus_9"}"#,
        );
        deliver(&*store, vec![refund]).await;
        assert_eq!(
            store
                .object("a", "re_1")
                .await
                .unwrap()
                .unwrap()
                .customer_ref,
            None
        );
        deliver(&*store, vec![charge]).await;
        let refund = store.object("a", "re_1").await.unwrap().unwrap();
        assert_eq!(refund.customer_ref.as_deref(), Some("cus_9"));
        assert_eq!(store.dirty("a", 10).await.unwrap(), ["cus_9"]);
    });
}

#[test]
fn a_stored_event_reaches_the_ledger_only_through_the_applier() {
    on_both(|store| async move {
        let e = event(
            "evt_1",
            "customer.updated",
            10,
            r#"{"id":"cus_1","object":"customer"}"#,
        );
        store.ingest("a", vec![e]).await.unwrap();
        assert!(store.object("a", "cus_1").await.unwrap().is_none());
        assert_eq!(store.ledger_summary("a").await.unwrap().pending_events, 1);
        assert_eq!(store.apply_pending("a", 10, 5).await.unwrap(), 1);
        assert!(store.object("a", "cus_1").await.unwrap().is_some());
        assert_eq!(
            store.apply_pending("a", 10, 5).await.unwrap(),
            0,
            "applied once"
        );
    });
}

#[test]
fn a_refetch_event_waits_for_its_read_and_commits_with_its_cursor() {
    on_both(|store| async move {
        let mut e = event(
            "evt_1",
            "customer.updated",
            10,
            r#"{"id":"cus_1","object":"customer"}"#,
        );
        e.refetch = true;
        store.ingest("a", vec![e]).await.unwrap();
        assert_eq!(
            store.apply_pending("a", 10, 5).await.unwrap(),
            0,
            "left for the refetcher"
        );
        let pending = store.refetch_events("a", 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        let raw = RawValue::from_string(r#"{"id":"cus_1","object":"customer"}"#.into()).unwrap();
        let read = Snapshot::parse(&raw, ObjectVersion::of_api_read(12_000, false)).unwrap();
        let batch = ApplyBatch {
            snapshots: vec![read],
            applied_events: vec!["evt_1".into()],
            cursor: Some(CursorUpdate {
                name: "x".into(),
                value: "y".into(),
            }),
            at: 12_000,
        };
        store.apply("a", batch).await.unwrap();
        assert!(store.refetch_events("a", 10).await.unwrap().is_empty());
        assert_eq!(store.cursor("a", "x").await.unwrap().unwrap().value, "y");
        assert!(store.object("a", "cus_1").await.unwrap().is_some());
    });
}

#[test]
fn a_failing_write_does_not_undo_the_others_in_its_group() {
    rt().block_on(async {
        let (_dir, store) = open().await;
        let bad =
            crate::backend::Backend::write(&store, crate::backend::WriteKind::Durable, |db| {
                db.execute(
                "INSERT INTO cursors (account, name, value, updated_at) VALUES ('a','bad','v',1)",
                crate::sql::args![],
            )?;
                db.execute("INSERT INTO no_such_table VALUES (1)", crate::sql::args![])?;
                Ok(())
            });
        let good = store.set_cursor("a", "good", "v", 1);
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        good.unwrap();
        assert!(store.cursor("a", "bad").await.unwrap().is_none());
        assert!(store.cursor("a", "good").await.unwrap().is_some());
    });
}

#[test]
fn reopening_keeps_everything_and_does_not_migrate_twice() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path, 0).await.unwrap();
        store.set_cursor("a", "c", "1", 1).await.unwrap();
        drop(store);
        let store = SqliteStore::open(&path, 0).await.unwrap();
        assert_eq!(store.cursor("a", "c").await.unwrap().unwrap().value, "1");
    });
}

#[test]
fn processes_creating_one_new_database_at_once_all_open_it() {
    // Each thread is what a separate process would be: its own runtime, its own connections.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            let opened: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        rt().block_on(async { SqliteStore::open(&path, 0).await.map(drop) })
                    })
                })
                .collect();
            for open in opened {
                open.join().unwrap().unwrap();
            }
        });
    }
}

/// Events about a handful of objects, with same-second collisions, deletions and refunds.
fn events() -> impl Strategy<Value = Vec<InboxEvent>> {
    let one = (0u8..4, 0i64..4, 0u8..5, 0u32..1000).prop_map(|(obj, second, action, salt)| {
        let (object, kind) = match obj {
            0 => (
                format!(r#"{{"id":"cus_1","object":"customer","name":"n{salt}"}}"#),
                "customer",
            ),
            1 => (
                format!(r#"{{"id":"cus_2","object":"customer","email":"E{salt}@x.co"}}"#),
                "customer",
            ),
            2 => (
                format!(r#"{{"id":"ch_1","object":"charge","customer":"cus_1","amount":{salt}}}"#),
                "charge",
            ),
            _ => (
                format!(r#"{{"id":"re_1","object":"refund","charge":"ch_1","amount":{salt}}}"#),
                "refund",
            ),
        };
        let verb = match action {
            0 => "created",
            4 => "deleted",
            _ => "updated",
        };
        event(
            &format!("evt_{obj}_{second}_{action}_{salt}"),
            &format!("{kind}.{verb}"),
            100 + second,
            &object,
        )
    });
    prop::collection::vec(one, 1..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The issue's acceptance property: duplicated and reordered deliveries of the same events end
    /// in the same ledger state.
    #[test]
    fn duplicated_and_reordered_deliveries_converge(
        events in events(),
        seed in any::<u64>(),
    ) {
        rt().block_on(async {
            let (_d1, in_order) = open().await;
            for e in &events {
                deliver(&in_order, vec![e.clone()]).await;
            }
            // Shuffle, duplicate some, and deliver in batches of varying size.
            let mut shuffled: Vec<InboxEvent> = events.iter().chain(events.iter().step_by(2)).cloned().collect();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let (_d2, scrambled) = open().await;
            for chunk in shuffled.chunks((seed % 5 + 1) as usize) {
                deliver(&scrambled, chunk.to_vec()).await;
            }
            let a = in_order.all_objects("a").await.unwrap();
            let b = scrambled.all_objects("a").await.unwrap();
            prop_assert_eq!(a, b);
            let mut da = in_order.dirty("a", 100).await.unwrap();
            let mut db = scrambled.dirty("a", 100).await.unwrap();
            da.sort();
            db.sort();
            prop_assert_eq!(da, db);
            Ok(())
        })?;
    }
}

#[test]
fn a_person_is_every_customer_with_their_email_and_their_guest_payments() {
    on_both(|store| async move {
        deliver(&*store, vec![
            event("evt_1", "customer.created", 10, r#"{"id":"cus_a","object":"customer","email":"Ann@Example.com"}"#),
            event("evt_2", "customer.created", 11, r#"{"id":"cus_b","object":"customer","email":"ann@example.com "}"#),
            event("evt_3", "charge.succeeded", 12, r#"{"id":"ch_1","object":"charge","customer":"cus_b"}"#),
            event("evt_4", "checkout.session.completed", 13,
                r#"{"id":"cs_1","object":"checkout.session","customer":null,"customer_details":{"email":"ANN@example.com"}}"#),
            event("evt_5", "charge.succeeded", 14, r#"{"id":"ch_2","object":"charge","customer":"cus_other"}"#),
            event("evt_6", "charge.refunded", 15, r#"{"id":"ch_1","object":"charge","customer":"cus_b","refunded":true}"#),
        ]).await;
        for key in ["cus_a", "cus_b", "email:ann@example.com"] {
            let person = store.person("a", key).await.unwrap();
            assert_eq!(person.email.as_deref(), Some("ann@example.com"), "{key}");
            let ids: Vec<_> = person
                .objects
                .iter()
                .map(|o| o.object_id.as_str())
                .collect();
            assert_eq!(ids, ["cus_a", "ch_1", "cus_b", "cs_1"], "{key}");
            let seen: Vec<_> = person
                .events_seen
                .iter()
                .map(|(t, at)| (t.as_str(), *at))
                .collect();
            assert_eq!(
                seen,
                [
                    ("charge.refunded", 15),
                    ("charge.succeeded", 12),
                    ("checkout.session.completed", 13),
                    ("customer.created", 11)
                ]
            );
        }
        // A customer without an email is a person of their own.
        let alone = store.person("a", "cus_other").await.unwrap();
        assert_eq!(alone.email, None);
        assert!(alone.objects.iter().all(|o| o.object_id == "ch_2"));
    });
}

#[test]
fn the_sync_log_filters_and_prunes() {
    on_both(|store| async move {
        let entry = |at, kind: &str, level, person: &str| LogEntry {
            at,
            account: Some("a".into()),
            kind: kind.into(),
            level,
            message: format!("{kind} {person}"),
            detail: Some(serde_json::json!({"person": person, "destination": "mc"})),
        };
        store
            .log(entry(1_000, "delivery", Level::Info, "ann@x.co"))
            .await
            .unwrap();
        store
            .log(entry(2_000, "delivery", Level::Error, "bob@x.co"))
            .await
            .unwrap();
        store
            .log(entry(3_000, "backfill.finished", Level::Info, ""))
            .await
            .unwrap();
        let query = |q: LogQuery| {
            let store = &store;
            async move {
                let mut q = q;
                q.limit = 10;
                store
                    .query_log(q)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.message)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(query(LogQuery::default()).await.len(), 3);
        let deliveries = LogQuery {
            kind: Some("delivery".into()),
            ..LogQuery::default()
        };
        assert_eq!(
            query(deliveries).await,
            ["delivery bob@x.co", "delivery ann@x.co"]
        );
        let errors = LogQuery {
            min_level: Some(Level::Warn),
            ..LogQuery::default()
        };
        assert_eq!(query(errors).await, ["delivery bob@x.co"]);
        let ann = LogQuery {
            person: Some("ann@x.co".into()),
            ..LogQuery::default()
        };
        assert_eq!(query(ann).await, ["delivery ann@x.co"]);
        assert_eq!(store.prune_log(2_500).await.unwrap(), 2);
        assert_eq!(query(LogQuery::default()).await, ["backfill.finished "]);
    });
}

/// Erases one person among others; what is left of them in the store is checked by the caller.
async fn erase_one_of_two(store: &dyn Store) -> &'static str {
    let events = vec![
        event(
            "evt_1",
            "customer.created",
            10,
            r#"{"id":"cus_1","object":"customer","email":"Gone.Person@Example.com","metadata":{"note":"x"}}"#,
        ),
        event(
            "evt_2",
            "charge.succeeded",
            11,
            r#"{"id":"ch_1","object":"charge","customer":"cus_1","amount":100,"billing_details":{"email":"gone.person@example.com"}}"#,
        ),
        event(
            "evt_3",
            "charge.refunded",
            12,
            r#"{"id":"re_1","object":"refund","charge":"ch_1","amount":100}"#,
        ),
        // A guest payment with the address, and someone whose address contains it.
        event(
            "evt_4",
            "checkout.session.completed",
            13,
            r#"{"id":"cs_1","object":"checkout.session","customer_details":{"email":"gone.person@example.com"}}"#,
        ),
        event(
            "evt_5",
            "customer.created",
            14,
            r#"{"id":"cus_2","object":"customer","email":"agone.person@example.com"}"#,
        ),
    ];
    deliver(store, events).await;
    let gone = "gone.person@example.com";
    assert!(!store.is_erased(gone).await.unwrap());
    assert_eq!(store.begin_erasure(gone, 3_000).await.unwrap(), 0);
    assert!(store.is_erased(gone).await.unwrap());
    let erased = store.erase_person(gone).await.unwrap();
    assert_eq!(erased.customers, [("a".to_owned(), "cus_1".to_owned())]);
    assert_eq!(erased.objects, 4, "{erased:?}");
    assert_eq!(erased.events, 4, "{erased:?}");
    // Nothing more is recorded about them.
    let recorded = store
        .record_unsubscribe(Unsubscribe {
            person: gone.into(),
            destination: "mc".into(),
            at: 4_000,
            source: "destination_webhook".into(),
            details: None,
            syncs: vec![],
            accounts: vec![],
        })
        .await
        .unwrap();
    assert!(!recorded);
    assert!(store.object("a", "cus_2").await.unwrap().is_some());
    assert!(store.object("a", "cus_1").await.unwrap().is_none());
    gone
}

#[test]
fn an_erased_person_leaves_no_trace_in_the_files_and_others_stay() {
    rt().block_on(async {
        let (dir, store) = open().await;
        let gone = erase_one_of_two(&store).await;
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap().to_ascii_lowercase();
            let text = String::from_utf8_lossy(&bytes);
            // Every occurrence left is inside the other person's address.
            for (at, _) in text.match_indices(gone) {
                assert!(
                    at > 0 && &text[at - 1..at] == "a",
                    "{} keeps the address",
                    path.display()
                );
            }
        }
        let (_schema, pg) = open_pg().await;
        erase_one_of_two(&pg).await;
    });
}

#[test]
fn sessions_expire_and_end_with_a_new_password() {
    on_both(|store| async move {
        assert_eq!(store.admin_count().await.unwrap(), 0);
        store.set_admin("ada", "$argon2id$one", 1).await.unwrap();
        assert_eq!(store.admin_count().await.unwrap(), 1);
        store.create_session("h1", "ada", 10, 100).await.unwrap();
        let live = store.session("h1", 99).await.unwrap().unwrap();
        assert_eq!(live.username, "ada");
        assert!(store.session("h1", 100).await.unwrap().is_none(), "expired");
        assert!(store.session("nope", 50).await.unwrap().is_none());
        store.set_admin("ada", "$argon2id$two", 20).await.unwrap();
        assert!(
            store.session("h1", 50).await.unwrap().is_none(),
            "ended by the new password"
        );
        assert_eq!(
            store.admin_password_hash("ada").await.unwrap().as_deref(),
            Some("$argon2id$two")
        );
        store.create_session("h2", "ada", 30, 100).await.unwrap();
        store.delete_session("h2").await.unwrap();
        assert!(store.session("h2", 50).await.unwrap().is_none());
    });
}

#[test]
fn disconnecting_a_destination_removes_its_syncs_and_secrets_only() {
    on_both(|store| async move {
        let item = |kind, name: &str, body: &str| ManagedItem {
            kind,
            name: name.into(),
            body: body.into(),
            updated_at: 1,
        };
        store
            .put_managed(item(ManagedKind::Destination, "m_c", r#"{"name":"m_c"}"#))
            .await
            .unwrap();
        store
            .put_managed(item(ManagedKind::Destination, "mxc", r#"{"name":"mxc"}"#))
            .await
            .unwrap();
        for (sync, dest) in [("s1", "m_c"), ("s2", "mxc")] {
            let body = format!(r#"{{"name":"{sync}","destination":"{dest}"}}"#);
            store
                .put_managed(item(ManagedKind::Sync, sync, &body))
                .await
                .unwrap();
        }
        let secret = secrecy::SecretString::from("k".to_owned());
        for name in ["destination.m_c.api_key", "destination.mxc.api_key"] {
            store.put_secret(name, &secret, 1).await.unwrap();
        }
        let removed = store.disconnect_destination("m_c").await.unwrap();
        assert_eq!(removed, Some(vec!["s1".to_owned()]));
        assert_eq!(store.disconnect_destination("m_c").await.unwrap(), None);
        // `_` is not a wildcard: the other destination keeps its key.
        assert!(
            store
                .get_secret("destination.m_c.api_key")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_secret("destination.mxc.api_key")
                .await
                .unwrap()
                .is_some()
        );
        let left: Vec<_> = store
            .managed_config()
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(left, ["mxc", "s2"]);
        assert!(store.delete_managed_sync("s2").await.unwrap());
        assert!(!store.delete_managed_sync("s2").await.unwrap());
    });
}

/// Queues one row per person at sync `s` of destination `d`, due at 0.
async fn queue(store: &dyn Store, people: impl IntoIterator<Item = String>) {
    let batch = people
        .into_iter()
        .map(|person| Reconciled {
            mark: DirtyMark {
                customer_ref: format!("email:{person}"),
                generation: 0,
            },
            person: Some(person.clone()),
            decisions: vec![Decision {
                sync: "s".into(),
                destination: "d".into(),
                person: person.clone(),
                diffed_against: None,
                ops: vec![paysync_core::ops::Op::AddTags(
                    paysync_core::ops::TagChange {
                        email: paysync_core::contact::Email::parse(&person).unwrap(),
                        tags: ["paid".to_owned()].into(),
                    },
                )],
                due_at: 0,
            }],
            held: vec![],
        })
        .collect();
    store.commit_reconciled("a", batch, 0).await.unwrap();
}

fn person(i: usize) -> String {
    format!("p{i}@example.com")
}

#[test]
fn a_leased_row_is_one_workers_until_its_lease_runs_out_or_moves_on() {
    on_both(|store| async move {
        queue(&*store, (0..3).map(person)).await;
        let first = store.claim("d", 10, 10, 1_000, 2).await.unwrap();
        assert_eq!(first.len(), 2);
        // Another worker takes only what is left.
        let second = store.claim("d", 20, 20, 2_000, 10).await.unwrap();
        assert_eq!(second.len(), 1);
        assert!(
            store
                .claim("d", 30, 30, 3_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The first worker's heartbeat keeps its rows past their first lease …
        assert_eq!(store.extend_leases("d", 1_000, 5_000).await.unwrap(), 2);
        assert!(
            store
                .claim("d", 1_500, 1_500, 9_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // … the second worker died: its row is due again once its lease ran out.
        let taken_over = store.claim("d", 2_500, 2_500, 9_000, 10).await.unwrap();
        assert_eq!(taken_over.len(), 1);
        assert_eq!(taken_over[0].entry.person, second[0].entry.person);
        // A heartbeat for the lease it lost moves nothing.
        assert_eq!(store.extend_leases("d", 2_000, 6_000).await.unwrap(), 0);
    });
}

#[test]
fn a_role_has_one_holder_until_it_lapses() {
    on_both(|store| async move {
        assert!(store.hold_role("reconcile:a", "w1", 0, 100).await.unwrap());
        assert!(!store.hold_role("reconcile:a", "w2", 50, 150).await.unwrap());
        assert!(store.hold_role("other", "w2", 50, 150).await.unwrap());
        // Renewed by its holder; taken by another once it lapsed.
        assert!(store.hold_role("reconcile:a", "w1", 90, 200).await.unwrap());
        assert!(
            !store
                .hold_role("reconcile:a", "w2", 150, 250)
                .await
                .unwrap()
        );
        assert!(
            store
                .hold_role("reconcile:a", "w2", 200, 300)
                .await
                .unwrap()
        );
        assert!(
            !store
                .hold_role("reconcile:a", "w1", 210, 310)
                .await
                .unwrap()
        );
    });
}

/// Workers claiming at once from one PostgreSQL database never take the same row.
#[test]
fn concurrent_claims_on_postgres_take_disjoint_rows() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_schema, store) = open_pg().await;
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
        queue(&*store, (0..400).map(person)).await;
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let lease = 1_000_000 + w;
                        let rows = store.claim("d", 10, 10, lease, 7).await.unwrap();
                        if rows.is_empty() {
                            return mine;
                        }
                        mine.extend(rows.into_iter().map(|c| c.entry.person));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let claimed = all.len();
        all.sort();
        all.dedup();
        assert_eq!((claimed, all.len()), (400, 400));
    });
}

#[test]
fn a_shared_rate_spaces_requests_and_a_hold_pauses_them() {
    on_both(|store| async move {
        // 2 at once, then one per 100 ms.
        let waits: Vec<i64> = futures_waits(&*store, 4, 1_000).await;
        assert_eq!(waits, [0, 0, 100, 200]);
        // Later, the bucket has drained.
        assert_eq!(store.reserve_rate("r", 100, 2, 5_000).await.unwrap(), 0);
        store.hold_rate_until("pause:d", 9_000).await.unwrap();
        store.hold_rate_until("pause:d", 8_000).await.unwrap();
        assert_eq!(store.rate_held_until("pause:d").await.unwrap(), Some(9_000));
        assert_eq!(store.rate_held_until("other").await.unwrap(), None);
    });
}

async fn futures_waits(store: &dyn Store, n: usize, now: i64) -> Vec<i64> {
    let mut waits = Vec::new();
    for _ in 0..n {
        waits.push(store.reserve_rate("r", 100, 2, now).await.unwrap());
    }
    waits
}

#[test]
fn a_shared_slot_is_held_by_one_taker_until_given_back_or_lapsed() {
    on_both(|store| async move {
        let take = |holder: &'static str, now: i64| {
            let store = store.clone();
            async move {
                store
                    .take_slot("slot:d:0", holder, now, now + 90)
                    .await
                    .unwrap()
            }
        };
        assert!(take("a", 10).await);
        assert!(!take("b", 20).await);
        // Given back by its holder only (another's release changes nothing) …
        store.release_slot("slot:d:0", "b").await.unwrap();
        assert!(!take("b", 30).await);
        store.release_slot("slot:d:0", "a").await.unwrap();
        assert!(take("b", 40).await);
        // … and a late release by its earlier holder leaves the new holder's slot alone.
        store.release_slot("slot:d:0", "a").await.unwrap();
        assert!(!take("c", 50).await);
        // A dead holder's slot is free once its time ran out.
        assert!(take("c", 130).await);
    });
}
