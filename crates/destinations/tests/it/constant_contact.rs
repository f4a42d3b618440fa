//! The Constant Contact connector against `paysync_emulators::constant_contact`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use paysync_destinations::batching::BatchLimits;
use paysync_destinations::constant_contact::{
    ConstantContact, ConstantContactConfig, MemoryTokenStore, OAuthClientConfig, Pkce, TokenPair,
    TokenStore, authorization_url,
};
use paysync_destinations::timefmt::now_ms;
use paysync_destinations::{
    Change, Consent, Destination, ErrorKind, FieldSpec, ItemOutcome, ListId, MembershipChange,
    OptOutBy, OutcomeKind, RemoteConsent, Removal, RemovalKind, TagChange,
};
use paysync_emulators::constant_contact::{
    ActivityTiming, ConstantContactConfig as EmuConfig, ConstantContactEmulator,
    serve_constant_contact,
};
use paysync_emulators::{EmulatorHandle, FaultConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::support::*;

const REDIRECT: &str = "https://paysync.example/oauth/cc/callback";

async fn emulator() -> EmulatorHandle<ConstantContactEmulator> {
    let emu = serve_constant_contact(EmuConfig::default())
        .await
        .expect("emulator");
    emu.emulator.set_activity_timing(ActivityTiming {
        initialized_ms: 20,
        processing_ms: 60,
        per_item_us: 0,
    });
    emu
}

fn oauth_config(emu: &EmulatorHandle<ConstantContactEmulator>) -> OAuthClientConfig {
    let mut o = OAuthClientConfig::new(
        "paysync-cc-client",
        Some(SecretString::from("paysync-cc-secret")),
        REDIRECT,
    );
    o.authorize_url = format!("{}/oauth2/default/v1/authorize", emu.url());
    o.token_url = format!("{}/oauth2/default/v1/token", emu.url());
    o
}

fn issued(emu: &EmulatorHandle<ConstantContactEmulator>) -> TokenPair {
    let t = emu.emulator.issue_token();
    TokenPair {
        access_token: SecretString::from(t.access_token),
        refresh_token: SecretString::from(t.refresh_token.expect("offline_access")),
        expires_at_ms: now_ms() + t.expires_in * 1000,
    }
}

fn connector(
    emu: &EmulatorHandle<ConstantContactEmulator>,
    store: Arc<dyn TokenStore>,
    limits: Option<BatchLimits>,
) -> ConstantContact {
    let mut cfg = ConstantContactConfig::new(oauth_config(emu), store);
    cfg.api_base = format!("{}/v3", emu.url());
    cfg.http = fast_http(4, 4);
    cfg.poll = fast_poll();
    cfg.suppression_max_age = Duration::ZERO;
    cfg.initial_lookback = Duration::from_secs(3_600);
    if let Some(l) = limits {
        cfg.import_limits = l;
    }
    ConstantContact::new(cfg).expect("connector")
}

async fn setup() -> (
    EmulatorHandle<ConstantContactEmulator>,
    ConstantContact,
    Arc<MemoryTokenStore>,
    ListId,
) {
    let emu = emulator().await;
    let store = Arc::new(MemoryTokenStore::new(Some(issued(&emu))));
    let cc = connector(&emu, store.clone(), None);
    let list = cc.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0]
        .id
        .clone();
    (emu, cc, store, list)
}

