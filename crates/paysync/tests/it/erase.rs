//! `paysync erase`: a person synced to Mailchimp, ActiveCampaign (with Deep Data purchases) and
//! Constant Contact is removed from the three emulators and from paysync's database file, with a
//! receipt per system, and is not synced again when Stripe's history is read once more.

use paysync_emulators::EmulatorHandle;
use paysync_emulators::activecampaign::{
    ActiveCampaignConfig, ActiveCampaignEmulator, serve_activecampaign,
};
use paysync_emulators::constant_contact::{
    ConstantContactConfig, ConstantContactEmulator, OAuthClient, serve_constant_contact,
};

use crate::delivery::{KEY, Mailchimp, SECRET, expected_tags, wait_for_delivery};
use crate::harness::*;

/// Whether `haystack` holds `email` as a whole address (not inside a longer one).
fn holds_address(haystack: &[u8], email: &str) -> bool {
    let text = String::from_utf8_lossy(haystack).to_lowercase();
    text.match_indices(email).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    })
}

fn database_files_hold(paysync: &Paysync, email: &str) -> Vec<String> {
    std::fs::read_dir(paysync.dir.path())
        .expect("dir")
        .filter_map(|f| f.ok().map(|f| f.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("paysync.db"))
        })
        .filter(|p| holds_address(&std::fs::read(p).unwrap_or_default(), email))
        .map(|p| p.display().to_string())
        .collect()
}

/// ActiveCampaign (with Deep Data) and Constant Contact beside a test's Mailchimp, each with a
/// sync: their emulators, the configuration and the environment paysync needs for them.
pub(crate) struct OtherDestinations {
    pub(crate) ac: EmulatorHandle<ActiveCampaignEmulator>,
    pub(crate) cc: EmulatorHandle<ConstantContactEmulator>,
    cc_client: OAuthClient,
    cc_refresh: String,
}

impl OtherDestinations {
    pub(crate) fn start(mc: &Mailchimp, cc_client: OAuthClient) -> Self {
        let ac = mc
            ._rt
            .block_on(serve_activecampaign(ActiveCampaignConfig::default()))
            .expect("activecampaign emulator");
        let cc = mc
            ._rt
            .block_on(serve_constant_contact(ConstantContactConfig {
                clients: vec![cc_client.clone()],
                ..ConstantContactConfig::default()
            }))
            .expect("constant contact emulator");
        let cc_refresh = cc
            .emulator
            .issue_token()
            .refresh_token
            .expect("refresh token");
        OtherDestinations {
            ac,
            cc,
            cc_client,
            cc_refresh,
        }
    }

    /// The `[[destinations]]` and `[[syncs]]` of both.
    pub(crate) fn config(&self) -> String {
        format!(
            "\n[[destinations]]\nname = \"ac\"\nkind = \"activecampaign\"\napi_url = \"{ac}\"\n\
             api_token = \"env:TEST_AC_TOKEN\"\ndeep_data = true\n\
             \n[[syncs]]\nname = \"to-ac\"\ndestination = \"ac\"\ncoalesce_ms = 200\n\
             event_tags = {{}}\n\
             \n[[destinations]]\nname = \"cc\"\nkind = \"constant_contact\"\n\
             api_base = \"{cc}/v3\"\nauthorize_url = \"{cc}/oauth2/default/v1/authorize\"\n\
             token_url = \"{cc}/oauth2/default/v1/token\"\nclient_id = \"{client}\"\n\
             client_secret = \"env:TEST_CC_SECRET\"\nredirect_uri = \"http://127.0.0.1/cb\"\n\
             refresh_token = \"env:TEST_CC_REFRESH\"\ndefault_list = \"Stripe customers\"\n\
             \n[[syncs]]\nname = \"to-cc\"\ndestination = \"cc\"\nconsent = \"subscribed\"\n\
             coalesce_ms = 200\npayment_activity_lists = true\n",
            ac = self.ac.url(),
            cc = self.cc.url(),
            client = self.cc_client.client_id,
        )
    }

