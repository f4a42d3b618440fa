use super::*;
use crate::object::ObjectKind;
use crate::profile::{PersonObject, fold};

const DAY: i64 = 86_400;
/// 2026-11-23.
const NOW: i64 = 1_795_392_000;

/// A subscriber who paid twice (USD, one partly refunded), failed once, and cancelled an old plan.
fn profile() -> Profile {
    let bodies = [
        (
            "customer",
            "cus_1",
            format!(
                r#"{{"email":"ann@example.com","name":"Ann Lee","created":{},"metadata":{{"tier":"gold"}}}}"#,
                NOW - 400 * DAY
            ),
        ),
        (
            "charge",
            "ch_1",
            format!(
                r#"{{"amount":5000,"currency":"usd","status":"succeeded","created":{},"amount_refunded":1000}}"#,
                NOW - 10 * DAY
            ),
        ),
        (
            "charge",
            "ch_2",
            format!(
                r#"{{"amount":20000,"currency":"usd","status":"succeeded","created":{}}}"#,
                NOW - 60 * DAY
            ),
        ),
        (
            "charge",
            "ch_3",
            format!(
                r#"{{"amount":700,"currency":"eur","status":"failed","created":{},"failure_code":"card_declined"}}"#,
                NOW - 2 * DAY
            ),
        ),
        (
            "subscription",
            "sub_1",
            format!(
                r#"{{"status":"active","start_date":{},"current_period_end":{},"items":{{"data":[{{"price":{{"id":"price_gold","product":"prod_gold"}}}}]}}}}"#,
                NOW - 100 * DAY,
                NOW + 5 * DAY
            ),
        ),
        (
            "subscription",
            "sub_0",
            format!(
                r#"{{"status":"canceled","canceled_at":{},"plan":{{"id":"plan_basic","product":"prod_basic"}}}}"#,
                NOW - 120 * DAY
            ),
        ),
    ];
    let objects: Vec<_> = bodies
        .iter()
        .map(|(kind, id, body)| PersonObject {
            kind: ObjectKind::from_object_field(kind),
            object_id: id,
            body,
            deleted: false,
        })
        .collect();
    let events = [
        ("charge.succeeded".to_owned(), NOW - 10 * DAY),
        ("customer.subscription.updated".to_owned(), NOW - 3 * DAY),
        ("invoice.payment_failed".to_owned(), NOW - 2 * DAY),
    ];
    fold(&objects, &events)
}

fn ctx() -> Context {
    Context {
        now: NOW,
        exists_in_destination: false,
    }
}

/// Parses one rule written in TOML, as a sync's configuration would hold it.
fn rule(toml_rule: &str) -> Rule {
    #[derive(Deserialize)]
    struct Holder {
        rule: Rule,
    }
    toml::from_str::<Holder>(&format!("rule = {toml_rule}"))
        .unwrap_or_else(|e| panic!("{toml_rule}: {e}"))
        .rule
}

fn check(toml_rule: &str, expected: bool) {
    assert_eq!(
        rule(toml_rule).matches(&profile(), &ctx()),
        expected,
        "{toml_rule}"
    );
}