fn contact_state(emu: &EmulatorHandle<ConstantContactEmulator>, email: &str) -> serde_json::Value {
    emu.emulator
        .contact_by_email(email)
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn an_archive_is_a_restorable_delete_and_a_delete_leaves_nothing_personal() {
    let (emu, cc, _, list) = setup().await;
    for (who, how) in [
        ("archived@example.com", RemovalKind::Archive),
        ("deleted@example.com", RemovalKind::Delete),
    ] {
        let c = contact(who, Consent::Subscribed)
            .with_name("Some", "One")
            .with_list(&list);
        let out = cc.upsert_contact(&c).await;
        assert!(out.is_ok(), "{out:?}");
        let removal = Removal {
            email: email(who),
            how,
        };
        assert_all_ok(&cc.remove_contacts(std::slice::from_ref(&removal)).await);
        // Removing again is not an error.
        assert_all_ok(&cc.remove_contacts(&[removal]).await);
    }
    let archived = contact_state(&emu, "archived@example.com");
    assert_eq!(archived["deleted"], true, "{archived}");
    // Constant Contact keeps every contact: the deleted one holds another address and nothing
    // else of the person.
    assert_eq!(
        contact_state(&emu, "deleted@example.com"),
        serde_json::Value::Null
    );
    let state = emu.emulator.state_json(true).to_string();
    assert!(!state.contains("deleted@example.com"), "{state}");
    assert_eq!(state.matches("erased.invalid").count(), 1, "{state}");
    assert_eq!(
        cc.read_contact(&email("deleted@example.com"))
            .await
            .unwrap(),
        None
    );
    assert_all_ok(
        &cc.remove_contacts(&[Removal {
            email: email("never@example.com"),
            how: RemovalKind::Delete,
        }])
        .await,
    );
}

#[tokio::test]
async fn creates_updates_and_reads_a_contact() {
    let (_emu, cc, _, list) = setup().await;
    assert_eq!(
        cc.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0].id,
        list,
        "found, not created twice"
    );
    let fields = cc
        .ensure_fields(&[FieldSpec {
            key: "plan".into(),
            label: "plan".into(),
        }])
        .await
        .unwrap();
    assert_eq!(fields[0].key, "plan");

    let ann = contact("Ann@Example.com", Consent::Subscribed)
        .with_name("Ann", "Lee")
        .with_field("plan", "gold")
        .with_tag("customer")
        .with_list(&list);
    let out = cc.upsert_contact(&ann).await;
    assert!(out.is_ok(), "{out:?}");
    let read = cc
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .expect("contact");
    assert_eq!(read.first_name.as_deref(), Some("Ann"));
    assert_eq!(read.fields.get("plan").map(String::as_str), Some("gold"));
    assert!(read.tags.contains("customer"), "{:?}", read.tags);
    assert!(read.lists.contains(&list));
    assert_eq!(read.consent, RemoteConsent::Subscribed);

    let renamed = contact("ann@example.com", Consent::Subscribed)
        .with_name("Ann", "Smith")
        .with_list(&list);
    assert!(cc.upsert_contact(&renamed).await.is_ok());
    let read = cc
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.last_name.as_deref(), Some("Smith"));
    assert_eq!(
        read.fields.get("plan").map(String::as_str),
        Some("gold"),
        "sign-up form updates partially"
    );

    // Per-item refusals before any call: no list, unknown field, non-marketing.
    assert!(matches!(
        cc.upsert_contact(&contact("x@example.com", Consent::Subscribed))
            .await,
        ItemOutcome::Invalid(_)
    ));
    assert!(matches!(
        cc.upsert_contact(
            &contact("x@example.com", Consent::Subscribed)
                .with_list(&list)
                .with_field("nope", "1")
        )
        .await,
        ItemOutcome::Invalid(_)
    ));
    assert!(matches!(
        cc.upsert_contact(&contact("x@example.com", Consent::NonMarketing))
            .await,
        ItemOutcome::Invalid(_)
    ));

    // Fields of an existing contact through PUT, keeping its names.
    let out = cc
        .set_fields(&[paysync_destinations::FieldChange {
            email: email("ann@example.com"),
            fields: [("plan".to_owned(), "platinum".to_owned())].into(),
        }])
        .await;
    assert_all_ok(&out);
    let read = cc
        .read_contact(&email("ann@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.fields.get("plan").map(String::as_str),
        Some("platinum")
    );
    assert_eq!(read.last_name.as_deref(), Some("Smith"));
}

