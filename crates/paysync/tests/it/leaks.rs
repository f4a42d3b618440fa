//! No secret leaks: a full sync into Mailchimp, ActiveCampaign and Constant Contact with known,
//! distinctive secrets (Stripe key and webhook secret, vendor keys and tokens, OAuth client
//! secret and refresh token, webhook URL secret, SMTP password, master key), debug logging on,
//! an alert whose SMTP server refuses, a vendor webhook, and every read-only command — then no
//! log line, command output or database file holds any of them.

use std::process::Output;

use paysync_emulators::constant_contact::OAuthClient;

use crate::delivery::{Mailchimp, SECRET, wait_for_delivery};
use crate::erase::OtherDestinations;
use crate::harness::*;

const STRIPE_KEY: &str = "sk_test_leakcheckStripeKey8c1f";
const MC_KEY: &str = "leakcheckmailchimpkey7d2e-us1";
const AC_TOKEN: &str = "leakcheck-activecampaign-token-4b9a";
const CC_CLIENT_SECRET: &str = "leakcheck-cc-client-secret-1e7c";
const HOOK_SECRET: &str = "leakcheck-webhook-url-secret-5f3b";
const SMTP_PASSWORD: &str = "leakcheck-smtp-password-2c8d";
const MASTER_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_secret_appears_in_logs_outputs_or_the_database() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let others = OtherDestinations::start(
        &mc,
        OAuthClient {
            client_secret: CC_CLIENT_SECRET.into(),
            ..OAuthClient::default()
        },
    );
    let cc_refresh = others.cc_refresh().to_owned();
    let config = mc.config().replace(
        "api_base = ",
        "webhook_secret = \"env:TEST_MC_HOOK\"\napi_base = ",
    ) + &others.config()
        + "\n[alerts.email]\nsmtp_url = \"smtp://127.0.0.1:9\"\nusername = \"paysync\"\n\
           password = \"env:TEST_SMTP_PASSWORD\"\nfrom = \"paysync@example.com\"\n\
           to = [\"ops@example.com\"]\n";
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    others.set_env(&paysync, AC_TOKEN);
    for (name, value) in [
        ("TEST_STRIPE_KEY", STRIPE_KEY),
        ("TEST_MC_KEY", MC_KEY),
        ("TEST_MC_HOOK", HOOK_SECRET),
        ("TEST_SMTP_PASSWORD", SMTP_PASSWORD),
        ("PAYSYNC_MASTER_KEY", MASTER_KEY),
        ("RUST_LOG", "debug"),
    ] {
        paysync.set_env(name, value);
    }
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(6, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    let mut outputs = vec![text(
        &paysync
            .command()
            .args(["backfill", "--all"])
            .output()
            .expect("backfill"),
    )];
    wait_for_delivery(&paysync, sent);

    // A vendor webhook carries its secret in the URL; a wrong one is refused and logged.
    let client = http::blocking_client();
    for secret in [HOOK_SECRET, "wrong"] {
        let _ = client
            .post(paysync.url(&format!("/webhooks/destinations/mc?secret={secret}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("type=profile&data%5Bemail%5D=a%40example.com")
            .send()
            .expect("webhook");
    }
    let status = client.get(paysync.url("/status")).send().expect("status");
    outputs.push(status.body);
    for args in [
        &["status", "--json"][..],
        &["log", "--json", "--limit", "1000"],
        &["consent"],
        &["dead-letters", "--json"],
        &["config", "check"],
        &["preview", "--email", "nobody@example.com"],
    ] {
        outputs.push(text(&paysync.command().args(args).output().expect("run")));
    }
    // A command that fails on a secret-bearing destination says why without the secret.
    let mut broken = paysync.command();
    broken.env("TEST_CC_REFRESH", "").args(["status"]);
    outputs.push(text(&broken.output().expect("run")));

    let log = paysync.serve_log();
    assert!(log.contains("DEBUG"), "debug logging is on");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(paysync.dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // The test's own environment file holds the secrets by design.
        if name.starts_with("paysync.db") || name == "serve.log" {
            files.push((name.to_owned(), std::fs::read(&path).expect("read")));
        }
    }
    assert!(files.iter().any(|(n, _)| n == "paysync.db"));
    for secret in [
        STRIPE_KEY,
        SECRET,
        MC_KEY,
        AC_TOKEN,
        CC_CLIENT_SECRET,
        &cc_refresh,
        HOOK_SECRET,
        SMTP_PASSWORD,
        MASTER_KEY,
    ] {
        for (i, out) in outputs.iter().enumerate() {
            assert!(!out.contains(secret), "output {i} holds a secret:\n{out}");
        }
        for (name, bytes) in &files {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{name} holds a secret");
        }
    }
}

#[test]
fn rotate_key_reseals_stored_secrets_under_the_new_key() {
    use paysync_store::{SecretKey, SqliteStore, Store};
    let paysync = Paysync::one_account("http://127.0.0.1:9", SECRET, "");
    let db = paysync.dir.path().join("paysync.db");
    let (old, new) = ("11".repeat(32), "22".repeat(32));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let open = |hex: &str| {
        let store = rt
            .block_on(SqliteStore::open(&db, 0))
            .expect("store")
            .with_secret_key(SecretKey::from_hex(hex).expect("key"));
        std::sync::Arc::new(store)
    };
    let token = secrecy::SecretString::from("leakcheck-rotating-token".to_owned());
    rt.block_on(open(&old).put_secret("destination/cc/oauth", &token, 1))
        .expect("sealed");

    paysync.set_env("PAYSYNC_MASTER_KEY", &old);
    // A bad new key changes nothing.
    paysync.set_env("PAYSYNC_NEW_MASTER_KEY", "not-hex");
    let refused = paysync.command().arg("rotate-key").output().expect("run");
    assert!(!refused.status.success());
    paysync.set_env("PAYSYNC_NEW_MASTER_KEY", &new);
    let out = paysync.run(&["rotate-key"]);
    assert!(out.contains("re-sealed 1 secret"), "{out}");
    assert!(!out.contains(&new) && !out.contains(&old));

    use secrecy::ExposeSecret;
    let opened = rt
        .block_on(open(&new).get_secret("destination/cc/oauth"))
        .expect("opens with the new key")
        .expect("there");
    assert_eq!(opened.expose_secret(), "leakcheck-rotating-token");
    assert!(
        rt.block_on(open(&old).get_secret("destination/cc/oauth"))
            .is_err()
    );
}
