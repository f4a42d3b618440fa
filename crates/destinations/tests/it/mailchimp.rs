//! The Mailchimp connector against `paysync_emulators::mailchimp`.

use std::collections::BTreeSet;
use std::time::Duration;

use paysync_destinations::mailchimp::{Mailchimp, MailchimpConfig};
use paysync_destinations::{
    Consent, Destination, ErrorKind, FieldSpec, ItemOutcome, ListId, MembershipChange, OutcomeKind,
    RemoteConsent, TagChange,
};
use paysync_emulators::EmulatorHandle;
use paysync_emulators::FaultConfig;
use paysync_emulators::mailchimp::{
    MailchimpConfig as EmuConfig, MailchimpEmulator, serve_mailchimp,
};
use secrecy::SecretString;

use crate::support::*;

const KEY: &str = "0123456789abcdef-us1";

async fn setup() -> (EmulatorHandle<MailchimpEmulator>, Mailchimp, String) {
    let emu = serve_mailchimp(EmuConfig {
        batch_delay_ms: 100,
        ..EmuConfig::default()
    })
    .await
    .expect("emulator");
    let audience = emu.emulator.create_list("Customers");
    let dest = connector(&emu, &audience, KEY);
    (emu, dest, audience)
}

fn connector(emu: &EmulatorHandle<MailchimpEmulator>, audience: &str, key: &str) -> Mailchimp {
    let mut cfg = MailchimpConfig::new(SecretString::from(key.to_owned()), ListId::new(audience));
    cfg.api_base = Some(format!("{}/3.0", emu.url()));
    cfg.http = fast_http(0, 10);
    cfg.poll = fast_poll();
    cfg.initial_lookback = Duration::from_secs(3_600);
    Mailchimp::new(cfg).expect("connector")
}

