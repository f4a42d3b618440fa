//! Consent modes: with `prior_consent`, each person pushed with permission gets one ledger fact
//! naming who affirmed their consent and when.

use paysync_core::config::PriorConsent;
use paysync_core::contact::Consent;

use crate::reconcile_deliver::{ACCOUNT, ledger_events, now, rig, sync_with_threshold};

#[tokio::test]
async fn the_operators_affirmation_is_recorded_once_per_person_pushed() {
    let rig = rig().await;
    rig.ingest(ledger_events()).await;
    let mut sync = sync_with_threshold(10_000, Consent::Subscribed);
    sync.prior_consent = Some(PriorConsent {
        affirmed_by: "jane@shop.example".into(),
        affirmed_at: "2026-11-01".into(),
        statement: Some("newsletter box ticked at checkout".into()),
    });
    let reconciler = rig.reconciler(&sync).await;
    reconciler.drain(now).await.expect("reconcile");
    rig.deliverer().drain().await.expect("deliver");
    let ledger = rig.store.consent_ledger(None).await.expect("ledger");
    assert_eq!(ledger.len(), 4, "one fact per person: {ledger:#?}");
    for fact in &ledger {
        assert_eq!(
            (
                fact.destination.as_str(),
                fact.state.as_str(),
                fact.source.as_str()
            ),
            ("mc", "subscribed", "operator_affirmation")
        );
        assert_eq!(fact.basis, "newsletter box ticked at checkout");
        let details: serde_json::Value =
            serde_json::from_str(fact.details.as_deref().expect("details")).expect("json");
        assert_eq!(details["affirmed_by"], "jane@shop.example");
        assert_eq!(details["affirmed_at"], "2026-11-01");
    }
    // Re-examined, nobody is recorded twice.
    rig.store
        .mark_all_dirty(ACCOUNT, now())
        .await
        .expect("mark");
    reconciler.drain(now).await.expect("reconcile");
    assert_eq!(
        rig.store.consent_ledger(None).await.expect("ledger").len(),
        4
    );
}
