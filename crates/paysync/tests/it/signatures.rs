//! The webhook endpoint against signatures made by the official `stripe` SDK.

use serde_json::{Value, json};

use crate::harness::*;

const OLD: &str = "whsec_old_secret_being_rolled";
const NEW: &str = "whsec_new_secret";

fn event(id: &str, event_type: &str, livemode: bool) -> String {
    json!({
        "id": id, "object": "event", "type": event_type, "created": now() - 5, "livemode": livemode,
        "api_version": "2024-06-20",
        "data": { "object": { "id": "cus_sig1", "object": "customer", "email": "sig@example.com" } }
    })
    .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn the_endpoint_accepts_sdk_signatures_and_rejects_everything_else_with_a_reason() {
    // No Stripe API is needed here; catch-up runs against an unreachable base and only logs.
    let paysync = Paysync::new(&[AccountSpec {
        name: "main",
        api_base: "http://127.0.0.1:9",
        secrets: &[OLD, NEW],
        extra: "",
    }]);
    let _server = paysync.serve();
    let t = now();
    let valid = event("evt_sig_valid", "customer.created", false);
    let rotated = event("evt_sig_rotated", "customer.updated", false);
    let both = event("evt_sig_both", "customer.updated", false);
    let unknown_type = event("evt_sig_unknown", "brand_new.thing_happened", false);
    let live = event("evt_sig_live", "customer.updated", true);
    let malformed = r#"{"id":"evt_sig_bad","type":"customer.created","#.to_owned();
    let stale = event("evt_sig_stale", "customer.updated", false);
    let headers = sdk_sign(&[
        (valid.clone(), vec![OLD], t),
        (rotated.clone(), vec![NEW], t),
        // While a secret is rolled Stripe signs with both: one v1 per secret.
        (both.clone(), vec!["whsec_someone_else", NEW], t),
        (unknown_type.clone(), vec![OLD], t),
        (live.clone(), vec![OLD], t),
        (malformed.clone(), vec![OLD], t),
        (stale.clone(), vec![OLD], t - 301),
        (valid.clone(), vec!["whsec_wrong"], t),
    ]);
    let client = http::blocking_client();
    let post = |body: &str, header: Option<&str>| {
        let mut req = client
            .post(paysync.url("/webhooks/stripe/main"))
            .body(body.to_owned());
        if let Some(h) = header {
            req = req.header("Stripe-Signature", h);
        }
        req.send().unwrap()
    };
    let code = |r: &http::Response| r.json()["error"]["code"].as_str().unwrap_or("").to_owned();

    let r = post(&valid, Some(&headers[0]));
    assert_eq!(
        (r.status, r.json()["duplicate"].clone()),
        (200, Value::Bool(false)),
        "{}",
        r.body
    );
    let r = post(&valid, Some(&headers[0]));
    assert_eq!(
        (r.status, r.json()["duplicate"].clone()),
        (200, Value::Bool(true)),
        "a duplicate is acknowledged"
    );
    assert_eq!(
        post(&rotated, Some(&headers[1])).status,
        200,
        "the new secret is accepted"
    );
    assert_eq!(
        post(&both, Some(&headers[2])).status,
        200,
        "any matching v1 is accepted"
    );
    assert_eq!(
        post(&unknown_type, Some(&headers[3])).status,
        200,
        "unknown types are stored"
    );

    let tampered = valid.replace("sig@example.com", "evil@example.com");
    for (body, header, expected) in [
        (
            tampered.as_str(),
            Some(headers[0].as_str()),
            "bad_signature",
        ),
        (valid.as_str(), Some(headers[7].as_str()), "bad_signature"),
        (stale.as_str(), Some(headers[6].as_str()), "stale_timestamp"),
        (valid.as_str(), None, "missing_header"),
        (
            malformed.as_str(),
            Some(headers[5].as_str()),
            "malformed_json",
        ),
        (
            live.as_str(),
            Some(headers[4].as_str()),
            "livemode_mismatch",
        ),
    ] {
        let r = post(body, header);
        assert_eq!(
            (r.status, code(&r)),
            (400, expected.to_owned()),
            "{}",
            r.body
        );
    }
    let huge = "x".repeat(2 << 20);
    let r = post(&huge, Some(&headers[0]));
    assert_eq!((r.status, code(&r)), (413, "body_too_large".to_owned()));
    let r = client
        .post(paysync.url("/webhooks/stripe/nobody"))
        .body(valid.clone())
        .header("Stripe-Signature", &headers[0])
        .send()
        .unwrap();
    assert_eq!(r.status, 404);

    let status = paysync.status("main");
    assert_eq!(
        status["events"].as_u64(),
        Some(4),
        "exactly the four accepted events are stored"
    );
    let rejections: Vec<(String, u64)> = status["rejected_webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("bad_signature", 2),
        ("body_too_large", 1),
        ("livemode_mismatch", 1),
        ("malformed_json", 1),
        ("missing_header", 1),
        ("stale_timestamp", 1),
    ]
    .map(|(r, n)| (r.to_owned(), n));
    assert_eq!(rejections, expected);
    // Every rejection is in the log with its reason; no secret ever is.
    let log = paysync.serve_log();
    assert_eq!(log.matches("webhook rejected").count(), 8, "{log}");
    for secret in [OLD, NEW] {
        assert!(!log.contains(secret));
    }
}
