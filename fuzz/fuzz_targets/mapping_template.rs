//! Mapping templates and transforms: any template and transform list applied to a profile,
//! never a panic; a template reads only the profile (nothing else is reachable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paysync_core::mapping::FieldMapping;
use paysync_core::profile::{PersonObject, fold};
use paysync_core::object::ObjectKind;

const CUSTOMER: &str = r#"{"id":"cus_1","object":"customer","email":"ann@example.com","name":"Ann Lee",
  "metadata":{"company":"Acme","plan":"gold"},"created":1700000000,
  "address":{"city":"Paris","country":"FR"}}"#;
const CHARGE: &str = r#"{"id":"ch_1","object":"charge","customer":"cus_1","amount":4900,
  "currency":"eur","status":"succeeded","paid":true,"created":1700000100}"#;

/// Put in the environment: a template that could read the environment would render it.
const CANARY: &str = "canary-7f3a91";

fuzz_target!(
    init: {
        // SAFETY: set once, before the fuzzer runs anything else (single thread).
        unsafe { std::env::set_var("PAYSYNC_FUZZ_CANARY", CANARY) };
    },
    |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A mapping as the configuration would hold it: the input is its TOML.
    let Ok(mapping) = toml::from_str::<FieldMapping>(text) else {
        return;
    };
    let objects = [
        PersonObject { kind: ObjectKind::Customer, object_id: "cus_1", body: CUSTOMER, deleted: false },
        PersonObject { kind: ObjectKind::Charge, object_id: "ch_1", body: CHARGE, deleted: false },
    ];
    let profile = fold(&objects, &[]);
    if let Some(value) = mapping.value(&profile)
        && !text.contains(CANARY)
    {
        // Nothing from outside the profile can appear (here: the process environment).
        assert!(!value.contains(CANARY), "{value}");
    }
});
