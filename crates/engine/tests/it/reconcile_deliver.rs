//! Ledger → reconciler → outbox → delivery worker → Mailchimp emulator, and back again when the
//! rules change, the destination fails, or a contact has opted out.

use std::sync::Arc;
use std::time::Duration;

use paysync_core::EventEnvelope;
use paysync_core::config::{DestinationConfig, DestinationKind, SyncConfig, SyncRulesConfig};
use paysync_core::contact::Consent;
use paysync_core::segments::{Segment, Target};
use paysync_destinations::Destination;
use paysync_emulators::EmulatorHandle;
use paysync_emulators::FaultConfig;
use paysync_emulators::mailchimp::{MailchimpConfig, MailchimpEmulator, serve_mailchimp};
use paysync_engine::connect::{connector, prepare};
use paysync_engine::deliver::{Deliverer, RetryPolicy};
use paysync_engine::reconcile::Reconciler;
use paysync_store::{EventSource, InboxEvent, SqliteStore, Store};
use secrecy::SecretString;
use serde_json::Value;

pub const ACCOUNT: &str = "main";

pub fn event(id: &str, created: i64, object: &str) -> InboxEvent {
    let kind = if object.contains(r#""object":"charge""#) {
        "charge.succeeded"
    } else {
        "customer.created"
    };
    let payload = format!(
        r#"{{"id":"{id}","object":"event","type":"{kind}","created":{created},"livemode":false,"data":{{"object":{object}}}}}"#
    );
    let envelope = EventEnvelope::parse(payload.as_bytes()).expect("event");
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

fn customer(n: u32) -> String {
    format!(
        r#"{{"id":"cus_{n}","object":"customer","email":"person{n}@example.com","name":"Person Number{n}","created":1700000000}}"#
    )
}

pub fn charge(n: u32, customer: u32, amount: i64) -> String {
    format!(
        r#"{{"id":"ch_{n}","object":"charge","customer":"cus_{customer}","amount":{amount},"amount_captured":{amount},"amount_refunded":0,"currency":"usd","status":"succeeded","paid":true,"captured":true,"refunded":false,"created":1700000100}}"#
    )
}

/// Four customers: 50, 150 and 250 dollars paid, and one who never paid.
pub fn ledger_events() -> Vec<InboxEvent> {
    let mut events: Vec<InboxEvent> = (1..=4)
        .map(|n| event(&format!("evt_c{n}"), 1_700_000_000, &customer(n)))
        .collect();
    for (n, amount) in [(1, 5_000), (2, 15_000), (3, 25_000)] {
        events.push(event(
            &format!("evt_ch{n}"),
            1_700_000_100,
            &charge(n, n, amount),
        ));
    }
    events
}

pub struct Rig {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub emu: EmulatorHandle<MailchimpEmulator>,
    pub audience: String,
    pub connector: Arc<dyn Destination>,
}

pub async fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("paysync.db"), 1_000)
            .await
            .expect("store"),
    );
    let emu = serve_mailchimp(MailchimpConfig {
        batch_delay_ms: 20,
        ..MailchimpConfig::default()
    })
    .await
    .expect("emulator");
    let audience = emu.emulator.create_list("Customers");
    let cfg = DestinationConfig {
        name: "mc".into(),
        kind: DestinationKind::Mailchimp {
            api_key: SecretString::from("0123456789abcdef-us1".to_owned()),
            list_id: audience.clone(),
            api_base: Some(format!("{}/3.0", emu.url())),
        },
        rate_limit_per_sec: None,
        webhook_secret: None,
    };
    let connector = connector(
        &cfg,
        Arc::new(paysync_destinations::constant_contact::MemoryTokenStore::new(None)),
        None,
    )
    .await
    .expect("connector");
    Rig {
        _dir: dir,
        store,
        emu,
        audience,
        connector,
    }
}

