use paysync_emulators::stripe::ObjectKind;
use serde_json::Value;

use crate::helpers::{Api, NOW, ids, stripe};

fn created(v: &Value) -> i64 {
    v["created"].as_i64().expect("created")
}

fn newest_first(v: &[Value]) {
    assert!(v.windows(2).all(|w| created(&w[0]) >= created(&w[1])));
}

#[tokio::test]
async fn pagination_walks_match_the_seeded_set() {
    let h = stripe(600).await;
    let api = Api::new(&h);
    let expected = h.emulator.ids(ObjectKind::Customers);
    assert!(expected.len() > 550);

    let all = api.walk("/v1/customers", 100).await;
    assert_eq!(ids(&all), expected);
    newest_first(&all);
    assert!(
        all.iter()
            .all(|c| c["object"] == "customer" && c["livemode"] == false)
    );

    let small = api.walk("/v1/customers", 7).await;
    assert_eq!(ids(&small), expected);

    let oldest = expected.last().unwrap();
    let back = api.walk_back("/v1/customers", oldest, 13).await;
    let mut want = expected.clone();
    want.pop();
    assert_eq!(ids(&back), want);

    for (path, kind) in [
        ("/v1/charges", ObjectKind::Charges),
        ("/v1/invoices", ObjectKind::Invoices),
        ("/v1/refunds", ObjectKind::Refunds),
        ("/v1/checkout/sessions", ObjectKind::CheckoutSessions),
        ("/v1/payment_intents", ObjectKind::PaymentIntents),
        ("/v1/subscriptions?status=all", ObjectKind::Subscriptions),
    ] {
        let got = api.walk(path, 100).await;
        assert_eq!(ids(&got), h.emulator.ids(kind), "{path}");
        newest_first(&got);
    }
}

#[tokio::test]
async fn default_limit_and_first_page() {
    let h = stripe(50).await;
    let api = Api::new(&h);
    let page = api.get_ok("/v1/customers").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["url"], "/v1/customers");
    let keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys.len(), 4);
}

#[tokio::test]
async fn created_filters() {
    let h = stripe(400).await;
    let api = Api::new(&h);
    let all = api.walk("/v1/charges", 100).await;
    let (lo, hi) = (NOW - 60 * 86_400, NOW - 20 * 86_400);
    let want: Vec<String> = ids(&all
        .iter()
        .filter(|c| created(c) >= lo && created(c) < hi)
        .cloned()
        .collect::<Vec<_>>());
    assert!(!want.is_empty());
    let got = api
        .walk(
            &format!("/v1/charges?created[gte]={lo}&created[lt]={hi}"),
            50,
        )
        .await;
    assert_eq!(ids(&got), want);
    let got = api
        .walk(
            &format!("/v1/charges?created[gt]={}&created[lte]={}", lo - 1, hi - 1),
            50,
        )
        .await;
    assert_eq!(ids(&got), want);
    // An exact second.
    let t = created(&all[5]);
    let exact = api.walk(&format!("/v1/charges?created={t}"), 100).await;
    assert!(!exact.is_empty() && exact.iter().all(|c| created(c) == t));
}

#[tokio::test]
async fn customer_filter_and_expand_refunds() {
    let h = stripe(400).await;
    let api = Api::new(&h);
    let refunds = api.walk("/v1/refunds", 100).await;
    let charge_id = refunds[0]["charge"].as_str().unwrap().to_owned();
    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert!(
        charge.get("refunds").is_none(),
        "refunds only when expanded"
    );
    assert!(charge["amount_refunded"].as_i64().unwrap() > 0);
    let expanded = api
        .get_ok(&format!("/v1/charges/{charge_id}?expand[]=refunds"))
        .await;
    let list = &expanded["refunds"];
    assert_eq!(list["object"], "list");
    assert!(
        ids(list["data"].as_array().unwrap())
            .contains(&refunds[0]["id"].as_str().unwrap().to_owned())
    );

    // Listing with expand[]=data.refunds embeds them in every charge.
    let page = api
        .get_ok("/v1/charges?limit=5&expand[]=data.refunds")
        .await;
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["refunds"]["object"] == "list")
    );

    // customer= returns exactly that customer's charges.
    if let Some(cus) = charge["customer"].as_str() {
        let mine = api.walk(&format!("/v1/charges?customer={cus}"), 100).await;
        assert!(mine.iter().all(|c| c["customer"] == cus));
        assert!(ids(&mine).contains(&charge_id));
        let all = api.walk("/v1/charges", 100).await;
        let n = all.iter().filter(|c| c["customer"] == cus).count();
        assert_eq!(mine.len(), n);
    }
    // An older API version gets refunds without asking.
    let old = api
        .http
        .get(format!("{}/v1/charges/{charge_id}", api.base))
        .bearer_auth(crate::helpers::KEY)
        .header("stripe-version", "2020-08-27")
        .send()
        .await
        .unwrap();
    assert_eq!(old.headers()["stripe-version"], "2020-08-27");
    let old: Value = old.json().await.unwrap();
    assert_eq!(old["refunds"]["object"], "list");
}