#[tokio::test]
async fn creates_updates_and_reads_a_member() {
    let (emu, mc, audience) = setup().await;
    let fields = mc
        .ensure_fields(&[FieldSpec {
            key: "PLAN".into(),
            label: "Plan".into(),
        }])
        .await
        .unwrap();
    assert_eq!(fields[0].key, "PLAN");

    let ann = contact("Ann@Example.com", Consent::Subscribed)
        .with_name("Ann", "Lee")
        .with_field("PLAN", "gold")
        .with_tag("customer")
        .with_list(&ListId::new(&audience));
    let out = mc.upsert_contact(&ann).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        emu.emulator
            .member_status(&audience, "ann@example.com")
            .as_deref(),
        Some("subscribed")
    );

    let read = mc
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .expect("member");
    assert_eq!(read.first_name.as_deref(), Some("Ann"));
    assert_eq!(read.fields.get("PLAN").map(String::as_str), Some("gold"));
    assert!(read.tags.contains("customer"), "{:?}", read.tags);
    assert_eq!(read.consent, RemoteConsent::Subscribed);

    let renamed = contact("ann@example.com", Consent::Subscribed).with_name("Ann", "Smith");
    assert!(mc.upsert_contact(&renamed).await.is_ok());
    let read = mc
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.last_name.as_deref(), Some("Smith"));
    assert_eq!(
        read.fields.get("PLAN").map(String::as_str),
        Some("gold"),
        "partial update"
    );

    // Unknown fields are refused per item, before any call.
    let bad = contact("bob@example.com", Consent::Subscribed).with_field("NOPE", "x");
    assert!(matches!(
        mc.upsert_contact(&bad).await,
        ItemOutcome::Invalid(_)
    ));
    // Other audiences are not this connector's.
    let elsewhere =
        contact("bob@example.com", Consent::Subscribed).with_list(&ListId::new("other"));
    assert!(matches!(
        mc.upsert_contact(&elsewhere).await,
        ItemOutcome::Invalid(_)
    ));
    assert!(
        mc.read_contact(&email("nobody@example.com"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn never_resubscribes_an_unsubscribed_or_cleaned_member() {
    let (emu, mc, audience) = setup().await;
    for who in ["gone@example.com", "bounced@example.com", "shy@example.com"] {
        let c = contact(
            who,
            if who == "shy@example.com" {
                Consent::NonMarketing
            } else {
                Consent::Subscribed
            },
        );
        assert!(mc.upsert_contact(&c).await.is_ok());
    }
    emu.emulator
        .unsubscribe("gone@example.com", &audience, Some("no thanks"))
        .unwrap();
    emu.emulator
        .clean("bounced@example.com", &audience)
        .unwrap();

    // Single path: refused, reported, nothing changed.
    let out = mc
        .upsert_contact(
            &contact("gone@example.com", Consent::Subscribed).with_name("Gone", "Person"),
        )
        .await;
    match &out {
        ItemOutcome::ConsentRefused { refusal, ack } => {
            assert!(refusal.current.is_opted_out());
            assert!(ack.is_some(), "other properties were applied");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(
        emu.emulator
            .member_status(&audience, "gone@example.com")
            .as_deref(),
        Some("unsubscribed")
    );

    // Bulk path: new ones created, the transactional one upgraded, opt-outs refused.
    let batch = vec![
        contact("new1@example.com", Consent::Subscribed),
        contact("gone@example.com", Consent::Subscribed),
        contact("bounced@example.com", Consent::Pending),
        contact("shy@example.com", Consent::Subscribed),
        contact("new2@example.com", Consent::NonMarketing),
        contact("new3@example.com", Consent::Unsubscribed),
    ];
    let out = mc.upsert_contacts(&batch).await;
    assert_eq!(
        kinds(&out),
        vec![
            OutcomeKind::Ok,
            OutcomeKind::ConsentRefused,
            OutcomeKind::ConsentRefused,
            OutcomeKind::Ok,
            OutcomeKind::Ok,
            OutcomeKind::Ok
        ],
        "{out:?}"
    );
    let status = |e: &str| emu.emulator.member_status(&audience, e);
    assert_eq!(status("new1@example.com").as_deref(), Some("subscribed"));
    assert_eq!(status("gone@example.com").as_deref(), Some("unsubscribed"));
    assert_eq!(status("bounced@example.com").as_deref(), Some("cleaned"));
    assert_eq!(status("shy@example.com").as_deref(), Some("subscribed"));
    assert_eq!(status("new2@example.com").as_deref(), Some("transactional"));
    assert_eq!(status("new3@example.com").as_deref(), Some("unsubscribed"));

    // An unsubscribe is always honoured.
    let out = mc
        .upsert_contact(&contact("shy@example.com", Consent::Unsubscribed))
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(status("shy@example.com").as_deref(), Some("unsubscribed"));
}

#[tokio::test]
async fn bulk_upserts_split_at_500_and_tag_through_batches() {
    let (emu, mc, audience) = setup().await;
    let contacts: Vec<_> = (0..1_100)
        .map(|i| {
            contact(&format!("c{i}@example.com"), Consent::Subscribed)
                .with_name("C", &i.to_string())
        })
        .collect();
    let out = mc.upsert_contacts(&contacts).await;
    assert_all_ok(&out);
    assert_eq!(
        emu.emulator.requests().count("POST /3.0/lists/{list_id}"),
        3,
        "⌈1100 / 500⌉ calls"
    );
    assert_eq!(
        emu.emulator
            .member_status(&audience, "c1099@example.com")
            .as_deref(),
        Some("subscribed")
    );

    // Updating them all: the new-member pass finds them existing, the update pass writes fields.
    let again: Vec<_> = contacts
        .iter()
        .take(10)
        .cloned()
        .map(|c| c.with_tag("vip"))
        .collect();
    let out = mc.upsert_contacts(&again).await;
    assert_all_ok(&out);
    assert!(
        emu.emulator.requests().count("POST /3.0/batches") >= 1,
        "tags went through /batches"
    );
    let read = mc
        .read_contact(&email("c3@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.tags.contains("vip"));

    let removal: Vec<TagChange> = (0..5)
        .map(|i| TagChange {
            email: email(&format!("c{i}@example.com")),
            tags: BTreeSet::from(["vip".to_owned()]),
        })
        .collect();
    assert_all_ok(&mc.remove_tags(&removal).await);
    let read = mc
        .read_contact(&email("c3@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(!read.tags.contains("vip"), "{:?}", read.tags);
    let read = mc
        .read_contact(&email("c7@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.tags.contains("vip"));
}

#[tokio::test]
async fn archives_on_list_removal_and_sets_fields() {
    let (emu, mc, audience) = setup().await;
    mc.ensure_fields(&[FieldSpec {
        key: "LTV".into(),
        label: "Lifetime value".into(),
    }])
    .await
    .unwrap();
    assert!(
        mc.upsert_contact(&contact("a@example.com", Consent::Subscribed))
            .await
            .is_ok()
    );
    let out = mc
        .set_fields(&[paysync_destinations::FieldChange {
            email: email("a@example.com"),
            fields: [("LTV".to_owned(), "120.00".to_owned())].into(),
        }])
        .await;
    assert_all_ok(&out);
    let read = mc
        .read_contact(&email("a@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.fields.get("LTV").map(String::as_str), Some("120.00"));

    let out = mc
        .remove_from_lists(&[MembershipChange {
            email: email("a@example.com"),
            lists: BTreeSet::from([ListId::new(&audience)]),
        }])
        .await;
    assert_all_ok(&out);
    assert_eq!(
        emu.emulator
            .member_status(&audience, "a@example.com")
            .as_deref(),
        Some("archived")
    );
}

#[tokio::test]
async fn rides_out_outages_and_throttling_and_reports_bad_keys() {
    let (emu, mc, audience) = setup().await;
    emu.emulator.faults().set(FaultConfig {
        outage_secs: Some(1),
        ..FaultConfig::default()
    });
    let out = mc
        .upsert_contact(&contact("a@example.com", Consent::Subscribed))
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert!(
        emu.emulator.requests().status_count(503) > 0,
        "the outage was hit"
    );

    emu.emulator.faults().set(FaultConfig {
        throttle_rate: 0.5,
        ..FaultConfig::default()
    });
    let batch: Vec<_> = (0..20)
        .map(|i| contact(&format!("t{i}@example.com"), Consent::Subscribed))
        .collect();
    assert_all_ok(&mc.upsert_contacts(&batch).await);
    emu.emulator.faults().clear();

    // Persisting failures come back as transient outcomes, not panics nor silence.
    emu.emulator.faults().set(FaultConfig {
        error_rate: 1.0,
        error_status: Some(500),
        ..FaultConfig::default()
    });
    let out = mc
        .upsert_contact(&contact("b@example.com", Consent::Subscribed))
        .await;
    assert!(
        matches!(out.kind(), OutcomeKind::Transient { .. }),
        "{out:?}"
    );
    emu.emulator.faults().clear();

    // A key the account does not know: auth revoked.
    let strict = serve_mailchimp(EmuConfig {
        api_keys: vec![KEY.into()],
        ..EmuConfig::default()
    })
    .await
    .unwrap();
    let list = strict.emulator.create_list("X");
    let wrong = connector(&strict, &list, "ffffffffffffffff-us1");
    match wrong
        .upsert_contact(&contact("a@example.com", Consent::Subscribed))
        .await
    {
        ItemOutcome::Failed(e) => assert_eq!(e.kind, ErrorKind::AuthRevoked, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        emu.emulator
            .member_status(&audience, "a@example.com")
            .as_deref(),
        Some("subscribed")
    );
}

#[tokio::test]
async fn change_feed_reports_unsubscribes() {
    let (emu, mc, audience) = setup().await;
    for e in ["x@example.com", "y@example.com"] {
        assert!(
            mc.upsert_contact(&contact(e, Consent::Subscribed))
                .await
                .is_ok()
        );
    }
    emu.emulator
        .unsubscribe("x@example.com", &audience, None)
        .unwrap();
    let page = mc.changes_since(None).await.unwrap();
    let unsubscribed: Vec<&str> = page
        .changes
        .iter()
        .filter(|c| matches!(c, paysync_destinations::Change::Unsubscribed { .. }))
        .map(|c| c.email().as_str())
        .collect();
    assert_eq!(unsubscribed, vec!["x@example.com"], "{:?}", page.changes);
    // The cursor resumes without error.
    mc.changes_since(Some(&page.next)).await.unwrap();
}
