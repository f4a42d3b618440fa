use paysync_emulators::FaultConfig;
use paysync_emulators::stripe::StripeEmulatorConfig;
use serde_json::json;

use crate::helpers::{Api, KEY, stripe, stripe_with};

#[tokio::test]
async fn not_found_body() {
    let h = stripe(0).await;
    let api = Api::new(&h);
    let r = api.get("/v1/customers/cus_x").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(r.body["error"]["message"], "No such customer: 'cus_x'");
    assert_eq!(r.body["error"]["param"], "id");
    assert!(r.headers.contains_key("request-id"));
    let r = api.get("/v1/charges/ch_nope").await;
    assert_eq!(r.body["error"]["message"], "No such charge: 'ch_nope'");
    let r = api.get("/v1/nothing_here").await;
    assert_eq!(r.status, 404);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL")
    );
}

#[tokio::test]
async fn list_parameter_errors() {
    let h = stripe(20).await;
    let api = Api::new(&h);
    let r = api.get("/v1/customers?limit=101").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert_eq!(r.body["error"]["param"], "limit");
    assert_eq!(r.body["error"]["code"], "parameter_invalid_integer");
    assert_eq!(api.get("/v1/customers?limit=0").await.status, 400);
    assert_eq!(api.get("/v1/customers?limit=ten").await.status, 400);
    assert_eq!(api.get("/v1/customers?limit=100").await.status, 200);

    let page = api.get_ok("/v1/customers?limit=2").await;
    let a = page["data"][0]["id"].as_str().unwrap().to_owned();
    let b = page["data"][1]["id"].as_str().unwrap().to_owned();
    let r = api
        .get(&format!(
            "/v1/customers?starting_after={a}&ending_before={b}"
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");

    let r = api.get("/v1/customers?starting_after=cus_missing").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "resource_missing");
    assert_eq!(
        r.body["error"]["message"],
        "No such customer: 'cus_missing'"
    );
    assert_eq!(r.body["error"]["param"], "starting_after");
    let r = api.get("/v1/charges?ending_before=ch_missing").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "ending_before");

    let r = api.get("/v1/customers?colour=red").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "parameter_unknown");
}

#[tokio::test]
async fn authentication() {
    let h = stripe(0).await;
    let api = Api::new(&h);
    let url = format!("{}/v1/customers", api.base);
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You did not provide an API key")
    );

    let r = api
        .http
        .get(&url)
        .bearer_auth("sk_live_nope1234")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Invalid API Key provided: sk_live_****1234"
    );
    let r = api
        .http
        .get(&url)
        .bearer_auth("pk_test_abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = api
        .http
        .get(&url)
        .bearer_auth(KEY)
        .header("stripe-version", "2024-06-20")
        .header("stripe-account", "acct_123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = api
        .http
        .get(&url)
        .bearer_auth(KEY)
        .header("stripe-version", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let state = api.get_ok("/_admin/state").await;
    let headers = &state["requests"]["headers"];
    assert!(
        headers["stripe-version"]
            .as_array()
            .unwrap()
            .contains(&json!("2024-06-20"))
    );
    assert_eq!(headers["stripe-account"], json!(["acct_123"]));
    assert!(
        state["requests"]["by_endpoint"]["GET /v1/customers"]
            .as_u64()
            .unwrap()
            >= 4
    );
}

#[tokio::test]
async fn rate_limit_429() {
    // The default: 25 requests a second, like test mode.
    let h = stripe_with(StripeEmulatorConfig::default(), 10).await;
    let api = Api::new(&h);
    let futs: Vec<_> = (0..60)
        .map(|_| {
            let http = api.http.clone();
            let url = format!("{}/v1/customers?limit=1", api.base);
            tokio::spawn(async move { http.get(url).bearer_auth(KEY).send().await.unwrap() })
        })
        .collect();
    let mut ok = 0;
    let mut limited = 0;
    for f in futs {
        let r = f.await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limit");
                assert_eq!(body["error"]["type"], "invalid_request_error");
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert!(ok >= 25, "ok={ok}");
    assert!(limited > 0, "no 429 among 60 concurrent requests");
    // Admin endpoints are not limited.
    for _ in 0..30 {
        assert_eq!(api.get("/_admin/state").await.status, 200);
    }
}

#[tokio::test]
async fn faults() {
    let h = stripe(5).await;
    let api = Api::new(&h);
    h.emulator.faults().set(FaultConfig {
        outage: true,
        ..Default::default()
    });
    let r = api.get("/v1/customers").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error"]["type"], "api_error");
    // Through the admin endpoint.
    let c = api.http.clone();
    let set = |body: serde_json::Value| {
        let c = c.clone();
        let url = format!("{}/_admin/faults", api.base);
        async move { c.post(url).json(&body).send().await.unwrap().status() }
    };
    assert_eq!(set(json!({"throttle_rate": 1.0})).await, 200);
    assert_eq!(api.get("/v1/customers").await.status, 429);
    assert_eq!(
        set(json!({"error_rate": 1.0, "error_status": 502})).await,
        200
    );
    assert_eq!(api.get("/v1/customers").await.status, 502);
    assert_eq!(set(json!({"latency_ms": 30})).await, 200);
    let t = std::time::Instant::now();
    assert_eq!(api.get("/v1/customers").await.status, 200);
    assert!(t.elapsed().as_millis() >= 30);
    assert_eq!(set(json!({"bogus": 1})).await, 400);
    assert_eq!(set(json!({})).await, 200);
    assert_eq!(api.get("/v1/customers").await.status, 200);
}