    /// Their credentials, and the master key Constant Contact's tokens are sealed with.
    pub(crate) fn set_env(&self, paysync: &Paysync, ac_token: &str) {
        paysync.set_env("TEST_AC_TOKEN", ac_token);
        paysync.set_env("TEST_CC_SECRET", &self.cc_client.client_secret);
        paysync.set_env("TEST_CC_REFRESH", &self.cc_refresh);
    }

    pub(crate) fn cc_refresh(&self) -> &str {
        &self.cc_refresh
    }
}

#[test]
fn erase_leaves_no_trace_in_the_destinations_or_the_database() {
    let mc = Mailchimp::start();
    let stripe = Localstripe::start();
    let others = OtherDestinations::start(&mc, OAuthClient::default());
    let config = mc.config() + &others.config();
    let paysync = Paysync::one_account(&stripe.url, SECRET, &config);
    paysync.set_env("TEST_MC_KEY", KEY);
    others.set_env(&paysync, "ac-token");
    paysync.set_env("PAYSYNC_MASTER_KEY", &"ab".repeat(32));
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let manifest = stripe.seed(10, Some((&hook, SECRET)), paysync.dir.path());
    let sent = manifest["counts"]["events"].as_u64().expect("events");
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, sent);

    // Someone who paid, so that ActiveCampaign holds Deep Data orders too.
    let (people, _) = expected_tags(&manifest);
    let (email, _) = people
        .iter()
        .find(|(_, tags)| tags.contains("paying"))
        .expect("a paying person");
    let email = email.clone();
    let mc_state = || mc.emu.emulator.state_json().to_string();
    let ac_state = || others.ac.emulator.state_json().to_string();
    let cc_state = || others.cc.emulator.state_json(true).to_string();
    assert!(holds_address(mc_state().as_bytes(), &email));
    assert!(holds_address(ac_state().as_bytes(), &email));
    assert!(holds_address(cc_state().as_bytes(), &email));
    assert!(!database_files_hold(&paysync, &email).is_empty());

    let refused = paysync
        .command()
        .args(["erase", "--email", &email])
        .output()
        .expect("run");
    assert!(!refused.status.success(), "erase asks for --yes");

    let receipts = paysync.run(&["erase", "--email", &email.to_uppercase(), "--yes", "--json"]);
    let receipts: Vec<serde_json::Value> = receipts
        .lines()
        .map(|l| serde_json::from_str(l).expect("receipt"))
        .collect();
    let outcome = |system: &str| {
        receipts
            .iter()
            .find(|r| r["system"] == system)
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
    };
    for (system, expected) in [
        ("mailchimp", "erased"),
        ("activecampaign", "erased"),
        ("constant_contact", "erased"),
        ("paysync", "erased"),
        ("stripe", "unchanged"),
    ] {
        assert_eq!(outcome(system).as_deref(), Some(expected), "{receipts:?}");
    }
    let nowhere = |when: &str| {
        for (name, state) in [
            ("Mailchimp", mc_state()),
            ("ActiveCampaign", ac_state()),
            ("Constant Contact", cc_state()),
        ] {
            assert!(
                !holds_address(state.as_bytes(), &email),
                "{name} holds the address {when}"
            );
        }
    };
    nowhere("after the erasure");
    assert_eq!(database_files_hold(&paysync, &email), Vec::<String>::new());
    let log = paysync.serve_log();
    assert!(!log.contains("panicked"), "{log}");

    // Stripe still has them: reading its history again does not bring them back anywhere.
    paysync.run(&["backfill", "--all"]);
    wait_for_delivery(&paysync, 0);
    assert!(
        !database_files_hold(&paysync, &email).is_empty(),
        "the history was read again: the customer is back in the ledger"
    );
    nowhere("after Stripe's history was read again");
    // Erasing again is harmless: nothing is found anywhere.
    let again = paysync.run(&["erase", "--email", &email, "--yes", "--json"]);
    assert!(again.contains("\"not_found\""), "{again}");
}