#[tokio::test]
async fn never_resubscribes_whoever_unsubscribed() {
    let (emu, cc, _, list) = setup().await;
    for e in ["self@example.com", "account@example.com"] {
        assert!(
            cc.upsert_contact(&contact(e, Consent::Subscribed).with_list(&list))
                .await
                .is_ok()
        );
    }
    // One unsubscribes themselves; paysync unsubscribes the other for the account.
    assert!(
        emu.emulator
            .unsubscribe_contact("self@example.com", Some("not interested".into()))
    );
    let out = cc
        .upsert_contact(&contact("account@example.com", Consent::Unsubscribed))
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        contact_state(&emu, "account@example.com")["opt_out_source"],
        "Account"
    );

    for (who, by) in [
        ("self@example.com", OptOutBy::Contact),
        ("account@example.com", OptOutBy::Account),
    ] {
        match cc
            .upsert_contact(&contact(who, Consent::Subscribed).with_list(&list))
            .await
        {
            ItemOutcome::ConsentRefused { refusal, .. } => {
                assert_eq!(refusal.current, RemoteConsent::Unsubscribed { by });
            }
            other => panic!("{who}: {other:?}"),
        }
    }
    // The bulk path refuses them too, and imports the rest.
    let batch: Vec<_> = [
        "self@example.com",
        "new1@example.com",
        "account@example.com",
        "new2@example.com",
    ]
    .iter()
    .map(|e| contact(e, Consent::Subscribed).with_list(&list))
    .collect();
    let out = cc.upsert_contacts(&batch).await;
    assert_eq!(
        kinds(&out),
        vec![
            OutcomeKind::ConsentRefused,
            OutcomeKind::Ok,
            OutcomeKind::ConsentRefused,
            OutcomeKind::Ok
        ],
        "{out:?}"
    );
    for e in ["self@example.com", "account@example.com"] {
        assert_eq!(
            contact_state(&emu, e)["permission_to_send"],
            "unsubscribed",
            "{e}"
        );
    }
    let consent = &emu.emulator.state_json(false)["consent"];
    let resubscribed = consent["resubscribed"]
        .as_array()
        .expect("the emulator's consent log")
        .len();
    assert_eq!(resubscribed, 0, "{consent}");
    let refused_by_vendor = consent["refused"]
        .as_array()
        .expect("the emulator's consent log")
        .len();
    assert_eq!(refused_by_vendor, 0, "paysync never even asked: {consent}");
}

