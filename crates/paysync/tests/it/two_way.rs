//! Two-way sync end to end: Mailchimp (emulator) ⇄ paysync ⇄ localstripe. An edit made in
//! Mailchimp reaches the Stripe customer once; a member created in Mailchimp becomes exactly one
//! Stripe customer however often the change feed repeats it; nothing is echoed back (writes are
//! counted on both sides).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::delivery::{KEY, Mailchimp, SECRET, expected_tags, wait_for_delivery};
use crate::harness::*;

struct Apis<'a> {
    client: http::Client,
    mc: &'a Mailchimp,
    stripe_url: String,
}

impl Apis<'_> {
    fn mc_auth(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("someone:{KEY}"))
        )
    }

    fn mc_member(&self, email: &str) -> String {
        format!(
            "{}/3.0/lists/{}/members/{}",
            self.mc.emu.url(),
            self.mc.audience,
            email
        )
    }

    /// What a person does in Mailchimp's interface, through its API.
    fn mc_send(&self, request: http::Request<'_>, body: Value) {
        let r = request
            .header("authorization", &self.mc_auth())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("mailchimp");
        assert!(r.status().is_success(), "{}", r.body);
    }

    fn stripe_customers(&self) -> Vec<Value> {
        let r = self
            .client
            .get(format!("{}/v1/customers?limit=100", self.stripe_url))
            .header("authorization", "Bearer sk_test_paysync")
            .send()
            .expect("localstripe");
        r.json()["data"].as_array().cloned().unwrap_or_default()
    }

    fn stripe_customer(&self, email: &str) -> Vec<Value> {
        self.stripe_customers()
            .into_iter()
            .filter(|c| {
                c["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .collect()
    }
}

/// paysync's writes to Stripe so far, from its sync log.
fn stripe_writes(paysync: &Paysync) -> Vec<Value> {
    let out = paysync.run(&["log", "--kind", "two_way", "--json", "--limit", "1000"]);
    serde_json::from_str::<Vec<Value>>(&out).expect("log JSON")
}

/// Writes paysync sent to Mailchimp (everything but reads).
fn mailchimp_writes(mc: &Mailchimp) -> usize {
    mc.emu
        .emulator
        .requests()
        .captured()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

#[test]
fn edits_and_new_contacts_reach_stripe_once_without_echo() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let config = mc.config()
        + "\n[syncs.two_way]\n\
           fields = [ { stripe = \"name\", prefer = \"destination\" } ]\n\
           create_customers = {}\n\
           actions = [ { if = { tag = \"email-sync\" }, then = { email = true } } ]\n\
           \n[consent]\npoll_unsubscribes_secs = 1\n";
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(6, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    let apis = Apis {
        client: http::blocking_client(),
        mc: &mc,
        stripe_url: stripe.url.clone(),
    };
    // Settled: paysync's own pushes, read back from the feed, are not edits.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        stripe_writes(&paysync),
        Vec::<Value>::new(),
        "no echo of paysync's own writes"
    );

    let (people, _) = expected_tags(&manifest);
    let email = people
        .keys()
        .find(|e| apis.stripe_customer(e).len() == 1)
        .expect("a person with one customer")
        .clone();
    mc.emu.emulator.requests().capture(true);

    // 1. An edit in Mailchimp reaches Stripe, once.
    apis.mc_send(
        apis.client.patch(apis.mc_member(&email)),
        json!({"merge_fields": {"FNAME": "Renamed", "LNAME": "Person"}}),
    );
    wait_until(Duration::from_secs(30), "the edit to reach Stripe", || {
        apis.stripe_customer(&email)[0]["name"] == "Renamed Person"
    });

    // 2. A member created in Mailchimp becomes one Stripe customer, with cross-references.
    let lead = "new.lead@example.com";
    apis.mc_send(
        apis.client.post(format!(
            "{}/3.0/lists/{}/members",
            mc.emu.url(),
            mc.audience
        )),
        json!({"email_address": lead, "status": "subscribed",
               "merge_fields": {"FNAME": "Lena", "LNAME": "Lead"}}),
    );
    wait_until(
        Duration::from_secs(30),
        "the customer to be created",
        || !apis.stripe_customer(lead).is_empty(),
    );
    let created = apis.stripe_customer(lead);
    assert_eq!(created.len(), 1, "{created:?}");
    let customer = &created[0];
    assert_eq!(customer["name"], "Lena Lead");
    assert_eq!(customer["metadata"]["paysync_source"], "mc");
    let customer_id = customer["id"].as_str().expect("id").to_owned();
    // The destination gets the Stripe id (the sync maps customer_id to STRIPEID).
    wait_until(
        Duration::from_secs(30),
        "the Stripe id in Mailchimp",
        || {
            mc.emu.emulator.state_json()["lists"][0]["members"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| {
                    m["email"] == lead && m["merge_fields"]["STRIPEID"] == customer_id.as_str()
                })
        },
    );

    // 3. The feed repeats itself (Mailchimp re-reads the last second; the member is touched
    // again): still one customer, and no further writes on either side.
    apis.mc_send(
        apis.client.patch(apis.mc_member(lead)),
        json!({"merge_fields": {"FNAME": "Lena"}}),
    );
    std::thread::sleep(Duration::from_secs(4));
    let writes_to_stripe = stripe_writes(&paysync);
    let writes_to_mailchimp = mailchimp_writes(&mc);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(apis.stripe_customer(lead).len(), 1, "one customer");
    assert_eq!(apis.stripe_customer(&email)[0]["name"], "Renamed Person");
    let kinds: Vec<&str> = writes_to_stripe
        .iter()
        .filter_map(|w| w["kind"].as_str())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "two_way.customer_updated")
            .count(),
        1,
        "the edit was written once: {writes_to_stripe:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "two_way.customer_created")
            .count(),
        1,
        "{writes_to_stripe:?}"
    );
    assert_eq!(
        stripe_writes(&paysync).len(),
        writes_to_stripe.len(),
        "quiet: no loop"
    );
    assert_eq!(mailchimp_writes(&mc), writes_to_mailchimp, "quiet: no loop");
    // paysync wrote Mailchimp for the new customer only (its Stripe id and segments), never the
    // renamed person's name back.
    let renamed_writes = mc
        .emu
        .emulator
        .requests()
        .captured()
        .iter()
        .filter(|r| r.method != "GET")
        .filter(|r| String::from_utf8_lossy(&r.body).contains("Renamed"))
        .count();
    assert_eq!(
        renamed_writes, 1,
        "only the test's own edit carries the new name"
    );

    // 4. Address changes in Mailchimp: Stripe takes one only where an action asks for it
    // (tag "email-sync"), and neither makes a second customer.
    let other = people
        .keys()
        .find(|e| **e != email && apis.stripe_customer(e).len() == 1)
        .expect("another person")
        .clone();
    let kept_id = apis.stripe_customer(&email)[0]["id"].clone();
    let moved_id = apis.stripe_customer(&other)[0]["id"].clone();
    apis.mc_send(
        apis.client.post(apis.mc_member(&other) + "/tags"),
        json!({"tags": [{"name": "email-sync", "status": "active"}]}),
    );
    apis.mc_send(
        apis.client.patch(apis.mc_member(&email)),
        json!({"email_address": "kept.in.stripe@example.com"}),
    );
    apis.mc_send(
        apis.client.patch(apis.mc_member(&other)),
        json!({"email_address": "moved.to.stripe@example.com"}),
    );
    wait_until(
        Duration::from_secs(30),
        "the address change to reach Stripe",
        || apis.stripe_customer("moved.to.stripe@example.com").len() == 1,
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        apis.stripe_customer("moved.to.stripe@example.com")[0]["id"],
        moved_id
    );
    assert!(apis.stripe_customer(&other).is_empty());
    assert_eq!(
        apis.stripe_customer(&email)[0]["id"],
        kept_id,
        "not carried"
    );
    assert!(
        apis.stripe_customer("kept.in.stripe@example.com")
            .is_empty(),
        "an address change is never a new customer"
    );
    let created = stripe_writes(&paysync)
        .iter()
        .filter(|w| w["kind"] == "two_way.customer_created")
        .count();
    assert_eq!(created, 1, "still only the lead");
}

