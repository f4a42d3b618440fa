//! Hostile input at every public endpoint of `paysync serve`: slow clients (headers and bodies),
//! oversized bodies, invalid UTF-8, deeply nested and huge-number JSON, duplicate headers,
//! unknown accounts and destinations, forged links. Each gets a 4xx (or, for slow headers, a
//! closed connection), a logged reason, and changes nothing that is stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::harness::*;

const SECRET: &str = "whsec_hostile";

fn sign(body: &[u8], t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends `head` (and then `body`, if any), and reads what the server answers until it closes
/// the connection or `wait` passes. Returns the answer and how long the server took to close.
fn raw(port: u16, head: &str, body: &[u8], wait: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(wait)).expect("timeout");
    s.write_all(head.as_bytes()).expect("head");
    if !body.is_empty() {
        // The server may have answered and closed already; that is an answer too.
        let _ = s.write_all(body);
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (text(&answer), Some(started.elapsed())),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // Reset by the server: closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (text(&answer), Some(started.elapsed()));
            }
            Err(_) => return (text(&answer), None),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// A complete request with `Connection: close`.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (String, Vec<u8>) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    (head, body.to_vec())
}

/// What is sent, its body, its headers, and the status expected.
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>, &'a str);

#[test]
fn every_public_endpoint_refuses_hostile_input_with_a_reason_and_stores_nothing() {
    let paysync = Paysync::new(&[AccountSpec {
        name: "main",
        api_base: "http://127.0.0.1:9",
        secrets: &[SECRET],
        extra: "\n[[destinations]]\nname = \"mc\"\nkind = \"mailchimp\"\n\
                api_key = \"env:TEST_MC_KEY\"\nlist_id = \"list1\"\n\
                api_base = \"http://127.0.0.1:9/3.0\"\nwebhook_secret = \"env:TEST_MC_HOOK\"\n",
    }]);
    paysync.set_env("TEST_MC_KEY", "0123456789abcdef-us1");
    paysync.set_env("TEST_MC_HOOK", "hook-secret");
    paysync.set_env("PAYSYNC_SERVER__HEADER_TIMEOUT_SECS", "1");
    paysync.set_env("PAYSYNC_SERVER__BODY_TIMEOUT_SECS", "1");
    paysync.set_env("PAYSYNC_SERVER__MAX_BODY_BYTES", "65536");
    let _server = paysync.serve();
    let port: u16 = paysync
        .url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let wait = Duration::from_secs(5);
    let stripe = "/webhooks/stripe/main";
    let hook = "/webhooks/destinations/mc?secret=hook-secret";

    // Slow headers: the connection is closed after the header timeout, unanswered or 408.
    let (answer, closed) = raw(
        port,
        "POST /webhooks/stripe/main HTTP/1.1\r\nHost: localhost\r\n",
        b"",
        wait,
    );
    let closed = closed.expect("the server closes a slow-header connection");
    assert!(closed < Duration::from_secs(4), "{closed:?}");
    assert!(
        answer.is_empty() || status_line(&answer).contains("408"),
        "{answer}"
    );

    // Slow bodies, at each endpoint that reads one: 408 with the reason.
    for path in [stripe, hook, "/consent/confirm", "/login"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        );
        let (answer, _) = raw(port, &head, b"type=subscr", wait);
        assert!(status_line(&answer).contains("408"), "{path}: {answer}");
    }

    // Stripe: each hostile body is signed correctly, so only its content is at fault.
    let t = now();
    let nested = format!(
        r#"{{"id":"evt_deep","object":"event","type":"customer.updated","created":{t},"livemode":false,"data":{{"object":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let huge_number = format!(
        r#"{{"id":"evt_huge","object":"event","type":"customer.updated","created":1{},"livemode":false,"data":{{"object":{{"id":"cus_1","object":"customer"}}}}}}"#,
        "0".repeat(400)
    );
    let mut invalid_utf8 = format!(
        r#"{{"id":"evt_utf8","object":"event","type":"customer.updated","created":{t},"livemode":false,"data":{{"object":{{"id":"cus_1","object":"customer","name":""#
    )
    .into_bytes();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}}}"#);
    let valid = format!(
        r#"{{"id":"evt_ok","object":"event","type":"customer.updated","created":{t},"livemode":false,"data":{{"object":{{"id":"cus_1","object":"customer"}}}}}}"#
    );
    let oversized = vec![b'x'; 70_000];
    let cases: Vec<Case> = vec![
        (
            "nested",
            nested.clone().into_bytes(),
            vec![("Stripe-Signature", sign(nested.as_bytes(), t))],
            "400",
        ),
        (
            "huge number",
            huge_number.clone().into_bytes(),
            vec![("Stripe-Signature", sign(huge_number.as_bytes(), t))],
            "400",
        ),
        (
            "invalid UTF-8",
            invalid_utf8.clone(),
            vec![("Stripe-Signature", sign(&invalid_utf8, t))],
            "400",
        ),
        (
            "oversized",
            oversized.clone(),
            vec![("Stripe-Signature", sign(&oversized, t))],
            "413",
        ),
        (
            "duplicate header",
            valid.clone().into_bytes(),
            vec![
                ("Stripe-Signature", sign(valid.as_bytes(), t)),
                ("Stripe-Signature", sign(valid.as_bytes(), t)),
            ],
            "400",
        ),
        (
            "replayed outside tolerance",
            valid.clone().into_bytes(),
            vec![("Stripe-Signature", sign(valid.as_bytes(), t - 3_600))],
            "400",
        ),
    ];
    for (what, body, headers, expected) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (head, body) = request("POST", stripe, &headers, body);
        let (answer, _) = raw(port, &head, &body, wait);
        assert!(status_line(&answer).contains(expected), "{what}: {answer}");
    }
    let (head, body) = request(
        "POST",
        "/webhooks/stripe/nobody",
        &[("Stripe-Signature", &sign(valid.as_bytes(), t))],
        valid.as_bytes(),
    );
    assert!(status_line(&raw(port, &head, &body, wait).0).contains("404"));

    // Destination webhooks and the opt-in confirmation page.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for (what, method, path, body, expected) in [
        ("oversized", "POST", hook, vec![b'a'; 70_000], "413"),
        (
            "invalid UTF-8",
            "POST",
            hook,
            vec![0xff, 0xfe, b'=', 0xc3],
            "400",
        ),
        (
            "nested keys",
            "POST",
            hook,
            "type=unsubscribe&data[email][[[[[[[[x]]]]]]]]=a%40b.co"
                .as_bytes()
                .to_vec(),
            "400",
        ),
        (
            "unknown destination",
            "POST",
            "/webhooks/destinations/nope?secret=hook-secret",
            b"type=unsubscribe".to_vec(),
            "404",
        ),
        (
            "wrong secret",
            "POST",
            "/webhooks/destinations/mc?secret=guess",
            b"type=unsubscribe".to_vec(),
            "401",
        ),
        // No sync asks for opt-in here: every link is refused (400 or 404).
        (
            "forged link",
            "GET",
            "/consent/confirm?t=forged.token",
            Vec::new(),
            " 40",
        ),
        (
            "forged link posted",
            "POST",
            "/consent/confirm",
            b"t=forged.token".to_vec(),
            " 40",
        ),
        (
            "link of invalid UTF-8",
            "POST",
            "/consent/confirm",
            vec![b't', b'=', 0xff, 0xfe],
            " 40",
        ),
        (
            "oversized confirmation",
            "POST",
            "/consent/confirm",
            vec![b't'; 70_000],
            "413",
        ),
        // The login form and the OAuth callback are public too.
        (
            "oversized login",
            "POST",
            "/login",
            vec![b'u'; 70_000],
            "413",
        ),
        (
            "login of invalid UTF-8",
            "POST",
            "/login",
            vec![b'u', b'=', 0xff, b'&', b'p', b'=', 0xfe],
            "401",
        ),
        (
            "forged OAuth state",
            "GET",
            "/oauth/constant-contact/callback?code=x&state=forged",
            Vec::new(),
            "400",
        ),
        (
            "OAuth state of odd characters",
            "GET",
            "/oauth/constant-contact/callback?code=x&state=%00%FF%2F..",
            Vec::new(),
            "400",
        ),
    ] {
        let (head, body) = request(method, path, &form, &body);
        let (answer, _) = raw(port, &head, &body, wait);
        assert!(status_line(&answer).contains(expected), "{what}: {answer}");
    }

    // Nothing was stored; every Stripe refusal is counted with its reason.
    let status = paysync.status("main");
    assert_eq!(status["events"].as_u64(), Some(0), "{status}");
    let reasons: Vec<String> = status["rejected_webhooks"]
        .as_array()
        .expect("rejections")
        .iter()
        .filter_map(|r| r["reason"].as_str().map(str::to_owned))
        .collect();
    for reason in [
        "body_timeout",
        "body_too_large",
        "duplicate_header",
        "malformed_json",
        "stale_timestamp",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} missing from {reasons:?}"
        );
    }
    assert_eq!(
        paysync.run(&["consent"]).lines().count(),
        1,
        "only the header"
    );
    // And every refusal is in the log with its reason.
    let log = paysync.serve_log();
    for needle in [
        "body over the limit, too slow or unreadable",
        "duplicate Stripe-Signature headers",
        "destination webhook rejected",
        "unknown destination",
        "login refused",
        "Constant Contact authorization failed",
    ] {
        assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
    }
    // The server still serves.
    let (head, body) = request("GET", "/healthz", &[], b"");
    assert!(status_line(&raw(port, &head, &body, wait).0).contains("200"));
}

