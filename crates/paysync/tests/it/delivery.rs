//! End to end: the official SDK's activity on localstripe → webhooks and backfill → paysync serve
//! (ledger, reconciler, outbox, delivery worker) → the Mailchimp emulator. The emulator's final state must
//! equal the state computed from what the SDK did.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use paysync_emulators::mailchimp::{MailchimpConfig, serve_mailchimp};
use serde_json::Value;

use crate::harness::*;

pub(crate) const SECRET: &str = "whsec_delivery_test";
pub(crate) const KEY: &str = "0123456789abcdef-us1";

/// The tags a person should carry, from the seed's per-customer summary (several customers
/// with one email are one person: their facts are united).
/// Also the emails that may linger: customers deleted, and addresses changed, during the run.
pub(crate) fn expected_tags(
    manifest: &Value,
) -> (BTreeMap<String, BTreeSet<&'static str>>, BTreeSet<String>) {
    let mut people: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for c in manifest["customer_summaries"]
        .as_array()
        .expect("summaries")
    {
        let Some(email) = c["email"].as_str() else {
            continue;
        };
        let email = email.trim().to_lowercase();
        if c["deleted"] == true {
            deleted.insert(email);
            continue;
        }
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let tags = people.entry(email).or_default();
        tags.insert("stripe-integration");
        if n("charges") > n("failed_charges") {
            tags.insert("paying");
        }
        if n("failed_charges") > 0 {
            tags.insert("payment-failed");
        }
        if n("refunds") > 0 {
            tags.insert("refunded");
        }
        if n("active_subscriptions") > 0 {
            tags.insert("active-subscriber");
        }
    }
    // Emails customers had before they changed them were pushed under their old address.
    for change in manifest["emails"]["changed"]
        .as_array()
        .expect("email changes")
    {
        if let Some(from) = change["from"].as_str() {
            deleted.insert(from.trim().to_lowercase());
        }
    }
    // A former email shared with a live person belongs to that person.
    deleted.retain(|e| !people.contains_key(e));
    (people, deleted)
}

const MANAGED: &[&str] = &[
    "stripe-integration",
    "paying",
    "payment-failed",
    "refunded",
    "active-subscriber",
];

/// A Mailchimp emulator in the test's own runtime, with one audience.
pub(crate) struct Mailchimp {
    pub(crate) _rt: tokio::runtime::Runtime,
    pub(crate) emu:
        paysync_emulators::EmulatorHandle<paysync_emulators::mailchimp::MailchimpEmulator>,
    pub(crate) audience: String,
}

impl Mailchimp {
    pub(crate) fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let emu = rt
            .block_on(serve_mailchimp(MailchimpConfig {
                batch_delay_ms: 50,
                ..MailchimpConfig::default()
            }))
            .expect("mailchimp emulator");
        let audience = emu.emulator.create_list("Customers");
        Mailchimp {
            _rt: rt,
            emu,
            audience,
        }
    }

    /// The `[[destinations]]` and `[[syncs]]` of these tests.
    pub(crate) fn config(&self) -> String {
        format!(
            r#"
[[destinations]]
name = "mc"
kind = "mailchimp"
api_key = "env:TEST_MC_KEY"
list_id = "{}"
api_base = "{}/3.0"

[[syncs]]
name = "to-mc"
destination = "mc"
coalesce_ms = 200
event_tags = {{ prefix = "stripe-integration", rename = {{ "*" = "event" }} }}
fields = [{{ to = "STRIPEID", from = "customer_id" }}]

[[syncs.segments]]
name = "Paying"
tag = "paying"
rule = {{ charged = {{}} }}

[[syncs.segments]]
name = "Failed"
tag = "payment-failed"
rule = {{ payment_failed = {{}} }}

[[syncs.segments]]
name = "Refunded"
tag = "refunded"
rule = {{ refunded = {{}} }}

[[syncs.segments]]
name = "Active subscribers"
tag = "active-subscriber"
rule = {{ subscribed = {{ status = ["active"] }} }}
"#,
            self.audience,
            self.emu.url()
        )
    }
}

pub(crate) fn paysync_for(stripe: &Localstripe, mc: &Mailchimp) -> Paysync {
    let paysync = Paysync::one_account(&stripe.url, SECRET, &mc.config());
    paysync.set_env("TEST_MC_KEY", KEY);
    paysync
}

pub(crate) fn status(paysync: &Paysync) -> Value {
    serde_json::from_str(&paysync.run(&["status", "--json"])).expect("status")
}

