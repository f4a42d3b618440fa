use super::*;
use crate::object::ObjectKind;
use crate::profile::{PersonObject, fold};

fn person() -> Profile {
    let customer = r#"{"email":"ann@example.com","name":"  Ann   Marie Lee ","created":1,
        "metadata":{"company":"Acme GmbH","plan":"gold"},"address":{"country":"DE","city":"köln"}}"#;
    let charge = r#"{"amount":123456,"currency":"usd","status":"succeeded","created":1795392000}"#;
    let sub = r#"{"status":"active","start_date":5,"current_period_end":1797984000,
        "items":{"data":[{"price":{"id":"price_gold","product":"prod_gold"}}]}}"#;
    let objects = [
        PersonObject {
            kind: ObjectKind::Customer,
            object_id: "cus_1",
            body: customer,
            deleted: false,
        },
        PersonObject {
            kind: ObjectKind::Charge,
            object_id: "ch_1",
            body: charge,
            deleted: false,
        },
        PersonObject {
            kind: ObjectKind::Subscription,
            object_id: "sub_1",
            body: sub,
            deleted: false,
        },
    ];
    fold(&objects, &[])
}

fn mapping(toml_text: &str) -> FieldMapping {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
}

#[test]
fn splits_names_as_people_write_them() {
    let s = |n: &str| split_name(n);
    assert_eq!(
        s("Jenny Rosen"),
        (Some("Jenny".into()), Some("Rosen".into()))
    );
    assert_eq!(
        s("Jean-Luc  van der Berg"),
        (Some("Jean-Luc".into()), Some("van der Berg".into()))
    );
    assert_eq!(
        s("Rosen, Jenny"),
        (Some("Jenny".into()), Some("Rosen".into()))
    );
    assert_eq!(s("Cher"), (Some("Cher".into()), None));
    assert_eq!(s("   "), (None, None));
    assert_eq!(s("山田 太郎"), (Some("山田".into()), Some("太郎".into())));
    assert_eq!(
        s("Zoë\u{00a0}Ångström"),
        (Some("Zoë".into()), Some("Ångström".into()))
    );
}

#[test]
fn merging_a_name_back_changes_only_the_part_that_changed() {
    assert_eq!(
        merge_name(Some("Jean-Luc van der Berg"), Some("Jean"), None).as_deref(),
        Some("Jean van der Berg")
    );
    assert_eq!(
        merge_name(Some("Jenny Rosen"), None, Some("Smith")).as_deref(),
        Some("Jenny Smith")
    );
    assert_eq!(
        merge_name(Some("Cher"), None, Some("")).as_deref(),
        Some("Cher")
    );
    assert_eq!(
        merge_name(None, Some("Ann"), Some("Lee")).as_deref(),
        Some("Ann Lee")
    );
    assert_eq!(merge_name(None, None, None), None);
}

#[test]
fn maps_paths_templates_constants_and_transforms() {
    let p = person();
    let v = |t: &str| mapping(t).value(&p);
    assert_eq!(
        v(r#"to = "FNAME"
from = "first_name""#)
        .as_deref(),
        Some("Ann")
    );
    assert_eq!(
        v(r#"to = "LNAME"
from = "last_name""#)
        .as_deref(),
        Some("Marie Lee")
    );
    assert_eq!(
        v(r#"to = "COMPANY"
template = "{{metadata.company}} ({{address.country}})""#)
        .as_deref(),
        Some("Acme GmbH (DE)")
    );
    assert_eq!(
        v(r#"to = "CITY"
from = "address.city"
transform = ["title"]"#)
        .as_deref(),
        Some("Köln")
    );
    assert_eq!(
        v(r#"to = "LTV"
from = "paid.USD"
transform = ["amount"]"#)
        .as_deref(),
        Some("1234.56")
    );
    assert_eq!(
        v(r#"to = "LAST_PAID"
from = "last_payment_at"
transform = [{ date = "DD/MM/YYYY" }]"#)
        .as_deref(),
        Some("23/11/2026")
    );
    assert_eq!(
        v(r#"to = "PLAN"
from = "subscription.plan"
transform = ["upper"]"#)
        .as_deref(),
        Some("PRICE_GOLD")
    );
    assert_eq!(
        v(r#"to = "SOURCE"
value = "stripe""#)
        .as_deref(),
        Some("stripe")
    );
    assert_eq!(
        customer_id_field("stripe_customer_id").value(&p).as_deref(),
        Some("cus_1")
    );
    // No value: the field is left alone, not blanked.
    assert_eq!(
        v(r#"to = "VAT"
from = "metadata.vat_id""#),
        None
    );
    assert_eq!(
        v(r#"to = "X"
template = "{{metadata.nothing}}""#),
        None
    );
    assert_eq!(
        v(r#"to = "X"
template = "{{unclosed""#)
        .as_deref(),
        Some("{{unclosed")
    );
}

#[test]
fn a_mapping_needs_exactly_one_source() {
    assert!(toml::from_str::<FieldMapping>("to = \"X\"").is_err());
    assert!(toml::from_str::<FieldMapping>("to = \"X\"\nfrom = \"a\"\nvalue = \"b\"").is_err());
    assert!(
        toml::from_str::<FieldMapping>("to = \"X\"\nfrom = \"a\"\ntransform = [\"shout\"]")
            .is_err()
    );
}

#[test]
fn templates_read_the_profile_and_nothing_else() {
    // SAFETY: tests in this binary do not read this variable concurrently.
    unsafe { std::env::set_var("PAYSYNC_TEMPLATE_CANARY", "canary-value") };
    let p = person();
    for template in [
        "{{env.PAYSYNC_TEMPLATE_CANARY}}",
        "{{PAYSYNC_TEMPLATE_CANARY}}",
        "{{../../etc/passwd}}",
        "{{/etc/passwd}}",
        "{{config.stripe.api_key}}",
        "{{metadata.__proto__}}",
        "{{{{email}}}}",
    ] {
        let m = mapping(&format!("to = \"X\"\ntemplate = {template:?}"));
        let value = m.value(&p).unwrap_or_default();
        assert!(!value.contains("canary-value"), "{template} → {value}");
        assert!(!value.contains("root:"), "{template} → {value}");
    }
}
