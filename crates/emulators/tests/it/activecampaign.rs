//! The ActiveCampaign emulator: auth, the account rate limit, contact sync, list memberships
//! (re-subscribe possible, and counted), tags, custom fields, bulk imports, Deep Data
//! validation, the state dump, faults, and the activecampaign-python client against it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use paysync_emulators::EmulatorHandle;
use paysync_emulators::activecampaign::{
    ActiveCampaignConfig, ActiveCampaignEmulator, serve_activecampaign,
};
use paysync_emulators::common::RateLimit;
use serde_json::{Value, json};

use crate::helpers::client;

struct Ac {
    h: EmulatorHandle<ActiveCampaignEmulator>,
    http: reqwest::Client,
    token: Option<String>,
}

#[derive(Debug)]
struct R {
    status: u16,
    body: Value,
}

impl Ac {
    /// No rate limit (tests of it set one), imports applied after 100 ms.
    async fn start() -> Self {
        Self::with(ActiveCampaignConfig {
            rate_limit: None,
            import_delay_ms: 100,
            ..Default::default()
        })
        .await
    }

    async fn with(cfg: ActiveCampaignConfig) -> Self {
        let h = serve_activecampaign(cfg).await.expect("serve");
        Self {
            h,
            http: client(),
            token: Some("ac-token".into()),
        }
    }

    fn emu(&self) -> &ActiveCampaignEmulator {
        &self.h.emulator
    }

    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> R {
        let mut rb = self
            .http
            .request(m, format!("{}/api/3{path}", self.h.url()));
        if let Some(t) = &self.token {
            rb = rb.header("Api-Token", t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        assert!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/json")),
            "every answer is JSON"
        );
        R {
            status,
            body: r.json().await.expect("json"),
        }
    }

    async fn get(&self, path: &str) -> R {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> R {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn ok(&self, m: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.call(m.clone(), path, body).await;
        assert!(
            (200..300).contains(&r.status),
            "{m} {path}: {} {}",
            r.status,
            r.body
        );
        r.body
    }

    async fn list(&self, name: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "/lists",
                Some(json!({"list": {"name": name, "stringid": name.to_lowercase(), "sender_url": "https://acme.example", "sender_reminder": "You bought from us."}})),
            )
            .await;
        v["list"]["id"].as_str().unwrap().to_owned()
    }

    async fn sync(&self, email: &str, extra: Value) -> R {
        let mut c = json!({"email": email});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                c[k] = v;
            }
        }
        self.post("/contact/sync", json!({"contact": c})).await
    }

