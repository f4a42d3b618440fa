//! An unsubscribe made at a destination becomes a suppression that outlives new payments, rule
//! changes, full re-reconciles and replays, and (when carried) reaches the other destinations.

use paysync_core::contact::Consent;
use paysync_core::ops::Op;
use paysync_engine::reconcile::{ConsentFacts, Plan, is_suppressed, plan, profile_of};
use paysync_engine::unsubscribes::{ConsentSink, UnsubscribePoller};
use paysync_store::DeliveryState;

use crate::reconcile_deliver::{
    ACCOUNT, charge, event, ledger_events, now, rig, sync_with_threshold,
};

fn poller(rig: &crate::reconcile_deliver::Rig) -> UnsubscribePoller {
    UnsubscribePoller {
        sink: ConsentSink {
            store: rig.store.clone(),
            destination: "mc".into(),
            syncs: vec!["to-mc".into()],
            accounts: vec![ACCOUNT.into()],
        },
        connector: rig.connector.clone(),
        two_way: None,
    }
}

#[tokio::test]
async fn an_unsubscribe_at_the_destination_outranks_every_rule_and_is_never_undone() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let subscribed = rig
        .reconciler(&sync_with_threshold(10_000, Consent::Subscribed))
        .await;
    subscribed.drain(now).await.expect("reconcile");
    rig.deliverer().drain().await.expect("deliver");
    let status = |email: &str| rig.emu.emulator.member_status(&rig.audience, email);
    assert_eq!(status("person1@example.com").as_deref(), Some("subscribed"));

    // The feed is read from now on; then person 1 clicks "unsubscribe" in a campaign.
    let poller = poller(&rig);
    poller.poll(now).await.expect("first poll");
    rig.emu
        .emulator
        .unsubscribe("person1@example.com", &rig.audience, None)
        .expect("unsubscribe");
    let learnt = poller.poll(now).await.expect("poll");
    assert_eq!(learnt.unsubscribed, 1, "{learnt:?}");
    let suppressions = rig
        .store
        .suppressions("person1@example.com")
        .await
        .expect("suppressions");
    assert_eq!(suppressions.len(), 1);
    assert_eq!(suppressions[0].destination, "mc");
    // The acknowledged state now says so too: the next diff starts from the truth.
    let state = rig
        .store
        .delivery_state("to-mc", "person1@example.com")
        .await
        .expect("state");
    assert!(
        state
            .acknowledged
            .expect("ack")
            .contact
            .consent
            .is_opted_out()
    );

    // For someone the destination has never seen, the suppression alone decides: wanted
    // unsubscribed, in no list, whatever the sync's consent mode (here: subscribed).
    let person = rig.store.person(ACCOUNT, "cus_1").await.expect("person");
    let profile = profile_of(&person);
    let fresh = DeliveryState::default();
    let consent_of = |suppressed: bool| match plan(
        &subscribed.syncs[0],
        &profile,
        &fresh,
        ConsentFacts {
            suppressed,
            opted_in: false,
        },
        now(),
    ) {
        Plan::Ops(ops) => ops
            .iter()
            .find_map(|op| match op {
                Op::Upsert(c) => Some((c.consent, c.lists.is_empty())),
                _ => None,
            })
            .expect("an upsert"),
        Plan::Skipped(skip) => panic!("skipped: {skip:?}"),
    };
    assert_eq!(consent_of(false).0, Consent::Subscribed);
    assert_eq!(consent_of(true), (Consent::Unsubscribed, true));
    // Carried, a suppression at another destination counts too.
    assert!(is_suppressed(&suppressions, "ac", true));
    assert!(!is_suppressed(&suppressions, "ac", false));

    // A new payment, a rule change, everyone re-examined, every dead letter replayed: person 1
    // stays unsubscribed, and paysync does not even ask.
    rig.ingest(vec![event("evt_ch9", 1_700_000_900, &charge(9, 1, 90_000))])
        .await;
    let stricter = rig
        .reconciler(&sync_with_threshold(5_000, Consent::Subscribed))
        .await;
    for _ in 0..2 {
        stricter.drain(now).await.expect("reconcile");
        rig.store.replay(None, now()).await.expect("replay");
        let round = rig.deliverer().drain().await.expect("deliver");
        assert_eq!(round.dead, 0, "{round:?}");
        rig.store
            .mark_all_dirty(ACCOUNT, now())
            .await
            .expect("mark");
    }
    assert_eq!(
        status("person1@example.com").as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(status("person2@example.com").as_deref(), Some("subscribed"));
    let again = stricter.drain(now).await.expect("reconcile");
    assert_eq!(
        again.store.queued, 0,
        "nothing is asked of a suppressed person: {again:?}"
    );

    // Reading the feed again learns nothing twice; the ledger holds one fact, with its source.
    let second = poller.poll(now).await.expect("poll");
    assert_eq!(second.unsubscribed, 0);
    let ledger = rig
        .store
        .consent_ledger(Some("person1@example.com"))
        .await
        .expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (
            ledger[0].state.as_str(),
            ledger[0].destination.as_str(),
            ledger[0].source.as_str()
        ),
        ("unsubscribed", "mc", "destination_feed")
    );
}