#[tokio::test]
async fn bulk_imports_split_by_rows_and_bytes_and_tag_in_bulk() {
    let emu = emulator().await;
    let store = Arc::new(MemoryTokenStore::new(Some(issued(&emu))));
    let cc = connector(
        &emu,
        store,
        Some(BatchLimits {
            max_items: 4,
            max_bytes: 1_500,
        }),
    );
    let list = cc.ensure_lists(&["Customers".to_owned()]).await.unwrap()[0]
        .id
        .clone();
    cc.ensure_fields(&[FieldSpec {
        key: "note".into(),
        label: "note".into(),
    }])
    .await
    .unwrap();

    let by_rows: Vec<_> = (0..10)
        .map(|i| {
            contact(&format!("r{i}@example.com"), Consent::Subscribed)
                .with_list(&list)
                .with_tag("imported")
        })
        .collect();
    let out = cc.upsert_contacts(&by_rows).await;
    assert_all_ok(&out);
    // Activities the emulator accepted (a request throttled and retried under load is one).
    let accepted = |emu: &EmulatorHandle<ConstantContactEmulator>, kind: &str| {
        emu.emulator.state_json(false)["activities"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|x| x["type"] == kind).count())
    };
    let imports =
        |emu: &EmulatorHandle<ConstantContactEmulator>| accepted(emu, "contacts_json_import");
    assert_eq!(imports(&emu), 3, "⌈10 / 4⌉ imports");
    assert_eq!(
        accepted(&emu, "contacts_taggings_add"),
        1,
        "one tagging activity for all"
    );
    let read = cc
        .read_contact(&email("r9@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.lists.contains(&list));
    assert!(read.tags.contains("imported"));

    // ~300-byte rows: four fit by count but not by bytes.
    let note = "n".repeat(250);
    let by_bytes: Vec<_> = (0..6)
        .map(|i| {
            contact(&format!("b{i}@example.com"), Consent::Subscribed)
                .with_list(&list)
                .with_field("note", &note)
        })
        .collect();
    let out = cc.upsert_contacts(&by_bytes).await;
    assert_all_ok(&out);
    assert!(imports(&emu) >= 5, "split by bytes: {}", imports(&emu));
    let read = cc
        .read_contact(&email("b5@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.fields.get("note").map(String::as_str),
        Some(note.as_str())
    );

    // Tags off, list membership off, in bulk activities.
    let untag: Vec<TagChange> = (0..3)
        .map(|i| TagChange {
            email: email(&format!("r{i}@example.com")),
            tags: BTreeSet::from(["imported".to_owned()]),
        })
        .collect();
    assert_all_ok(&cc.remove_tags(&untag).await);
    let off: Vec<MembershipChange> = (0..3)
        .map(|i| MembershipChange {
            email: email(&format!("r{i}@example.com")),
            lists: BTreeSet::from([list.clone()]),
        })
        .collect();
    assert_all_ok(&cc.remove_from_lists(&off).await);
    let read = cc
        .read_contact(&email("r1@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !read.tags.contains("imported") && !read.lists.contains(&list),
        "{read:?}"
    );
    assert_eq!(
        read.consent,
        RemoteConsent::Subscribed,
        "removal from a list is not an unsubscribe"
    );
    let read = cc
        .read_contact(&email("r5@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.tags.contains("imported") && read.lists.contains(&list));
}

#[tokio::test]
async fn imports_for_several_list_sets_are_awaited_together() {
    let (emu, cc, _, _) = setup().await;
    let names: Vec<String> = (0..6).map(|i| format!("Segment {i}")).collect();
    let lists: Vec<ListId> = cc
        .ensure_lists(&names)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    // Six list sets: six imports (one per set), all running at once.
    let contacts: Vec<_> = (0..12)
        .map(|i| {
            contact(&format!("g{i}@example.com"), Consent::Subscribed).with_list(&lists[i % 6])
        })
        .collect();
    let reads_before = emu.emulator.requests().count("GET /v3/activities")
        + emu
            .emulator
            .requests()
            .count("GET /v3/activities/{activity_id}");
    assert_all_ok(&cc.upsert_contacts(&contacts).await);
    let requests = emu.emulator.requests();
    // Imports the emulator accepted (a request throttled and retried under load is one).
    let imports = emu.emulator.state_json(false)["activities"]
        .as_array()
        .map_or(0, |a| {
            a.iter()
                .filter(|x| x["type"] == "contacts_json_import")
                .count()
        });
    assert_eq!(imports, 6);
    let reads = requests.count("GET /v3/activities")
        + requests.count("GET /v3/activities/{activity_id}")
        - reads_before;
    // Polled one by one, each import would take about three reads (it runs for a second).
    assert!(reads <= 5, "{reads} status reads for 6 imports");
    for i in 0..12 {
        let read = cc
            .read_contact(&email(&format!("g{i}@example.com")))
            .await
            .unwrap()
            .unwrap();
        assert!(read.lists.contains(&lists[i % 6]), "{read:?}");
    }
}

#[tokio::test]
async fn refreshes_and_rotates_tokens_storing_the_new_pair_first() {
    let (emu, cc, store, list) = setup().await;
    let first = store.current().unwrap();
    emu.emulator.expire_access_tokens();
    assert!(
        cc.upsert_contact(&contact("a@example.com", Consent::Subscribed).with_list(&list))
            .await
            .is_ok()
    );
    let second = store.current().unwrap();
    assert_eq!(store.saves(), 1, "the rotated pair was saved once");
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret(),
        "rotated"
    );
    assert_eq!(cc.oauth().refreshes(), 1);

    // A second worker sharing the store: its stale token is replaced from the store, not by
    // spending the (single-use) refresh token again.
    let other = connector(&emu, store.clone(), None);
    emu.emulator.expire_access_tokens();
    assert!(
        cc.upsert_contact(&contact("b@example.com", Consent::Subscribed).with_list(&list))
            .await
            .is_ok()
    );
    assert!(
        other
            .upsert_contact(&contact("c@example.com", Consent::Subscribed).with_list(&list))
            .await
            .is_ok()
    );
    assert_eq!(
        cc.oauth().refreshes() + other.oauth().refreshes(),
        2,
        "one refresh per expiry"
    );
    assert_eq!(store.saves(), 2);

    // The spent refresh token is refused: the account must be reconnected.
    let stale = Arc::new(MemoryTokenStore::new(Some(TokenPair {
        expires_at_ms: 0,
        ..first
    })));
    let revoked = connector(&emu, stale, None);
    match revoked
        .upsert_contact(&contact("d@example.com", Consent::Subscribed).with_list(&list))
        .await
    {
        ItemOutcome::Failed(e) => assert_eq!(e.kind, ErrorKind::AuthRevoked, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connects_with_pkce() {
    let emu = emulator().await;
    let store = Arc::new(MemoryTokenStore::new(None));
    let cc = connector(&emu, store.clone(), None);
    let pkce = Pkce::generate();
    let url = authorization_url(&oauth_config(&emu), "state-1", &pkce).unwrap();
    paysync_destinations::http::install_crypto_provider();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(url).send().await.unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let callback = reqwest::Url::parse(&location).unwrap();
    let q: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "state-1");

    // The wrong verifier is refused; the right one yields a saved pair.
    let wrong = Pkce::generate();
    assert!(
        cc.oauth()
            .exchange_code(&q["code"], &wrong.verifier)
            .await
            .is_err()
    );
    let url = authorization_url(&oauth_config(&emu), "state-2", &pkce).unwrap();
    let location = browser.get(url).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let code: String = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    cc.oauth()
        .exchange_code(&code, &pkce.verifier)
        .await
        .unwrap();
    assert_eq!(store.saves(), 1);
    assert!(cc.lists().await.unwrap().is_empty());
}

#[tokio::test]
async fn rides_out_outages_and_throttling_and_reports_the_daily_quota() {
    let (emu, cc, _, list) = setup().await;
    // Long enough that the first request lands inside it even on a loaded machine.
    emu.emulator.faults().set(FaultConfig {
        outage_secs: Some(2),
        ..FaultConfig::default()
    });
    assert!(
        cc.upsert_contact(&contact("a@example.com", Consent::Subscribed).with_list(&list))
            .await
            .is_ok()
    );
    assert!(emu.emulator.requests().status_count(503) > 0);
    emu.emulator.faults().set(FaultConfig {
        throttle_rate: 0.5,
        ..FaultConfig::default()
    });
    // Throttling is random: upsert until some requests were throttled (8 at least).
    for i in 0.. {
        let out = cc
            .upsert_contact(
                &contact(&format!("b{i}@example.com"), Consent::Subscribed).with_list(&list),
            )
            .await;
        assert!(out.is_ok(), "{out:?}");
        if i >= 7 && emu.emulator.requests().status_count(429) > 0 {
            break;
        }
        assert!(i < 100, "no request was throttled");
    }
    emu.emulator.faults().clear();

    emu.emulator.set_daily_quota(Some(0));
    match cc
        .upsert_contact(&contact("c@example.com", Consent::Subscribed).with_list(&list))
        .await
    {
        ItemOutcome::Failed(e) => {
            assert_eq!(e.kind, ErrorKind::QuotaExhausted, "{e}");
            let wait = e.retry_after.expect("the reset time");
            assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
        }
        other => panic!("{other:?}"),
    }
    emu.emulator.set_daily_quota(None);
}

#[tokio::test]
async fn change_feed_reports_unsubscribes() {
    let (emu, cc, _, list) = setup().await;
    for e in ["x@example.com", "y@example.com"] {
        assert!(
            cc.upsert_contact(&contact(e, Consent::Subscribed).with_list(&list))
                .await
                .is_ok()
        );
    }
    assert!(emu.emulator.unsubscribe_contact("x@example.com", None));
    let mut cursor = None;
    let mut unsubscribed = Vec::new();
    let mut updated = Vec::new();
    for _ in 0..10 {
        let page = cc.changes_since(cursor.as_ref()).await.unwrap();
        for c in &page.changes {
            match c {
                Change::Unsubscribed { email, .. } => unsubscribed.push(email.as_str().to_owned()),
                Change::Updated(c) => updated.push(c.email.as_str().to_owned()),
            }
        }
        cursor = Some(page.next);
        if !page.more {
            break;
        }
    }
    assert!(
        unsubscribed.contains(&"x@example.com".to_owned()),
        "{unsubscribed:?}"
    );
    assert!(updated.contains(&"y@example.com".to_owned()), "{updated:?}");
}
