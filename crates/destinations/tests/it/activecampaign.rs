//! The ActiveCampaign connector against `paysync_emulators::activecampaign`.

use std::collections::BTreeSet;
use std::time::Duration;

use paysync_destinations::activecampaign::{ActiveCampaign, ActiveCampaignConfig, DeepDataConfig};
use paysync_destinations::{
    Change, Consent, Destination, FieldSpec, ItemOutcome, ListId, MembershipChange, OutcomeKind,
    Purchase, PurchaseItem, RemoteConsent, Removal, RemovalKind, TagChange,
};
use paysync_emulators::activecampaign::{
    ActiveCampaignConfig as EmuConfig, ActiveCampaignEmulator, serve_activecampaign,
};
use paysync_emulators::{EmulatorHandle, FaultConfig};
use secrecy::SecretString;

use crate::support::*;

async fn setup() -> (EmulatorHandle<ActiveCampaignEmulator>, ActiveCampaign) {
    let emu = serve_activecampaign(EmuConfig {
        import_delay_ms: 100,
        ..EmuConfig::default()
    })
    .await
    .expect("emulator");
    let mut cfg = ActiveCampaignConfig::new(emu.url(), SecretString::from("ac-token"));
    cfg.http = fast_http(5, 5);
    cfg.poll = fast_poll();
    cfg.suppression_max_age = Duration::ZERO;
    cfg.deep_data = Some(DeepDataConfig {
        service: "paysync".into(),
        externalid: "acct_1".into(),
        name: "Shop".into(),
        logo_url: "https://shop.example/logo.png".into(),
        link_url: "https://shop.example".into(),
    });
    let ac = ActiveCampaign::new(cfg).expect("connector");
    (emu, ac)
}

async fn customers_list(ac: &ActiveCampaign) -> ListId {
    ac.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0]
        .id
        .clone()
}

#[tokio::test]
async fn creates_updates_and_reads_a_contact() {
    let (emu, ac) = setup().await;
    let list = customers_list(&ac).await;
    // Idempotent: the second call finds the list.
    assert_eq!(customers_list(&ac).await, list);
    ac.ensure_fields(&[FieldSpec {
        key: "PLAN".into(),
        label: "Plan".into(),
    }])
    .await
    .unwrap();

    let ann = contact("ann@example.com", Consent::Subscribed)
        .with_name("Ann", "Lee")
        .with_field("PLAN", "gold")
        .with_tag("customer")
        .with_list(&list);
    let out = ac.upsert_contact(&ann).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        emu.emulator.list_status("ann@example.com", list.as_str()),
        Some(1)
    );

    let read = ac
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .expect("contact");
    assert_eq!(read.first_name.as_deref(), Some("Ann"));
    assert_eq!(read.fields.get("PLAN").map(String::as_str), Some("gold"));
    assert!(read.tags.contains("customer"), "{:?}", read.tags);
    assert!(read.lists.contains(&list));
    assert_eq!(read.consent, RemoteConsent::Subscribed);

    // Again, with one more tag: no duplicate tagging, fields kept.
    let again = contact("ann@example.com", Consent::Subscribed)
        .with_tag("customer")
        .with_tag("vip")
        .with_list(&list);
    assert!(ac.upsert_contact(&again).await.is_ok());
    let read = ac
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.tags,
        BTreeSet::from(["customer".to_owned(), "vip".to_owned()])
    );
    assert_eq!(read.fields.get("PLAN").map(String::as_str), Some("gold"));

    assert_all_ok(
        &ac.remove_tags(&[TagChange {
            email: email("ann@example.com"),
            tags: BTreeSet::from(["vip".to_owned()]),
        }])
        .await,
    );
    let read = ac
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.tags, BTreeSet::from(["customer".to_owned()]));

    // Removal is status 2 on the list, and final.
    assert_all_ok(
        &ac.remove_from_lists(&[MembershipChange {
            email: email("ann@example.com"),
            lists: BTreeSet::from([list.clone()]),
        }])
        .await,
    );
    assert_eq!(
        emu.emulator.list_status("ann@example.com", list.as_str()),
        Some(2)
    );
    assert!(matches!(
        ac.upsert_contact(&ann).await,
        ItemOutcome::ConsentRefused { .. }
    ));
    assert_eq!(emu.emulator.resubscriptions(), 0);
}