/// Waits until every event is in the ledger, nobody is dirty and nothing is queued.
pub(crate) fn wait_for_delivery(paysync: &Paysync, events: u64) {
    wait_until(
        Duration::from_secs(120),
        "every event to be delivered",
        || {
            let all = status(paysync);
            let account = &all["accounts"][0];
            let queued: i64 = all["destinations"].as_array().map_or(0, |d| {
                d.iter().map(|d| d["pending"].as_i64().unwrap_or(0)).sum()
            });
            account["events"].as_u64() >= Some(events)
                && account["pending_events"] == 0
                && account["dirty_customers"] == 0
                && queued == 0
        },
    );
}

/// The audience holds exactly the people the seed made, with the tags the rules give them,
/// and there are no dead letters.
pub(crate) fn assert_audience_matches(paysync: &Paysync, mc: &Mailchimp, manifest: &Value) {
    let (people, lingering) = expected_tags(manifest);
    let state = mc.emu.emulator.state_json();
    let list = state["lists"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["id"] == mc.audience.as_str()))
        .expect("audience");
    let members: BTreeMap<String, &Value> = list["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["email"].as_str().unwrap_or_default().to_lowercase(), m))
        .collect();
    for (email, want) in &people {
        let member = members
            .get(email)
            .unwrap_or_else(|| panic!("{email} is not in the audience\n{}", paysync.serve_log()));
        let have: BTreeSet<&str> = member["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| MANAGED.contains(t))
            .collect();
        let want: BTreeSet<&str> = want.iter().copied().collect();
        assert_eq!(
            have,
            want,
            "tags of {email}\n{member:#}\n{}",
            paysync.run(&["preview", "--email", email])
        );
        assert_eq!(member["status"], "transactional", "{email} never consented");
        assert!(
            member["merge_fields"]["STRIPEID"]
                .as_str()
                .is_some_and(|id| id.starts_with("cus_")),
            "{member}"
        );
    }
    // Nobody else: only customers deleted and emails changed during the run (pushed before the
    // change; renaming contacts is deletion and identity sync's work).
    for email in members.keys() {
        assert!(
            people.contains_key(email) || lingering.contains(email),
            "{email} should not be in the audience"
        );
    }
    let all = status(paysync);
    assert_eq!(all["destinations"][0]["dead"], 0, "{all:#}");
}

#[test]
fn the_sdks_activity_arrives_in_mailchimp_as_the_rules_say() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let paysync = paysync_for(&stripe, &mc);
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(60, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    // localstripe sends no events for some objects (charges of PaymentIntents, invoices): the
    // backfill brings the history, as it does for a new installation.
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    assert_audience_matches(&paysync, &mc, &manifest);
    // Bursts coalesce: far fewer write calls than events.
    let state = mc.emu.emulator.state_json();
    let writes: u64 = state["requests"]["by_endpoint"]
        .as_object()
        .expect("endpoints")
        .iter()
        .filter(|(k, _)| !k.starts_with("GET"))
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum();
    assert!(writes < sent, "{writes} write calls for {sent} events");

    // The sync log has each delivery: who, where, what (no field values), how long.
    let (someone, _) = expected_tags(&manifest)
        .0
        .into_iter()
        .next()
        .expect("a person");
    let log: Value = serde_json::from_str(
        &paysync.run(&["log", "--kind", "delivery", "--email", &someone, "--json"]),
    )
    .expect("log JSON");
    let entries = log.as_array().expect("entries");
    assert!(!entries.is_empty(), "no delivery logged for {someone}");
    for e in entries {
        assert_eq!(e["detail"]["person"], someone.as_str());
        assert_eq!(e["detail"]["destination"], "mc");
        assert!(e["detail"]["latency_ms"].is_i64());
        assert!(
            !e.to_string().contains(KEY),
            "the API key leaked into the log"
        );
    }
    let errors: Value =
        serde_json::from_str(&paysync.run(&["log", "--level", "error", "--json"])).expect("log");
    assert_eq!(errors, serde_json::json!([]));

    // The contacts report: one row per person, with the tags the rules give them.
    let (people, _) = expected_tags(&manifest);
    let report: Vec<Value> = paysync
        .run(&["report", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("report line"))
        .collect();
    for (email, tags) in &people {
        let rows: Vec<&Value> = report
            .iter()
            .filter(|r| r["email"] == email.as_str())
            .collect();
        assert_eq!(rows.len(), 1, "{email}: {rows:?}");
        let reported: BTreeSet<&str> = rows[0]["to-mc:tags"]
            .as_str()
            .unwrap_or_default()
            .split("; ")
            .collect();
        for tag in tags {
            assert!(
                reported.contains(tag),
                "{email}: {tag} missing from {reported:?}"
            );
        }
        assert!(
            rows[0]["customers"]
                .as_str()
                .is_some_and(|c| c.starts_with("cus_"))
        );
    }
    let csv = paysync.run(&["report"]);
    assert!(
        csv.starts_with("account,email,customers,paid,refunded,"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().count(),
        report.len() + 1,
        "a header and a line per person"
    );
}

#[test]
fn killed_five_times_under_a_stream_of_events_it_loses_nothing() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let paysync = paysync_for(&stripe, &mc);
    // Webhooks sent while paysync is down are lost (localstripe sends each once): the Events
    // API catch-up, polled every second, brings them back.
    paysync.set_env("PAYSYNC_STRIPE__CATCHUP_INTERVAL_SECS", "1");
    let mut server = Some(paysync.serve());
    let hook = paysync.url("/webhooks/stripe/main");
    let dir = paysync.dir.path().to_path_buf();
    let seeding = std::thread::scope(|scope| {
        let seed = scope.spawn(|| stripe.seed(120, Some((&hook, SECRET)), &dir));
        let mut rng = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        let mut kills = 0;
        while kills < 5 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(Duration::from_millis(200 + (rng >> 33) % 800));
            drop(server.take()); // SIGKILL
            kills += 1;
            server = Some(paysync.serve());
        }
        seed.join().expect("seed thread")
    });
    let manifest = seeding;
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    assert_audience_matches(&paysync, &mc, &manifest);
    drop(server);
}

#[test]
fn an_unsubscribe_in_mailchimp_survives_backfills_config_changes_and_replays() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let config = mc.config().replace(
        "coalesce_ms = 200",
        "coalesce_ms = 200\nconsent = \"subscribed\"",
    ) + "\n[consent]\npoll_unsubscribes_secs = 1\n";
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    let server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(20, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    let (people, _) = expected_tags(&manifest);
    let (email, _) = people.into_iter().next().expect("a person");
    let member_status = || mc.emu.emulator.member_status(&mc.audience, &email);
    assert_eq!(member_status().as_deref(), Some("subscribed"));

    // The person unsubscribes from a campaign; paysync learns it from Mailchimp's changes.
    mc.emu
        .emulator
        .unsubscribe(&email, &mc.audience, None)
        .expect("unsubscribe");
    wait_until(
        Duration::from_secs(30),
        "the unsubscribe to be learnt",
        || {
            paysync
                .run(&["consent", "--email", &email])
                .contains(",unsubscribed,")
        },
    );

    // A rule change (a new segment: everyone is reconciled again), a backfill and a replay.
    drop(server);
    let path = paysync.dir.path().join("paysync.toml");
    let mut toml = std::fs::read_to_string(&path).expect("config");
    toml = toml.replace(
        "[consent]",
        "[[syncs.segments]]\nname = \"Everyone\"\ntag = \"everyone\"\nrule = { all = [] }\n\n[consent]",
    );
    std::fs::write(&path, toml).expect("config");
    let _server = paysync.serve();
    paysync.run(&["backfill", "--all"]);
    paysync.run(&["replay", "--all"]);
    wait_for_delivery(&paysync, sent);
    wait_until(
        Duration::from_secs(60),
        "the new segment to be delivered",
        || {
            mc.emu.emulator.state_json()["lists"][0]["members"]
                .as_array()
                .is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m["tags"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|x| x == "everyone"))
                    })
                })
        },
    );
    wait_for_delivery(&paysync, sent);
    assert_eq!(
        member_status().as_deref(),
        Some("unsubscribed"),
        "{}",
        paysync.serve_log()
    );
    let all = status(&paysync);
    assert_eq!(all["suppressions"][0]["people"], 1, "{all:#}");
    assert_eq!(all["destinations"][0]["dead"], 0, "{all:#}");
    // The ledger, as CSV: one fact, from the destination's feed.
    let csv = paysync.run(&["consent"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].starts_with("person,destination,state,source"));
    assert!(
        rows[1].starts_with(&format!("{email},mc,unsubscribed,destination_feed,")),
        "{csv}"
    );
}