pub fn sync_with_threshold(cents: i64, consent: Consent) -> SyncConfig {
    let rule: paysync_core::segments::Rule = serde_json::from_value(serde_json::json!({
        "charged": {"total": {"gte": cents}}
    }))
    .expect("rule");
    SyncConfig {
        name: "to-mc".into(),
        account: ACCOUNT.into(),
        destination: "mc".into(),
        rules: SyncRulesConfig {
            consent,
            filter: None,
            segments: vec![Segment {
                name: "Big spenders".into(),
                target: Target::Tag("big-spender".into()),
                sticky: false,
                rule,
            }],
            event_tags: None,
            fields: Vec::new(),
            opt_in_window_days: None,
            on_delete: Default::default(),
        },
        coalesce_ms: 0,
        opt_in: None,
        prior_consent: None,
        two_way: None,
    }
}

impl Rig {
    pub async fn ingest(&self, events: Vec<InboxEvent>) {
        self.store.ingest(ACCOUNT, events).await.expect("ingest");
        while self
            .store
            .apply_pending(ACCOUNT, 100, 2_000)
            .await
            .expect("apply")
            > 0
        {}
    }

    pub async fn reconciler(&self, sync: &SyncConfig) -> Reconciler {
        let plan = prepare(sync, self.connector.as_ref())
            .await
            .expect("prepare");
        Reconciler {
            store: self.store.clone(),
            account: ACCOUNT.into(),
            syncs: vec![Arc::new(plan)],
            carry_unsubscribes: false,
        }
    }

    pub fn deliverer(&self) -> Deliverer {
        Deliverer::new(
            self.store.clone(),
            "mc",
            self.connector.clone(),
            RetryPolicy {
                base_ms: 10,
                cap_ms: 50,
                lease_ms: 60_000,
            },
        )
    }

    pub fn members(&self) -> Vec<Value> {
        let state = self.emu.emulator.state_json();
        state["lists"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["id"] == self.audience.as_str()))
            .and_then(|l| l["members"].as_array().cloned())
            .unwrap_or_default()
    }

    fn tagged(&self, tag: &str) -> Vec<String> {
        let mut emails: Vec<String> = self
            .members()
            .iter()
            .filter(|m| {
                m["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == tag))
            })
            .filter_map(|m| m["email"].as_str().map(str::to_owned))
            .collect();
        emails.sort();
        emails
    }
}

pub fn now() -> i64 {
    paysync_engine::now_ms()
}

#[tokio::test]
async fn a_changed_segment_rule_sends_ops_to_exactly_the_affected_contacts() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let first = rig
        .reconciler(&sync_with_threshold(10_000, Consent::NonMarketing))
        .await;
    let stats = first.drain(now).await.expect("reconcile");
    assert_eq!((stats.persons, stats.store.queued), (4, 4));
    let delivered = rig.deliverer().drain().await.expect("deliver");
    assert_eq!((delivered.rows, delivered.done), (4, 4));
    assert_eq!(rig.members().len(), 4);
    assert_eq!(
        rig.tagged("big-spender"),
        ["person2@example.com", "person3@example.com"]
    );

    // Nothing changed: nothing to do, even when everyone is re-examined.
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    let again = first.drain(now).await.expect("reconcile");
    assert_eq!((again.persons, again.store.queued), (4, 0));

    // The threshold moves from $100 to $200: only person 2 leaves the tag. The impact preview
    // says so before anything is queued.
    let second = rig
        .reconciler(&sync_with_threshold(20_000, Consent::NonMarketing))
        .await;
    let plans: Vec<_> = second.syncs.iter().map(|p| (**p).clone()).collect();
    let impact = paysync_engine::impact::impact(rig.store.as_ref(), ACCOUNT, &plans, false, now())
        .await
        .expect("impact");
    assert_eq!(impact[0].persons, 4);
    assert_eq!(impact[0].contacts_changed, 1);
    assert_eq!(impact[0].new_contacts, 0);
    assert_eq!(
        serde_json::to_value(&impact[0].tags).expect("json"),
        serde_json::json!({"big-spender": {"join": 0, "leave": 1}})
    );
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    let stats = second.drain(now).await.expect("reconcile");
    assert_eq!(stats.store.queued, 1, "{stats:?}");
    let summary = rig.store.outbox_summary(now()).await.expect("summary");
    assert_eq!(summary[0].pending, 1);
    let calls_before = rig.emu.emulator.requests().total();
    let delivered = rig.deliverer().drain().await.expect("deliver");
    assert_eq!((delivered.rows, delivered.ops), (1, 1));
    assert!(rig.emu.emulator.requests().total() > calls_before);
    assert_eq!(rig.tagged("big-spender"), ["person3@example.com"]);
    assert!(
        rig.store
            .dead_letters(None, 10)
            .await
            .expect("dead")
            .is_empty()
    );
}