    async fn state(&self) -> Value {
        self.http
            .get(format!("{}/_admin/state", self.h.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.h.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

fn error_code(r: &R) -> &str {
    r.body["errors"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn api_token_is_required() {
    let mut ac = Ac::with(ActiveCampaignConfig {
        api_tokens: vec!["right".into()],
        rate_limit: None,
        ..Default::default()
    })
    .await;
    ac.token = None;
    let r = ac.get("/lists").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, json!({"message": "Forbidden"}));
    ac.token = Some("wrong".into());
    assert_eq!(ac.get("/lists").await.status, 403);
    ac.token = Some("right".into());
    assert_eq!(ac.get("/lists").await.status, 200);
    assert_eq!(ac.get("/users/me").await.body["user"]["id"], "1");
    let r = ac.get("/nothing/here").await;
    assert_eq!(r.status, 404);
    assert!(r.body["message"].is_string());
    assert_eq!(ac.emu().requests().status_count(403), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_requests_a_second_per_account() {
    assert_eq!(
        ActiveCampaignConfig::default().rate_limit,
        Some(RateLimit {
            per_sec: 5.0,
            burst: 5.0
        })
    );
    let ac = Arc::new(Ac::start().await);
    // The default bucket (5, refilling 5/s) with the refill slowed so the count is exact
    // whatever the machine's speed.
    ac.emu().set_rate_limit(Some(RateLimit {
        per_sec: 0.001,
        burst: 5.0,
    }));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let ac = ac.clone();
        // Different tokens share the account's budget.
        tasks.push(tokio::spawn(async move {
            let r = ac
                .http
                .get(format!("{}/api/3/contacts", ac.h.url()))
                .header("Api-Token", format!("token-{}", i % 3))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let (s, body) = t.await.unwrap();
        match s {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert_eq!(body["errors"][0]["title"], "Too Many Requests");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (5, 7));
    assert_eq!(ac.state().await["limits"]["rate_limited"], 7);

    // The real rate: a burst of 5 at once, then one more every 200 ms.
    ac.emu().set_rate_limit(Some(RateLimit::per_second(5.0)));
    for _ in 0..5 {
        assert_eq!(ac.get("/lists").await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(ac.get("/lists").await.status, 200);
}

#[tokio::test]
async fn contact_sync_creates_then_updates() {
    let ac = Ac::start().await;
    let r = ac
        .sync(
            "Jane@Example.com",
            json!({"firstName": "Jane", "lastName": "Doe", "phone": "555"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["contact"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["contact"]["email"], "Jane@Example.com");
    assert_eq!(r.body["contact"]["firstName"], "Jane");
    let r = ac
        .sync("jane@example.com", json!({"lastName": "Smith"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["contact"]["id"], id.as_str());
    assert_eq!(
        r.body["contact"]["firstName"], "Jane",
        "only given attributes change"
    );
    assert_eq!(r.body["contact"]["lastName"], "Smith");

    let r = ac.sync("not-an-email", json!({})).await;
    assert_eq!(r.status, 422);
    assert_eq!(error_code(&r), "email_invalid");
    let r = ac
        .post("/contact/sync", json!({"contact": {"firstName": "x"}}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(error_code(&r), "field_missing");
    assert_eq!(
        r.body["errors"][0]["source"]["pointer"],
        "/data/attributes/email"
    );
    let r = ac
        .sync(
            "jane@example.com",
            json!({"fieldValues": [{"field": "99", "value": "x"}]}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(error_code(&r), "related_missing");
    let r = ac
        .http
        .post(format!("{}/api/3/contact/sync", ac.h.url()))
        .header("Api-Token", "t")
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let found = ac.get("/contacts?email=JANE%40example.com").await.body;
    assert_eq!(found["meta"]["total"], "1");
    assert_eq!(found["contacts"][0]["id"], id.as_str());
    let one = ac.get(&format!("/contacts/{id}")).await.body;
    assert_eq!(one["contact"]["lastName"], "Smith");
    let missing = ac.get("/contacts/999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"message": "No Result found for Subscriber with id 999"})
    );
    for i in 0..30 {
        ac.sync(&format!("c{i}@example.com"), json!({})).await;
    }
    let page = ac.get("/contacts?limit=10&offset=25").await.body;
    assert_eq!(page["meta"]["total"], "31");
    assert_eq!(page["contacts"].as_array().unwrap().len(), 6);
    assert_eq!(
        ac.get("/contacts").await.body["contacts"]
            .as_array()
            .unwrap()
            .len(),
        20,
        "default limit"
    );
}

#[tokio::test]
async fn updated_after_filters_by_the_account_clock() {
    let ac = Ac::start().await;
    ac.emu().clock().set(1_760_000_000);
    ac.sync("old@example.com", json!({})).await;
    ac.emu().clock().set(1_760_086_400);
    ac.sync("new@example.com", json!({})).await;
    // Times are shown at the account's offset (-05:00 by default).
    let r = ac
        .get("/contacts?filters%5Bupdated_after%5D=2025-10-10")
        .await
        .body;
    assert_eq!(r["meta"]["total"], "1");
    assert_eq!(r["contacts"][0]["email"], "new@example.com");
    assert_eq!(r["contacts"][0]["udate"], "2025-10-10T03:53:20-05:00");
    let r = ac
        .get("/contacts?filters%5Bupdated_after%5D=2025-10-09T00:00:00-05:00")
        .await
        .body;
    assert_eq!(r["meta"]["total"], "2");
    let bad = ac.get("/contacts?filters%5Bupdated_after%5D=soon").await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn contact_lists_can_resubscribe_and_it_is_counted() {
    let ac = Ac::start().await;
    let list = ac.list("Customers").await;
    let cid = ac.sync("r@example.com", json!({})).await.body["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub =
        |status: u64| json!({"contactList": {"list": list, "contact": cid, "status": status}});
    let r = ac.post("/contactLists", sub(1)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["contactList"]["status"], "1");
    assert_eq!(r.body["contacts"][0]["id"], cid.as_str());
    ac.admin(
        "/_admin/unsubscribe",
        json!({"email": "r@example.com", "list": "Customers"}),
    )
    .await;
    assert_eq!(ac.emu().list_status("r@example.com", &list), Some(2));
    // The real API re-subscribes an unsubscribed contact: emulated faithfully.
    let r = ac.post("/contactLists", sub(1)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["contactList"]["status"], "1");
    assert_eq!(ac.emu().resubscriptions(), 1);
    let lists = ac.get(&format!("/contacts/{cid}/contactLists")).await.body;
    assert_eq!(lists["contactLists"][0]["status"], "1");
    let st = ac.state().await;
    assert_eq!(st["resubscriptions"], 1);
    assert_eq!(st["contacts"][0]["lists"][0]["resubscribed"], 1);

    // Unsubscribing through the API is not a re-subscribe.
    ac.post("/contactLists", sub(2)).await;
    assert_eq!(ac.emu().resubscriptions(), 1);
    assert_eq!(ac.post("/contactLists", sub(3)).await.status, 422);
    let r = ac
        .post(
            "/contactLists",
            json!({"contactList": {"list": "77", "contact": cid, "status": 1}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "No Result found for _List with id 77");
    let r = ac
        .post(
            "/contactLists",
            json!({"contactList": {"list": list, "status": 1}}),
        )
        .await;
    assert_eq!(r.status, 422);
    let listed = ac
        .get(&format!("/contacts?listid={list}&status=2"))
        .await
        .body;
    assert_eq!(listed["meta"]["total"], "1");
}

#[tokio::test]
async fn tags_and_contact_tags() {
    let ac = Ac::start().await;
    let cid = ac.sync("t@example.com", json!({})).await.body["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = ac
        .post(
            "/tags",
            json!({"tag": {"tag": "stripe-customer", "tagType": "contact", "description": "d"}}),
        )
        .await;
    assert_eq!(t.status, 201);
    let tag_id = t.body["tag"]["id"].as_str().unwrap().to_owned();
    ac.ok(
        Method::POST,
        "/tags",
        Some(json!({"tag": {"tag": "stripe-integration-charge.succeeded", "tagType": "contact"}})),
    )
    .await;
    assert_eq!(
        error_code(
            &ac.post("/tags", json!({"tag": {"tag": "Stripe-Customer"}}))
                .await
        ),
        "duplicate"
    );
    let found = ac.get("/tags?search=customer").await.body;
    assert_eq!(found["meta"]["total"], "1");
    let all = ac.get("/tags?search=stripe").await.body;
    assert_eq!(all["meta"]["total"], "2");
    let eq = ac
        .get("/tags?filters%5Bsearch%5D%5Beq%5D=stripe-customer")
        .await
        .body;
    assert_eq!(eq["tags"][0]["id"], tag_id.as_str());

    let ct = ac
        .post(
            "/contactTags",
            json!({"contactTag": {"contact": cid, "tag": tag_id}}),
        )
        .await;
    assert_eq!(ct.status, 201);
    let ct_id = ct.body["contactTag"]["id"].as_str().unwrap().to_owned();
    let again = ac
        .post(
            "/contactTags",
            json!({"contactTag": {"contact": cid, "tag": tag_id}}),
        )
        .await;
    assert_eq!(again.body["contactTag"]["id"], ct_id.as_str());
    let r = ac
        .post(
            "/contactTags",
            json!({"contactTag": {"contact": "404", "tag": tag_id}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["errors"][0]["detail"], "Contact not found");
    let r = ac
        .post("/contactTags", json!({"contactTag": {"tag": tag_id}}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["title"], "Missing attribute");
    let tags = ac.get(&format!("/contacts/{cid}/contactTags")).await.body;
    assert_eq!(tags["contactTags"][0]["tag"], tag_id.as_str());
    assert_eq!(
        ac.state().await["contacts"][0]["tags"],
        json!(["stripe-customer"])
    );
    let del = ac
        .call(Method::DELETE, &format!("/contactTags/{ct_id}"), None)
        .await;
    assert_eq!((del.status, del.body), (200, json!({})));
    let del = ac
        .call(Method::DELETE, &format!("/contactTags/{ct_id}"), None)
        .await;
    assert_eq!(del.status, 404);
    assert_eq!(
        del.body["message"],
        format!("No Result found for SubscriberTag with id {ct_id}")
    );
    assert_eq!(ac.state().await["contacts"][0]["tags"], json!([]));
}

#[tokio::test]
async fn custom_fields_and_values() {
    let ac = Ac::start().await;
    let list = ac.list("L").await;
    let f = ac
        .post(
            "/fields",
            json!({"field": {"title": "Plan", "type": "text"}}),
        )
        .await;
    assert_eq!(f.status, 201);
    let plan = f.body["field"]["id"].as_str().unwrap().to_owned();
    assert_eq!(f.body["field"]["perstag"], "PLAN");
    let products = ac
        .post(
            "/fields",
            json!({"field": {"title": "Products", "type": "listbox"}}),
        )
        .await
        .body["field"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dup = ac
        .post(
            "/fields",
            json!({"field": {"title": "plan", "type": "text"}}),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.body["errors"][0]["title"],
        "There is already a field with this title"
    );
    assert_eq!(
        ac.post(
            "/fields",
            json!({"field": {"title": "X", "type": "colour"}})
        )
        .await
        .status,
        422
    );
    assert_eq!(
        error_code(&ac.post("/fields", json!({"field": {"type": "text"}})).await),
        "field_missing"
    );
    let rel = ac
        .post(
            "/fieldRels",
            json!({"fieldRel": {"field": plan, "relid": list}}),
        )
        .await;
    assert_eq!(rel.status, 201);
    assert_eq!(
        ac.post(
            "/fieldRels",
            json!({"fieldRel": {"field": plan, "relid": "0"}})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        ac.post(
            "/fieldRels",
            json!({"fieldRel": {"field": "42", "relid": "0"}})
        )
        .await
        .status,
        404
    );
    let fields = ac.get("/fields").await.body;
    assert_eq!(fields["meta"]["total"], "2");
    assert_eq!(fields["fieldRels"].as_array().unwrap().len(), 2);

    let r = ac
        .sync(
            "f@example.com",
            json!({"fieldValues": [{"field": plan, "value": "pro"}, {"field": products, "value": ["a", "b"]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["fieldValues"][1]["value"], "||a||b||");
    let cid = r.body["contact"]["id"].as_str().unwrap().to_owned();
    let v = ac
        .post(
            "/fieldValues",
            json!({"fieldValue": {"contact": cid, "field": products, "value": "||a||b||c||"}}),
        )
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body["fieldValue"]["value"], "||a||b||c||");
    assert_eq!(
        ac.post(
            "/fieldValues",
            json!({"fieldValue": {"contact": "999", "field": plan, "value": "x"}})
        )
        .await
        .status,
        404
    );
    let fvs = ac.get(&format!("/contacts/{cid}/fieldValues")).await.body;
    assert_eq!(fvs["fieldValues"].as_array().unwrap().len(), 2);
    let st = ac.state().await;
    assert_eq!(
        st["contacts"][0]["fields"],
        json!({"Plan": "pro", "Products": ["a", "b", "c"]})
    );
}

#[tokio::test]
async fn bulk_import_limits_and_async_completion() {
    let ac = Ac::with(ActiveCampaignConfig {
        rate_limit: None,
        import_delay_ms: 300,
        import_multi_per_minute: 3,
        ..Default::default()
    })
    .await;
    let list = ac.list("Buyers").await;
    let other = ac.list("Other").await;
    let plan = ac
        .post(
            "/fields",
            json!({"field": {"title": "Plan", "type": "text"}}),
        )
        .await
        .body["field"]["id"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    // Someone who unsubscribed from "Buyers" earlier.
    ac.sync("left@example.com", json!({})).await;
    ac.emu()
        .unsubscribe("left@example.com", "Buyers", None)
        .unwrap();

    let too_many: Vec<Value> = (0..251)
        .map(|i| json!({"email": format!("u{i}@example.com")}))
        .collect();
    let r = ac
        .post("/import/bulk_import", json!({"contacts": too_many}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["success"], 0);
    let r = ac
        .post(
            "/import/bulk_import",
            json!({"contacts": [{"email": "ok@example.com"}, {"email": "bad@"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["failureReasons"][0]["contact"], 1);
    let big: Vec<Value> = (0..200)
        .map(|i| json!({"email": format!("u{i}@example.com"), "first_name": "x".repeat(2_000)}))
        .collect();
    let r = ac
        .post("/import/bulk_import", json!({"contacts": big}))
        .await;
    assert_eq!(r.status, 413);
    assert!(ac.state().await["imports"].as_array().unwrap().is_empty());

    let contacts = json!({"contacts": [
        {"email": "a@example.com", "first_name": "A", "tags": ["imported", "vip"], "fields": [{"id": plan, "value": "pro"}], "subscribe": [{"listid": list}]},
        {"email": "left@example.com", "subscribe": [{"listid": list}, {"listid": other}]},
        {"email": "b@example.com", "subscribe": [{"listid": list}], "unsubscribe": [{"listid": other}]},
        {"email": "c@example.com", "fields": [{"id": 999, "value": "x"}]},
    ]});
    let r = ac.post("/import/bulk_import", contacts).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], 1);
    assert_eq!(r.body["queued_contacts"], 4);
    let batch = r.body["batchId"].as_str().unwrap().to_owned();
    let info = ac.get(&format!("/import/info?batchId={batch}")).await.body;
    assert_eq!(info["status"], "queued");
    assert!(
        ac.emu().list_status("a@example.com", &list).is_none(),
        "not applied yet"
    );
    let start = Instant::now();
    let done = loop {
        let info = ac.get(&format!("/import/info?batchId={batch}")).await.body;
        if info["status"] == "completed" {
            break info;
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(done["success"].as_array().unwrap().len(), 3);
    assert_eq!(done["failure"], json!(["c@example.com"]));
    assert_eq!(ac.emu().list_status("a@example.com", &list), Some(1));
    assert_eq!(
        ac.emu().list_status("left@example.com", &list),
        Some(2),
        "imports never re-subscribe"
    );
    assert_eq!(ac.emu().list_status("left@example.com", &other), Some(1));
    assert_eq!(ac.emu().list_status("b@example.com", &other), Some(2));
    assert_eq!(ac.emu().resubscriptions(), 0);
    let st = ac.state().await;
    let a = st["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == "a@example.com")
        .unwrap();
    assert_eq!(a["firstName"], "A");
    assert_eq!(a["tags"], json!(["imported", "vip"]));
    assert_eq!(a["fields"], json!({"Plan": "pro"}));
    assert_eq!(st["imports"][0]["skipped_resubscribes"], 1);

    let r = ac.get("/import/info").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["message"], "'batchId' is a required field.");
    // 100 multi-contact imports a minute (3 here); the fourth is refused as documented.
    let two = json!({"contacts": [{"email": "x@example.com"}, {"email": "y@example.com"}]});
    assert_eq!(
        ac.post("/import/bulk_import", two.clone()).await.status,
        200
    );
    assert_eq!(
        ac.post("/import/bulk_import", two.clone()).await.status,
        200
    );
    let r = ac.post("/import/bulk_import", two).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["message"], "Rate limit exceeded.");
    // Single-contact imports have their own budget.
    let one = json!({"contacts": [{"email": "z@example.com"}]});
    assert_eq!(ac.post("/import/bulk_import", one).await.status, 200);
}

#[tokio::test]
async fn deep_data_validation() {
    let ac = Ac::start().await;
    let conn_body = json!({"connection": {"service": "stripe", "externalid": "acct_1", "name": "Acme", "logoUrl": "https://acme.example/logo.png", "linkUrl": "https://acme.example"}});
    let mut missing = conn_body.clone();
    missing["connection"]
        .as_object_mut()
        .unwrap()
        .remove("logoUrl");
    let r = ac.post("/connections", missing).await;
    assert_eq!(r.status, 422);
    assert_eq!(error_code(&r), "field_missing");
    assert_eq!(
        r.body["errors"][0]["source"]["pointer"],
        "/data/attributes/logoUrl"
    );
    let conn = ac.post("/connections", conn_body.clone()).await;
    assert_eq!(conn.status, 201);
    let conn_id = conn.body["connection"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        error_code(&ac.post("/connections", conn_body).await),
        "duplicate"
    );

    let r = ac
        .post(
            "/ecomCustomers",
            json!({"ecomCustomer": {"connectionid": "99", "externalid": "cus_1", "email": "buyer@example.com"}}),
        )
        .await;
    assert_eq!(error_code(&r), "related_missing");
    let cust = ac
        .post(
            "/ecomCustomers",
            json!({"ecomCustomer": {"connectionid": conn_id, "externalid": "cus_1", "email": "buyer@example.com", "acceptsMarketing": "1"}}),
        )
        .await;
    assert_eq!(cust.status, 201);
    let cust_id = cust.body["ecomCustomer"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cust.body["ecomCustomer"]["acceptsMarketing"], "1");
    let found = ac.get("/contacts?email=buyer%40example.com").await.body;
    assert_eq!(found["meta"]["total"], "1", "the customer's contact exists");

    let order = json!({"ecomOrder": {
        "externalid": "ch_1", "source": 1, "email": "buyer@example.com",
        "orderProducts": [{"externalid": "prod_1", "name": "Pro plan", "price": 4900, "quantity": 1, "category": "SaaS"}],
        "totalPrice": 4900, "currency": "usd", "connectionid": conn_id, "customerid": cust_id,
        "externalCreatedDate": "2025-10-09T08:53:20Z",
    }});
    for (path, value, code) in [
        ("totalPrice", json!(49.0), "field_invalid"),
        ("totalPrice", json!(-1), "field_invalid"),
        ("source", json!(2), "field_invalid"),
        ("currency", json!("dollars"), "field_invalid"),
        ("customerid", json!("77"), "related_missing"),
        (
            "externalCreatedDate",
            json!("last tuesday"),
            "field_invalid",
        ),
    ] {
        let mut bad = order.clone();
        bad["ecomOrder"][path] = value;
        let r = ac.post("/ecomOrders", bad).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        assert_eq!(error_code(&r), code, "{path}");
    }
    for field in [
        "email",
        "totalPrice",
        "currency",
        "externalCreatedDate",
        "source",
    ] {
        let mut bad = order.clone();
        bad["ecomOrder"].as_object_mut().unwrap().remove(field);
        let r = ac.post("/ecomOrders", bad).await;
        assert_eq!(error_code(&r), "field_missing", "{field}");
    }
    let mut bad = order.clone();
    bad["ecomOrder"]["orderProducts"][0]
        .as_object_mut()
        .unwrap()
        .remove("price");
    assert_eq!(ac.post("/ecomOrders", bad).await.status, 422);
    let mut cart = order.clone();
    let o = cart["ecomOrder"].as_object_mut().unwrap();
    o.remove("externalid");
    o.insert("externalcheckoutid".into(), json!("cart_1"));
    let r = ac.post("/ecomOrders", cart).await;
    assert_eq!(
        r.body["errors"][0]["source"]["pointer"],
        "/data/attributes/abandonedDate"
    );

    let r = ac.post("/ecomOrders", order.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let o = &r.body["ecomOrder"];
    assert_eq!(o["totalPrice"], 4900);
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["source"], "1");
    assert_eq!(r.body["ecomOrderProducts"][0]["price"], 4900);
    let order_id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(
        error_code(&ac.post("/ecomOrders", order).await),
        "duplicate"
    );
    let upd = ac
        .call(
            Method::PUT,
            &format!("/ecomOrders/{order_id}"),
            Some(json!({"ecomOrder": {"totalPrice": 2450}})),
        )
        .await;
    assert_eq!(upd.status, 200);
    assert_eq!(upd.body["ecomOrder"]["totalPrice"], 2450);
    let listed = ac
        .get("/ecomOrders?filters%5Bemail%5D=buyer%40example.com")
        .await
        .body;
    assert_eq!(listed["meta"]["total"], "1");
    let c = ac.get(&format!("/ecomCustomers/{cust_id}")).await.body;
    assert_eq!(c["ecomCustomer"]["totalRevenue"], "2450");
    assert_eq!(c["ecomCustomer"]["totalOrders"], "1");
    let del = ac
        .call(Method::DELETE, &format!("/ecomOrders/{order_id}"), None)
        .await;
    assert_eq!(del.status, 200);
    assert_eq!(ac.get(&format!("/ecomOrders/{order_id}")).await.status, 404);
    let st = ac.state().await;
    assert_eq!(st["ecom_customers"][0]["acceptsMarketing"], 1);
    assert_eq!(st["connections"][0]["service"], "stripe");
}

#[tokio::test]
async fn state_dump_request_counts_faults_and_reset() {
    let ac = Ac::start().await;
    ac.list("L").await;
    ac.sync("s@example.com", json!({"firstName": "S"})).await;
    ac.sync("s@example.com", json!({"lastName": "T"})).await;
    let st = ac.state().await;
    assert_eq!(st["contacts"][0]["email"], "s@example.com");
    assert_eq!(st["contacts"][0]["lastName"], "T");
    assert_eq!(st["lists"][0]["name"], "L");
    assert_eq!(st["requests"]["by_endpoint"]["POST /api/3/contact/sync"], 2);
    assert_eq!(st["requests"]["by_endpoint"]["POST /api/3/lists"], 1);

    ac.admin("/_admin/faults", json!({"outage": true})).await;
    assert_eq!(ac.get("/lists").await.status, 503);
    ac.admin(
        "/_admin/faults",
        json!({"error_rate": 1.0, "error_status": 502}),
    )
    .await;
    assert_eq!(ac.get("/lists").await.status, 502);
    ac.admin("/_admin/faults", json!({"throttle_rate": 1.0}))
        .await;
    let r = ac.get("/lists").await;
    assert_eq!(r.status, 429);
    ac.admin("/_admin/faults", json!({})).await;
    assert_eq!(ac.get("/lists").await.status, 200);
    ac.admin("/_admin/rate_limit", json!({"per_sec": 5})).await;
    assert_eq!(ac.emu().rate_limit().unwrap().per_sec, 5.0);
    ac.admin("/_admin/reset", json!({})).await;
    let st = ac.state().await;
    assert_eq!(st["contacts"], json!([]));
    assert_eq!(st["requests"]["total"], 0);
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activecampaign_python_drives_the_emulator() {
    // Real limits: the script turns the rate limit off for its functional part and checks
    // the 429 separately.
    let ac = Ac::with(ActiveCampaignConfig {
        import_delay_ms: 200,
        ..Default::default()
    })
    .await;
    let base = ac.h.url();
    let python = std::env::var_os("PAYSYNC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run ./scripts/test.sh (it creates the Python venv with the vendor SDKs)",
        python.display()
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(repo_root().join("scripts/contract/activecampaign.py"))
            .args(["--base", &base])
            .output()
            .expect("run the contract script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "contract failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    println!("{stdout}");
    assert!(ac.emu().requests().count("POST /api/3/contact/sync") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_through_bulk_import() {
    let ac = Ac::with(ActiveCampaignConfig {
        rate_limit: None,
        import_delay_ms: 0,
        ..Default::default()
    })
    .await;
    let list = ac.list("Big").await;
    let t0 = Instant::now();
    let mut batches = Vec::new();
    for b in 0..40 {
        let contacts: Vec<Value> = (0..250)
            .map(|i| json!({"email": format!("c{b}-{i}@example.com"), "first_name": "C", "tags": ["customer"], "subscribe": [{"listid": list}]}))
            .collect();
        let r = ac
            .post("/import/bulk_import", json!({"contacts": contacts}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        batches.push(r.body["batchId"].as_str().unwrap().to_owned());
    }
    for b in &batches {
        let start = Instant::now();
        while ac.get(&format!("/import/info?batchId={b}")).await.body["status"] != "completed" {
            assert!(start.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let on_list = ac
        .get(&format!("/contacts?listid={list}&status=1&limit=1"))
        .await
        .body;
    assert_eq!(on_list["meta"]["total"], "10000");
    let st = ac.state().await;
    assert_eq!(st["contacts"].as_array().unwrap().len(), 10_000);
    assert_eq!(st["contacts"][9_999]["tags"], json!(["customer"]));
    println!(
        "10k contacts through bulk import + dump: {:?}",
        t0.elapsed()
    );
}