#[tokio::test]
async fn never_resubscribes_on_any_path() {
    let (emu, ac) = setup().await;
    let list = customers_list(&ac).await;
    for e in ["gone@example.com", "stay@example.com"] {
        assert!(
            ac.upsert_contact(&contact(e, Consent::Subscribed).with_list(&list))
                .await
                .is_ok()
        );
    }
    emu.emulator
        .unsubscribe("gone@example.com", list.as_str(), Some("too many emails"))
        .unwrap();

    let out = ac
        .upsert_contact(
            &contact("gone@example.com", Consent::Subscribed)
                .with_list(&list)
                .with_name("G", "One"),
        )
        .await;
    match &out {
        ItemOutcome::ConsentRefused { refusal, ack } => {
            assert!(refusal.reason.contains(list.as_str()), "{}", refusal.reason);
            assert!(ack.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        emu.emulator.list_status("gone@example.com", list.as_str()),
        Some(2)
    );

    // Through a bulk import as well.
    let batch: Vec<_> = [
        "gone@example.com",
        "new1@example.com",
        "new2@example.com",
        "stay@example.com",
    ]
    .iter()
    .map(|e| contact(e, Consent::Subscribed).with_list(&list))
    .collect();
    let out = ac.upsert_contacts(&batch).await;
    assert_eq!(
        kinds(&out),
        vec![
            OutcomeKind::ConsentRefused,
            OutcomeKind::Ok,
            OutcomeKind::Ok,
            OutcomeKind::Ok
        ],
        "{out:?}"
    );
    assert_eq!(
        emu.emulator.list_status("gone@example.com", list.as_str()),
        Some(2)
    );
    assert_eq!(
        emu.emulator.list_status("new2@example.com", list.as_str()),
        Some(1)
    );
    assert_eq!(
        emu.emulator.resubscriptions(),
        0,
        "no path moved a 2 back to 1"
    );

    // An unsubscribe takes the contact off every list.
    assert!(
        ac.upsert_contact(&contact("stay@example.com", Consent::Unsubscribed))
            .await
            .is_ok()
    );
    assert_eq!(
        emu.emulator.list_status("stay@example.com", list.as_str()),
        Some(2)
    );
    // Non-marketing contacts are synced without lists.
    assert!(
        ac.upsert_contact(&contact("tx@example.com", Consent::NonMarketing).with_list(&list))
            .await
            .is_ok()
    );
    assert_eq!(
        emu.emulator.list_status("tx@example.com", list.as_str()),
        None
    );
}

#[tokio::test]
async fn bulk_imports_split_by_count_and_bytes() {
    let (emu, ac) = setup().await;
    let list = customers_list(&ac).await;
    ac.ensure_fields(&[FieldSpec {
        key: "NOTE".into(),
        label: "Note".into(),
    }])
    .await
    .unwrap();
    let by_count: Vec<_> = (0..600)
        .map(|i| {
            contact(&format!("n{i}@example.com"), Consent::Subscribed)
                .with_list(&list)
                .with_tag("imported")
        })
        .collect();
    let out = ac.upsert_contacts(&by_count).await;
    assert_all_ok(&out);
    // Imports the emulator accepted (a request throttled and retried under load is one).
    let imports = || {
        emu.emulator.state_json()["imports"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(imports(), 3, "⌈600 / 250⌉");

    let note = "x".repeat(3_000);
    let by_bytes: Vec<_> = (0..240)
        .map(|i| {
            contact(&format!("b{i}@example.com"), Consent::Subscribed)
                .with_list(&list)
                .with_field("NOTE", &note)
        })
        .collect();
    let out = ac.upsert_contacts(&by_bytes).await;
    assert_all_ok(&out);
    assert_eq!(
        imports(),
        5,
        "240 × 3 kB is over 400,000 bytes: two more imports"
    );
    assert_eq!(
        emu.emulator.list_status("b239@example.com", list.as_str()),
        Some(1)
    );
    let read = ac
        .read_contact(&email("n599@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.tags.contains("imported"), "{:?}", read.tags);

    // Many tag changes go through an import too.
    let tagging: Vec<TagChange> = (0..10)
        .map(|i| TagChange {
            email: email(&format!("n{i}@example.com")),
            tags: BTreeSet::from(["vip".to_owned()]),
        })
        .collect();
    assert_all_ok(&ac.add_tags(&tagging).await);
    assert_eq!(
        imports(),
        6,
        "tags of many contacts go through one more import"
    );
    let read = ac
        .read_contact(&email("n9@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.tags.contains("vip"));
}

#[tokio::test]
async fn rides_out_outages_and_reports_persistent_failures() {
    let (emu, ac) = setup().await;
    emu.emulator.faults().set(FaultConfig {
        outage_secs: Some(1),
        ..FaultConfig::default()
    });
    let out = ac
        .upsert_contact(&contact("a@example.com", Consent::NonMarketing))
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert!(emu.emulator.requests().status_count(503) > 0);
    emu.emulator.faults().set(FaultConfig {
        throttle_rate: 0.5,
        ..FaultConfig::default()
    });
    for i in 0..10 {
        let out = ac
            .upsert_contact(&contact(
                &format!("b{i}@example.com"),
                Consent::NonMarketing,
            ))
            .await;
        assert!(out.is_ok(), "{out:?}");
    }
    assert!(emu.emulator.requests().status_count(429) > 0);
    emu.emulator.faults().set(FaultConfig {
        error_rate: 1.0,
        error_status: Some(502),
        ..FaultConfig::default()
    });
    let out = ac
        .upsert_contact(&contact("c@example.com", Consent::NonMarketing))
        .await;
    assert!(
        matches!(out.kind(), OutcomeKind::Transient { .. }),
        "{out:?}"
    );
}

fn purchase(email_address: &str) -> Purchase {
    Purchase {
        email: email(email_address),
        customer_ref: "cus_1".into(),
        order_ref: "ch_1".into(),
        total_cents: 4_900,
        currency: "usd".into(),
        created_at_ms: 1_700_000_000_000,
        items: vec![PurchaseItem {
            product_ref: "prod_1".into(),
            name: "Pogo stick".into(),
            unit_price_cents: 4_900,
            quantity: 1,
        }],
        realtime: true,
        accepts_marketing: true,
    }
}

#[tokio::test]
async fn deleting_a_contact_leaves_nothing_of_it_and_archive_is_refused() {
    let (emu, ac) = setup().await;
    let list = customers_list(&ac).await;
    let who = "gone@example.com";
    let out = ac
        .upsert_contact(
            &contact(who, Consent::Subscribed)
                .with_name("Gone", "Person")
                .with_tag("customer")
                .with_list(&list),
        )
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert_all_ok(&ac.record_purchases(&[purchase(who)]).await);
    assert!(emu.emulator.state_json().to_string().contains(who));

    let removal = |how| Removal {
        email: email(who),
        how,
    };
    let refused = ac.remove_contacts(&[removal(RemovalKind::Archive)]).await;
    assert_eq!(refused[0].kind(), OutcomeKind::Invalid, "{refused:?}");
    assert_all_ok(&ac.remove_contacts(&[removal(RemovalKind::Delete)]).await);
    assert_eq!(ac.read_contact(&email(who)).await.unwrap(), None);
    let state = emu.emulator.state_json().to_string();
    assert!(!state.contains(who), "{state}");
    assert!(!state.contains("ch_1"), "the order went with its customer");
    // Already gone: nothing to do, not an error.
    assert_all_ok(&ac.remove_contacts(&[removal(RemovalKind::Delete)]).await);
}

#[tokio::test]
async fn records_purchases_as_deep_data() {
    let (emu, ac) = setup().await;
    let purchase = purchase("buyer@example.com");
    let out = ac.record_purchases(std::slice::from_ref(&purchase)).await;
    assert_all_ok(&out);
    let state = emu.emulator.state_json().to_string();
    assert!(state.contains("ch_1"), "order stored");
    // A replay (same order id) is not an error.
    let again = ac.record_purchases(&[purchase]).await;
    assert!(again[0].kind() == OutcomeKind::Ok, "{again:?}");
}

#[tokio::test]
async fn change_feed_reports_unsubscribes() {
    let (emu, ac) = setup().await;
    let list = customers_list(&ac).await;
    for e in ["x@example.com", "y@example.com"] {
        assert!(
            ac.upsert_contact(&contact(e, Consent::Subscribed).with_list(&list))
                .await
                .is_ok()
        );
    }
    emu.emulator
        .unsubscribe("x@example.com", list.as_str(), None)
        .unwrap();
    let mut cursor = None;
    let mut unsubscribed = Vec::new();
    let mut updated = Vec::new();
    loop {
        let page = ac.changes_since(cursor.as_ref()).await.unwrap();
        for c in &page.changes {
            match c {
                Change::Unsubscribed { email, .. } => unsubscribed.push(email.as_str().to_owned()),
                Change::Updated(c) => updated.push(c.email.as_str().to_owned()),
            }
        }
        cursor = Some(page.next);
        if !page.more {
            break;
        }
    }
    assert_eq!(unsubscribed, vec!["x@example.com"]);
    assert!(updated.contains(&"y@example.com".to_owned()), "{updated:?}");
}
