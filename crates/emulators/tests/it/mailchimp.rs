//! The Mailchimp emulator: auth, the simultaneous-connection limit, member upserts and hashes,
//! consent (compliance state, forgotten addresses), tags, merge fields, batch subscribe, async
//! batches, webhooks, the state dump, faults, and Mailchimp's own SDK against it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::any;
use paysync_emulators::EmulatorHandle;
use paysync_emulators::FaultConfig;
use paysync_emulators::mailchimp::{
    MailchimpConfig, MailchimpEmulator, serve_mailchimp, subscriber_hash,
};
use serde_json::{Value, json};

use crate::helpers::client;

const KEY: &str = "0123456789abcdef-us1";

struct Mc {
    h: EmulatorHandle<MailchimpEmulator>,
    http: reqwest::Client,
    key: String,
}

struct R {
    status: u16,
    ctype: String,
    body: Value,
}

impl Mc {
    async fn start() -> Self {
        Self::with(MailchimpConfig {
            batch_delay_ms: 200,
            validate_webhooks: true,
            ..Default::default()
        })
        .await
    }

    async fn with(cfg: MailchimpConfig) -> Self {
        let h = serve_mailchimp(cfg).await.expect("serve");
        Self {
            h,
            http: client(),
            key: KEY.into(),
        }
    }

    fn emu(&self) -> &MailchimpEmulator {
        &self.h.emulator
    }

    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> R {
        let mut rb = self
            .http
            .request(m, format!("{}/3.0{path}", self.h.url()))
            .basic_auth("anystring", Some(&self.key));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        R {
            status,
            ctype,
            body,
        }
    }

    async fn get(&self, path: &str) -> R {
        self.call(Method::GET, path, None).await
    }

    async fn ok(&self, m: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.call(m.clone(), path, body).await;
        assert!(
            r.status == 200 || r.status == 204,
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
                Some(json!({
                    "name": name,
                    "contact": {"company": "Acme", "address1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US"},
                    "permission_reminder": "You bought from us.",
                    "email_type_option": false,
                    "campaign_defaults": {"from_name": "Acme", "from_email": "news@acme.example", "subject": "", "language": "en"},
                })),
            )
            .await;
        v["id"].as_str().unwrap().to_owned()
    }

    async fn put_member(&self, list: &str, email: &str, body: Value) -> R {
        self.call(
            Method::PUT,
            &format!("/lists/{list}/members/{}", subscriber_hash(email)),
            Some(body),
        )
        .await
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
}

fn problem(r: &R, status: u16, title: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.ctype.starts_with("application/problem+json"),
        "content-type {}",
        r.ctype
    );
    assert_eq!(r.body["title"], title, "{}", r.body);
    assert_eq!(r.body["status"], status);
    assert_eq!(
        r.body["type"],
        "https://mailchimp.com/developer/marketing/docs/errors/"
    );
    assert!(r.body["detail"].is_string());
    assert!(r.body["instance"].is_string());
}