#[tokio::test]
async fn duplicated_and_reordered_events_converge_and_send_nothing_more() {
    let rig = rig().await;
    let mut events = ledger_events();
    events.reverse();
    rig.ingest(events).await;
    let reconciler = rig
        .reconciler(&sync_with_threshold(10_000, Consent::NonMarketing))
        .await;
    reconciler.drain(now).await.expect("reconcile");
    rig.deliverer().drain().await.expect("deliver");
    let calls = rig.emu.emulator.requests().total();
    // Every event again, in order this time: the ledger does not move, nobody is dirty.
    rig.ingest(ledger_events()).await;
    let stats = reconciler.drain(now).await.expect("reconcile");
    assert_eq!(stats.store.queued, 0);
    assert_eq!(rig.deliverer().drain().await.expect("deliver").rows, 0);
    assert_eq!(rig.emu.emulator.requests().total(), calls);
    assert_eq!(
        rig.tagged("big-spender"),
        ["person2@example.com", "person3@example.com"]
    );
}

#[tokio::test]
async fn an_outage_then_throttling_only_delays_and_leaves_no_dead_letters() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let reconciler = rig
        .reconciler(&sync_with_threshold(10_000, Consent::NonMarketing))
        .await;
    reconciler.drain(now).await.expect("reconcile");
    rig.emu.emulator.faults().set(FaultConfig {
        outage: true,
        ..FaultConfig::default()
    });
    let deliverer = rig.deliverer();
    let failed = deliverer.drain().await.expect("deliver");
    assert_eq!((failed.rows, failed.retried, failed.dead), (4, 4, 0));
    assert!(rig.members().is_empty());
    // Then the destination throttles everything (429): still retried, never dead.
    rig.emu.emulator.faults().set(FaultConfig {
        throttle_rate: 1.0,
        ..FaultConfig::default()
    });
    tokio::time::sleep(Duration::from_millis(60)).await;
    let throttled = deliverer.drain().await.expect("deliver");
    assert_eq!((throttled.retried, throttled.dead), (4, 0), "{throttled:?}");
    assert!(rig.emu.emulator.requests().status_count(429) > 0);
    rig.emu.emulator.faults().set(FaultConfig::default());
    // Retries fall due within the policy's cap (50 ms).
    let mut done = 0;
    for _ in 0..100 {
        done += deliverer.drain().await.expect("deliver").done;
        if done == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done, 4);
    assert_eq!(rig.members().len(), 4);
    assert!(
        rig.store
            .dead_letters(None, 10)
            .await
            .expect("dead")
            .is_empty()
    );
}

#[tokio::test]
async fn an_unsubscribed_contact_is_not_resubscribed_and_is_not_asked_again() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let reconciler = rig
        .reconciler(&sync_with_threshold(10_000, Consent::NonMarketing))
        .await;
    reconciler.drain(now).await.expect("reconcile");
    rig.deliverer().drain().await.expect("deliver");
    rig.emu
        .emulator
        .unsubscribe("person2@example.com", &rig.audience, None)
        .expect("unsubscribe");
    // The business now asks for marketing consent for everyone.
    let subscribed = rig
        .reconciler(&sync_with_threshold(10_000, Consent::Subscribed))
        .await;
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    subscribed.drain(now).await.expect("reconcile");
    let round = rig.deliverer().drain().await.expect("deliver");
    assert_eq!(round.dead, 0);
    assert_eq!(
        rig.emu
            .emulator
            .member_status(&rig.audience, "person2@example.com")
            .as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(
        rig.emu
            .emulator
            .member_status(&rig.audience, "person1@example.com")
            .as_deref(),
        Some("subscribed")
    );
    // The refusal taught paysync the opt-out: nothing more is asked of person 2.
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    let stats = subscribed.drain(now).await.expect("reconcile");
    assert_eq!(stats.store.queued, 0, "{stats:?}");
}