#[tokio::test]
async fn subscriptions_omit_canceled_unless_status_all() {
    let h = stripe(500).await;
    let api = Api::new(&h);
    let all = api.walk("/v1/subscriptions?status=all", 100).await;
    let default = api.walk("/v1/subscriptions", 100).await;
    let canceled = api.walk("/v1/subscriptions?status=canceled", 100).await;
    let trialing = api.walk("/v1/subscriptions?status=trialing", 100).await;
    assert!(!canceled.is_empty() && !trialing.is_empty());
    assert!(canceled.iter().all(|s| s["status"] == "canceled"));
    assert!(default.iter().all(|s| s["status"] != "canceled"));
    assert_eq!(default.len() + canceled.len(), all.len());
    let s = &default[0];
    assert_eq!(s["items"]["object"], "list");
    let item = &s["items"]["data"][0];
    assert_eq!(item["price"]["object"], "price");
    assert!(item["current_period_end"].as_i64().is_some());
    assert!(
        item["price"]["product"]
            .as_str()
            .unwrap()
            .starts_with("prod_")
    );
    // Before basil the period sits on the subscription.
    let r = api
        .http
        .get(format!(
            "{}/v1/subscriptions/{}",
            api.base,
            s["id"].as_str().unwrap()
        ))
        .bearer_auth(crate::helpers::KEY)
        .header("stripe-version", "2024-06-20")
        .send()
        .await
        .unwrap();
    let old: Value = r.json().await.unwrap();
    assert!(old["current_period_end"].as_i64().is_some());
    let bad = api.get("/v1/subscriptions?status=bogus").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn guests_and_emails() {
    let h = stripe(500).await;
    let api = Api::new(&h);
    let sessions = api.walk("/v1/checkout/sessions", 100).await;
    let guest = sessions
        .iter()
        .find(|s| s["customer"].is_null())
        .expect("a guest checkout");
    assert!(
        guest["customer_details"]["email"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert_eq!(guest["mode"], "payment");
    assert!(guest["id"].as_str().unwrap().starts_with("cs_test_"));

    let customers = api.walk("/v1/customers", 100).await;
    assert!(customers.iter().any(|c| c["email"].is_null()));
    let with_email = customers.iter().find(|c| c["email"].is_string()).unwrap();
    let e = with_email["email"].as_str().unwrap();
    let found = api
        .get_ok(&format!("/v1/customers?email={}", e.replace('+', "%2B")))
        .await;
    assert!(
        found["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["email"] == e)
    );
    let upper = api
        .get_ok(&format!("/v1/customers?email={}", e.to_uppercase()))
        .await;
    assert!(
        upper["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["email"] == e.to_uppercase())
    );
}

#[tokio::test]
async fn events_last_30_days_and_clock() {
    let h = stripe(300).await;
    let api = Api::new(&h);
    let events = api.walk("/v1/events", 100).await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| created(e) >= NOW - 30 * 86_400));
    let e = &events[0];
    assert_eq!(e["object"], "event");
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert!(e["data"]["object"]["id"].is_string());
    assert_eq!(e["api_version"], "2025-03-31.basil");
    for k in [
        "api_version",
        "created",
        "data",
        "livemode",
        "pending_webhooks",
        "request",
        "type",
    ] {
        assert!(e.get(k).is_some(), "{k}");
    }
    let types = api.walk("/v1/events?type=customer.*", 100).await;
    assert!(
        types
            .iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("customer."))
    );
    let charges = api
        .walk(
            "/v1/events?types[]=charge.succeeded&types[]=charge.refunded",
            100,
        )
        .await;
    assert!(
        charges
            .iter()
            .all(|e| e["type"] == "charge.succeeded" || e["type"] == "charge.refunded")
    );

    let old_id = events.last().unwrap()["id"].as_str().unwrap().to_owned();
    h.emulator.clock().advance(10 * 86_400);
    let later = api.walk("/v1/events", 100).await;
    assert!(later.len() < events.len());
    assert!(later.iter().all(|e| created(e) >= NOW - 20 * 86_400));
    let gone = api.get(&format!("/v1/events/{old_id}")).await;
    assert_eq!(gone.status, 404);
}
