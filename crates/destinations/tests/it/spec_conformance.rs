//! Every request the connectors send, checked against the vendor's published spec
//! (`specs/`, copies of `shared/specs`) by `scripts/spec_validate.py`: path (a template of the spec, under its base
//! path), method, query parameters, `Content-Type` and the JSON body against the operation's
//! request body schema, `$ref`s resolved. A mismatch fails the test with the validator's
//! report (method, path, the spec operation and which schema rule failed). Known spec defects
//! are corrected there, each with its spec location and evidence (`CORRECTIONS`), never skipped.
//!
//! - One test per vendor runs a scenario through every endpoint its connector uses (single and
//!   bulk upserts, tags added and removed, list removal, fields, ensure lists/tags/fields, the
//!   catalog reads, read_contact, changes_since, purchases for ActiveCampaign) with the
//!   emulator capturing whole requests ([`RequestLog::capture`]), and validates them all; it
//!   also checks that each of those endpoints was reached, and that every spec correction of
//!   the vendor was needed (a stale one fails).
//! - [`every_request_of_the_connector_tests_conforms`] runs the other connector tests of this
//!   binary again in a child process with `PAYSYNC_EMULATOR_CAPTURE` set (every emulator then
//!   appends each request to a file) and validates every request they sent.
//!
//! Needs the Python venv (`scripts/venv.sh`; `PAYSYNC_PYTHON`, default `<repo>/.venv/bin/python`)
//! and the specs copied into the repository's `specs/` (`PAYSYNC_SPECS` to point elsewhere).
//!
//! [`RequestLog::capture`]: paysync_emulators::common::RequestLog::capture

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use paysync_destinations::activecampaign::{ActiveCampaign, ActiveCampaignConfig, DeepDataConfig};
use paysync_destinations::constant_contact::{
    ConstantContact, ConstantContactConfig, MemoryTokenStore, OAuthClientConfig, TokenPair,
};
use paysync_destinations::mailchimp::{Mailchimp, MailchimpConfig};
use paysync_destinations::timefmt::now_ms;
use paysync_destinations::{
    Address, ChangeCursor, Consent, DesiredContact, Destination, FieldChange, FieldSpec,
    ItemOutcome, ListId, MembershipChange, Purchase, PurchaseItem, TagChange,
};
use paysync_emulators::EmulatorHandle;
use paysync_emulators::activecampaign::{
    ActiveCampaignConfig as AcEmuConfig, serve_activecampaign,
};
use paysync_emulators::common::CapturedRequest;
use paysync_emulators::constant_contact::{
    ActivityTiming, ConstantContactConfig as CcEmuConfig, ConstantContactEmulator,
    serve_constant_contact,
};
use paysync_emulators::mailchimp::{MailchimpConfig as McEmuConfig, serve_mailchimp};
use secrecy::SecretString;

use crate::support::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let python = std::env::var_os("PAYSYNC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run scripts/venv.sh (or ./scripts/test.sh), which installs the validator's \
         jsonschema and PyYAML",
        python.display()
    );
    python
}

