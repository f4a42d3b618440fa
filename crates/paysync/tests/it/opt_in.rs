//! Opt-in by email, end to end: the SDK's customers → paysync holds them and emails each once
//! through a real SMTP server on loopback → the link in the received email is followed → only
//! that person appears in Mailchimp, subscribed. Tampered and expired links change nothing.

use std::time::Duration;

use paysync_emulators::smtp_sink::{body_text, serve_smtp_sink};
use paysync_engine::opt_in::{LinkClaims, LinkKey, sign};
use secrecy::SecretString;

use crate::delivery::{KEY, Mailchimp, SECRET, expected_tags, status, wait_for_delivery};
use crate::harness::*;

const MASTER_KEY: &str = "5e8f0c1d2b3a49586776a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[test]
fn people_are_emailed_once_and_only_those_who_confirm_are_subscribed() {
    let mc = Mailchimp::start();
    let sink = mc._rt.block_on(serve_smtp_sink()).expect("smtp sink");
    let stripe = Localstripe::start();
    let config = mc.config().replace(
        "coalesce_ms = 200",
        "coalesce_ms = 200\nconsent = \"subscribed\"",
    ) + &format!(
        r#"
[syncs.opt_in]
subject = "Would you like our news?"
from = "news@shop.example"
from_name = "The Shop"
reply_to = "help@shop.example"
body = "Hello {{{{name}}}},\n\nPlease confirm: {{{{confirm_url}}}}\n"

[mail]
smtp_url = "{}"
"#,
        sink.url()
    );
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    paysync.set_env("PAYSYNC_MASTER_KEY", MASTER_KEY);
    let public = paysync.url("");
    paysync.set_env("PAYSYNC_SERVER__PUBLIC_URL", &public);
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(8, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    let (tags, lingering) = expected_tags(&manifest);
    let people: Vec<String> = tags.into_keys().collect();

    // Everyone (all are new customers) gets one email; nobody is in the audience yet.
    wait_until(
        Duration::from_secs(30),
        "an opt-in email per person",
        || sink.messages().len() >= people.len(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let mails = sink.messages();
    // One email per address: everyone, and addresses changed during the seed (asked before
    // the change), never one twice.
    let recipients_of = |mails: &[String]| -> Vec<String> {
        mails
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("To: "))
                    .map(|to| to.trim().to_lowercase())
            })
            .collect()
    };
    let recipients = recipients_of(&mails);
    let unique: std::collections::BTreeSet<&String> = recipients.iter().collect();
    assert_eq!(
        unique.len(),
        recipients.len(),
        "an address emailed twice: {recipients:?}"
    );
    assert!(people.iter().all(|p| unique.contains(p)), "{recipients:?}");
    assert!(
        unique
            .iter()
            .all(|r| people.contains(r) || lingering.contains(*r)),
        "{recipients:?}"
    );
    let members = || {
        mc.emu.emulator.state_json()["lists"][0]["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(members().is_empty(), "nobody is pushed before confirming");
    let all = status(&paysync);
    let held = all["accounts"][0]["held"].to_string();
    assert!(held.contains("awaiting_opt_in"), "{all:#}");

    // The first person's email: headers as configured, a link to paysync.
    let who = &people[0];
    let mail = mails
        .iter()
        .find(|m| m.to_lowercase().contains(&format!("to: {who}")))
        .unwrap_or_else(|| panic!("no email to {who}: {mails:#?}"));
    assert!(mail.contains("Subject: Would you like our news?"), "{mail}");
    assert!(
        mail.contains("From: \"The Shop\" <news@shop.example>"),
        "{mail}"
    );
    assert!(mail.contains("Reply-To: help@shop.example"), "{mail}");
    let body = body_text(mail);
    let prefix = format!("{public}/consent/confirm?t=");
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no link in {body}"))
        .to_owned();
    let token = link.trim_start_matches(&prefix).to_owned();

    // The preview shows the same email, without sending it.
    let preview = paysync.run(&["opt-in-preview", "--sync", "to-mc", "--email", who]);
    assert!(
        preview.contains("Subject: Would you like our news?"),
        "{preview}"
    );
    assert!(body_text(&preview).contains(&prefix), "{preview}");
    let client = http::blocking_client();
    let get = |url: &str| {
        client
            .get(url.to_owned())
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    // A tampered link and an expired one are refused, and change nothing.
    let mut tampered = token.clone();
    let flip = if tampered.starts_with('e') { "f" } else { "e" };
    tampered.replace_range(0..1, flip);
    assert_eq!(get(&format!("{prefix}{tampered}")), 400);
    let key = LinkKey::derive(&SecretString::from(MASTER_KEY.to_owned()));
    let expired = sign(
        &key,
        &LinkClaims {
            sync: "to-mc".into(),
            person: who.clone(),
            issued_ms: 1_000,
            expires_ms: 2_000,
        },
    );
    assert_eq!(get(&format!("{prefix}{expired}")), 410);
    let confirm = |t: &str| {
        client
            .post(paysync.url("/consent/confirm"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("t={t}"))
            .send()
            .expect("POST")
            .status()
            .as_u16()
    };
    assert_eq!(confirm(&expired), 410);

    // Following the link shows a button (a mail scanner's GET confirms nothing); pressing it
    // subscribes the person.
    assert_eq!(get(&link), 200);
    std::thread::sleep(Duration::from_secs(2));
    assert!(members().is_empty(), "a GET alone subscribes nobody");
    assert_eq!(confirm(&token), 200);
    wait_until(
        Duration::from_secs(30),
        "the confirmed person in Mailchimp",
        || mc.emu.emulator.member_status(&mc.audience, who).as_deref() == Some("subscribed"),
    );
    assert_eq!(confirm(&token), 200, "a second press is harmless");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(members().len(), 1, "only the person who confirmed");
    let ledger = paysync.run(&["consent", "--email", who]);
    assert_eq!(ledger.lines().count(), 2, "{ledger}");
    assert!(ledger.contains(",mc,subscribed,opt_in_email,"), "{ledger}");
    let finally = recipients_of(&sink.messages());
    let unique: std::collections::BTreeSet<&String> = finally.iter().collect();
    assert_eq!(
        unique.len(),
        finally.len(),
        "an address emailed twice: {finally:?}"
    );
}
