//! The dashboard in a real browser: `tests/browser/dashboard.mjs` drives Debian's Chromium with
//! Playwright (both installed by scripts/browser.sh) through sign-in, connecting Mailchimp,
//! creating a sync with a segment, a contact arriving after a Stripe event, and a dead letter
//! replayed. This side plays the world outside the browser: Stripe (localstripe and the SDK) and
//! Mailchimp (its emulator, where it makes and then mends the fault behind the dead letter).
//! Screenshots are kept in target/browser-artifacts/.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::SECRET;
use crate::harness::*;
use crate::operator::{API_TOKEN, PASSWORD, mailchimp_taking, operator_paysync};

const MC_KEY: &str = "browserenteredkey4c1d-us1";

/// Emails of the seeded customers paysync pushes (alive, with an address).
fn emails(manifest: &Value) -> Vec<String> {
    manifest["customer_summaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] == false)
        .filter_map(|c| c["email"].as_str())
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn an_operator_runs_paysync_from_the_dashboard() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mc, audience) = mailchimp_taking(&rt, MC_KEY);
    let stripe = Localstripe::start();
    let paysync = operator_paysync(&stripe.url);
    let _server = paysync.serve();
    let hook = paysync.url("/webhooks/stripe/main");
    let artifacts = repo_root().join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);

    let mut node = Proc(
        Command::new("node")
            .arg(repo_root().join("tests/browser/dashboard.mjs"))
            .env("PAYSYNC_URL", paysync.url(""))
            .env("PAYSYNC_USER", "ada")
            .env("PAYSYNC_PASSWORD", PASSWORD)
            .env("MC_KEY", MC_KEY)
            .env("MC_AUDIENCE", &audience)
            .env("MC_API_BASE", format!("{}/3.0", mc.url()))
            .env("ARTIFACTS", &artifacts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node (scripts/browser.sh prepares tests/browser)"),
    );
    let mut to_browser = node.0.stdin.take().unwrap();
    let from_browser = BufReader::new(node.0.stdout.take().unwrap());
    let emulator = http::blocking_client();
    let merge_fields = format!("{}/3.0/lists/{audience}/merge-fields", mc.url());
    let auth = format!("Basic {}", base64_of(&format!("any:{MC_KEY}")));
    let mut replayed = Vec::new();
    let mut done = false;
    for line in from_browser.lines() {
        let line = line.expect("the browser script's output");
        let answer = match line.trim() {
            "WAITING stripe-event" => {
                let manifest = stripe.seed(6, Some((&hook, SECRET)), paysync.dir.path());
                paysync.run(&["backfill", "--all"]);
                emails(&manifest)
                    .into_iter()
                    .next()
                    .expect("a customer to sync")
            }
            "WAITING dead-letter" => {
                // Mailchimp now requires a field paysync does not fill: new contacts are
                // refused for good.
                let created = emulator
                    .post(merge_fields.clone())
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(
                        json!({"name": "Favourite colour", "type": "text", "tag": "COLOUR",
                                 "required": true})
                        .to_string(),
                    )
                    .send()
                    .expect("create the merge field");
                assert_eq!(created.status, 200, "{}", created.body);
                let manifest = stripe.seed_with(3, Some((&hook, SECRET)), paysync.dir.path(), 7);
                replayed = emails(&manifest);
                wait_until(Duration::from_secs(120), "a dead letter", || {
                    let dead: Value =
                        serde_json::from_str(&paysync.run(&["dead-letters", "--json"])).unwrap();
                    dead.as_array().is_some_and(|d| !d.is_empty())
                });
                String::new()
            }
            "WAITING fix" => {
                let fixed = emulator
                    .request("PATCH", format!("{merge_fields}/COLOUR"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(json!({"required": false}).to_string())
                    .send()
                    .expect("mend the merge field");
                assert_eq!(fixed.status, 200, "{}", fixed.body);
                String::new()
            }
            "DONE" => {
                done = true;
                break;
            }
            other => {
                eprintln!("browser: {other}");
                continue;
            }
        };
        writeln!(to_browser, "GO {answer}").expect("answer the browser script");
    }
    let status = node.0.wait().expect("the browser script");
    let mut errors = String::new();
    if let Some(mut stderr) = node.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
    }
    assert!(
        done && status.success(),
        "the browser script failed ({status}); screenshots in {}:\n{errors}\n{}\nsync log:\n{}\nstatus:\n{}",
        artifacts.display(),
        paysync.serve_log(),
        paysync.run(&["log", "--limit", "40"]),
        paysync.run(&["status"]),
    );
    // The sync saved from the editor, advanced settings included.
    let syncs = http::blocking_client()
        .get(paysync.url("/api/v1/syncs"))
        .header("authorization", &format!("Bearer {API_TOKEN}"))
        .send()
        .expect("syncs")
        .json();
    let sync = &syncs["syncs"][0];
    assert_eq!(sync["name"], "to-mc", "{syncs}");
    assert_eq!(sync["config"]["on_delete"], "unsubscribe", "{syncs}");
    assert_eq!(sync["config"]["segments"][0]["tag"], "paying", "{syncs}");
    assert_eq!(
        sync["config"]["fields"][0],
        json!({"to": "FNAME", "from": "first_name"}),
        "{syncs}"
    );
    // The replayed contact is in Mailchimp now.
    assert!(
        replayed
            .iter()
            .any(|e| mc.emulator.member_status(&audience, e).is_some()),
        "{replayed:?}"
    );
    for shot in ["01-login", "05-sync-saved", "08-dead-letter", "09-replayed"] {
        assert!(artifacts.join(format!("{shot}.png")).exists(), "{shot}");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
