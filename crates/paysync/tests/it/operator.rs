//! The operator surface over real HTTP: every operator route refuses requests without
//! authentication or, for a session, without its CSRF token; logins are throttled; the
//! management API connects destinations (credentials checked live, Constant Contact through its
//! OAuth flow against the emulator) and syncs that then deliver, and the secrets entered through
//! it are nowhere in the database in clear text.

use std::time::Duration;

use paysync_emulators::EmulatorHandle;
use paysync_emulators::constant_contact::{
    ConstantContactConfig, OAuthClient, serve_constant_contact,
};
use paysync_emulators::mailchimp::{MailchimpConfig, MailchimpEmulator, serve_mailchimp};
use serde_json::{Value, json};

use crate::delivery::SECRET;
use crate::harness::*;

pub(crate) const API_TOKEN: &str = "operator-api-token-0123456789";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
const MC_KEY: &str = "dashboardentered5a7c9e-us1";
const MC_HOOK: &str = "dashboard-entered-hook-secret-3d1f";
const CC_CLIENT_SECRET: &str = "dashboard-entered-cc-secret-8b2e";

/// paysync with one account, an API token, an administrator `ada` and a master key.
pub(crate) fn operator_paysync(stripe_api: &str) -> Paysync {
    let paysync = Paysync::one_account(stripe_api, SECRET, "");
    paysync.set_env("PAYSYNC_SERVER__API_TOKEN", "env:TEST_API_TOKEN");
    paysync.set_env("TEST_API_TOKEN", API_TOKEN);
    paysync.set_env("PAYSYNC_MASTER_KEY", &"cd".repeat(32));
    paysync.set_env("PAYSYNC_ADMIN_PASSWORD", PASSWORD);
    paysync.run(&["admin", "add", "--username", "ada"]);
    paysync
}

/// A Mailchimp emulator that takes only `key`, with one audience; its id.
pub(crate) fn mailchimp_taking(
    rt: &tokio::runtime::Runtime,
    key: &str,
) -> (EmulatorHandle<MailchimpEmulator>, String) {
    let mc = rt
        .block_on(serve_mailchimp(MailchimpConfig {
            api_keys: vec![key.into()],
            batch_delay_ms: 50,
            ..MailchimpConfig::default()
        }))
        .expect("mailchimp emulator");
    let audience = mc.emulator.create_list("Customers");
    (mc, audience)
}

/// Signs in; the session cookie (`name=value`) and the page's CSRF token.
fn sign_in(paysync: &Paysync, client: &http::Client) -> (String, String) {
    let login = client
        .post(paysync.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=ada&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .expect("login");
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.header("location"), Some("/"));
    let set_cookie = login.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = client
        .get(paysync.url("/"))
        .header("cookie", &cookie)
        .send()
        .expect("dashboard");
    assert_eq!(page.status, 200);
    let csrf = page
        .body
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF token")
        .to_owned();
    (cookie, csrf)
}

/// Every operation of the OpenAPI document, with `{name}` filled in.
fn documented_operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../../server/openapi.json")).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let path = path.replace("{name}", "x").replace("{account}", "main");
            out.push((method.to_uppercase(), path));
        }
    }
    out
}

