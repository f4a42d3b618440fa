use proptest::prelude::*;

use super::*;

fn obj<'a>(kind: &str, id: &'a str, body: &'a str) -> PersonObject<'a> {
    PersonObject {
        kind: ObjectKind::from_object_field(kind),
        object_id: id,
        body,
        deleted: false,
    }
}

const OLD_CUSTOMER: &str = r#"{"id":"cus_a","object":"customer","email":"Jenny@Example.com","name":"J. Rosen",
    "phone":"+49 30 1234","created":100,"metadata":{"company":"Acme","tier":"1"}}"#;
const NEW_CUSTOMER: &str = r#"{"id":"cus_b","object":"customer","email":"jenny@example.com ","name":"Jenny Rosen",
    "phone":"","created":200,"metadata":{"tier":"2"},"address":{"city":"Berlin","country":"DE"}}"#;
const CHARGE_USD: &str = r#"{"id":"ch_1","object":"charge","amount":2000,"amount_refunded":500,"currency":"usd",
    "status":"succeeded","created":300,"customer":"cus_a"}"#;
const REFUND_OF_USD: &str = r#"{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"succeeded",
    "created":310,"charge":"ch_1"}"#;
const CHARGE_EUR: &str = r#"{"id":"ch_2","object":"charge","amount":1500,"amount_refunded":1500,"currency":"EUR",
    "status":"succeeded","created":400,"customer":"cus_b"}"#;
const FAILED_CHARGE: &str = r#"{"id":"ch_3","object":"charge","amount":900,"amount_refunded":0,"currency":"usd",
    "status":"failed","created":500,"failure_code":"card_declined","failure_message":"Your card was declined."}"#;
const FAILED_INTENT_OF_FAILED_CHARGE: &str = r#"{"id":"pi_3","object":"payment_intent","status":"requires_payment_method",
    "created":500,"latest_charge":"ch_3","last_payment_error":{"code":"card_declined","message":"Your card was declined."}}"#;
const SUBSCRIPTION_NEW_SHAPE: &str = r#"{"id":"sub_1","object":"subscription","status":"active","start_date":300,
    "cancel_at_period_end":true,"items":{"data":[{"current_period_end":900,
    "price":{"id":"price_gold","product":"prod_gold","nickname":"Gold","recurring":{"interval":"month"},"unit_amount":2000}}]}}"#;
const SUBSCRIPTION_OLD_SHAPE: &str = r#"{"id":"sub_0","object":"subscription","status":"canceled","created":150,
    "canceled_at":250,"ended_at":250,"current_period_end":260,
    "plan":{"id":"plan_basic","product":"prod_basic","interval":"year","amount":9900}}"#;
const PAID_INVOICE: &str = r#"{"id":"in_1","object":"invoice","status":"paid","created":300,"status_transitions":{"paid_at":301}}"#;
const FAILED_INVOICE: &str =
    r#"{"id":"in_2","object":"invoice","status":"open","attempt_count":2,"created":600}"#;

fn jenny() -> Vec<PersonObject<'static>> {
    vec![
        obj("customer", "cus_a", OLD_CUSTOMER),
        obj("customer", "cus_b", NEW_CUSTOMER),
        obj("charge", "ch_1", CHARGE_USD),
        obj("refund", "re_1", REFUND_OF_USD),
        obj("charge", "ch_2", CHARGE_EUR),
        obj("charge", "ch_3", FAILED_CHARGE),
        obj("payment_intent", "pi_3", FAILED_INTENT_OF_FAILED_CHARGE),
        obj("subscription", "sub_1", SUBSCRIPTION_NEW_SHAPE),
        obj("subscription", "sub_0", SUBSCRIPTION_OLD_SHAPE),
        obj("invoice", "in_1", PAID_INVOICE),
        obj("invoice", "in_2", FAILED_INVOICE),
    ]
}

