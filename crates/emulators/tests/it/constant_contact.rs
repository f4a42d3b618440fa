//! The Constant Contact emulator: OAuth (PKCE, rotating refresh tokens), authentication, the
//! 4-a-second limit and the daily quota with their 429 bodies, sign_up_form, consent (a
//! self-unsubscribed contact stays unsubscribed on every path), contact lists and filters,
//! bulk activities (JSON import with `cf:` fields and limits, tagging, list removal, delete),
//! the state dump, faults, and the vendor's PyPI client against it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paysync_emulators::EmulatorHandle;
use paysync_emulators::constant_contact::{
    ActivityTiming, ConstantContactConfig, ConstantContactEmulator, serve_constant_contact,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::client;

const CLIENT_ID: &str = "paysync-cc-client";
const CLIENT_SECRET: &str = "paysync-cc-secret";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
/// RFC 7636 Appendix B: a verifier and its S256 challenge, computed independently of the
/// emulator.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// 2025-10-09T08:53:20Z.
const NOW: i64 = 1_760_000_000;

fn fast() -> ActivityTiming {
    ActivityTiming {
        initialized_ms: 20,
        processing_ms: 60,
        per_item_us: 0,
    }
}

/// No rate limit or quota (the tests of those set them), fast activities.
fn cfg() -> ConstantContactConfig {
    ConstantContactConfig {
        rate_limit: None,
        daily_quota: None,
        activities: fast(),
        ..Default::default()
    }
}

struct Cc {
    h: EmulatorHandle<ConstantContactEmulator>,
    http: reqwest::Client,
    token: String,
}

struct R {
    status: StatusCode,
    body: Value,
}

impl Cc {
    async fn start() -> Self {
        Self::with(cfg()).await
    }

    async fn with(cfg: ConstantContactConfig) -> Self {
        let h = serve_constant_contact(cfg).await.expect("serve");
        h.emulator.clock().set(NOW);
        let token = h.emulator.issue_token().access_token;
        Self {
            h,
            http: client(),
            token,
        }
    }

    fn emu(&self) -> &ConstantContactEmulator {
        &self.h.emulator
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.h.url(), path)
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> R {
        let r = rb.send().await.expect("send");
        let status = r.status();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        R { status, body }
    }

    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> R {
        let mut rb = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    async fn get(&self, path: &str) -> R {
        self.call(Method::GET, path, None).await
    }

    async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    async fn post(&self, path: &str, body: Value) -> R {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> R {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self.send(self.http.post(self.url(path)).json(&body)).await;
        assert_eq!(r.status, 200, "POST {path}: {}", r.body);
        r.body
    }

    async fn state(&self) -> Value {
        let r = self.send(self.http.get(self.url("/_admin/state"))).await;
        assert_eq!(r.status, 200);
        r.body
    }

    async fn list(&self, name: &str) -> String {
        let r = self.post("/v3/contact_lists", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["list_id"].as_str().unwrap().to_owned()
    }

    async fn tag(&self, name: &str) -> String {
        let r = self.post("/v3/contact_tags", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["tag_id"].as_str().unwrap().to_owned()
    }

    async fn field(&self, label: &str) -> String {
        let r = self
            .post(
                "/v3/contact_custom_fields",
                json!({"label": label, "type": "string"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["custom_field_id"].as_str().unwrap().to_owned()
    }

    async fn sign_up(&self, email: &str, lists: &[&str]) -> R {
        self.post(
            "/v3/contacts/sign_up_form",
            json!({"email_address": email, "list_memberships": lists}),
        )
        .await
    }

    async fn contact(&self, id: &str) -> Value {
        self.get_ok(&format!(
            "/v3/contacts/{id}?include=list_memberships,custom_fields,taggings"
        ))
        .await
    }

    /// Polls the activity until it completes; returns it.
    async fn wait_activity(&self, id: &str) -> Value {
        let end = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let a = self.get_ok(&format!("/v3/activities/{id}")).await;
            let state = a["state"].as_str().unwrap().to_owned();
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == "completed" {
                for s in &seen {
                    assert!(
                        ["initialized", "processing", "completed"].contains(&s.as_str()),
                        "{seen:?}"
                    );
                }
                return a;
            }
            assert!(Instant::now() < end, "activity {id} stuck: {a}");
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Posts an activity, expects 201 and waits for its completion.
    async fn activity(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status, 201, "POST {path}: {}", r.body);
        assert_eq!(r.body["state"], "initialized");
        assert!(
            r.body["_links"]["self"]["href"]
                .as_str()
                .unwrap()
                .starts_with("/v3/activities/")
        );
        self.wait_activity(r.body["activity_id"].as_str().unwrap())
            .await
    }
}

fn error_key(r: &R) -> &str {
    r.body[0]["error_key"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error array: {}", r.body))
}

fn no_redirects() -> reqwest::Client {
    let _ = client(); // installs the rustls provider
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs the authorize step; returns the redirect's query pairs.
async fn authorize(cc: &Cc, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q = vec![
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "contact_data offline_access"),
        ("state", "st-123"),
    ];
    for (k, v) in extra {
        q.retain(|(k2, _)| k2 != k);
        if !v.is_empty() {
            q.push((k, v));
        }
    }
    let r = no_redirects()
        .get(cc.url("/oauth2/default/v1/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let query = loc.split_once('?').map(|x| x.1).unwrap_or("");
    url_pairs(query)
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ");
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() + 1 {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            (k.to_owned(), String::from_utf8(out).unwrap())
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k2, _)| k2 == k)
        .map(|(_, v)| v.as_str())
}

async fn token(cc: &Cc, form: &[(&str, &str)], secret: &str) -> R {
    cc.send(
        cc.http
            .post(cc.url("/oauth2/default/v1/token"))
            .basic_auth(CLIENT_ID, Some(secret))
            .form(form),
    )
    .await
}

#[tokio::test]
async fn oauth_pkce_and_rotating_refresh_tokens() {
    let cc = Cc::with(ConstantContactConfig {
        rate_limit: None,
        ..Default::default()
    })
    .await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];

    // A wrong verifier fails, and the code is spent.
    let q = authorize(&cc, &pkce).await;
    assert_eq!(param(&q, "state"), Some("st-123"));
    let code = param(&q, "code").unwrap().to_owned();
    let bad = "x".repeat(50);
    let exchange = |code: String, verifier: String| {
        let cc = &cc;
        async move {
            token(
                cc,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ],
                CLIENT_SECRET,
            )
            .await
        }
    };
    let r = exchange(code.clone(), bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "invalid_grant");
    let r = exchange(code, VERIFIER.to_owned()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "invalid_grant");

    // The right verifier and Basic client credentials: tokens.
    let q = authorize(&cc, &pkce).await;
    let code = param(&q, "code").unwrap().to_owned();
    let wrong_secret = token(
        &cc,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        "nope",
    )
    .await;
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(wrong_secret.body["error"], "invalid_client");
    let q = authorize(&cc, &pkce).await;
    let code = param(&q, "code").unwrap().to_owned();
    let r = token(
        &cc,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 86_400);
    assert_eq!(r.body["scope"], "contact_data offline_access");
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let rt1 = r.body["refresh_token"].as_str().unwrap().to_owned();
    let api = |t: String| {
        let cc = &cc;
        async move {
            cc.send(cc.http.get(cc.url("/v3/contact_lists")).bearer_auth(t))
                .await
        }
    };
    assert_eq!(api(access.clone()).await.status, 200);

    // Rotation: a refresh token works once.
    let refresh = |rt: String| {
        let cc = &cc;
        async move {
            token(
                cc,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                CLIENT_SECRET,
            )
            .await
        }
    };
    let r = refresh(rt1.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rt2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(api(access2).await.status, 200);
    let reuse = refresh(rt1).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.body["error"], "invalid_grant");
    let r = refresh(rt2).await;
    assert_eq!(r.status, 200);
    let rt3 = r.body["refresh_token"].as_str().unwrap().to_owned();

    // Expiry: the admin endpoint, then the clock (24 h).
    let st = cc.admin("/_admin/expire_tokens", json!({})).await;
    assert!(st["expired"].as_u64().unwrap() >= 3);
    let r = api(access).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"error_key": "unauthorized", "error_message": "Unauthorized"})
    );
    let r = refresh(rt3).await;
    let fresh = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api(fresh.clone()).await.status, 200);
    cc.emu().clock().advance(86_400 + 1);
    assert_eq!(api(fresh).await.status, 401);

    // Authorize errors go back to the redirect URI.
    let q = authorize(&cc, &[("state", "")]).await;
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    let q = authorize(
        &cc,
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    let q = authorize(&cc, &[("scope", "contact_data bogus_scope")]).await;
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
    let r = no_redirects()
        .get(cc.url("/oauth2/default/v1/authorize"))
        .query(&[("client_id", "unknown"), ("redirect_uri", REDIRECT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A public PKCE client: client_id in the body, no secret.
    let q = authorize(&cc, &pkce).await;
    let code = param(&q, "code").unwrap().to_owned();
    let r = cc
        .send(cc.http.post(cc.url("/oauth2/default/v1/token")).form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        cc.emu().requests().count("POST /oauth2/default/v1/token"),
        9
    );
}

#[tokio::test]
async fn api_needs_a_valid_bearer_token() {
    let cc = Cc::start().await;
    let r = cc.send(cc.http.get(cc.url("/v3/contacts"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"error_key": "unauthorized", "error_message": "Unauthorized"})
    );
    let r = cc
        .send(
            cc.http
                .get(cc.url("/v3/contacts"))
                .bearer_auth("not-a-token"),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error_key"], "unauthorized");
    assert_eq!(cc.get("/v3/contacts").await.status, 200);
    // 401s do not use quota.
    assert_eq!(cc.emu().quota_used(CLIENT_ID), 1);
    assert_eq!(cc.emu().requests().count("GET /v3/contacts"), 3);
    assert_eq!(cc.emu().requests().status_count(401), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_requests_a_second_then_throttled() {
    let cc = Cc::with(ConstantContactConfig {
        daily_quota: None,
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = cc.http.clone();
        let url = cc.url("/v3/contact_lists");
        let token = cc.token.clone();
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status.as_u16() {
            200 => ok += 1,
            429 => {
                throttled += 1;
                assert_eq!(body["error_key"], "throttled", "{body}");
                assert!(body["error_message"].is_string());
                assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
            }
            s => panic!("unexpected status {s}: {body}"),
        }
    }
    // A burst of 4 plus what refilled (4 a second) while the requests were in flight.
    let refill = (started.elapsed().as_secs_f64() * 4.0).ceil() as usize;
    assert!(ok >= 4 && ok <= 4 + refill, "ok={ok} refill={refill}");
    assert_eq!(ok + throttled, 20);
    // Throttled requests do not use quota.
    assert_eq!(cc.emu().quota_used(CLIENT_ID), ok as u64);
}

#[tokio::test]
async fn daily_quota_then_quota_exceeded_until_midnight_utc() {
    let cc = Cc::with(ConstantContactConfig {
        rate_limit: None,
        daily_quota: Some(5),
        ..cfg()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(cc.get("/v3/contact_tags").await.status, 200);
    }
    let r = cc.get("/v3/contact_tags").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error_key"], "quota_exceeded");
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    let st = cc.state().await;
    assert_eq!(st["quota"]["used"][CLIENT_ID], 5);
    assert_eq!(st["quota"]["daily_limit"], 5);
    // NOW is 08:53:20 UTC; the quota resets at the next 00:00 UTC.
    cc.emu().clock().set(NOW - NOW % 86_400 + 86_400 - 2);
    assert_eq!(cc.get("/v3/contact_tags").await.status, 429);
    cc.emu().clock().set(NOW - NOW % 86_400 + 86_400 + 1);
    assert_eq!(cc.get("/v3/contact_tags").await.status, 200);
    // The admin endpoint sets usage (benchmarks start near the limit).
    cc.admin(
        "/_admin/quota",
        json!({"daily_limit": 10_000, "used": 10_000}),
    )
    .await;
    assert_eq!(
        cc.get("/v3/contact_tags").await.body["error_key"],
        "quota_exceeded"
    );
    cc.admin("/_admin/quota", json!({"daily_limit": null}))
        .await;
    assert_eq!(cc.get("/v3/contact_tags").await.status, 200);
}

#[tokio::test]
async fn sign_up_form_creates_updates_and_appends() {
    let cc = Cc::start().await;
    let a = cc.list("Customers").await;
    let b = cc.list("Subscribers").await;
    let plan = cc.field("Plan").await;
    let mrr = cc.field("MRR cents").await;

    let r = cc
        .post(
            "/v3/contacts/sign_up_form",
            json!({
                "email_address": "Ann@Example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "list_memberships": [a],
                "custom_fields": [{"custom_field_id": plan, "value": "basic"}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["action"], "created");
    let id = r.body["contact_id"].as_str().unwrap().to_owned();
    let c = cc.contact(&id).await;
    assert_eq!(c["email_address"]["address"], "Ann@Example.com");
    assert_eq!(c["email_address"]["permission_to_send"], "explicit");
    assert_eq!(c["email_address"]["opt_in_source"], "Contact");
    assert_eq!(c["create_source"], "Contact");
    assert_eq!(c["list_memberships"], json!([a]));

    // Update by email (any case): partial, lists and fields appended.
    cc.emu().clock().advance(60);
    let r = cc
        .post(
            "/v3/contacts/sign_up_form",
            json!({
                "email_address": "ann@example.com",
                "last_name": "Lee-Smith",
                "list_memberships": [b],
                "custom_fields": [
                    {"custom_field_id": plan, "value": "pro"},
                    {"custom_field_id": mrr, "value": "4900"},
                ],
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"contact_id": id, "action": "updated"}));
    let c = cc.contact(&id).await;
    assert_eq!(c["first_name"], "Ann");
    assert_eq!(c["last_name"], "Lee-Smith");
    assert_eq!(c["list_memberships"], json!([a, b]));
    assert_eq!(
        c["custom_fields"],
        json!([{"custom_field_id": plan, "value": "pro"}, {"custom_field_id": mrr, "value": "4900"}])
    );
    assert!(c["updated_at"].as_str().unwrap() > c["created_at"].as_str().unwrap());

    // Without include, no sub-resources.
    let plain = cc.get_ok(&format!("/v3/contacts/{id}")).await;
    assert!(plain.get("list_memberships").is_none());

    // Validation, in Constant Contact's error array.
    let r = cc
        .post(
            "/v3/contacts/sign_up_form",
            json!({"email_address": "x@example.com"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(error_key(&r), "contacts.api.validation.error");
    assert!(r.body[0]["error_message"].is_string());
    let fifty_one: Vec<String> = (0..51).map(|i| i.to_string()).collect();
    let r = cc
        .post(
            "/v3/contacts/sign_up_form",
            json!({"email_address": "x@example.com", "list_memberships": fifty_one}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = cc.sign_up("not-an-email", &[&a]).await;
    assert_eq!(r.status, 400);
    let r = cc
        .sign_up("x@example.com", &["00000000-0000-4000-8000-000000000000"])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(error_key(&r), "contacts.api.not_found");
    let r = cc
        .send(
            cc.http
                .post(cc.url("/v3/contacts/sign_up_form"))
                .bearer_auth(&cc.token)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(r.status, 415);
    let r = cc
        .send(
            cc.http
                .post(cc.url("/v3/contacts/sign_up_form"))
                .bearer_auth(&cc.token)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400);

    // A deleted contact is restored by sign_up_form.
    let r = cc
        .call(Method::DELETE, &format!("/v3/contacts/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    let c = cc.contact(&id).await;
    assert!(c["deleted_at"].is_string());
    assert_eq!(c["list_memberships"], json!([]));
    let r = cc.sign_up("ann@example.com", &[&a]).await;
    assert_eq!(r.status, 200);
    let c = cc.contact(&id).await;
    assert!(c.get("deleted_at").is_none());
    assert_eq!(c["list_memberships"], json!([a]));

    // PUT: full overwrite of top-level fields; update_source required.
    let r = cc
        .put(&format!("/v3/contacts/{id}"), json!({"first_name": "X"}))
        .await;
    assert_eq!(r.status, 400);
    let r = cc
        .put(
            &format!("/v3/contacts/{id}"),
            json!({"update_source": "Account", "email_address": {"address": "ann@example.com"}, "job_title": "CTO"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("first_name").is_none());
    assert!(r.body.get("last_name").is_none());
    assert_eq!(r.body["job_title"], "CTO");
    assert_eq!(
        r.body["list_memberships"],
        json!([a]),
        "sub-resources are kept"
    );
    assert_eq!(r.body["update_source"], "Account");
    let r = cc.get("/v3/contacts/not-a-uuid").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_contact_who_unsubscribed_is_never_resubscribed() {
    let cc = Cc::start().await;
    let a = cc.list("Customers").await;
    let b = cc.list("VIP").await;
    let r = cc.sign_up("bob@example.com", &[&a]).await;
    let id = r.body["contact_id"].as_str().unwrap().to_owned();
    cc.emu().clock().advance(10);
    let unsub = cc
        .admin(
            "/_admin/contacts/bob@example.com/unsubscribe",
            json!({"reason": "too many emails"}),
        )
        .await;
    assert_eq!(unsub["permission_to_send"], "unsubscribed");
    assert_eq!(unsub["opt_out_source"], "Contact");
    let c = cc.contact(&id).await;
    assert_eq!(c["email_address"]["permission_to_send"], "unsubscribed");
    assert_eq!(c["email_address"]["opt_out_source"], "Contact");
    assert_eq!(c["email_address"]["opt_out_reason"], "too many emails");
    assert!(c["email_address"]["opt_out_date"].is_string());
    assert_eq!(c["list_memberships"], json!([]));

    // sign_up_form: 200, but still unsubscribed and on no list.
    cc.emu().clock().advance(10);
    let r = cc.sign_up("bob@example.com", &[&a, &b]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["action"], "updated");
    let c = cc.contact(&id).await;
    assert_eq!(c["email_address"]["permission_to_send"], "unsubscribed");
    assert_eq!(c["email_address"]["opt_out_source"], "Contact");
    assert_eq!(c["list_memberships"], json!([]));

    // PUT by the account: still unsubscribed.
    let r = cc
        .put(
            &format!("/v3/contacts/{id}"),
            json!({
                "update_source": "Account",
                "email_address": {"address": "bob@example.com", "permission_to_send": "explicit"},
                "list_memberships": [a],
            }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["email_address"]["permission_to_send"],
        "unsubscribed"
    );
    assert_eq!(r.body["list_memberships"], json!([]));

    // A JSON import: counted as cannot-add-to-list, still unsubscribed.
    let act = cc
        .activity(
            "/v3/activities/contacts_json_import",
            json!({"import_data": [{"email": "bob@example.com", "first_name": "Bob"}], "list_ids": [a]}),
        )
        .await;
    assert_eq!(act["status"]["cannot_add_to_list_count"], 1);
    let c = cc.contact(&id).await;
    assert_eq!(c["email_address"]["permission_to_send"], "unsubscribed");
    assert_eq!(c["first_name"], "Bob");
    assert_eq!(c["list_memberships"], json!([]));

    // The unsubscribe is visible to the poll paysync uses.
    let before = "2025-10-09T08:53:00Z";
    let page = cc
        .get_ok(&format!(
            "/v3/contacts?status=unsubscribed&optout_after={before}"
        ))
        .await;
    assert_eq!(page["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(page["contacts"][0]["contact_id"], id.as_str());
    let later = "2025-10-09T09:00:00Z";
    let page = cc
        .get_ok(&format!(
            "/v3/contacts?status=unsubscribed&optout_after={later}"
        ))
        .await;
    assert_eq!(page["contacts"], json!([]));

    let st = cc.state().await;
    assert_eq!(st["consent"]["resubscribed_self_unsubscribed"], 0);
    assert_eq!(st["consent"]["resubscribed"], json!([]));
    let vias: Vec<&str> = st["consent"]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["via"].as_str().unwrap())
        .collect();
    assert_eq!(vias, ["sign_up_form", "put", "put", "contacts_json_import"]);

    // An opt-out by the account can be reversed by the account.
    let r = cc.sign_up("carol@example.com", &[&a]).await;
    let carol = r.body["contact_id"].as_str().unwrap().to_owned();
    let r = cc
        .put(
            &format!("/v3/contacts/{carol}"),
            json!({"update_source": "Account", "email_address": {"address": "carol@example.com", "permission_to_send": "unsubscribed"}}),
        )
        .await;
    assert_eq!(r.body["email_address"]["opt_out_source"], "Account");
    cc.sign_up("carol@example.com", &[&a]).await;
    let c = cc.contact(&carol).await;
    assert_eq!(c["email_address"]["permission_to_send"], "explicit");
    assert_eq!(c["list_memberships"], json!([a]));
}

#[tokio::test]
async fn documented_sign_up_form_resubscription_is_available_and_logged() {
    let cc = Cc::with(ConstantContactConfig {
        sign_up_form_resubscribes: true,
        ..cfg()
    })
    .await;
    let a = cc.list("L").await;
    cc.sign_up("dan@example.com", &[&a]).await;
    assert!(cc.emu().unsubscribe_contact("dan@example.com", None));
    cc.sign_up("dan@example.com", &[&a]).await;
    let c = cc.emu().contact_by_email("dan@example.com").unwrap();
    assert_eq!(c["permission_to_send"], "explicit");
    let st = cc.state().await;
    assert_eq!(st["consent"]["resubscribed_self_unsubscribed"], 1);
}

#[tokio::test]
async fn contacts_collection_filters_and_cursor_pages() {
    let cc = Cc::start().await;
    let a = cc.list("A").await;
    let b = cc.list("B").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        cc.emu().clock().advance(60);
        let l = if i % 2 == 0 { &a } else { &b };
        let r = cc.sign_up(&format!("p{i}@example.com"), &[l]).await;
        ids.push(r.body["contact_id"].as_str().unwrap().to_owned());
    }
    // Pages of 3 via _links.next.
    let mut seen = Vec::new();
    let mut path = "/v3/contacts?limit=3&include=list_memberships".to_owned();
    let mut pages = 0;
    loop {
        let page = cc.get_ok(&path).await;
        pages += 1;
        for c in page["contacts"].as_array().unwrap() {
            assert!(c["list_memberships"].is_array());
            seen.push(c["contact_id"].as_str().unwrap().to_owned());
        }
        match page["_links"]["next"]["href"].as_str() {
            Some(next) => {
                assert!(next.starts_with("/v3/contacts?cursor="), "{next}");
                path = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    let page = cc.get_ok("/v3/contacts?email=P3@example.com").await;
    assert_eq!(page["contacts"][0]["contact_id"], ids[3].as_str());
    let page = cc
        .get_ok(&format!("/v3/contacts?lists={a}&include_count=true"))
        .await;
    assert_eq!(page["contacts_count"], 4);
    // updated_after: the last two sign-ups (a minute apart, from NOW + 60 s = 08:54:20).
    let t = "2025-10-09T08:59:00.000Z";
    let page = cc.get_ok(&format!("/v3/contacts?updated_after={t}")).await;
    let got: Vec<&str> = page["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contact_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[5].as_str(), ids[6].as_str()]);
    // The Python client's datetime format.
    let page = cc
        .get_ok("/v3/contacts?updated_after=2025-10-09T08%3A59%3A00.000000%2B0000")
        .await;
    assert_eq!(page["contacts"].as_array().unwrap().len(), 2);

    // Deleted contacts only with status=deleted|all.
    cc.call(Method::DELETE, &format!("/v3/contacts/{}", ids[0]), None)
        .await;
    assert_eq!(
        cc.get_ok("/v3/contacts?limit=500").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        cc.get_ok("/v3/contacts?status=deleted").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        cc.get_ok("/v3/contacts?status=all").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        cc.get_ok("/v3/contacts?status=active").await["contacts"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    for bad in [
        "limit=0",
        "limit=501",
        "status=nope",
        "include=nope",
        "updated_after=yesterday",
        "cursor=%21%21",
    ] {
        let r = cc.get(&format!("/v3/contacts?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.is_array(), "{bad}");
    }
}

#[tokio::test]
async fn lists_tags_and_custom_fields() {
    let cc = Cc::start().await;
    let a = cc.list("Customers").await;
    let r = cc
        .post("/v3/contact_lists", json!({"name": "customers"}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(error_key(&r), "contacts.api.conflict");
    let r = cc.post("/v3/contact_lists", json!({})).await;
    assert_eq!(r.status, 400);
    cc.list("Leads").await;
    cc.sign_up("e@example.com", &[&a]).await;
    let page = cc
        .get_ok("/v3/contact_lists?include_count=true&include_membership_count=all")
        .await;
    assert_eq!(page["lists_count"], 2);
    assert_eq!(page["lists"][0]["name"], "Customers");
    assert_eq!(page["lists"][0]["membership_count"], 1);
    assert_eq!(page["lists"][1]["membership_count"], 0);
    let page = cc.get_ok("/v3/contact_lists?limit=1").await;
    let next = page["_links"]["next"]["href"].as_str().unwrap();
    assert_eq!(cc.get_ok(next).await["lists"][0]["name"], "Leads");

    let t = cc.tag("paid").await;
    let r = cc.post("/v3/contact_tags", json!({"name": "Paid"})).await;
    assert_eq!(r.status, 409);
    let tags = cc.get_ok("/v3/contact_tags?include_count=true").await;
    assert_eq!(tags["tags"][0]["tag_id"], t.as_str());
    assert_eq!(tags["tags"][0]["contacts_count"], 0);

    let f = cc.field("Plan name").await;
    let fields = cc.get_ok("/v3/contact_custom_fields").await;
    assert_eq!(fields["custom_fields"][0]["custom_field_id"], f.as_str());
    assert_eq!(fields["custom_fields"][0]["name"], "Plan_name");
    assert_eq!(fields["custom_fields"][0]["label"], "Plan name");
    let r = cc
        .post(
            "/v3/contact_custom_fields",
            json!({"label": "Plan name", "type": "string"}),
        )
        .await;
    assert_eq!(r.status, 409);
    // 100 per account.
    for i in 1..100 {
        cc.field(&format!("f{i}")).await;
    }
    let r = cc
        .post(
            "/v3/contact_custom_fields",
            json!({"label": "one too many", "type": "string"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn json_import_completes_asynchronously_with_custom_fields() {
    let cc = Cc::start().await;
    let a = cc.list("Customers").await;
    cc.field("Plan").await;
    let r = cc
        .post(
            "/v3/activities/contacts_json_import",
            json!({
                "import_data": [
                    {"email": "i1@example.com", "first_name": "One", "cf:Plan": "pro", "cf:Missing": "x"},
                    {"email": "i2@example.com", "last_name": "Two", "cf:plan": "basic", "phone": "555-0100"},
                    {"email": "not-an-email"},
                ],
                "list_ids": [a],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["state"], "initialized");
    assert_eq!(r.body["status"]["items_total_count"], 3);
    let id = r.body["activity_id"].as_str().unwrap().to_owned();
    // Nothing is applied before completion.
    assert!(cc.emu().contact_by_email("i1@example.com").is_none());
    let act = cc.wait_activity(&id).await;
    assert_eq!(act["percent_done"], 100);
    assert!(act["started_at"].is_string() && act["completed_at"].is_string());
    assert_eq!(act["status"]["person_count"], 2);
    assert_eq!(act["status"]["correctable_count"], 1);
    assert_eq!(act["status"]["items_completed_count"], 3);
    let errors = act["activity_errors"].to_string();
    assert!(errors.contains("cf:Missing"), "{errors}");

    let c1 = cc.emu().contact_by_email("i1@example.com").unwrap();
    assert_eq!(c1["permission_to_send"], "implicit");
    assert_eq!(c1["opt_in_source"], "Account");
    assert_eq!(c1["create_source"], "Account");
    assert_eq!(c1["lists"], json!(["Customers"]));
    assert_eq!(c1["custom_fields"], json!({"Plan": "pro"}));
    let c2 = cc.emu().contact_by_email("i2@example.com").unwrap();
    assert_eq!(c2["custom_fields"], json!({"Plan": "basic"}));
    let id2 = c2["contact_id"].as_str().unwrap();
    let full = cc
        .get_ok(&format!("/v3/contacts/{id2}?include=phone_numbers"))
        .await;
    assert_eq!(full["phone_numbers"][0]["phone_number"], "555-0100");
    assert_eq!(full["phone_numbers"][0]["kind"], "other");

    // Re-importing updates only the given properties and keeps the permission.
    cc.activity(
        "/v3/activities/contacts_json_import",
        json!({"import_data": [{"email": "I1@example.com", "last_name": "Uno"}], "list_ids": [a]}),
    )
    .await;
    let c1 = cc.emu().contact_by_email("i1@example.com").unwrap();
    assert_eq!(c1["first_name"], "One");
    assert_eq!(c1["last_name"], "Uno");

    // More than 25 custom fields on one contact: the first 25 are kept.
    let mut row = serde_json::Map::new();
    row.insert("email".into(), json!("many@example.com"));
    for i in 0..26 {
        cc.field(&format!("x{i}")).await;
        row.insert(format!("cf:x{i}"), json!(format!("v{i}")));
    }
    let act = cc
        .activity(
            "/v3/activities/contacts_json_import",
            json!({"import_data": [row], "list_ids": [a]}),
        )
        .await;
    assert!(act["activity_errors"].to_string().contains("25"), "{act}");
    let many = cc.emu().contact_by_email("many@example.com").unwrap();
    assert_eq!(many["custom_fields"].as_object().unwrap().len(), 25);

    // Request validation.
    for body in [
        json!({"import_data": [{"email": "a@example.com"}], "list_ids": []}),
        json!({"import_data": [{"email": "a@example.com"}]}),
        json!({"import_data": [], "list_ids": [a]}),
        json!({"list_ids": [a]}),
        json!({"import_data": [{"email": 5}], "list_ids": [a]}),
        json!({"import_data": [{"email": "a@example.com"}], "list_ids": (0..51).map(|i| i.to_string()).collect::<Vec<_>>()}),
    ] {
        let r = cc
            .post("/v3/activities/contacts_json_import", body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    let r = cc
        .post(
            "/v3/activities/contacts_json_import",
            json!({"import_data": [{"email": "a@example.com"}], "list_ids": ["00000000-0000-4000-8000-000000000000"]}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = cc
        .get("/v3/activities/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(r.status, 404);

    let all = cc.get_ok("/v3/activities?state=completed").await;
    assert_eq!(all["activities"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn json_import_drops_what_exceeds_the_limits() {
    let cc = Cc::with(ConstantContactConfig {
        import_max_contacts: 3,
        import_max_bytes: 400,
        ..cfg()
    })
    .await;
    let a = cc.list("L").await;
    let rows: Vec<Value> = (0..5)
        .map(|i| json!({"email": format!("r{i}@example.com")}))
        .collect();
    let act = cc
        .activity(
            "/v3/activities/contacts_json_import",
            json!({"import_data": rows, "list_ids": [a]}),
        )
        .await;
    assert_eq!(act["status"]["items_total_count"], 3);
    assert_eq!(act["status"]["person_count"], 3);
    assert!(cc.emu().contact_by_email("r3@example.com").is_none());
    let st = cc.state().await;
    assert_eq!(st["activities"][0]["dropped_rows"], 2);

    // The 4 MB rule (here 400 bytes): rows that end beyond it are dropped silently.
    let long = "x".repeat(40);
    let rows: Vec<Value> = (0..3)
        .map(|i| json!({"email": format!("b{i}@example.com"), "first_name": long, "last_name": long}))
        .collect();
    let body = json!({"list_ids": [a], "import_data": rows});
    let text = body.to_string();
    assert!(text.len() > 400 && text.len() < 600, "{}", text.len());
    let act = cc
        .activity("/v3/activities/contacts_json_import", body)
        .await;
    let kept = act["status"]["items_total_count"].as_u64().unwrap();
    assert!((1..3).contains(&kept), "{act}");
    assert!(cc.emu().contact_by_email("b0@example.com").is_some());
    assert!(cc.emu().contact_by_email("b2@example.com").is_none());
}

#[tokio::test]
async fn too_many_queued_activities_is_429() {
    let cc = Cc::with(ConstantContactConfig {
        max_queued_activities: 2,
        activities: ActivityTiming {
            initialized_ms: 60_000,
            processing_ms: 60_000,
            per_item_us: 0,
        },
        ..cfg()
    })
    .await;
    let a = cc.list("L").await;
    let body = json!({"import_data": [{"email": "q@example.com"}], "list_ids": [a]});
    for _ in 0..2 {
        assert_eq!(
            cc.post("/v3/activities/contacts_json_import", body.clone())
                .await
                .status,
            201
        );
    }
    let r = cc
        .post("/v3/activities/contacts_json_import", body.clone())
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(error_key(&r), "activities.api.queue.full");
    cc.admin("/_admin/activities/flush", json!({})).await;
    assert!(cc.emu().wait_activities_idle(Duration::from_secs(1)).await);
    assert_eq!(
        cc.post("/v3/activities/contacts_json_import", body)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn taggings_add_and_remove() {
    let cc = Cc::start().await;
    let a = cc.list("A").await;
    let paid = cc.tag("paid").await;
    let churned = cc.tag("churned").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = cc.sign_up(&format!("t{i}@example.com"), &[&a]).await;
        ids.push(r.body["contact_id"].as_str().unwrap().to_owned());
    }
    let act = cc
        .activity(
            "/v3/activities/contacts_taggings_add",
            json!({"source": {"contact_ids": ids}, "tag_ids": [paid, churned]}),
        )
        .await;
    assert_eq!(act["status"]["items_total_count"], 3);
    assert_eq!(act["status"]["items_completed_count"], 3);
    for id in &ids {
        assert_eq!(cc.contact(id).await["taggings"], json!([paid, churned]));
    }
    let page = cc.get_ok(&format!("/v3/contacts?tags={churned}")).await;
    assert_eq!(page["contacts"].as_array().unwrap().len(), 3);

    cc.activity(
        "/v3/activities/contacts_taggings_remove",
        json!({"source": {"contact_ids": [ids[0]]}, "tag_ids": [churned]}),
    )
    .await;
    assert_eq!(cc.contact(&ids[0]).await["taggings"], json!([paid]));
    assert_eq!(
        cc.contact(&ids[1]).await["taggings"],
        json!([paid, churned])
    );
    // By list, excluding one contact.
    cc.activity(
        "/v3/activities/contacts_taggings_remove",
        json!({"source": {"list_ids": [a]}, "exclude": {"contact_ids": [ids[2]]}, "tag_ids": [paid]}),
    )
    .await;
    assert_eq!(cc.contact(&ids[1]).await["taggings"], json!([churned]));
    assert_eq!(
        cc.contact(&ids[2]).await["taggings"],
        json!([paid, churned])
    );
    let tags = cc.get_ok("/v3/contact_tags?include_count=true").await;
    assert_eq!(tags["tags"][0]["contacts_count"], 1);

    // Limits: 50 tag ids, 500 contact ids; unknown tags.
    let fifty_one: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let r = cc
        .post(
            "/v3/activities/contacts_taggings_add",
            json!({"source": {"contact_ids": [ids[0]]}, "tag_ids": fifty_one}),
        )
        .await;
    assert_eq!(r.status, 400);
    let many: Vec<String> = (0..501).map(|i| format!("c{i}")).collect();
    let r = cc
        .post(
            "/v3/activities/contacts_taggings_add",
            json!({"source": {"contact_ids": many}, "tag_ids": [paid]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = cc
        .post("/v3/activities/contacts_taggings_add", json!({"source": {"contact_ids": [ids[0]]}, "tag_ids": ["00000000-0000-4000-8000-000000000000"]}))
        .await;
    assert_eq!(r.status, 404);
    let r = cc
        .post(
            "/v3/activities/contacts_taggings_add",
            json!({"source": {"contact_ids": [ids[0]], "list_ids": [a]}, "tag_ids": [paid]}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn list_membership_removal_and_bulk_delete() {
    let cc = Cc::start().await;
    let a = cc.list("A").await;
    let b = cc.list("B").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = cc.sign_up(&format!("m{i}@example.com"), &[&a, &b]).await;
        ids.push(r.body["contact_id"].as_str().unwrap().to_owned());
    }
    let act = cc
        .activity(
            "/v3/activities/remove_list_memberships",
            json!({"source": {"contact_ids": [ids[0]]}, "list_ids": [a]}),
        )
        .await;
    assert_eq!(act["status"]["list_count"], 1);
    assert_eq!(act["status"]["items_completed_count"], 1);
    assert_eq!(cc.contact(&ids[0]).await["list_memberships"], json!([b]));
    assert_eq!(cc.contact(&ids[1]).await["list_memberships"], json!([a, b]));
    cc.activity(
        "/v3/activities/remove_list_memberships",
        json!({"source": {"list_ids": [a]}, "list_ids": [b]}),
    )
    .await;
    assert_eq!(cc.contact(&ids[1]).await["list_memberships"], json!([a]));
    assert_eq!(
        cc.contact(&ids[0]).await["list_memberships"],
        json!([b]),
        "not on A: untouched"
    );
    let many: Vec<String> = (0..501).map(|i| format!("c{i}")).collect();
    let r = cc
        .post(
            "/v3/activities/remove_list_memberships",
            json!({"source": {"contact_ids": many}, "list_ids": [a]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = cc
        .post(
            "/v3/activities/remove_list_memberships",
            json!({"source": {"contact_ids": [ids[0]]}}),
        )
        .await;
    assert_eq!(r.status, 400);

    let act = cc
        .activity(
            "/v3/activities/contact_delete",
            json!({"contact_ids": [ids[2]]}),
        )
        .await;
    assert_eq!(act["status"]["items_completed_count"], 1);
    let c = cc.contact(&ids[2]).await;
    assert!(c["deleted_at"].is_string());
    let r = cc
        .post(
            "/v3/activities/contact_delete",
            json!({"contact_ids": [ids[0]], "list_ids": [a]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = cc
        .post(
            "/v3/activities/contact_delete",
            json!({"contact_ids": many}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn state_dump_reset_and_faults() {
    let cc = Cc::start().await;
    let a = cc.list("Customers").await;
    let t = cc.tag("paid").await;
    let f = cc.field("Plan").await;
    let r = cc
        .post(
            "/v3/contacts/sign_up_form",
            json!({"email_address": "s@example.com", "list_memberships": [a], "custom_fields": [{"custom_field_id": f, "value": "pro"}]}),
        )
        .await;
    let id = r.body["contact_id"].as_str().unwrap().to_owned();
    cc.activity(
        "/v3/activities/contacts_taggings_add",
        json!({"source": {"contact_ids": [id]}, "tag_ids": [t]}),
    )
    .await;
    let st = cc.state().await;
    let c = &st["contacts"][0];
    assert_eq!(c["email"], "s@example.com");
    assert_eq!(c["status"], "explicit");
    assert_eq!(c["permission_to_send"], "explicit");
    assert_eq!(c["opt_in_source"], "Contact");
    assert_eq!(c["opt_out_source"], Value::Null);
    assert_eq!(c["lists"], json!(["Customers"]));
    assert_eq!(c["list_ids"], json!([a]));
    assert_eq!(c["tags"], json!(["paid"]));
    assert_eq!(c["custom_fields"], json!({"Plan": "pro"}));
    assert_eq!(st["lists"][0]["membership_count"], 1);
    assert_eq!(st["tags"][0]["contacts_count"], 1);
    assert_eq!(st["custom_fields"][0]["name"], "Plan");
    assert_eq!(st["activities"][0]["type"], "contacts_taggings_add");
    assert_eq!(st["activities"][0]["state"], "completed");
    assert_eq!(st["counts"]["by_status"]["explicit"], 1);
    assert!(st["quota"]["total_used"].as_u64().unwrap() >= 5);
    assert_eq!(
        st["requests"]["by_endpoint"]["POST /v3/contacts/sign_up_form"],
        1
    );
    assert_eq!(
        st["requests"]["by_endpoint"]["POST /v3/activities/contacts_taggings_add"],
        1
    );
    assert!(
        st["requests"]["by_endpoint"]["GET /v3/activities/{activity_id}"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(cc.emu().requests().count("POST /v3/contact_lists"), 1);
    let light = cc
        .send(cc.http.get(cc.url("/_admin/state?contacts=false")))
        .await;
    assert!(light.body.get("contacts").is_none());

    // Faults: an outage is 503 with the error array; throttling is the throttled body.
    cc.admin("/_admin/faults", json!({"outage": true})).await;
    let r = cc.get("/v3/contacts").await;
    assert_eq!(r.status, 503);
    assert_eq!(error_key(&r), "service.unavailable");
    cc.admin("/_admin/faults", json!({"throttle_rate": 1.0}))
        .await;
    let r = cc.get("/v3/contacts").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error_key"], "throttled");
    cc.admin(
        "/_admin/faults",
        json!({"error_rate": 1.0, "error_status": 500}),
    )
    .await;
    assert_eq!(cc.get("/v3/contacts").await.status, 500);
    cc.admin("/_admin/faults", json!({})).await;
    assert_eq!(cc.get("/v3/contacts").await.status, 200);

    // Clock.
    let clock = cc.admin("/_admin/clock", json!({"advance": 3600})).await;
    let now = clock["now"].as_i64().unwrap();
    assert!((NOW + 3600..NOW + 3610).contains(&now), "{clock}");

    // Reset empties the account; the token still works.
    cc.admin("/_admin/reset", json!({})).await;
    let st = cc.state().await;
    assert_eq!(st["contacts"], json!([]));
    assert_eq!(st["lists"], json!([]));
    assert_eq!(st["requests"]["total"], 0);
    assert_eq!(cc.get("/v3/contacts").await.status, 200);
    cc.admin("/_admin/reset", json!({"tokens": true})).await;
    assert_eq!(cc.get("/v3/contacts").await.status, 401);
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_contacts_own_python_client_drives_the_emulator() {
    // The documented limits, as the real service applies them: the script must pace itself.
    let cc = Cc::with(ConstantContactConfig {
        activities: ActivityTiming {
            initialized_ms: 100,
            processing_ms: 300,
            per_item_us: 0,
        },
        ..Default::default()
    })
    .await;
    let python = std::env::var_os("PAYSYNC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run ./scripts/test.sh (it creates the Python venv with the vendor SDKs)",
        python.display()
    );
    let script = repo_root().join("scripts/contract/constant_contact.py");
    let base = cc.h.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
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
    assert!(stdout.contains("passed"), "{stdout}");
    let emu = cc.emu();
    assert!(emu.requests().count("POST /oauth2/default/v1/token") >= 2);
    assert!(emu.requests().count("POST /v3/contacts/sign_up_form") >= 1);
    assert!(
        emu.requests()
            .count("POST /v3/activities/contacts_json_import")
            >= 1
    );
    let st = cc.state().await;
    assert_eq!(st["consent"]["resubscribed_self_unsubscribed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_import_at_the_documented_limits() {
    let cc = Cc::start().await;
    let a = cc.list("Backfill").await;
    cc.field("Plan").await;
    // 40,001 contacts (about 2.5 MB): the 40,001st is dropped.
    let rows: Vec<Value> = (0..40_001)
        .map(|i| json!({"email": format!("c{i}@example.com"), "cf:Plan": "pro"}))
        .collect();
    let started = Instant::now();
    let act = cc
        .activity(
            "/v3/activities/contacts_json_import",
            json!({"import_data": rows, "list_ids": [a]}),
        )
        .await;
    assert_eq!(act["status"]["items_total_count"], 40_000);
    assert_eq!(act["status"]["person_count"], 40_000);
    assert!(cc.emu().contact_by_email("c39999@example.com").is_some());
    assert!(cc.emu().contact_by_email("c40000@example.com").is_none());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let page = cc
        .get_ok(&format!(
            "/v3/contacts?lists={a}&limit=500&include_count=true"
        ))
        .await;
    assert_eq!(page["contacts"].as_array().unwrap().len(), 500);
    assert_eq!(page["contacts_count"], 40_000);

    // Over 4 MB: only the rows that end within the first 4 MB are imported.
    let name = "n".repeat(50);
    let rows: Vec<Value> = (0..30_000)
        .map(|i| json!({"email": format!("big{i}@example.com"), "first_name": name, "last_name": name}))
        .collect();
    // Where each row ends in the body as sent (`{"import_data":[row,row,…],"list_ids":[…]}`).
    let mut end = r#"{"import_data":["#.len();
    let mut expect = 0;
    for r in &rows {
        end += r.to_string().len();
        if end <= 4 * 1024 * 1024 {
            expect += 1;
        }
        end += 1;
    }
    let body = json!({"import_data": rows, "list_ids": [a]});
    let size = body.to_string().len();
    assert!(size > 4 * 1024 * 1024, "{size}");
    assert!(body.to_string().starts_with(r#"{"import_data":[{"#));
    let act = cc
        .activity("/v3/activities/contacts_json_import", body)
        .await;
    let kept = act["status"]["items_total_count"].as_u64().unwrap() as usize;
    assert_eq!(kept, expect);
    assert!(
        cc.emu()
            .contact_by_email(&format!("big{}@example.com", kept - 1))
            .is_some()
    );
    assert!(
        cc.emu()
            .contact_by_email(&format!("big{kept}@example.com"))
            .is_none()
    );
}