#[test]
fn every_operator_route_refuses_requests_without_auth_or_csrf() {
    let paysync = operator_paysync("http://127.0.0.1:9");
    let _server = paysync.serve();
    let client = http::no_redirects();
    let mut operations = documented_operations();
    assert!(operations.len() >= 16, "{operations:?}");
    operations.extend(
        [("GET", "/status"), ("GET", "/metrics"), ("POST", "/logout")]
            .map(|(m, p)| (m.to_owned(), p.to_owned())),
    );
    let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let mut request = client
            .request(method, paysync.url(path))
            .header("content-type", "application/json");
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let body = if method == "GET" { "" } else { "{}" };
        request.body(body).send().expect("request")
    };
    for (method, path) in &operations {
        for headers in [
            &[][..],
            &[("authorization", "Bearer wrong-token-0123456789")][..],
            &[("cookie", "paysync_session=forged")][..],
        ] {
            let r = send(method, path, headers);
            assert_eq!(
                r.status, 401,
                "{method} {path} with {headers:?}: {}",
                r.body
            );
        }
    }
    // The dashboard sends strangers to the login page.
    let page = send("GET", "/", &[]);
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );

    // Five wrong passwords lock a username; the address is not locked for the others yet.
    let login = |user: &str, password: &str| {
        client
            .post(paysync.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username={user}&password={password}"))
            .send()
            .expect("login")
    };
    for _ in 0..5 {
        assert_eq!(login("eve", "guess").status, 401);
    }
    let locked = login("eve", "guess");
    assert_eq!(locked.status, 429);
    assert!(locked.header("retry-after").is_some());
    assert_eq!(login("ada", "wrong").status, 401);
    // A login form posted from another site is refused, right password or not.
    let forged = client
        .post(paysync.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(format!(
            "username=ada&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .expect("login");
    assert_eq!(forged.status, 403);
    assert!(forged.header("set-cookie").is_none());

    let (cookie, csrf) = sign_in(&paysync, &client);
    for (method, path) in &operations {
        if method == "GET" {
            continue;
        }
        for headers in [
            &[("cookie", cookie.as_str())][..],
            &[("cookie", cookie.as_str()), ("x-csrf-token", "forged")][..],
        ] {
            let r = send(method, path, headers);
            assert_eq!(
                r.status, 403,
                "{method} {path} with {headers:?}: {}",
                r.body
            );
            assert_eq!(r.json()["error"]["code"], "bad_csrf");
        }
    }
    // With the session and its token, the same requests go through.
    let session = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    assert_eq!(send("GET", "/api/v1/overview", &session[..1]).status, 200);
    let bearer = format!("Bearer {API_TOKEN}");
    assert_eq!(
        send("GET", "/api/v1/overview", &[("authorization", &bearer)]).status,
        200
    );
    let replay = send("POST", "/api/v1/dead-letters/replay", &session);
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(send("POST", "/logout", &session).status, 204);
    assert_eq!(send("GET", "/api/v1/overview", &session[..1]).status, 401);
    let log = paysync.serve_log();
    assert!(log.contains("operator request refused"), "{log}");
    assert!(!log.contains(PASSWORD) && !log.contains(API_TOKEN));
}

#[test]
fn the_api_connects_destinations_and_syncs_that_deliver_with_secrets_sealed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mc, audience) = mailchimp_taking(&rt, MC_KEY);
    let cc_client = OAuthClient {
        client_secret: CC_CLIENT_SECRET.into(),
        ..OAuthClient::default()
    };
    let cc = rt
        .block_on(serve_constant_contact(ConstantContactConfig {
            clients: vec![cc_client.clone()],
            ..ConstantContactConfig::default()
        }))
        .expect("constant contact emulator");
    let stripe = Localstripe::start();
    let paysync = operator_paysync(&stripe.url);
    let _server = paysync.serve();
    let client = http::no_redirects();
    let bearer = format!("Bearer {API_TOKEN}");
    let call = |method: &str, path: &str, body: Value| {
        client
            .request(method, paysync.url(path))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("management request")
    };
    let mailchimp = |key: &str| {
        json!({"kind": "mailchimp", "name": "mc", "api_key": key, "list_id": audience,
               "api_base": format!("{}/3.0", mc.url()), "webhook_secret": MC_HOOK})
    };

    // A key the vendor refuses is reported and nothing is saved.
    let refused = call("POST", "/api/v1/destinations", mailchimp("wrong-us1"));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "refused_by_destination");
    let invalid = call(
        "POST",
        "/api/v1/destinations",
        json!({"kind": "mailchimp", "name": "Bad Name", "api_key": MC_KEY, "list_id": ""}),
    );
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert!(
        invalid.json()["error"]["problems"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    let connected = call("POST", "/api/v1/destinations", mailchimp(MC_KEY));
    assert_eq!(connected.status, 201, "{}", connected.body);
    assert_eq!(
        call("POST", "/api/v1/destinations", mailchimp(MC_KEY)).status,
        409
    );

    // A sync with a segment: the preview counts its members, then it delivers.
    let sync = json!({"name": "to-mc", "destination": "mc", "coalesce_ms": 200,
        "segments": [{"name": "Paying", "tag": "paying", "rule": {"charged": {}}}]});
    let saved = call("PUT", "/api/v1/syncs/to-mc", sync.clone());
    assert_eq!(saved.status, 201, "{}", saved.body);
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(12, Some((&hook, SECRET)), paysync.dir.path());
    // localstripe sends no webhook for some objects (charges among them): history comes from
    // the backfill, as it would for a newly connected account.
    paysync.run(&["backfill", "--all"]);
    let paying = paying_customer(&manifest)["email"]
        .as_str()
        .unwrap()
        .to_lowercase();
    // The live member count of the segment reaches the paying customers as their charges
    // arrive, and they reach Mailchimp.
    wait_until(
        Duration::from_secs(120),
        "the segment to count a paying customer",
        || {
            let preview = call("POST", "/api/v1/syncs/preview", sync.clone());
            assert_eq!(preview.status, 200, "{}", preview.body);
            preview.json()["tag_members"]["paying"].as_u64() >= Some(1)
        },
    );
    wait_until(
        Duration::from_secs(120),
        "the paying customer in Mailchimp",
        || mc.emulator.member_status(&audience, &paying).is_some(),
    );
    let catalog = call("GET", "/api/v1/destinations/mc/catalog", Value::Null);
    assert_eq!(catalog.status, 200, "{}", catalog.body);
    assert!(catalog.json()["lists"].as_array().is_some());

    // History read from the dashboard: in the background, once per account at a time.
    let finished = || {
        call("GET", "/api/v1/log?kind=backfill.finished", Value::Null).json()["entries"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = finished();

    let bad = call("POST", "/api/v1/accounts/main/backfill", json!({"days": 0}));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let unknown = call(
        "POST",
        "/api/v1/accounts/nope/backfill",
        json!({"all": true}),
    );
    assert_eq!(unknown.status, 404);
    // (localstripe cannot filter lists by creation date: all of it.)
    let started = call(
        "POST",
        "/api/v1/accounts/main/backfill",
        json!({"all": true}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    wait_until(Duration::from_secs(60), "the backfill to finish", || {
        finished() > before
    });

    // Constant Contact through its authorization page (the emulator approves at once).
    let start = call(
        "POST",
        "/api/v1/oauth/constant-contact",
        json!({"name": "cc", "client_id": cc_client.client_id, "client_secret": CC_CLIENT_SECRET,
               "api_base": format!("{}/v3", cc.url()),
               "authorize_url": format!("{}/oauth2/default/v1/authorize", cc.url()),
               "token_url": format!("{}/oauth2/default/v1/token", cc.url()),
               "default_list": "Stripe customers"}),
    );
    assert_eq!(start.status, 200, "{}", start.body);
    let authorize = start.json()["authorize_url"].as_str().unwrap().to_owned();
    let approved = client.get(authorize).send().expect("authorize");
    let callback = approved.header("location").expect("redirect to paysync");
    assert!(callback.starts_with(&paysync.url("/oauth/constant-contact/callback")));
    let landed = client.get(callback.to_owned()).send().expect("callback");
    assert_eq!(landed.status, 303, "{}", landed.body);
    // The state is single-use.
    let again = client
        .get(callback.to_owned())
        .send()
        .expect("callback again");
    assert_eq!(again.status, 400);
    // Once `serve` restarted its loops on it, Constant Contact runs beside Mailchimp.
    wait_until(Duration::from_secs(30), "Constant Contact to run", || {
        let destinations = call("GET", "/api/v1/destinations", Value::Null).json();
        let mut names: Vec<_> = destinations["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let running = d["managed"] == true && d["running"] == true;
                (d["name"].as_str().unwrap().to_owned(), running)
            })
            .collect();
        names.sort();
        names == [("cc".to_owned(), true), ("mc".to_owned(), true)]
    });
    let catalog = call("GET", "/api/v1/destinations/cc/catalog", Value::Null);
    assert_eq!(
        catalog.status, 200,
        "the OAuth tokens work: {}",
        catalog.body
    );

    let disconnected = call("DELETE", "/api/v1/destinations/mc", Value::Null);
    assert_eq!(disconnected.status, 200, "{}", disconnected.body);
    assert_eq!(disconnected.json()["syncs_removed"], json!(["to-mc"]));
    // What was synced stays in Mailchimp.
    assert!(mc.emulator.member_status(&audience, &paying).is_some());
    drop(_server);

    for file in ["paysync.db", "paysync.db-wal", "paysync.db-shm"] {
        let bytes = std::fs::read(paysync.dir.path().join(file)).unwrap_or_default();
        for secret in [MC_KEY, MC_HOOK, CC_CLIENT_SECRET, API_TOKEN, PASSWORD] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {file}"
            );
        }
    }
}