#[test]
fn folds_a_person_with_two_customers_into_one_profile() {
    let events = [
        ("charge.succeeded".to_owned(), 300),
        ("charge.succeeded".to_owned(), 400),
    ];
    let p = fold(&jenny(), &events);

    let id = &p.identity;
    assert_eq!(id.email.as_deref(), Some("jenny@example.com"));
    assert_eq!(
        id.name.as_deref(),
        Some("Jenny Rosen"),
        "the newest customer's name wins"
    );
    assert_eq!(
        id.phone.as_deref(),
        Some("+49 30 1234"),
        "an empty phone does not erase one"
    );
    assert_eq!(
        id.address.as_ref().and_then(|a| a.city.as_deref()),
        Some("Berlin")
    );
    assert_eq!(id.metadata.get("company").map(String::as_str), Some("Acme"));
    assert_eq!(id.metadata.get("tier").map(String::as_str), Some("2"));
    assert_eq!(id.customer_ids, ["cus_a", "cus_b"]);
    assert_eq!((id.created, id.deleted), (Some(100), false));

    // The refund object and the charge's amount_refunded are the same refund: counted once.
    let usd = &p.money["usd"];
    assert_eq!(
        (usd.paid, usd.refunded, usd.payments, usd.refunds),
        (2000, 500, 1, 1)
    );
    let eur = &p.money["eur"];
    assert_eq!(
        (eur.paid, eur.refunded, eur.payments, eur.refunds),
        (1500, 1500, 1, 1)
    );

    let pay = &p.payments;
    assert_eq!(
        (
            pay.first_payment_at,
            pay.last_payment_at,
            pay.last_refund_at
        ),
        (Some(300), Some(400), Some(400))
    );
    // The failed payment intent is the failed charge's own: one failure.
    assert_eq!(pay.failed_payments, 1);
    assert_eq!(
        pay.last_failure.as_ref().and_then(|f| f.code.as_deref()),
        Some("card_declined")
    );

    assert_eq!(p.subscriptions.len(), 2);
    let old = &p.subscriptions[0];
    assert_eq!(
        (old.id.as_str(), old.status.as_str(), old.ended_at),
        ("sub_0", "canceled", Some(250))
    );
    assert_eq!(old.items[0].price.as_deref(), Some("plan_basic"));
    assert_eq!(old.items[0].unit_amount, Some(9900));
    let new = &p.subscriptions[1];
    assert_eq!(
        new.current_period_end,
        Some(900),
        "period read from the items"
    );
    assert!(new.cancel_at_period_end);
    assert_eq!(new.items[0].interval.as_deref(), Some("month"));
    assert_eq!(new.items[0].product.as_deref(), Some("prod_gold"));

    assert_eq!((p.invoices.paid, p.invoices.failed), (1, 1));
    assert_eq!(
        (p.invoices.last_paid_at, p.invoices.last_failed_at),
        (Some(301), Some(600))
    );
    assert_eq!(p.events_seen["charge.succeeded"], 400);
    assert_eq!(p.unreadable_objects, 0);
}

#[test]
fn a_person_is_deleted_only_when_every_customer_is() {
    let mut objects = jenny();
    objects[1].deleted = true;
    let p = fold(&objects, &[]);
    assert!(!p.identity.deleted);
    assert_eq!(
        p.identity.name.as_deref(),
        Some("J. Rosen"),
        "a deleted customer's details don't win"
    );
    objects[0].deleted = true;
    assert!(fold(&objects, &[]).identity.deleted);
}

#[test]
fn a_guest_is_known_by_the_email_of_their_checkout() {
    let body = r#"{"id":"cs_1","object":"checkout.session","status":"complete","payment_status":"paid",
        "created":700,"customer":null,"customer_details":{"email":"Guest@Example.com"}}"#;
    let p = fold(&[obj("checkout.session", "cs_1", body)], &[]);
    assert_eq!(p.identity.email.as_deref(), Some("guest@example.com"));
    assert_eq!(
        (p.checkouts.completed, p.checkouts.last_completed_at),
        (1, Some(700))
    );
    assert!(!p.identity.deleted);
}

#[test]
fn an_unreadable_object_is_counted_not_folded() {
    let p = fold(&[obj("charge", "ch_x", "{not json")], &[]);
    assert_eq!(p.unreadable_objects, 1);
    assert!(p.money.is_empty());
}

proptest! {
    /// The fold does not depend on the order the ledger hands objects over.
    #[test]
    fn the_fold_is_order_independent(seed in any::<u64>(), take in 1usize..12) {
        let mut objects: Vec<_> = jenny().into_iter().take(take).collect();
        let expected = fold(&objects, &[("a".into(), 1), ("a".into(), 5)]);
        let mut state = seed | 1;
        for i in (1..objects.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            objects.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(fold(&objects, &[("a".into(), 5), ("a".into(), 1)]), expected);
    }
}