#[test]
fn a_repeated_webhook_reads_the_feed_at_once_and_still_makes_one_customer() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    // Polled hourly: only the webhooks can bring the new member in time.
    let config = mc.config().replace(
        "api_base = ",
        "webhook_secret = \"env:TEST_MC_HOOK\"\napi_base = ",
    ) + "\n[syncs.two_way]\ncreate_customers = {}\n\
         \n[consent]\npoll_unsubscribes_secs = 3600\n";
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    paysync.set_env("TEST_MC_HOOK", "hook-secret");
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(3, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    let apis = Apis {
        client: http::blocking_client(),
        mc: &mc,
        stripe_url: stripe.url.clone(),
    };
    let lead = "webhook.lead@example.com";
    apis.mc_send(
        apis.client.post(format!(
            "{}/3.0/lists/{}/members",
            mc.emu.url(),
            mc.audience
        )),
        json!({"email_address": lead, "status": "subscribed",
               "merge_fields": {"FNAME": "Wendy", "LNAME": "Hook"}}),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(apis.stripe_customer(lead).is_empty(), "no poll has run yet");

    // Mailchimp's subscribe webhook, delivered three times (it retries; proxies repeat).
    let endpoint = paysync.url("/webhooks/destinations/mc?secret=hook-secret");
    let body = format!(
        "type=subscribe&data%5Bemail%5D={}&data%5Blist_id%5D={}",
        lead.replace('@', "%40"),
        mc.audience
    );
    let deliver = || {
        let r = apis
            .client
            .post(endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .expect("webhook");
        assert_eq!(r.status, 200, "{}", r.body);
    };
    for _ in 0..3 {
        deliver();
    }
    wait_until(
        Duration::from_secs(30),
        "the webhook to create the customer",
        || apis.stripe_customer(lead).len() == 1,
    );
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..2 {
        deliver();
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(apis.stripe_customer(lead).len(), 1, "one customer");
    let created = stripe_writes(&paysync)
        .iter()
        .filter(|w| w["kind"] == "two_way.customer_created")
        .count();
    assert_eq!(created, 1);
}