#[test]
fn mailchimp_and_activecampaign_unsubscribe_webhooks_are_learnt_and_hostile_ones_refused() {
    use base64::Engine as _;
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    // An ActiveCampaign account too, whose webhooks come form-encoded with `contact[email]`.
    let ac = mc
        ._rt
        .block_on(paysync_emulators::activecampaign::serve_activecampaign(
            paysync_emulators::activecampaign::ActiveCampaignConfig::default(),
        ))
        .expect("activecampaign emulator");
    let config = mc.config().replace(
        "api_base = ",
        "webhook_secret = \"env:TEST_MC_HOOK\"\napi_base = ",
    ) + &format!(
        "\n[[destinations]]\nname = \"ac\"\nkind = \"activecampaign\"\napi_url = \"{}\"\n\
         api_token = \"env:TEST_AC_TOKEN\"\nwebhook_secret = \"env:TEST_AC_HOOK\"\n\
         \n[consent]\npoll_unsubscribes_secs = 3600\n",
        ac.url()
    );
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    paysync.set_env("TEST_MC_HOOK", "hook-secret-1");
    paysync.set_env("TEST_AC_TOKEN", "ac-token");
    paysync.set_env("TEST_AC_HOOK", "hook-secret-2");
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(10, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);
    let (email, _) = expected_tags(&manifest)
        .0
        .into_iter()
        .next()
        .expect("a person");

    // The audience's webhook points at paysync (Mailchimp checks the URL with a GET first).
    let endpoint = paysync.url("/webhooks/destinations/mc?secret=hook-secret-1");
    let client = http::blocking_client();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("paysync:{KEY}"))
    );
    let body = serde_json::json!({
        "url": endpoint,
        "events": {"subscribe": true, "unsubscribe": true, "cleaned": true},
        "sources": {"user": true, "admin": true, "api": false},
    });
    let created = client
        .post(format!(
            "{}/3.0/lists/{}/webhooks",
            mc.emu.url(),
            mc.audience
        ))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .expect("create webhook");
    assert!(created.status().is_success(), "{}", created.json());

    // Hostile or misdirected calls: refused with a reason, nothing recorded.
    let post = |url: String, body: &'static str| {
        client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .expect("post")
            .status()
            .as_u16()
    };
    let unsub = "type=unsubscribe&data%5Bemail%5D=intruder%40example.com";
    assert_eq!(
        post(paysync.url("/webhooks/destinations/mc?secret=wrong"), unsub),
        401
    );
    assert_eq!(post(paysync.url("/webhooks/destinations/mc"), unsub), 401);
    assert_eq!(
        post(
            paysync.url("/webhooks/destinations/nope?secret=hook-secret-1"),
            unsub
        ),
        404
    );
    assert_eq!(
        post(endpoint.clone(), "type=unsubscribe&data%5Bemail%5D=nobody"),
        400
    );
    assert_eq!(post(endpoint.clone(), "\u{0}\u{1}garbage"), 400);
    assert_eq!(
        post(
            endpoint.clone(),
            "type=profile&data%5Bemail%5D=a%40example.com"
        ),
        200
    );
    assert_eq!(
        paysync.run(&["consent"]).lines().count(),
        1,
        "only the header"
    );

    // The person unsubscribes: the webhook (not the hourly poll) teaches paysync. The emulator
    // sends it from its own runtime.
    let _in_emulator = mc._rt.enter();
    mc.emu
        .emulator
        .unsubscribe(&email, &mc.audience, None)
        .expect("unsubscribe");
    wait_until(Duration::from_secs(30), "the webhook to be learnt", || {
        paysync
            .run(&["consent", "--email", &email])
            .contains(",unsubscribed,destination_webhook,")
    });
    // ActiveCampaign's webhook for the same person, at its own endpoint and secret.
    let ac_hook = paysync.url("/webhooks/destinations/ac?secret=hook-secret-2");
    assert_eq!(
        post(ac_hook.clone(), "contact%5Bemail%5D=a%40example.com"),
        400
    );
    assert_eq!(
        post(
            paysync.url("/webhooks/destinations/ac?secret=hook-secret-1"),
            unsub
        ),
        401
    );
    let ac_unsub = format!(
        "type=unsubscribe&date_time=2026-11-24T10%3A00%3A00-06%3A00&contact%5Bemail%5D={}&list=1",
        email.replace('@', "%40")
    );
    let answered = client
        .post(ac_hook)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ac_unsub)
        .send()
        .expect("post");
    assert_eq!(answered.status().as_u16(), 200);
    let ledger = paysync.run(&["consent", "--email", &email]);
    assert!(
        ledger.contains(",ac,unsubscribed,destination_webhook,"),
        "{ledger}"
    );
    let log = paysync.serve_log();
    assert!(
        !log.contains("hook-secret-2"),
        "the secret leaked into the log"
    );
    assert!(
        log.contains("missing or wrong secret"),
        "rejections are logged"
    );
    assert!(
        !log.contains("hook-secret-1"),
        "the secret leaked into the log"
    );
}