/// A second Mailchimp audience on the rig's emulator, as destination `mc2` with sync `to-mc2`.
async fn second_destination(
    rig: &crate::reconcile_deliver::Rig,
) -> (
    String,
    std::sync::Arc<dyn paysync_destinations::Destination>,
    paysync_core::config::SyncConfig,
) {
    use paysync_core::config::{DestinationConfig, DestinationKind};
    let audience = rig.emu.emulator.create_list("Newsletter");
    let cfg = DestinationConfig {
        name: "mc2".into(),
        kind: DestinationKind::Mailchimp {
            api_key: secrecy::SecretString::from("0123456789abcdef-us1".to_owned()),
            list_id: audience.clone(),
            api_base: Some(format!("{}/3.0", rig.emu.url())),
        },
        rate_limit_per_sec: None,
        webhook_secret: None,
    };
    let connector = paysync_engine::connect::connector(
        &cfg,
        std::sync::Arc::new(paysync_destinations::constant_contact::MemoryTokenStore::new(None)),
        None,
    )
    .await
    .expect("connector");
    let mut sync = sync_with_threshold(10_000, Consent::Subscribed);
    sync.name = "to-mc2".into();
    sync.destination = "mc2".into();
    (audience, connector, sync)
}

#[tokio::test]
async fn a_carried_unsubscribe_reaches_the_other_destination_and_an_uncarried_one_does_not() {
    for carry in [true, false] {
        let rig = rig().await;
        rig.ingest(ledger_events()).await;
        let (audience2, connector2, sync2) = second_destination(&rig).await;
        let sync1 = sync_with_threshold(10_000, Consent::Subscribed);
        let mut reconciler = rig.reconciler(&sync1).await;
        let plan2 = paysync_engine::connect::prepare(&sync2, connector2.as_ref())
            .await
            .expect("prepare");
        reconciler.syncs.push(std::sync::Arc::new(plan2));
        reconciler.carry_unsubscribes = carry;
        let deliverer2 = paysync_engine::deliver::Deliverer::new(
            rig.store.clone(),
            "mc2",
            connector2.clone(),
            paysync_engine::deliver::RetryPolicy {
                base_ms: 10,
                cap_ms: 50,
                lease_ms: 60_000,
            },
        );
        let deliver_all = || async {
            rig.deliverer().drain().await.expect("deliver mc");
            deliverer2.drain().await.expect("deliver mc2");
        };
        reconciler.drain(now).await.expect("reconcile");
        deliver_all().await;
        let status2 = |email: &str| rig.emu.emulator.member_status(&audience2, email);
        assert_eq!(
            status2("person1@example.com").as_deref(),
            Some("subscribed")
        );

        // Person 1 unsubscribes from the first audience only.
        let poller = UnsubscribePoller {
            sink: ConsentSink {
                store: rig.store.clone(),
                destination: "mc".into(),
                syncs: vec!["to-mc".into()],
                accounts: vec![ACCOUNT.into()],
            },
            connector: rig.connector.clone(),
            two_way: None,
        };
        poller.poll(now).await.expect("first poll");
        rig.emu
            .emulator
            .unsubscribe("person1@example.com", &rig.audience, None)
            .expect("unsubscribe");
        assert_eq!(poller.poll(now).await.expect("poll").unsubscribed, 1);
        for _ in 0..2 {
            reconciler.drain(now).await.expect("reconcile");
            deliver_all().await;
        }
        let expected = if carry { "unsubscribed" } else { "subscribed" };
        assert_eq!(
            status2("person1@example.com").as_deref(),
            Some(expected),
            "carry_unsubscribes = {carry}"
        );
        assert_eq!(
            status2("person2@example.com").as_deref(),
            Some("subscribed"),
            "others stay"
        );
    }
}