#[tokio::test]
async fn authentication() {
    let mc = Mc::start().await;
    let url = format!("{}/3.0/ping", mc.h.url());
    let r = mc.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["title"], "API Key Missing");
    let r = mc
        .http
        .get(&url)
        .basic_auth("anystring", Some("no-datacenter-suffix"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["title"], "API Key Invalid");
    let r = mc
        .http
        .get(&url)
        .bearer_auth("oauth-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ok = mc.get("/ping").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["health_status"], "Everything's Chimpy!");
    assert_eq!(mc.get("/").await.body["account_name"], "paysync emulator");
    problem(&mc.get("/nothing/here").await, 404, "Resource Not Found");
    problem(
        &mc.call(Method::PUT, "/lists", Some(json!({}))).await,
        405,
        "Method Not Allowed",
    );

    // Configured keys only.
    let mc2 = Mc::with(MailchimpConfig {
        api_keys: vec!["only-us2".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(mc2.get("/ping").await.status, 401);
    let mut mc2 = mc2;
    mc2.key = "only-us2".into();
    assert_eq!(mc2.get("/ping").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connection_limit_counts_requests_in_flight() {
    let mc = Arc::new(Mc::start().await);
    mc.emu().faults().set(FaultConfig {
        latency_ms: 600,
        ..Default::default()
    });
    let fire = |key: &'static str, n: usize| {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let mc = mc.clone();
            tasks.push(tokio::spawn(async move {
                let r = mc
                    .http
                    .get(format!("{}/3.0/ping", mc.h.url()))
                    .basic_auth("anystring", Some(key))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            }));
        }
        tasks
    };
    let a = fire("aaaa-us1", 15);
    let b = fire("bbbb-us1", 5);
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for t in a {
        let (s, body) = t.await.unwrap();
        *by_status.entry(s).or_default() += 1;
        if s == 429 {
            assert_eq!(body["title"], "Too Many Requests");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("10 simultaneous connections")
            );
        }
    }
    assert_eq!(by_status.get(&200), Some(&10), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&5), "{by_status:?}");
    for t in b {
        assert_eq!(t.await.unwrap().0, 200, "another key has its own 10");
    }
    let st = mc.state().await;
    assert_eq!(st["limits"]["concurrency_rejections"], 5);
    assert_eq!(st["limits"]["peak_concurrent"], 10);

    // Configurable, and slots are released.
    mc.emu().set_max_concurrent(Some(3));
    let c = fire("cccc-us1", 5);
    let mut ok = 0;
    for t in c {
        if t.await.unwrap().0 == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
    mc.emu().faults().clear();
    assert_eq!(mc.get("/ping").await.status, 200);
}

#[tokio::test]
async fn upsert_and_subscriber_hash() {
    let mc = Mc::start().await;
    let list = mc.list("Customers").await;
    let email = "Jane.Doe@Example.com";
    let hash = subscriber_hash(email);
    assert_eq!(hash, subscriber_hash("jane.doe@example.com"));
    let r = mc
        .put_member(
            &list,
            email,
            json!({"email_address": email, "status_if_new": "subscribed", "merge_fields": {"FNAME": "Jane", "LNAME": "Doe"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], hash);
    assert_eq!(r.body["status"], "subscribed");
    assert_eq!(r.body["email_address"], email);
    assert_eq!(r.body["merge_fields"]["FNAME"], "Jane");
    assert_eq!(r.body["full_name"], "Jane Doe");
    assert_eq!(r.body["list_id"], list);

    // Hash of the address as typed (not lowercased) does not match.
    let wrong = format!(
        "/lists/{list}/members/{}",
        paysync_emulators::mailchimp::subscriber_hash("x@example.com")
    );
    let r = mc
        .call(
            Method::PUT,
            &wrong,
            Some(json!({"email_address": email, "status_if_new": "subscribed"})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");

    // The address itself works as the path id; status_if_new does not touch an existing member.
    let r = mc
        .call(
            Method::PUT,
            &format!("/lists/{list}/members/jane.doe@example.com"),
            Some(json!({"email_address": email, "status_if_new": "unsubscribed", "merge_fields": {"LNAME": "Smith"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "subscribed");
    assert_eq!(r.body["merge_fields"]["FNAME"], "Jane");
    assert_eq!(r.body["merge_fields"]["LNAME"], "Smith");

    // New member without a status.
    let r = mc
        .put_member(
            &list,
            "new@example.com",
            json!({"email_address": "new@example.com"}),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    // Invalid address.
    let r = mc
        .call(
            Method::PUT,
            &format!("/lists/{list}/members/{}", subscriber_hash("not-an-email")),
            Some(json!({"email_address": "not-an-email", "status_if_new": "subscribed"})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    // Malformed JSON.
    let r = mc
        .http
        .put(format!("{}/3.0/lists/{list}/members/{hash}", mc.h.url()))
        .basic_auth("x", Some(KEY))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["title"], "JSON Parse Exception");

    let r = mc.get(&format!("/lists/{list}/members/{hash}")).await;
    assert_eq!(r.status, 200);
    problem(
        &mc.get(&format!(
            "/lists/{list}/members/{}",
            subscriber_hash("nobody@example.com")
        ))
        .await,
        404,
        "Resource Not Found",
    );
    problem(
        &mc.get("/lists/nosuchlist/members").await,
        404,
        "Resource Not Found",
    );

    // POST /members refuses an existing member.
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/members"),
            Some(json!({"email_address": email, "status": "subscribed"})),
        )
        .await;
    problem(&r, 400, "Member Exists");

    // PATCH, then archive (DELETE) and list filters.
    let r = mc
        .call(
            Method::PATCH,
            &format!("/lists/{list}/members/{hash}"),
            Some(json!({"merge_fields": {"FNAME": "Janet"}})),
        )
        .await;
    assert_eq!(r.body["merge_fields"]["FNAME"], "Janet");
    for i in 0..5 {
        let e = format!("p{i}@example.com");
        mc.put_member(
            &list,
            &e,
            json!({"email_address": e, "status_if_new": "subscribed"}),
        )
        .await;
    }
    let page = mc
        .get(&format!("/lists/{list}/members?count=2&offset=1"))
        .await
        .body;
    assert_eq!(page["total_items"], 6);
    assert_eq!(page["members"].as_array().unwrap().len(), 2);
    let r = mc
        .call(
            Method::DELETE,
            &format!("/lists/{list}/members/{hash}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let all = mc
        .get(&format!("/lists/{list}/members?count=100"))
        .await
        .body;
    assert_eq!(all["total_items"], 5);
    let archived = mc
        .get(&format!("/lists/{list}/members?status=archived"))
        .await
        .body;
    assert_eq!(archived["total_items"], 1);
    assert_eq!(archived["members"][0]["status"], "archived");
    // fields= projection.
    let slim = mc
        .get(&format!(
            "/lists/{list}/members?fields=members.email_address,total_items&count=1"
        ))
        .await
        .body;
    assert_eq!(
        slim,
        json!({"members": [{"email_address": "p0@example.com"}], "total_items": 5})
    );
}

#[tokio::test]
async fn since_last_changed_filters_by_the_emulator_clock() {
    let mc = Mc::start().await;
    let list = mc.list("L").await;
    mc.emu().clock().set(1_760_000_000);
    mc.put_member(
        &list,
        "old@example.com",
        json!({"email_address": "old@example.com", "status_if_new": "subscribed"}),
    )
    .await;
    mc.emu().clock().set(1_760_000_600);
    mc.put_member(
        &list,
        "new@example.com",
        json!({"email_address": "new@example.com", "status_if_new": "subscribed"}),
    )
    .await;
    let r = mc
        .get(&format!(
            "/lists/{list}/members?since_last_changed=2025-10-09T08:55:00%2B00:00"
        ))
        .await
        .body;
    assert_eq!(r["total_items"], 1);
    assert_eq!(r["members"][0]["email_address"], "new@example.com");
    assert_eq!(r["members"][0]["last_changed"], "2025-10-09T09:03:20+00:00");
    let bad = mc
        .get(&format!(
            "/lists/{list}/members?since_last_changed=yesterday"
        ))
        .await;
    problem(&bad, 400, "Invalid Resource");
}

#[tokio::test]
async fn consent_compliance_state_and_forgotten_addresses() {
    let mc = Mc::start().await;
    let list = mc.list("Newsletter").await;
    let email = "gone@example.com";
    let hash = subscriber_hash(email);
    mc.put_member(
        &list,
        email,
        json!({"email_address": email, "status_if_new": "subscribed"}),
    )
    .await;
    mc.admin(
        "/_admin/unsubscribe",
        json!({"email": email, "list": "Newsletter"}),
    )
    .await;
    assert_eq!(
        mc.emu().member_status(&list, email).as_deref(),
        Some("unsubscribed")
    );

    // PUT, PATCH, POST and batch subscribe all refuse to re-subscribe.
    let r = mc
        .put_member(
            &list,
            email,
            json!({"email_address": email, "status": "subscribed", "status_if_new": "subscribed"}),
        )
        .await;
    problem(&r, 400, "Member In Compliance State");
    assert_eq!(
        r.body["detail"],
        "gone@example.com is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."
    );
    let r = mc
        .call(
            Method::PATCH,
            &format!("/lists/{list}/members/{hash}"),
            Some(json!({"status": "subscribed"})),
        )
        .await;
    problem(&r, 400, "Member In Compliance State");
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}"),
            Some(json!({"members": [{"email_address": email, "status": "subscribed"}], "update_existing": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["error_count"], 1);
    assert_eq!(r.body["errors"][0]["error_code"], "ERROR_GENERIC");
    assert!(
        r.body["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("compliance state")
    );
    assert_eq!(
        mc.emu().member_status(&list, email).as_deref(),
        Some("unsubscribed")
    );
    // Updating other data of an unsubscribed member is fine, and keeps them unsubscribed.
    let r = mc
        .put_member(&list, email, json!({"email_address": email, "status_if_new": "subscribed", "merge_fields": {"FNAME": "G"}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "unsubscribed");
    // Archived members keep their consent.
    mc.call(
        Method::DELETE,
        &format!("/lists/{list}/members/{hash}"),
        None,
    )
    .await;
    let r = mc
        .put_member(
            &list,
            email,
            json!({"email_address": email, "status_if_new": "subscribed"}),
        )
        .await;
    problem(&r, 400, "Member In Compliance State");
    // Pending (a confirmation email) is the way back.
    let r = mc
        .put_member(
            &list,
            email,
            json!({"email_address": email, "status": "pending", "status_if_new": "pending"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "pending");

    // Cleaned: neither subscribed nor pending.
    let bounced = "bounce@example.com";
    mc.put_member(
        &list,
        bounced,
        json!({"email_address": bounced, "status_if_new": "subscribed"}),
    )
    .await;
    mc.admin("/_admin/clean", json!({"email": bounced, "list": list}))
        .await;
    for s in ["subscribed", "pending"] {
        let r = mc
            .put_member(
                &list,
                bounced,
                json!({"email_address": bounced, "status": s}),
            )
            .await;
        problem(&r, 400, "Member In Compliance State");
    }

    // Permanently deleted: cannot come back through the API at all.
    let forgotten = "forget@example.com";
    let fh = subscriber_hash(forgotten);
    mc.put_member(
        &list,
        forgotten,
        json!({"email_address": forgotten, "status_if_new": "subscribed"}),
    )
    .await;
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/members/{fh}/actions/delete-permanent"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    problem(
        &mc.get(&format!("/lists/{list}/members/{fh}")).await,
        404,
        "Resource Not Found",
    );
    for s in ["subscribed", "pending", "unsubscribed"] {
        let r = mc
            .put_member(
                &list,
                forgotten,
                json!({"email_address": forgotten, "status_if_new": s}),
            )
            .await;
        problem(&r, 400, "Forgotten Email Not Subscribed");
    }
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/members"),
            Some(json!({"email_address": forgotten, "status": "pending"})),
        )
        .await;
    problem(&r, 400, "Forgotten Email Not Subscribed");

    let st = mc.state().await;
    assert!(st["compliance_rejections"].as_u64().unwrap() >= 9);
    let l = &st["lists"][0];
    assert_eq!(l["forgotten_hashes"], json!([fh]));
    let m = l["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == bounced)
        .unwrap();
    assert_eq!(m["status"], "cleaned");
    assert_eq!(m["status_changed_by"], "person");
}

#[tokio::test]
async fn tags_are_created_on_first_use() {
    let mc = Mc::start().await;
    let list = mc.list("L").await;
    let email = "t@example.com";
    let hash = subscriber_hash(email);
    mc.put_member(
        &list,
        email,
        json!({"email_address": email, "status_if_new": "subscribed"}),
    )
    .await;
    let path = format!("/lists/{list}/members/{hash}/tags");
    let r = mc
        .call(
            Method::POST,
            &path,
            Some(json!({"tags": [{"name": "Customer", "status": "active"}, {"name": "plan:pro", "status": "active"}], "is_syncing": true})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let tags = mc.get(&path).await.body;
    assert_eq!(tags["total_items"], 2);
    let names: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Customer", "plan:pro"]);
    assert!(tags["tags"][0]["date_added"].is_string());
    // Same tag, different case: one tag; inactive removes.
    mc.ok(
        Method::POST,
        &path,
        Some(json!({"tags": [{"name": "customer", "status": "active"}, {"name": "plan:pro", "status": "inactive"}, {"name": "never-added", "status": "inactive"}]})),
    )
    .await;
    let m = mc.get(&format!("/lists/{list}/members/{hash}")).await.body;
    assert_eq!(m["tags_count"], 1);
    assert_eq!(m["tags"][0]["name"], "Customer");
    let r = mc
        .call(
            Method::POST,
            &path,
            Some(json!({"tags": [{"name": "x", "status": "on"}]})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    let r = mc
        .call(
            Method::POST,
            &path,
            Some(json!({"tags": [{"name": "", "status": "active"}]})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    let r = mc
        .call(
            Method::POST,
            &format!(
                "/lists/{list}/members/{}/tags",
                subscriber_hash("no@example.com")
            ),
            Some(json!({"tags": [{"name": "x", "status": "active"}]})),
        )
        .await;
    problem(&r, 404, "Resource Not Found");
    let st = mc.state().await;
    let tags: Vec<&str> = st["lists"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["Customer", "plan:pro"]);
    assert_eq!(st["lists"][0]["members"][0]["tags"], json!(["Customer"]));

    // The list's tags are found by name prefix, case-insensitively (lists "tag-search").
    let found = mc
        .get(&format!("/lists/{list}/tag-search?name=PLAN"))
        .await
        .body;
    assert_eq!(found["total_items"], 1);
    assert_eq!(found["tags"][0]["name"], "plan:pro");
    let all = mc.get(&format!("/lists/{list}/tag-search")).await.body;
    assert_eq!(all["total_items"], 2);
}

#[tokio::test]
async fn merge_fields() {
    let mc = Mc::start().await;
    let list = mc.list("L").await;
    let mf = mc.get(&format!("/lists/{list}/merge-fields")).await.body;
    let tags: Vec<&str> = mf["merge_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["FNAME", "LNAME"]);
    let f = mc
        .ok(
            Method::POST,
            &format!("/lists/{list}/merge-fields"),
            Some(json!({"name": "Lifetime value", "type": "number", "tag": "LTV"})),
        )
        .await;
    assert_eq!(f["tag"], "LTV");
    assert_eq!(f["type"], "number");
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/merge-fields"),
            Some(json!({"name": "Again", "type": "text", "tag": "LTV"})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/merge-fields"),
            Some(json!({"name": "X", "type": "colour"})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    mc.ok(
        Method::POST,
        &format!("/lists/{list}/merge-fields"),
        Some(json!({"name": "Plan", "type": "text", "tag": "PLAN", "required": true})),
    )
    .await;

    let e = "m@example.com";
    // Required PLAN missing on a new member.
    let r = mc
        .put_member(
            &list,
            e,
            json!({"email_address": e, "status_if_new": "subscribed"}),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    assert_eq!(r.body["errors"][0]["field"], "PLAN");
    // Not a number.
    let r = mc
        .put_member(&list, e, json!({"email_address": e, "status_if_new": "subscribed", "merge_fields": {"PLAN": "pro", "LTV": "lots"}}))
        .await;
    problem(&r, 400, "Invalid Resource");
    // Unknown tags are ignored.
    let r = mc
        .put_member(&list, e, json!({"email_address": e, "status_if_new": "subscribed", "merge_fields": {"PLAN": "pro", "LTV": 129.5, "NOPE": "x"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["merge_fields"],
        json!({"FNAME": "", "LNAME": "", "LTV": 129.5, "PLAN": "pro"})
    );
    // skip_merge_validation=true lets a member in without PLAN.
    let e2 = "m2@example.com";
    let r = mc
        .call(
            Method::PUT,
            &format!(
                "/lists/{list}/members/{}?skip_merge_validation=true",
                subscriber_hash(e2)
            ),
            Some(json!({"email_address": e2, "status_if_new": "subscribed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    // Once PLAN is no longer required, a new member needs no value for it.
    let f = mc
        .ok(
            Method::PATCH,
            &format!("/lists/{list}/merge-fields/PLAN"),
            Some(json!({"required": false, "name": "Plan name"})),
        )
        .await;
    assert_eq!(
        (f["required"].as_bool(), f["name"].as_str()),
        (Some(false), Some("Plan name"))
    );
    let e3 = "m3@example.com";
    let r = mc
        .put_member(
            &list,
            e3,
            json!({"email_address": e3, "status_if_new": "subscribed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = mc
        .call(
            Method::PATCH,
            &format!("/lists/{list}/merge-fields/PLAN"),
            Some(json!({"name": " "})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    let r = mc
        .call(
            Method::PATCH,
            &format!("/lists/{list}/merge-fields/NOPE"),
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn batch_subscribe() {
    let mc = Mc::start().await;
    let list = mc.list("L").await;
    let path = format!("/lists/{list}");
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({"email_address": format!("u{i}@example.com"), "status": "subscribed"}))
        .collect();
    let r = mc
        .call(Method::POST, &path, Some(json!({"members": too_many})))
        .await;
    problem(&r, 400, "Invalid Resource");
    assert!(
        mc.state().await["lists"][0]["members"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let five_hundred: Vec<Value> = (0..500)
        .map(|i| json!({"email_address": format!("u{i}@example.com"), "status": "subscribed", "merge_fields": {"FNAME": format!("U{i}")}}))
        .collect();
    let r = mc
        .ok(Method::POST, &path, Some(json!({"members": five_hundred})))
        .await;
    assert_eq!(r["total_created"], 500);
    assert_eq!(r["new_members"].as_array().unwrap().len(), 500);
    assert_eq!(r["error_count"], 0);

    let body = json!({"members": [
        {"email_address": "u1@example.com", "status": "unsubscribed"},
        {"email_address": "fresh@example.com", "status": "subscribed", "tags": ["vip"]},
        {"email_address": "broken@", "status": "subscribed"},
        {"email_address": "fresh@example.com", "status": "subscribed"},
    ]});
    let r = mc.ok(Method::POST, &path, Some(body.clone())).await;
    assert_eq!(r["total_created"], 1);
    assert_eq!(r["total_updated"], 0);
    assert_eq!(r["error_count"], 3);
    let codes: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["ERROR_CONTACT_EXISTS", "ERROR_GENERIC", "ERROR_GENERIC"]
    );
    assert_eq!(r["errors"][1]["field"], "email_address");
    assert_eq!(r["new_members"][0]["tags"][0]["name"], "vip");

    let r = mc
        .ok(
            Method::POST,
            &format!("{path}?skip_duplicate_check=true"),
            Some(json!({"members": [
                {"email_address": "u1@example.com", "status": "unsubscribed"},
                {"email_address": "fresh@example.com", "tags": ["new"]},
                {"email_address": "fresh@example.com", "status": "subscribed"},
            ], "update_existing": true, "sync_tags": true})),
        )
        .await;
    assert_eq!(r["total_updated"], 2, "{r}");
    assert_eq!(r["error_count"], 0, "{r}");
    assert_eq!(r["updated_members"][0]["status"], "unsubscribed");
    let tags: Vec<&str> = r["updated_members"][1]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["new"], "sync_tags replaces the member's tags");
    assert_eq!(
        mc.emu().member_status(&list, "u1@example.com").as_deref(),
        Some("unsubscribed")
    );
    let info = mc.get(&format!("/lists/{list}")).await.body;
    assert_eq!(info["stats"]["member_count"], 500);
    assert_eq!(info["stats"]["unsubscribe_count"], 1);
}

#[tokio::test]
async fn batches_run_asynchronously_with_a_results_archive() {
    let mc = Mc::start().await;
    let list = mc.list("L").await;
    let e = "batch@example.com";
    let h = subscriber_hash(e);
    let ops = json!({"operations": [
        {"method": "PUT", "path": format!("/lists/{list}/members/{h}"), "operation_id": "put-1",
         "body": json!({"email_address": e, "status_if_new": "subscribed"}).to_string()},
        {"method": "POST", "path": format!("/lists/{list}/members/{h}/tags"), "operation_id": "tag-1",
         "body": json!({"tags": [{"name": "from-batch", "status": "active"}]}).to_string()},
        {"method": "GET", "path": format!("/lists/{list}/members/{h}"), "operation_id": "get-1",
         "params": {"fields": "email_address,status"}},
        {"method": "GET", "path": "/lists/nope/members", "operation_id": "bad-1"},
    ]});
    let b = mc.ok(Method::POST, "/batches", Some(ops)).await;
    assert_eq!(b["status"], "pending");
    assert_eq!(b["total_operations"], 4);
    assert_eq!(b["response_body_url"], "");
    let id = b["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    let done = loop {
        let s = mc.get(&format!("/batches/{id}")).await.body;
        seen.insert(s["status"].as_str().unwrap().to_owned());
        if s["status"] == "finished" {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "batch never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        seen.contains("pending") && seen.contains("started"),
        "{seen:?}"
    );
    assert_eq!(done["finished_operations"], 4);
    assert_eq!(done["errored_operations"], 1);
    assert!(done["completed_at"].as_str().unwrap().ends_with("+00:00"));
    let url = done["response_body_url"].as_str().unwrap();
    assert!(url.ends_with(".tar.gz") && !url.contains("server"), "{url}");
    let archive = mc
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&archive[..2], &[0x1f, 0x8b]);
    // Stored deflate blocks: the JSON is in the archive verbatim.
    let text = String::from_utf8_lossy(&archive);
    for op in ["put-1", "tag-1", "get-1", "bad-1"] {
        assert!(text.contains(&format!("\"operation_id\":\"{op}\"")), "{op}");
    }
    assert!(text.contains(r#"\"status\":\"subscribed\""#));
    assert_eq!(
        mc.emu().member_status(&list, e).as_deref(),
        Some("subscribed")
    );
    let tags = mc
        .get(&format!("/lists/{list}/members/{h}/tags"))
        .await
        .body;
    assert_eq!(tags["tags"][0]["name"], "from-batch");
    // Only the POST /batches and the polls were API calls.
    assert_eq!(
        mc.emu()
            .requests()
            .count("PUT /3.0/lists/{list_id}/members/{subscriber_hash}"),
        0
    );
    let r = mc
        .call(
            Method::POST,
            "/batches",
            Some(json!({"operations": [{"method": "FETCH", "path": "/x"}]})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<(String, String)>>,
}

async fn receive(State(inbox): State<Arc<Inbox>>, method: Method, body: Bytes) -> StatusCode {
    inbox.got.lock().unwrap().push((
        method.to_string(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::OK
}

#[tokio::test]
async fn webhooks_are_checked_with_a_get_and_receive_unsubscribes() {
    let inbox = Arc::new(Inbox::default());
    let app = Router::new()
        .route("/hook", any(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mc = Mc::start().await;
    let list = mc.list("L").await;
    let hook = mc
        .ok(
            Method::POST,
            &format!("/lists/{list}/webhooks"),
            Some(json!({"url": format!("http://{addr}/hook"), "events": {"unsubscribe": true, "cleaned": true}, "sources": {"user": true, "admin": true}})),
        )
        .await;
    assert_eq!(hook["events"]["unsubscribe"], true);
    assert_eq!(hook["events"]["subscribe"], false);
    assert_eq!(inbox.got.lock().unwrap()[0].0, "GET");
    let r = mc
        .call(
            Method::POST,
            &format!("/lists/{list}/webhooks"),
            Some(json!({"url": "http://127.0.0.1:9/nothing-listens"})),
        )
        .await;
    problem(&r, 400, "Invalid Resource");
    assert_eq!(
        mc.get(&format!("/lists/{list}/webhooks")).await.body["total_items"],
        1
    );

    let e = "leaver@example.com";
    mc.put_member(&list, e, json!({"email_address": e, "status_if_new": "subscribed", "merge_fields": {"FNAME": "Lee"}}))
        .await;
    mc.emu().unsubscribe(e, &list, None).unwrap();
    let start = Instant::now();
    loop {
        let got = inbox.got.lock().unwrap().clone();
        if let Some((_, body)) = got.iter().find(|(m, _)| m == "POST") {
            let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("type"), Some("unsubscribe"));
            assert_eq!(get("data[email]"), Some(e));
            assert_eq!(get("data[list_id]"), Some(list.as_str()));
            assert_eq!(get("data[merges][FNAME]"), Some("Lee"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no webhook");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn state_dump_request_counts_faults_and_reset() {
    let mc = Mc::start().await;
    let list = mc.list("Buyers").await;
    for e in ["a@example.com", "b@example.com"] {
        mc.put_member(&list, e, json!({"email_address": e, "status_if_new": "subscribed", "merge_fields": {"FNAME": "X"}}))
            .await;
    }
    let st = mc.state().await;
    assert_eq!(st["lists"][0]["name"], "Buyers");
    assert_eq!(st["lists"][0]["counts"]["subscribed"], 2);
    let m = &st["lists"][0]["members"][0];
    assert_eq!(m["email"], "a@example.com");
    assert_eq!(m["status"], "subscribed");
    assert_eq!(m["merge_fields"]["FNAME"], "X");
    assert_eq!(
        st["requests"]["by_endpoint"]["PUT /3.0/lists/{list_id}/members/{subscriber_hash}"],
        2
    );
    assert_eq!(st["requests"]["by_endpoint"]["POST /3.0/lists"], 1);

    mc.admin("/_admin/faults", json!({"outage": true})).await;
    problem(&mc.get("/ping").await, 503, "Service Unavailable");
    mc.admin("/_admin/faults", json!({"error_rate": 1.0})).await;
    problem(&mc.get("/ping").await, 500, "Internal Server Error");
    mc.admin("/_admin/faults", json!({"throttle_rate": 1.0}))
        .await;
    problem(&mc.get("/ping").await, 429, "Too Many Requests");
    mc.admin("/_admin/faults", json!({})).await;
    assert_eq!(mc.get("/ping").await.status, 200);

    mc.admin("/_admin/limits", json!({"max_concurrent": 2}))
        .await;
    assert_eq!(mc.emu().max_concurrent(), Some(2));
    mc.admin("/_admin/reset", json!({})).await;
    let st = mc.state().await;
    assert_eq!(st["lists"], json!([]));
    assert_eq!(st["requests"]["total"], 0);
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/contract/<name> --base <base>` with the venv's Python; asserts exit 0.
pub fn run_contract(name: &str, base: &str) -> std::process::Output {
    let python = std::env::var_os("PAYSYNC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run ./scripts/test.sh (it creates the Python venv with the vendor SDKs)",
        python.display()
    );
    std::process::Command::new(python)
        .arg(repo_root().join("scripts/contract").join(name))
        .args(["--base", base])
        .output()
        .expect("run the contract script")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimps_own_sdk_drives_the_emulator() {
    let mc = Mc::with(MailchimpConfig {
        batch_delay_ms: 300,
        ..Default::default()
    })
    .await;
    let base = format!("{}/3.0", mc.h.url());
    let out = tokio::task::spawn_blocking(move || run_contract("mailchimp.py", &base))
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
    // The SDK's calls were counted per endpoint.
    assert!(
        mc.emu()
            .requests()
            .count("PUT /3.0/lists/{list_id}/members/{subscriber_hash}")
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_members_through_batch_subscribe() {
    let mc = Mc::start().await;
    let list = mc.list("Big").await;
    let t0 = Instant::now();
    for b in 0..20 {
        let members: Vec<Value> = (0..500)
            .map(|i| json!({"email_address": format!("m{b}-{i}@example.com"), "status": "subscribed", "merge_fields": {"FNAME": "M"}, "tags": ["customer"]}))
            .collect();
        let r = mc
            .ok(
                Method::POST,
                &format!("/lists/{list}"),
                Some(json!({"members": members})),
            )
            .await;
        assert_eq!(r["total_created"], 500);
    }
    let page = mc
        .get(&format!(
            "/lists/{list}/members?count=1000&offset=9500&fields=members.id,total_items"
        ))
        .await
        .body;
    assert_eq!(page["total_items"], 10_000);
    assert_eq!(page["members"].as_array().unwrap().len(), 500);
    let st = mc.state().await;
    assert_eq!(st["lists"][0]["counts"]["subscribed"], 10_000);
    assert_eq!(
        mc.emu().requests().count("POST /3.0/lists/{list_id}"),
        20,
        "one call per 500 members"
    );
    println!(
        "10k members through batch subscribe + dump: {:?}",
        t0.elapsed()
    );
}