/// Runs `scripts/spec_validate.py --vendor <vendor> <args>` on `requests` (a JSON array or JSON
/// lines): whether it passed, and its report.
fn spec_validate(vendor: &str, requests: Vec<u8>, args: &[String]) -> (bool, String) {
    let mut child = Command::new(python())
        .arg(repo_root().join("scripts/spec_validate.py"))
        .args(["--vendor", vendor, "--input", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/spec_validate.py");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&requests));
    let out = child.wait_with_output().expect("wait for the validator");
    writer
        .join()
        .expect("writer thread")
        .expect("requests written to the validator");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// Validates what one emulator captured: every request must conform, every operation in
/// `expect` must have been reached, and every correction of the vendor must have been needed.
async fn assert_conforms(vendor: &str, captured: Vec<CapturedRequest>, expect: &[&str]) {
    assert!(!captured.is_empty(), "nothing captured");
    let n = captured.len();
    let json = serde_json::Value::Array(captured.iter().map(CapturedRequest::to_json).collect());
    let mut args = vec!["--require-exercised".to_owned()];
    if !expect.is_empty() {
        args.push("--expect-operations".to_owned());
        args.extend(expect.iter().map(|s| (*s).to_owned()));
    }
    let vendor_name = vendor.to_owned();
    let (ok, report) = tokio::task::spawn_blocking(move || {
        spec_validate(&vendor_name, json.to_string().into_bytes(), &args)
    })
    .await
    .expect("validator task");
    assert!(
        ok,
        "{n} captured {vendor} requests checked against specs/: not all conform\n{report}"
    );
    println!("{report}");
}

// ---------------------------------------------------------------------------------------------
// Constant Contact

/// Every endpoint the Constant Contact connector uses (`/oauth2/…` is the authorization
/// server, outside the v3 spec).
const CC_OPERATIONS: &[&str] = &[
    "GET /contacts",
    "POST /contacts/sign_up_form",
    "PUT /contacts/{contact_id}",
    "POST /activities/contacts_json_import",
    "POST /activities/contacts_taggings_add",
    "POST /activities/contacts_taggings_remove",
    "POST /activities/remove_list_memberships",
    "GET /activities/{activity_id}",
    "GET /activities",
    "GET /contact_lists",
    "POST /contact_lists",
    "GET /contact_tags",
    "POST /contact_tags",
    "GET /contact_custom_fields",
    "POST /contact_custom_fields",
];

fn cc_connector(emu: &EmulatorHandle<ConstantContactEmulator>) -> ConstantContact {
    let mut oauth = OAuthClientConfig::new(
        "paysync-cc-client",
        Some(SecretString::from("paysync-cc-secret")),
        "https://paysync.example/oauth/cc/callback",
    );
    oauth.authorize_url = format!("{}/oauth2/default/v1/authorize", emu.url());
    oauth.token_url = format!("{}/oauth2/default/v1/token", emu.url());
    let t = emu.emulator.issue_token();
    let store = Arc::new(MemoryTokenStore::new(Some(TokenPair {
        access_token: SecretString::from(t.access_token),
        refresh_token: SecretString::from(t.refresh_token.expect("offline_access")),
        expires_at_ms: now_ms() + t.expires_in * 1000,
    })));
    let mut cfg = ConstantContactConfig::new(oauth, store);
    cfg.api_base = format!("{}/v3", emu.url());
    // Pacing is not what this test is about: the emulator's 4/s limit is lifted below.
    cfg.http = fast_http(50, 4);
    cfg.poll = fast_poll();
    cfg.suppression_max_age = Duration::ZERO;
    cfg.initial_lookback = Duration::from_secs(3_600);
    ConstantContact::new(cfg).expect("connector")
}

#[track_caller]
fn assert_ok(outcome: ItemOutcome) {
    assert!(outcome.is_ok(), "{outcome:?}");
}

fn full_contact(email_addr: &str, list: &ListId) -> DesiredContact {
    let mut c = contact(email_addr, Consent::Subscribed)
        .with_name("Ann", "Lee")
        .with_list(list);
    c.phone = Some("+1 555 0100".into());
    c.address = Some(Address {
        line1: Some("1 Main St".into()),
        line2: Some("Apt 2".into()),
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        postal_code: Some("62701".into()),
        country: Some("US".into()),
    });
    c
}

async fn drain_changes<D: Destination>(d: &D) {
    let mut cursor: Option<ChangeCursor> = None;
    for _ in 0..10 {
        let page = d.changes_since(cursor.as_ref()).await.expect("changes");
        cursor = Some(page.next);
        if !page.more {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_contact_requests_conform_to_the_swagger() {
    let emu = serve_constant_contact(CcEmuConfig::default())
        .await
        .expect("emulator");
    emu.emulator.set_activity_timing(ActivityTiming {
        initialized_ms: 10,
        processing_ms: 20,
        per_item_us: 0,
    });
    emu.emulator.set_rate_limit(None);
    emu.emulator.requests().capture(true);
    let cc = cc_connector(&emu);

    // Catalog: found or created, and read.
    let lists = cc
        .ensure_lists(&["Customers".to_owned(), "Trial".to_owned()])
        .await
        .unwrap();
    let (customers, trial) = (lists[0].id.clone(), lists[1].id.clone());
    cc.ensure_tags(&["customer".to_owned()]).await.unwrap();
    cc.ensure_fields(&[FieldSpec {
        key: "plan".into(),
        label: "plan".into(),
    }])
    .await
    .unwrap();
    cc.lists().await.unwrap();
    cc.tags().await.unwrap();
    cc.fields().await.unwrap();

    // Single upsert with everything, a read, fields, an unsubscribe.
    let ann = full_contact("ann@example.com", &customers)
        .with_list(&trial)
        .with_field("plan", "gold")
        .with_tag("customer")
        .with_tag("new-tag");
    assert_ok(cc.upsert_contact(&ann).await);
    assert!(
        cc.read_contact(&email("ann@example.com"))
            .await
            .unwrap()
            .is_some()
    );
    assert_all_ok(
        &cc.set_fields(&[FieldChange {
            email: email("ann@example.com"),
            fields: [("plan".to_owned(), "platinum".to_owned())].into(),
        }])
        .await,
    );
    assert_ok(
        cc.upsert_contact(&contact("ann@example.com", Consent::Unsubscribed))
            .await,
    );

    // Bulk: over 500 contacts, so that finding them again pages (`_links.next` cursors), in two
    // list sets (two imports, polled together through `GET /activities`).
    let many: Vec<DesiredContact> = (0..505)
        .map(|i| {
            let c = full_contact(&format!("c{i}@example.com"), &customers);
            let c = if i % 2 == 0 { c.with_list(&trial) } else { c };
            if i < 5 {
                c.with_field("plan", "silver").with_tag("imported")
            } else {
                c
            }
        })
        .collect();
    assert_all_ok(&cc.upsert_contacts(&many).await);

    // Tags and list removal in bulk, by a connector that has to look the contacts up.
    let other = cc_connector(&emu);
    let tagging: Vec<TagChange> = (0..60)
        .map(|i| TagChange {
            email: email(&format!("c{i}@example.com")),
            tags: BTreeSet::from(["vip".to_owned()]),
        })
        .collect();
    assert_all_ok(&other.add_tags(&tagging).await);
    assert_all_ok(&other.remove_tags(&tagging[..3]).await);
    let removal: Vec<MembershipChange> = (0..3)
        .map(|i| MembershipChange {
            email: email(&format!("c{i}@example.com")),
            lists: BTreeSet::from([customers.clone()]),
        })
        .collect();
    assert_all_ok(&other.remove_from_lists(&removal).await);

    emu.emulator.unsubscribe_contact("c7@example.com", None);
    drain_changes(&cc).await;

    assert_conforms(
        "constant-contact",
        emu.emulator.requests().captured(),
        CC_OPERATIONS,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// ActiveCampaign

/// Every endpoint the ActiveCampaign connector uses.
const AC_OPERATIONS: &[&str] = &[
    "POST /contact/sync",
    "GET /contacts",
    "GET /contacts/{id}",
    "GET /contacts/{id}/contactLists",
    "POST /contactLists",
    "GET /contacts/{id}/contactTags",
    "POST /contactTags",
    "DELETE /contactTags/{id}",
    "GET /tags",
    "POST /tags",
    "GET /lists",
    "POST /lists",
    "GET /fields",
    "POST /fields",
    "POST /fieldRels",
    "POST /import/bulk_import",
    "GET /import/info",
    "GET /connections",
    "POST /connections",
    "GET /ecomCustomers",
    "POST /ecomCustomers",
    "POST /ecomOrders",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activecampaign_requests_conform_to_the_reconstructed_spec() {
    let emu = serve_activecampaign(AcEmuConfig {
        import_delay_ms: 20,
        ..AcEmuConfig::default()
    })
    .await
    .expect("emulator");
    emu.emulator.set_rate_limit(None);
    emu.emulator.requests().capture(true);
    let mut cfg = ActiveCampaignConfig::new(emu.url(), SecretString::from("ac-token"));
    cfg.http = fast_http(50, 5);
    cfg.poll = fast_poll();
    cfg.suppression_max_age = Duration::ZERO;
    cfg.initial_lookback = Duration::from_secs(3_600);
    cfg.deep_data = Some(DeepDataConfig {
        service: "paysync".into(),
        externalid: "acct_1".into(),
        name: "Shop".into(),
        logo_url: "https://shop.example/logo.png".into(),
        link_url: "https://shop.example".into(),
    });
    let ac = ActiveCampaign::new(cfg).expect("connector");

    let list = ac.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0]
        .id
        .clone();
    ac.ensure_tags(&["customer".to_owned()]).await.unwrap();
    ac.ensure_fields(&[FieldSpec {
        key: "PLAN".into(),
        label: "Plan".into(),
    }])
    .await
    .unwrap();
    ac.lists().await.unwrap();
    ac.tags().await.unwrap();
    ac.fields().await.unwrap();

    // Single upsert with everything, a read, a tag off, off the list, fields one by one.
    let ann = full_contact("ann@example.com", &list)
        .with_field("PLAN", "gold")
        .with_tag("customer")
        .with_tag("vip");
    assert_ok(ac.upsert_contact(&ann).await);
    assert!(
        ac.read_contact(&email("ann@example.com"))
            .await
            .unwrap()
            .is_some()
    );
    assert_all_ok(
        &ac.remove_tags(&[TagChange {
            email: email("ann@example.com"),
            tags: BTreeSet::from(["vip".to_owned()]),
        }])
        .await,
    );
    assert_all_ok(
        &ac.set_fields(&[FieldChange {
            email: email("ann@example.com"),
            fields: [("PLAN".to_owned(), "platinum".to_owned())].into(),
        }])
        .await,
    );
    assert_all_ok(
        &ac.remove_from_lists(&[MembershipChange {
            email: email("ann@example.com"),
            lists: BTreeSet::from([list.clone()]),
        }])
        .await,
    );
    assert_ok(
        ac.upsert_contact(&contact("bob@example.com", Consent::NonMarketing))
            .await,
    );
    assert_ok(
        ac.upsert_contact(&contact("bob@example.com", Consent::Unsubscribed))
            .await,
    );

    // Bulk: imports for upserts, tags and fields.
    let many: Vec<DesiredContact> = (0..12)
        .map(|i| {
            full_contact(&format!("c{i}@example.com"), &list)
                .with_field("PLAN", "silver")
                .with_tag("imported")
        })
        .collect();
    assert_all_ok(&ac.upsert_contacts(&many).await);
    let tagging: Vec<TagChange> = (0..6)
        .map(|i| TagChange {
            email: email(&format!("c{i}@example.com")),
            tags: BTreeSet::from(["vip".to_owned()]),
        })
        .collect();
    assert_all_ok(&ac.add_tags(&tagging).await);
    assert_all_ok(&ac.remove_tags(&tagging).await);
    let fields: Vec<FieldChange> = (0..6)
        .map(|i| FieldChange {
            email: email(&format!("c{i}@example.com")),
            fields: [("PLAN".to_owned(), "bronze".to_owned())].into(),
        })
        .collect();
    assert_all_ok(&ac.set_fields(&fields).await);

    // Purchases (Deep Data), twice: the second finds the connection and customer.
    let purchase = |order: &str| Purchase {
        email: email("buyer@example.com"),
        customer_ref: "cus_1".into(),
        order_ref: order.into(),
        total_cents: 7_900,
        currency: "usd".into(),
        created_at_ms: 1_700_000_000_000,
        items: vec![
            PurchaseItem {
                product_ref: "prod_1".into(),
                name: "Pogo stick".into(),
                unit_price_cents: 4_900,
                quantity: 1,
            },
            PurchaseItem {
                product_ref: "prod_2".into(),
                name: "Skateboard".into(),
                unit_price_cents: 3_000,
                quantity: 1,
            },
        ],
        realtime: true,
        accepts_marketing: true,
    };
    assert_all_ok(&ac.record_purchases(&[purchase("ch_1")]).await);
    assert_all_ok(&ac.record_purchases(&[purchase("ch_2")]).await);

    emu.emulator
        .unsubscribe("c7@example.com", list.as_str(), None)
        .unwrap();
    drain_changes(&ac).await;

    assert_conforms(
        "activecampaign",
        emu.emulator.requests().captured(),
        AC_OPERATIONS,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Mailchimp

/// Every endpoint the Mailchimp connector uses (`/batches` operations are checked as the
/// requests they stand for).
const MC_OPERATIONS: &[&str] = &[
    "GET /lists",
    "POST /lists/{list_id}",
    "GET /lists/{list_id}/members",
    "GET /lists/{list_id}/members/{subscriber_hash}",
    "PUT /lists/{list_id}/members/{subscriber_hash}",
    "PATCH /lists/{list_id}/members/{subscriber_hash}",
    "DELETE /lists/{list_id}/members/{subscriber_hash}",
    "POST /lists/{list_id}/members/{subscriber_hash}/tags",
    "GET /lists/{list_id}/merge-fields",
    "POST /lists/{list_id}/merge-fields",
    "GET /lists/{list_id}/tag-search",
    "POST /batches",
    "GET /batches/{batch_id}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimp_requests_conform_to_the_marketing_spec() {
    let emu = serve_mailchimp(McEmuConfig {
        batch_delay_ms: 20,
        ..McEmuConfig::default()
    })
    .await
    .expect("emulator");
    emu.emulator.requests().capture(true);
    let audience = emu.emulator.create_list("Customers");
    let list = ListId::new(&audience);
    let mut cfg = MailchimpConfig::new(
        SecretString::from("0123456789abcdef-us1".to_owned()),
        list.clone(),
    );
    cfg.api_base = Some(format!("{}/3.0", emu.url()));
    cfg.http = fast_http(0, 10);
    cfg.poll = fast_poll();
    cfg.initial_lookback = Duration::from_secs(3_600);
    let mc = Mailchimp::new(cfg).expect("connector");

    assert_eq!(
        mc.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0].id,
        list
    );
    mc.ensure_tags(&["customer".to_owned()]).await.unwrap();
    mc.ensure_fields(&[FieldSpec {
        key: "PLAN".into(),
        label: "Plan".into(),
    }])
    .await
    .unwrap();
    mc.lists().await.unwrap();
    mc.tags().await.unwrap();
    mc.fields().await.unwrap();

    // Single upserts: everything; a pending one confirmed; an unsubscribe; a read.
    let ann = full_contact("ann@example.com", &list)
        .with_field("PLAN", "gold")
        .with_tag("customer");
    assert_ok(mc.upsert_contact(&ann).await);
    assert_ok(
        mc.upsert_contact(&contact("pat@example.com", Consent::NonMarketing))
            .await,
    );
    assert_ok(
        mc.upsert_contact(&contact("pat@example.com", Consent::Subscribed))
            .await,
    );
    assert_ok(
        mc.upsert_contact(&contact("pat@example.com", Consent::Unsubscribed))
            .await,
    );
    assert!(
        mc.read_contact(&email("ann@example.com"))
            .await
            .unwrap()
            .is_some()
    );

    // Few changes go one by one, many through /batches.
    let one_field = |e: &str| FieldChange {
        email: email(e),
        fields: [("PLAN".to_owned(), "platinum".to_owned())].into(),
    };
    assert_all_ok(&mc.set_fields(&[one_field("ann@example.com")]).await);
    assert_all_ok(
        &mc.remove_tags(&[TagChange {
            email: email("ann@example.com"),
            tags: BTreeSet::from(["customer".to_owned()]),
        }])
        .await,
    );

    let many: Vec<DesiredContact> = (0..12)
        .map(|i| {
            full_contact(&format!("c{i}@example.com"), &list)
                .with_field("PLAN", "silver")
                .with_tag("imported")
        })
        .collect();
    assert_all_ok(&mc.upsert_contacts(&many).await);
    assert_all_ok(&mc.upsert_contacts(&many).await);
    let emails: Vec<String> = (0..6).map(|i| format!("c{i}@example.com")).collect();
    let tagging: Vec<TagChange> = emails
        .iter()
        .map(|e| TagChange {
            email: email(e),
            tags: BTreeSet::from(["vip".to_owned()]),
        })
        .collect();
    assert_all_ok(&mc.add_tags(&tagging).await);
    assert_all_ok(&mc.remove_tags(&tagging).await);
    let fields: Vec<FieldChange> = emails.iter().map(|e| one_field(e)).collect();
    assert_all_ok(&mc.set_fields(&fields).await);
    let removal = |range: std::ops::Range<usize>| -> Vec<MembershipChange> {
        range
            .map(|i| MembershipChange {
                email: email(&format!("c{i}@example.com")),
                lists: BTreeSet::from([list.clone()]),
            })
            .collect()
    };
    assert_all_ok(&mc.remove_from_lists(&removal(0..1)).await);
    assert_all_ok(&mc.remove_from_lists(&removal(1..6)).await);

    emu.emulator
        .unsubscribe("c7@example.com", &audience, None)
        .unwrap();
    drain_changes(&mc).await;

    assert_conforms(
        "mailchimp",
        emu.emulator.requests().captured(),
        MC_OPERATIONS,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The validator itself

/// Requests that break the specs in the ways a connector bug would: each is reported, with the
/// rule that failed, and the run fails.
#[test]
fn the_validator_reports_what_does_not_conform() {
    use serde_json::json;
    let req = |method: &str, path: &str, query: Option<&str>, body: Option<serde_json::Value>| {
        json!({
            "method": method,
            "path": path,
            "query": query,
            "content_type": body.as_ref().map(|_| "application/json"),
            "body": body.map(|b| b.to_string()),
        })
    };
    let uuid = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a";
    let cases: &[(&str, Vec<serde_json::Value>, &[&str])] = &[
        (
            "constant-contact",
            vec![
                req(
                    "POST",
                    "/v3/contacts/sign_up_form",
                    None,
                    Some(json!({"email_adress": "a@b.co", "list_memberships": [uuid]})),
                ),
                req(
                    "POST",
                    "/v3/contacts/sign_up_form",
                    None,
                    Some(json!({"email_address": "a@b.co"})),
                ),
                req(
                    "POST",
                    "/v3/activities/remove_list_memberships",
                    None,
                    Some(json!({"source": {"contact_ids": vec![uuid; 501]}, "list_ids": [uuid]})),
                ),
                req(
                    "PATCH",
                    &format!("/v3/contacts/{uuid}"),
                    None,
                    Some(json!({})),
                ),
                req(
                    "GET",
                    "/v3/contacts",
                    Some("limit=1000&include=custom_fields,tags"),
                    None,
                ),
                req("GET", "/v3/contact", None, None),
                req("GET", "/contacts", None, None),
            ],
            &[
                "undeclared property 'email_adress'",
                "'list_memberships' is a required property",
                "501 items [rule maxItems: 500",
                "method PATCH is not defined for /contacts/",
                "query parameter 'limit': 1000",
                "'tags' is not one of",
                "no path of the spec matches /contact",
                "path is not under the API base path /v3",
            ],
        ),
        (
            "activecampaign",
            vec![
                req(
                    "POST",
                    "/api/3/contactTags",
                    None,
                    Some(json!({"contactTag": {"contact": "12", "tag": 3}})),
                ),
                req("GET", "/api/3/contacts", Some("bogus=1"), None),
                req("GET", "/api/3/contacts/abc", None, None),
                req(
                    "POST",
                    "/api/3/ecomOrders",
                    None,
                    Some(json!({"ecomOrder": {
                        "source": 1, "email": "a@b.co", "orderProducts": [], "totalPrice": 1,
                        "currency": "USD", "connectionid": 1, "customerid": 1,
                        "externalCreatedDate": "2024-01-01T00:00:00Z"
                    }})),
                ),
            ],
            &[
                "body.contactTag.contact: '12'",
                "query parameter 'bogus' is not declared",
                "path parameter id: 'abc' is not an integer",
                "rule anyOf",
            ],
        ),
        (
            "mailchimp",
            vec![
                req(
                    "POST",
                    "/3.0/batches",
                    None,
                    Some(json!({"operations": [{
                        "method": "PUT",
                        "path": "/lists/abc/members/0cc175b9c0f1b6a831c399e269772661",
                        "body": json!({"email_address": "a@b.co", "status": "on"}).to_string(),
                    }]})),
                ),
                req("GET", "/3.0/lists/abc/members", Some("count=ten"), None),
                req(
                    "POST",
                    "/3.0/lists/abc/members/0cc175b9c0f1b6a831c399e269772661/tags",
                    None,
                    None,
                ),
            ],
            &[
                "operations[0]",
                "'status_if_new' is a required property",
                "'on' is not one of",
                "query parameter 'count': 'ten' is not an integer",
                "required request body missing",
            ],
        ),
    ];
    for (vendor, requests, expected) in cases {
        let body = serde_json::Value::Array(requests.clone())
            .to_string()
            .into_bytes();
        let (ok, report) = spec_validate(vendor, body, &[]);
        assert!(
            !ok,
            "{vendor}: the validator passed requests that break the spec\n{report}"
        );
        for e in *expected {
            assert!(report.contains(e), "{vendor}: {e:?} not reported\n{report}");
        }
        assert!(
            report.contains(&format!("MISMATCHES: {} request(s)", requests.len())),
            "{vendor}: every request reported\n{report}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The other connector tests

/// Runs this binary's other tests (`--skip spec_conformance`) in a child process whose
/// emulators append every request to a file, and validates all of them (vendor by base path;
/// Stripe's and the admin routes' are not recorded or not checked). The child's own verdicts
/// are theirs to report: this test judges only what was sent.
#[test]
fn every_request_of_the_connector_tests_conforms() {
    let capture = std::env::temp_dir().join(format!(
        "paysync-spec-capture-{}-{}.jsonl",
        std::process::id(),
        now_ms()
    ));
    let exe = std::env::current_exe().expect("the test binary");
    let child = Command::new(exe)
        .args(["--skip", "spec_conformance", "--test-threads", "2"])
        .env("PAYSYNC_EMULATOR_CAPTURE", &capture)
        .stdin(Stdio::null())
        .output()
        .expect("run the connector tests");
    let child_out = String::from_utf8_lossy(&child.stdout);
    let summary = child_out
        .lines()
        .filter(|l| l.starts_with("test result"))
        .collect::<Vec<_>>()
        .join("\n");
    let requests = std::fs::read(&capture).unwrap_or_default();
    let _ = std::fs::remove_file(&capture);
    let lines = requests
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(
        lines > 100,
        "only {lines} requests captured from the connector tests ({summary})\n{child_out}"
    );
    let (ok, report) = spec_validate("auto", requests, &[]);
    assert!(
        ok,
        "{lines} requests of the connector tests ({summary}) checked against specs/: not \
         all conform\n{report}"
    );
    println!("{lines} requests of the connector tests ({summary})\n{report}");
}
