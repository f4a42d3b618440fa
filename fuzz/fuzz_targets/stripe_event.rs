//! Stripe event JSON → envelope → ledger snapshot → profile: any bytes, never a panic; what
//! parses folds into a profile (the reconciler's input) without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paysync_core::EventEnvelope;
use paysync_core::profile::{PersonObject, fold};

fuzz_target!(|data: &[u8]| {
    let Ok(event) = EventEnvelope::parse(data) else {
        return;
    };
    let Ok(snapshot) = event.snapshot() else {
        return;
    };
    let object = PersonObject {
        kind: snapshot.kind.clone(),
        object_id: &snapshot.object_id,
        body: &snapshot.body,
        deleted: snapshot.deleted,
    };
    let _ = fold(&[object], &[(event.event_type.clone(), event.created)]);
});