#[tokio::test]
async fn a_permanent_refusal_is_a_dead_letter_until_replayed() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let reconciler = rig
        .reconciler(&sync_with_threshold(10_000, Consent::NonMarketing))
        .await;
    reconciler.drain(now).await.expect("reconcile");
    rig.emu.emulator.faults().set(FaultConfig {
        error_rate: 1.0,
        error_status: Some(400),
        ..FaultConfig::default()
    });
    let mut deliverer = rig.deliverer();
    let alerter = paysync_engine::alerts::Alerter::new(
        &paysync_core::config::AlertsConfig {
            dedupe_ms: 3_600_000,
            ..Default::default()
        },
        rig.store.clone(),
    )
    .expect("alerter");
    deliverer.alerter = Some(alerter.clone());
    let round = deliverer.drain().await.expect("deliver");
    assert_eq!((round.rows, round.dead), (4, 4));
    // Someone must act: one alert (not four), recorded in the sync log.
    alerter.flush().await;
    let alerts = rig
        .store
        .query_log(paysync_store::LogQuery {
            kind: Some("alert".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("log");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].detail.as_ref().map(|d| d["kind"].clone()),
        Some("dead_letters".into())
    );
    let dead = rig.store.dead_letters(Some("mc"), 10).await.expect("dead");
    assert_eq!(dead.len(), 4);
    assert!(
        dead.iter()
            .all(|d| d.last_error.as_deref().is_some_and(|e| e.contains("400")))
    );
    // Dead letters are not retried blindly, and the same change does not revive them.
    rig.emu.emulator.faults().set(FaultConfig::default());
    assert_eq!(rig.deliverer().drain().await.expect("deliver").rows, 0);
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    assert_eq!(
        reconciler.drain(now).await.expect("reconcile").store.queued,
        0
    );
    assert_eq!(
        rig.store.dead_letters(None, 10).await.expect("dead").len(),
        4
    );
    // Replayed, they go through.
    assert_eq!(
        rig.store
            .replay(Some(dead[0].id), now())
            .await
            .expect("replay"),
        1
    );
    assert_eq!(rig.deliverer().drain().await.expect("deliver").done, 1);
    assert_eq!(rig.store.replay(None, now()).await.expect("replay"), 3);
    assert_eq!(rig.deliverer().drain().await.expect("deliver").done, 3);
    assert_eq!(rig.members().len(), 4);
    assert!(
        rig.store
            .dead_letters(None, 10)
            .await
            .expect("dead")
            .is_empty()
    );
}

#[tokio::test]
async fn people_filtered_out_or_without_email_are_held_and_counted() {
    let rig = rig().await;
    let mut events = ledger_events();
    events.push(event(
        "evt_c5",
        1_700_000_000,
        r#"{"id":"cus_5","object":"customer","name":"No Email","created":1700000000}"#,
    ));
    rig.ingest(events).await;
    let mut sync = sync_with_threshold(10_000, Consent::NonMarketing);
    sync.rules.filter =
        Some(serde_json::from_value(serde_json::json!({"charged": {}})).expect("rule"));
    let reconciler = rig.reconciler(&sync).await;
    let stats = reconciler.drain(now).await.expect("reconcile");
    assert_eq!((stats.persons, stats.store.queued, stats.held), (5, 3, 1));
    let held = rig.store.held_counts(ACCOUNT).await.expect("held");
    let counts: Vec<(&str, i64)> = held.iter().map(|h| (h.reason.as_str(), h.count)).collect();
    assert_eq!(counts, [("filtered_out", 1), ("no_email", 1)]);
    rig.deliverer().drain().await.expect("deliver");
    assert_eq!(rig.members().len(), 3);
    // Person 4 pays: no longer held, pushed.
    rig.ingest(vec![event("evt_ch4", 1_700_000_200, &charge(4, 4, 1_000))])
        .await;
    reconciler.drain(now).await.expect("reconcile");
    rig.deliverer().drain().await.expect("deliver");
    assert_eq!(rig.members().len(), 4);
    let held = rig.store.held_counts(ACCOUNT).await.expect("held");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].reason, "no_email");
}