#[test]
fn operator_endpoints_ask_for_the_token_and_health_checks_do_not() {
    let token = "operator-token-0123456789";
    let paysync = Paysync::new(&[AccountSpec {
        name: "main",
        api_base: "http://127.0.0.1:9",
        secrets: &[SECRET],
        extra: "",
    }]);
    paysync.set_env("PAYSYNC_SERVER__API_TOKEN", "env:TEST_API_TOKEN");
    paysync.set_env("TEST_API_TOKEN", token);
    let _server = paysync.serve();
    let client = http::blocking_client();
    let get = |path: &str, auth: Option<&str>| {
        let mut r = client.get(paysync.url(path));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().expect("get")
    };
    for path in ["/status", "/metrics"] {
        assert_eq!(get(path, None).status, 401, "{path}");
        assert_eq!(get(path, Some("Bearer wrong")).status, 401, "{path}");
        assert_eq!(get(path, Some(token)).status, 401, "{path}: not a bearer");
        assert_eq!(
            get(path, Some(&format!("Bearer {token}"))).status,
            200,
            "{path}"
        );
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(path, None).status, 200, "{path}");
    }
    // A refused webhook shows in the metrics.
    let refused = client
        .post(paysync.url("/webhooks/stripe/main"))
        .body("{}")
        .send()
        .expect("post");
    assert_eq!(refused.status, 400);
    let metrics = get("/metrics", Some(&format!("Bearer {token}"))).body;
    for needle in [
        "# TYPE paysync_webhook_events gauge",
        "paysync_webhook_events{account=\"main\"} 0",
        "paysync_webhook_rejections_total{account=\"main\",reason=\"missing_header\"} 1",
        "paysync_events_pending{account=\"main\"} 0",
        "# TYPE paysync_destination_request_seconds histogram",
    ] {
        assert!(metrics.contains(needle), "no {needle:?} in\n{metrics}");
    }
    assert!(!paysync.serve_log().contains(token));
}
