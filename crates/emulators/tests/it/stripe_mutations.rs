use serde_json::Value;

use crate::helpers::{Api, stripe};

async fn events_of(api: &Api, kind: &str) -> Vec<Value> {
    api.walk(&format!("/v1/events?type={kind}"), 100).await
}

#[tokio::test]
async fn create_update_delete_with_events() {
    let h = stripe(0).await;
    let api = Api::new(&h);
    let r = api
        .post(
            "/v1/customers",
            &[
                ("email", "ann@example.com"),
                ("name", "Ann Lee"),
                ("metadata[plan]", "pro"),
                ("metadata[source]", "web"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.body;
    let id = c["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cus_") && id.len() == 18);
    assert_eq!(c["metadata"]["plan"], "pro");
    assert_eq!(c["livemode"], false);

    let got = api.get_ok(&format!("/v1/customers/{id}")).await;
    assert_eq!(got, c);

    let r = api
        .post(
            &format!("/v1/customers/{id}"),
            &[
                ("name", "Ann Smith"),
                ("metadata[plan]", "team"),
                ("metadata[source]", ""),
                ("metadata[new]", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Ann Smith");
    assert_eq!(
        r.body["metadata"],
        serde_json::json!({"plan": "team", "new": "x"})
    );

    let updated = events_of(&api, "customer.updated").await;
    assert_eq!(updated.len(), 1);
    let prev = &updated[0]["data"]["previous_attributes"];
    assert_eq!(prev["name"], "Ann Lee");
    assert_eq!(prev["metadata"]["plan"], "pro");
    assert_eq!(prev["metadata"]["source"], "web");
    assert!(prev["metadata"]["new"].is_null());
    assert!(
        updated[0]["request"]["id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );

    // No change, no event.
    api.post(
        &format!("/v1/customers/{id}"),
        &[("name", "Ann Smith")],
        None,
    )
    .await;
    assert_eq!(events_of(&api, "customer.updated").await.len(), 1);

    // Bad email, unknown parameter.
    let r = api
        .post(&format!("/v1/customers/{id}"), &[("email", "nope")], None)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "email");
    let r = api.post("/v1/customers", &[("colour", "red")], None).await;
    assert_eq!(r.body["error"]["code"], "parameter_unknown");

    let r = api.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        serde_json::json!({"id": id, "object": "customer", "deleted": true})
    );
    let tomb = api.get_ok(&format!("/v1/customers/{id}")).await;
    assert_eq!(
        tomb,
        serde_json::json!({"id": id, "object": "customer", "deleted": true})
    );
    assert_eq!(events_of(&api, "customer.deleted").await.len(), 1);
    assert_eq!(events_of(&api, "customer.created").await.len(), 1);
    // Gone from lists; cannot be updated.
    let list = api.get_ok("/v1/customers").await;
    assert!(list["data"].as_array().unwrap().is_empty());
    assert_eq!(
        api.post(&format!("/v1/customers/{id}"), &[("name", "x")], None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn idempotent_replay() {
    let h = stripe(0).await;
    let api = Api::new(&h);
    let form = [("email", "bob@example.com"), ("metadata[k]", "v")];
    let a = api.post("/v1/customers", &form, Some("key-1")).await;
    assert_eq!(a.status, 200);
    assert!(a.headers.get("idempotent-replayed").is_none());
    let b = api.post("/v1/customers", &form, Some("key-1")).await;
    assert_eq!(b.status, 200);
    assert_eq!(a.body, b.body);
    assert_eq!(b.headers["idempotent-replayed"], "true");
    assert_eq!(b.headers["original-request"], a.headers["request-id"]);

    let c = api
        .post(
            "/v1/customers",
            &[("email", "carol@example.com")],
            Some("key-1"),
        )
        .await;
    assert_eq!(c.status, 400);
    assert_eq!(c.body["error"]["type"], "idempotency_error");

    let d = api.post("/v1/customers", &form, Some("key-2")).await;
    assert_ne!(d.body["id"], a.body["id"]);
    let created = api.walk("/v1/events?type=customer.created", 100).await;
    assert_eq!(created.len(), 2);
    assert!(
        created
            .iter()
            .any(|e| e["request"]["idempotency_key"] == "key-1")
    );
    assert_eq!(h.emulator.counts().customers, 2);
}

#[tokio::test]
async fn deleting_a_customer_cancels_its_subscriptions() {
    let h = stripe(300).await;
    let api = Api::new(&h);
    let subs = api.get_ok("/v1/subscriptions?status=active&limit=1").await;
    let cus = subs["data"][0]["customer"].as_str().unwrap().to_owned();
    let sub = subs["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.delete(&format!("/v1/customers/{cus}")).await.status,
        200
    );
    let s = api.get_ok(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "canceled");
    let ev = api.get_ok("/v1/events?limit=2").await;
    assert_eq!(ev["data"][0]["type"], "customer.deleted");
    assert_eq!(ev["data"][1]["type"], "customer.subscription.deleted");
}