#[test]
fn charge_conditions_with_amounts_currencies_and_windows() {
    check("{ charged = {} }", true);
    check(r#"{ charged = { within = "30d" } }"#, true);
    check(r#"{ charged = { within = "5d" } }"#, false);
    check(
        r#"{ charged = { currency = "USD", total = { gte = 25000 } } }"#,
        true,
    );
    check(
        r#"{ charged = { currency = "usd", total = { gte = 25000 }, within = "30d" } }"#,
        false,
    );
    check(r#"{ charged = { amount = { gt = 10000 } } }"#, true);
    check(r#"{ charged = { currency = "eur" } }"#, false);
    check(r#"{ charged = { count = { gte = 2 } } }"#, true);
    check(
        r#"{ charged = { since = "2026-11-01", until = "2026-11-20" } }"#,
        true,
    );
    check(r#"{ charged = { since = "2026-11-20" } }"#, false);
}

#[test]
fn failures_refunds_subscriptions_and_cancellations() {
    check(r#"{ payment_failed = { within = "7d" } }"#, true);
    check(r#"{ payment_failed = { currency = "usd" } }"#, false);
    check(r#"{ refunded = { amount = { gte = 1000 } } }"#, true);
    check(r#"{ refunded = { amount = { gt = 1000 } } }"#, false);
    check(r#"{ subscribed = { plan = ["price_gold"] } }"#, true);
    check(r#"{ subscribed = { plan = ["plan_basic"] } }"#, false);
    check(
        r#"{ subscribed = { plan = ["plan_basic"], status = ["canceled"] } }"#,
        true,
    );
    check(
        r#"{ subscribed = { product = ["prod_gold"], ends = { next = "7d" } } }"#,
        true,
    );
    check(
        r#"{ subscribed = { product = ["prod_gold"], ends = { next = "3d" } } }"#,
        false,
    );
    check(
        r#"{ subscribed = { started = { since = "2026-01-01" } } }"#,
        true,
    );
    check(
        r#"{ cancelled = { plan = ["plan_basic"], within = "180d" } }"#,
        true,
    );
    check(r#"{ cancelled = { within = "30d" } }"#, false);
    check(r#"{ changed_subscription = { within = "7d" } }"#, true);
    check(r#""has_subscriptions""#, true);
}

#[test]
fn events_fields_destination_and_combinators() {
    check(r#"{ event = { type = "invoice.payment_failed" } }"#, true);
    check(
        r#"{ event = { type = "invoice.*", within = "1d" } }"#,
        false,
    );
    check(
        r#"{ field = { path = "metadata.tier", equals = "gold" } }"#,
        true,
    );
    check(r#"{ field = { path = "name", contains = "lee" } }"#, true);
    check(r#"{ field = { path = "phone", exists = false } }"#, true);
    check(
        r#"{ field = { path = "address.city", one_of = ["Berlin", "Paris"] } }"#,
        false,
    );
    check(r#""exists_in_destination""#, false);
    check(
        r#"{ all = [ { charged = {} }, { not = { refunded = {} } } ] }"#,
        false,
    );
    check(
        r#"{ any = [ { charged = { currency = "eur" } }, { field = { path = "email", equals = "ann@example.com" } } ] }"#,
        true,
    );
}

#[test]
fn a_bad_duration_or_date_is_refused_when_the_configuration_is_read() {
    #[derive(Debug, Deserialize)]
    struct Holder {
        #[allow(dead_code)]
        rule: Rule,
    }
    let err =
        toml::from_str::<Holder>(r#"rule = { charged = { within = "a month" } }"#).unwrap_err();
    assert!(err.to_string().contains("not a duration"), "{err}");
    assert!(toml::from_str::<Holder>(r#"rule = { charged = { since = "2026-02-30" } }"#).is_err());
    assert!(toml::from_str::<Holder>(r#"rule = { charged = { amount = 5 } }"#).is_err());
    assert!(toml::from_str::<Holder>(r#"rule = { bought = {} }"#).is_err());
}

#[test]
fn segments_round_trip_through_toml() {
    let text = r#"
        name = "Big spenders"
        tag = "big-spender"
        sticky = true
        rule = { all = [ { charged = { currency = "usd", total = { gte = 10000 }, within = "30d" } } ] }
    "#;
    let segment: Segment = toml::from_str(text).unwrap();
    assert_eq!(segment.target, Target::Tag("big-spender".into()));
    let again: Segment = toml::from_str(&toml::to_string(&segment).unwrap()).unwrap();
    assert_eq!(again, segment);
}

#[test]
fn constant_contact_lists_and_activecampaign_tags() {
    let m = membership(
        &payment_activity_lists(),
        Some(&EventTags {
            prefix: "stripe-integration".into(),
            rename: BTreeMap::from([(
                "customer.subscription.*".into(),
                "Billing_Subscription_Events".into(),
            )]),
        }),
        &profile(),
        &ctx(),
    );
    let lists: Vec<_> = m.lists.iter().map(String::as_str).collect();
    assert_eq!(
        lists,
        [
            "Stripe: Active subscribers",
            "Stripe: Failed payment",
            "Stripe: Paying customers",
            "Stripe: Refunded"
        ]
    );
    let tags: Vec<_> = m.tags.iter().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "stripe-integration",
            "stripe-integration-Billing_Subscription_Events",
            "stripe-integration-charge.succeeded",
            "stripe-integration-invoice.payment_failed",
        ]
    );
}

#[test]
fn a_one_time_buyer_and_a_cancelled_subscriber() {
    let lists = |objects: &[(&str, &str, &str)]| {
        let objects: Vec<_> = objects
            .iter()
            .map(|(kind, id, body)| PersonObject {
                kind: ObjectKind::from_object_field(kind),
                object_id: id,
                body,
                deleted: false,
            })
            .collect();
        membership(
            &payment_activity_lists(),
            None,
            &fold(&objects, &[]),
            &ctx(),
        )
        .lists
    };
    let buyer = lists(&[(
        "charge",
        "ch_1",
        r#"{"amount":100,"currency":"usd","status":"succeeded","created":1}"#,
    )]);
    assert!(
        buyer.contains("Stripe: One-time buyers") && buyer.contains("Stripe: Paying customers")
    );
    let gone = lists(&[(
        "subscription",
        "sub_1",
        r#"{"status":"canceled","canceled_at":5}"#,
    )]);
    assert_eq!(
        gone.iter().collect::<Vec<_>>(),
        ["Stripe: Cancelled subscribers"]
    );
}
