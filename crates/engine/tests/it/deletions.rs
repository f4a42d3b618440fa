//! Deletion sync: when every Stripe customer of a person is deleted, each sync does what its
//! `on_delete` says to the contact (a tag, an unsubscribe, an archive, a delete, or nothing),
//! once.

use paysync_core::EventEnvelope;
use paysync_core::contact::Consent;
use paysync_core::reconcile::OnDelete;
use paysync_store::{EventSource, InboxEvent};

use crate::reconcile_deliver::{ACCOUNT, ledger_events, now, rig, sync_with_threshold};

fn customer_deleted(n: u32) -> InboxEvent {
    let payload = format!(
        r#"{{"id":"evt_del{n}","object":"event","type":"customer.deleted","created":1700000500,"livemode":false,"data":{{"object":{{"id":"cus_{n}","object":"customer","deleted":true}}}}}}"#
    );
    let envelope = EventEnvelope::parse(payload.as_bytes()).expect("event");
    InboxEvent {
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        created: 1_700_000_500,
        livemode: false,
        source: EventSource::Webhook,
        payload,
        received_at: 2_000,
        refetch: false,
    }
}

#[tokio::test]
async fn a_deleted_customer_is_tagged_unsubscribed_archived_or_deleted_once_as_each_sync_says() {
    for (on_delete, check) in [
        (OnDelete::Tag("stripe-deleted".into()), "tag"),
        (OnDelete::Unsubscribe, "unsubscribed"),
        (OnDelete::Archive, "archived"),
        (OnDelete::Delete, "deleted"),
        (OnDelete::Keep, "kept"),
    ] {
        let rig = rig().await;
        rig.ingest(ledger_events()).await;
        let mut sync = sync_with_threshold(10_000, Consent::Subscribed);
        sync.rules.on_delete = on_delete.clone();
        let reconciler = rig.reconciler(&sync).await;
        reconciler.drain(now).await.expect("reconcile");
        rig.deliverer().drain().await.expect("deliver");

        rig.ingest(vec![customer_deleted(1)]).await;
        let stats = reconciler.drain(now).await.expect("reconcile");
        let expected = usize::from(check != "kept");
        assert_eq!(stats.store.queued, expected, "{on_delete:?}: {stats:?}");
        let round = rig.deliverer().drain().await.expect("deliver");
        assert_eq!(round.dead, 0);
        let status = rig
            .emu
            .emulator
            .member_status(&rig.audience, "person1@example.com");
        match check {
            "archived" => assert_eq!(status.as_deref(), Some("archived")),
            "deleted" => assert_eq!(status, None, "deleted permanently"),
            _ => {
                let member = rig
                    .members()
                    .into_iter()
                    .find(|m| m["email"] == "person1@example.com")
                    .expect("the contact stays");
                let tagged = member["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == "stripe-deleted"));
                assert_eq!(tagged, check == "tag", "{member}");
                assert_eq!(
                    status.as_deref() == Some("unsubscribed"),
                    check == "unsubscribed",
                    "{member}"
                );
            }
        }
        // Done once: everyone re-examined, nothing more is asked.
        rig.store
            .mark_all_dirty(ACCOUNT, now())
            .await
            .expect("mark");
        let again = reconciler.drain(now).await.expect("reconcile");
        assert_eq!(again.store.queued, 0, "{on_delete:?}: {again:?}");
    }
}
