//! Issue 3: 10,000 contacts into each destination, bulk path vs one call per contact, under the
//! emulators' real limits.
//!
//! For Constant Contact, ActiveCampaign and Mailchimp in turn: start the vendor's emulator with
//! its default configuration (CC 4 requests/s burst 4 and 10,000 a day, bulk activities 200 ms
//! initialized + 800 ms processing; AC 5 requests/s burst 5, bulk imports ≤ 250 contacts and 100
//! a minute, applied 1 s after the request; MC 10 simultaneous requests per key, `/batches`
//! finished 1 s after the request), build the connector with its production defaults (pacing,
//! retries, poll policy) pointed at it, create the list, two tags and two custom fields, then:
//!
//! - (a) bulk: one `upsert_contacts` of 10,000 new contacts (first and last name, two custom
//!   fields, one list, two tags, consent subscribed);
//! - (b) one call per contact: `upsert_contact` for other new contacts of the same shape, as many
//!   at once as the connector's `max_concurrency`. Where 10,000 would take too long under the
//!   vendor's rate (CC, AC), a sample is measured and its time and calls scaled linearly to
//!   10,000 (labelled "extrapolated from N").
//!
//! API calls are the emulator's own request counts (by endpoint and status), cleared before each
//! path. Every item's outcome is counted, and each contact is checked in the emulator's state
//! (names, both fields, the list, both tags).
//!
//! The lower bound of the bulk path is the time the vendor's limits alone force on the fewest
//! requests its bulk endpoints need for this data (vendor processing time of asynchronous jobs
//! excluded: it is emulator timing, not a limit):
//! - CC: 1 import + 1 status read; the import returns no contact ids, so 20 pages of 500
//!   contacts to learn them; 20 tagging activities of 500 ids (both tags in each) + 1 status read
//!   each — at 4 requests/s after a burst of 4;
//! - AC: 40 imports of 250 (tags, fields and list in the rows) + 1 status read each, at 5
//!   requests/s after a burst of 5 and ≤ 100 imports a minute;
//! - MC: 20 batch subscribes of 500 in rounds of 10 simultaneous requests, then one `/batches`
//!   of the 10,000 tag operations (batch subscribe takes no tags) and one status read; a round
//!   costs the emulator's measured time for one such request (MC has no request rate).
//!
//! Mailchimp is then measured once more with 100 ms of latency added to every request by the
//! emulator's fault injection (its only limit is concurrency, and on loopback the emulator
//! answers in well under a millisecond, which flatters one call per contact). That pair of rows
//! is labelled; it is not a vendor limit.
//!
//!   cargo bench -p paysync-destinations --bench destination_bulk
//!
//! Environment: `BENCH_CONTACTS` (default 10000), `BENCH_SAMPLE_CC` / `BENCH_SAMPLE_AC`
//! (default 100: one call per contact costs ~1.2 s a contact at 4–5 requests/s), `BENCH_SAMPLE_MC`
//! (default all), `BENCH_MC_LATENCY_MS` (default 100, 0 = skip those rows),
//! `BENCH_SAMPLE_MC_LATENCY` (default 1000), `BENCH_ONLY` (`cc`, `ac` or `mc`). The whole run
//! takes about 6–7 minutes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use paysync_destinations::activecampaign::{ActiveCampaign, ActiveCampaignConfig};
use paysync_destinations::constant_contact::{
    ConstantContact, ConstantContactConfig, MemoryTokenStore, OAuthClientConfig, TokenPair,
};
use paysync_destinations::mailchimp::{Mailchimp, MailchimpConfig};
use paysync_destinations::timefmt::now_ms;
use paysync_destinations::{
    Consent, DesiredContact, Destination, Email, FieldInfo, FieldSpec, ItemOutcome, ListId,
};
use paysync_emulators::FaultConfig;
use paysync_emulators::activecampaign::{
    ActiveCampaignConfig as AcEmuConfig, serve_activecampaign,
};
use paysync_emulators::common::RequestLog;
use paysync_emulators::constant_contact::{
    ConstantContactConfig as CcEmuConfig, serve_constant_contact,
};
use paysync_emulators::mailchimp::{MailchimpConfig as McEmuConfig, serve_mailchimp};
use secrecy::SecretString;
use serde_json::{Value, json};

const TAGS: [&str; 2] = ["customer", "stripe-sync"];
const LIST_NAME: &str = "Customers";
const MC_KEY: &str = "0123456789abcdef0123456789abcdef-us1";

const FIRST: [&str; 20] = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Mateo",
    "Mia",
    "Lucas",
    "Charlotte",
    "Levi",
    "Harper",
    "Ezra",
    "Evelyn",
    "Asher",
    "Zoë",
    "José",
];
const LAST: [&str; 20] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "O'Brien",
    "Nguyen",
];
const DOMAINS: [&str; 4] = [
    "example.com",
    "example.org",
    "mail.example.net",
    "shop.example",
];
const PLANS: [&str; 4] = ["free", "starter", "pro", "business"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The person keys and labels of the two custom fields, per vendor.
struct FieldKeys {
    plan: String,
    ltv: String,
}

/// Contact `i` (globally numbered: the two paths use disjoint ranges, so both create contacts).
fn contact(i: usize, list: &ListId, keys: &FieldKeys) -> DesiredContact {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    let local: String = format!("{first}.{last}")
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'ë' => 'e',
            'é' => 'e',
            '\'' => '-',
            c => c,
        })
        .collect();
    let email = format!("{local}.{i}@{}", DOMAINS[i % DOMAINS.len()]);
    let mut c = DesiredContact::new(
        Email::parse(&email).expect("valid address"),
        Consent::Subscribed,
    )
    .with_name(first, last)
    .with_field(&keys.plan, PLANS[(i / 3) % PLANS.len()])
    .with_field(&keys.ltv, &format!("{}.{:02}", (i * 37) % 5_000, i % 100))
    .with_list(list);
    for t in TAGS {
        c = c.with_tag(t);
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Measuring

#[derive(Debug, Default, Clone)]
struct Tally {
    ok: usize,
    refused: usize,
    invalid: usize,
    failed: usize,
    /// A few distinct problems, with how often each occurred.
    problems: BTreeMap<String, usize>,
}

impl Tally {
    fn of(outcomes: &[ItemOutcome]) -> Self {
        let mut t = Tally::default();
        for o in outcomes {
            let problem = match o {
                ItemOutcome::Ok(_) => {
                    t.ok += 1;
                    None
                }
                ItemOutcome::ConsentRefused { refusal, .. } => {
                    t.refused += 1;
                    Some(format!("refused: {}", refusal.reason))
                }
                ItemOutcome::Invalid(why) => {
                    t.invalid += 1;
                    Some(format!("invalid: {why}"))
                }
                ItemOutcome::Failed(e) => {
                    t.failed += 1;
                    Some(format!("failed: {e}"))
                }
            };
            if let Some(p) = problem {
                let p: String = p.chars().take(200).collect();
                if t.problems.len() < 8 || t.problems.contains_key(&p) {
                    *t.problems.entry(p).or_default() += 1;
                }
            }
        }
        t
    }

    fn summary(&self) -> String {
        let mut parts = vec![format!("{} ok", self.ok)];
        for (n, what) in [
            (self.refused, "refused"),
            (self.invalid, "invalid"),
            (self.failed, "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(", ")
    }
}

/// Requests seen by an emulator: by endpoint, by status.
#[derive(Debug, Default, Clone)]
struct Calls {
    total: u64,
    by_endpoint: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
}

impl Calls {
    fn read(log: &RequestLog) -> Self {
        let v = log.to_json();
        let map = |k: &str| -> BTreeMap<String, u64> {
            v[k].as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        Calls {
            total: v["total"].as_u64().unwrap_or(0),
            by_endpoint: map("by_endpoint"),
            by_status: map("by_status"),
        }
    }

    fn status(&self, s: &str) -> u64 {
        self.by_status.get(s).copied().unwrap_or(0)
    }

    /// Answers other than 2xx, as `429×3, 500×1`.
    fn non_2xx(&self) -> String {
        let v: Vec<String> = self
            .by_status
            .iter()
            .filter(|(s, _)| !s.starts_with('2'))
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }
}

/// One measured path.
struct Row {
    vendor: &'static str,
    path: Path,
    label: String,
    /// Contacts actually sent.
    measured: usize,
    wall: Duration,
    calls: Calls,
    tally: Tally,
    /// Contacts found complete in the emulator afterwards.
    verified: usize,
    /// The bulk path's lower bound (seconds) and how it was computed.
    bound: Option<(f64, String)>,
}

impl Row {
    fn scale(&self, n: usize) -> f64 {
        n as f64 / self.measured as f64
    }

    /// Asynchronous jobs started (CC activities, AC imports, MC batches) and their status reads.
    fn jobs(&self) -> (u64, u64) {
        let mut started = 0;
        let mut reads = 0;
        for (e, n) in &self.calls.by_endpoint {
            if e.starts_with("POST ")
                && (e.contains("/activities/")
                    || e.ends_with("/bulk_import")
                    || e.ends_with("/batches"))
            {
                started += n;
            }
            if e.starts_with("GET ")
                && (e.ends_with("/activities/{activity_id}")
                    || e.ends_with("/import/info")
                    || e.ends_with("/batches/{batch_id}"))
            {
                reads += n;
            }
        }
        (started, reads)
    }
}

/// Runs `upsert_contact` for each contact, `concurrency` at a time; outcomes in order.
async fn one_by_one<D: Destination + 'static>(
    dest: Arc<D>,
    contacts: Arc<Vec<DesiredContact>>,
    concurrency: usize,
) -> Vec<ItemOutcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(std::sync::Mutex::new(vec![None; contacts.len()]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (dest, contacts, next, out) =
            (dest.clone(), contacts.clone(), next.clone(), out.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= contacts.len() {
                    break;
                }
                let o = dest.upsert_contact(&contacts[i]).await;
                out.lock().unwrap()[i] = Some(o);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("worker");
    }
    let out = std::mem::take(&mut *out.lock().unwrap());
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| ItemOutcome::Invalid("no outcome".into())))
        .collect()
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[destination_bulk] {}", msg.as_ref());
}

/// What the emulator holds for one contact, reduced to what the check compares.
#[derive(Debug, Default)]
struct Held {
    first: String,
    last: String,
    on_list: bool,
    tags: Vec<String>,
    fields: HashMap<String, String>,
}

/// How many of `contacts` the emulator holds completely (names, the list, both tags, both
/// fields as sent). `field_names` maps the contact's field key to the emulator's name for it.
fn verify(
    contacts: &[DesiredContact],
    held: &HashMap<String, Held>,
    field_names: &HashMap<String, String>,
) -> usize {
    contacts
        .iter()
        .filter(|c| {
            let Some(h) = held.get(c.email.as_str()) else {
                return false;
            };
            h.on_list
                && c.first_name.as_deref() == Some(h.first.as_str())
                && c.last_name.as_deref() == Some(h.last.as_str())
                && c.tags
                    .iter()
                    .all(|t| h.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
                && c.fields.iter().all(|(k, v)| {
                    h.fields.get(&field_names[k]).map(String::as_str) == Some(v.as_str())
                })
        })
        .count()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn key_of(fields: &[FieldInfo], wanted: &str) -> String {
    fields
        .iter()
        .find(|f| f.key.eq_ignore_ascii_case(wanted))
        .unwrap_or_else(|| panic!("field {wanted} not created: {fields:?}"))
        .key
        .clone()
}

// ---------------------------------------------------------------------------------------------
// The two paths

/// Which path, for the labels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Bulk,
    OneByOne,
}

/// What one vendor's run shares between its paths.
struct Bench<'a> {
    vendor: &'static str,
    short: &'static str,
    log: &'a RequestLog,
    held: &'a dyn Fn(&[DesiredContact]) -> usize,
}

impl Bench<'_> {
    /// (a) one `upsert_contacts` of all `contacts`.
    async fn bulk<D: Destination>(
        &self,
        dest: &D,
        label: &str,
        contacts: Vec<DesiredContact>,
        bound: (f64, String),
    ) -> Row {
        let n = contacts.len();
        self.log.clear();
        progress(format!("{} {label}: upsert_contacts of {n} …", self.short));
        let start = Instant::now();
        let outcomes = dest.upsert_contacts(&contacts).await;
        let wall = start.elapsed();
        self.finish(Path::Bulk, label, contacts, &outcomes, wall, Some(bound))
    }

    /// (b) `upsert_contact` for each of `contacts`, `concurrency` at a time.
    async fn one_by_one<D: Destination + 'static>(
        &self,
        dest: Arc<D>,
        label: &str,
        contacts: Vec<DesiredContact>,
        concurrency: usize,
    ) -> Row {
        let n = contacts.len();
        let contacts = Arc::new(contacts);
        self.log.clear();
        progress(format!(
            "{} {label}: {n} × upsert_contact, {concurrency} at a time …",
            self.short
        ));
        let start = Instant::now();
        let outcomes = one_by_one(dest, contacts.clone(), concurrency).await;
        let wall = start.elapsed();
        let contacts = Arc::try_unwrap(contacts).unwrap_or_else(|c| (*c).clone());
        self.finish(Path::OneByOne, label, contacts, &outcomes, wall, None)
    }

    fn finish(
        &self,
        path: Path,
        label: &str,
        contacts: Vec<DesiredContact>,
        outcomes: &[ItemOutcome],
        wall: Duration,
        bound: Option<(f64, String)>,
    ) -> Row {
        let calls = Calls::read(self.log);
        let tally = Tally::of(outcomes);
        let verified = (self.held)(&contacts);
        progress(format!(
            "{} {label}: {:.1} s, {} calls ({}), {}; {verified}/{} verified",
            self.short,
            wall.as_secs_f64(),
            calls.total,
            calls.non_2xx(),
            tally.summary(),
            contacts.len()
        ));
        Row {
            vendor: self.vendor,
            path,
            label: label.to_owned(),
            measured: contacts.len(),
            wall,
            calls,
            tally,
            verified,
            bound,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Constant Contact

async fn constant_contact(n: usize, sample: usize) -> Vec<Row> {
    let emu = serve_constant_contact(CcEmuConfig::default())
        .await
        .expect("CC emulator");
    let e = &emu.emulator;
    progress(format!(
        "Constant Contact emulator at {}: rate {:?}, daily quota {:?}, activity timing {:?}",
        emu.url(),
        e.rate_limit(),
        e.config().daily_quota,
        e.activity_timing()
    ));
    let t = e.issue_token();
    let tokens = TokenPair {
        access_token: SecretString::from(t.access_token),
        refresh_token: SecretString::from(t.refresh_token.expect("offline_access")),
        expires_at_ms: now_ms() + t.expires_in * 1000,
    };
    let mut oauth = OAuthClientConfig::new(
        "paysync-cc-client",
        Some(SecretString::from("paysync-cc-secret")),
        "https://paysync.example/oauth/cc/callback",
    );
    oauth.authorize_url = format!("{}/oauth2/default/v1/authorize", emu.url());
    oauth.token_url = format!("{}/oauth2/default/v1/token", emu.url());
    let mut cfg = ConstantContactConfig::new(oauth, Arc::new(MemoryTokenStore::new(Some(tokens))));
    cfg.api_base = format!("{}/v3", emu.url());
    let cc = Arc::new(ConstantContact::new(cfg).expect("CC connector"));

    let setup = Instant::now();
    let list = cc.ensure_lists(&[LIST_NAME.into()]).await.expect("list")[0]
        .id
        .clone();
    cc.ensure_tags(&TAGS.map(String::from)).await.expect("tags");
    let fields = cc
        .ensure_fields(&[
            FieldSpec {
                key: "plan".into(),
                label: "plan".into(),
            },
            FieldSpec {
                key: "ltv".into(),
                label: "ltv".into(),
            },
        ])
        .await
        .expect("fields");
    let keys = FieldKeys {
        plan: key_of(&fields, "plan"),
        ltv: key_of(&fields, "ltv"),
    };
    progress(format!(
        "CC setup (list, 2 tags, 2 fields): {} calls in {:.1} s",
        e.requests().to_json()["total"],
        setup.elapsed().as_secs_f64()
    ));
    let field_names: HashMap<String, String> = [
        (keys.plan.clone(), keys.plan.clone()),
        (keys.ltv.clone(), keys.ltv.clone()),
    ]
    .into();
    let held = |contacts: &[DesiredContact]| {
        let st = e.state_json(true);
        let map: HashMap<String, Held> = st["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    text(&c["email"]).to_lowercase(),
                    Held {
                        first: text(&c["first_name"]),
                        last: text(&c["last_name"]),
                        on_list: c["list_ids"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| text(x) == list.as_str())),
                        tags: c["tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(text)
                            .collect(),
                        fields: c["custom_fields"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), text(v)))
                            .collect(),
                    },
                )
            })
            .collect();
        verify(contacts, &map, &field_names)
    };
    let bench = Bench {
        vendor: "Constant Contact",
        short: "CC",
        log: e.requests(),
        held: &held,
    };

    // Lower bound: see the module docs.
    let imports = n.div_ceil(40_000);
    let id_pages = n.div_ceil(500);
    let tag_activities = n.div_ceil(500) * TAGS.len().div_ceil(50);
    let requests = 2 * imports + id_pages + 2 * tag_activities;
    let bound = (
        requests.saturating_sub(4) as f64 / 4.0,
        format!(
            "{requests} requests ({imports} import + {imports} status read, {id_pages} id pages of 500, \
             {tag_activities} tagging activities of 500 ids + {tag_activities} status reads) at 4/s after a burst of 4"
        ),
    );
    let mut rows = vec![
        bench
            .bulk(
                &*cc,
                "bulk",
                (0..n).map(|i| contact(i, &list, &keys)).collect(),
                bound,
            )
            .await,
    ];
    let concurrency = cc.capabilities().max_concurrency;
    rows.push(
        bench
            .one_by_one(
                cc.clone(),
                &format!("one call per contact, {concurrency} at a time"),
                (n..n + sample.min(n))
                    .map(|i| contact(i, &list, &keys))
                    .collect(),
                concurrency,
            )
            .await,
    );
    progress(format!(
        "CC daily quota used: {} of {:?}",
        e.quota_used("paysync-cc-client"),
        e.config().daily_quota
    ));
    emu.stop().await;
    rows
}

// ---------------------------------------------------------------------------------------------
// ActiveCampaign

async fn activecampaign(n: usize, sample: usize) -> Vec<Row> {
    let emu = serve_activecampaign(AcEmuConfig::default())
        .await
        .expect("AC emulator");
    let e = &emu.emulator;
    progress(format!(
        "ActiveCampaign emulator at {}: rate {:?}, import delay {:?}, {} multi-contact imports a minute",
        emu.url(),
        e.rate_limit(),
        e.import_delay(),
        e.config().import_multi_per_minute
    ));
    let cfg = ActiveCampaignConfig::new(emu.url(), SecretString::from("ac-bench-token"));
    let ac = Arc::new(ActiveCampaign::new(cfg).expect("AC connector"));

    let setup = Instant::now();
    let list = ac.ensure_lists(&[LIST_NAME.into()]).await.expect("list")[0]
        .id
        .clone();
    ac.ensure_tags(&TAGS.map(String::from)).await.expect("tags");
    let fields = ac
        .ensure_fields(&[
            FieldSpec {
                key: "PLAN".into(),
                label: "Plan".into(),
            },
            FieldSpec {
                key: "LTV".into(),
                label: "Lifetime value".into(),
            },
        ])
        .await
        .expect("fields");
    let keys = FieldKeys {
        plan: key_of(&fields, "PLAN"),
        ltv: key_of(&fields, "LTV"),
    };
    progress(format!(
        "AC setup (list, 2 tags, 2 fields): {} calls in {:.1} s",
        e.requests().to_json()["total"],
        setup.elapsed().as_secs_f64()
    ));
    // The state dump names field values by title.
    let field_names: HashMap<String, String> = fields
        .iter()
        .map(|f| (f.key.clone(), f.label.clone()))
        .collect();
    let held = |contacts: &[DesiredContact]| {
        let st = e.state_json();
        let map: HashMap<String, Held> = st["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    text(&c["email"]).to_lowercase(),
                    Held {
                        first: text(&c["firstName"]),
                        last: text(&c["lastName"]),
                        on_list: c["lists"].as_array().is_some_and(|l| {
                            l.iter().any(|m| {
                                text(&m["list"]) == list.as_str() && m["status"].as_u64() == Some(1)
                            })
                        }),
                        tags: c["tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(text)
                            .collect(),
                        fields: c["fields"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), text(v)))
                            .collect(),
                    },
                )
            })
            .collect();
        verify(contacts, &map, &field_names)
    };
    let bench = Bench {
        vendor: "ActiveCampaign",
        short: "AC",
        log: e.requests(),
        held: &held,
    };

    let imports = n.div_ceil(250);
    let requests = 2 * imports;
    let by_rate = requests.saturating_sub(5) as f64 / 5.0;
    let by_import_limit = (imports.div_ceil(100).saturating_sub(1) * 60) as f64;
    let bound = (
        by_rate.max(by_import_limit),
        format!(
            "{requests} requests ({imports} imports of 250 + {imports} status reads) at 5/s after a burst \
             of 5; {imports} imports ≤ 100 a minute"
        ),
    );
    let mut rows = vec![
        bench
            .bulk(
                &*ac,
                "bulk",
                (0..n).map(|i| contact(i, &list, &keys)).collect(),
                bound,
            )
            .await,
    ];
    let concurrency = ac.capabilities().max_concurrency;
    rows.push(
        bench
            .one_by_one(
                ac.clone(),
                &format!("one call per contact, {concurrency} at a time"),
                (n..n + sample.min(n))
                    .map(|i| contact(i, &list, &keys))
                    .collect(),
                concurrency,
            )
            .await,
    );
    emu.stop().await;
    rows
}

// ---------------------------------------------------------------------------------------------
// Mailchimp

/// Median time of one batch subscribe of 500 new members and of one small request, straight to
/// the emulator (another audience), for the lower bound.
async fn mailchimp_call_times(url: &str, audience: &str, round0: usize) -> (Duration, Duration) {
    let client = reqwest::Client::new();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bench:{MC_KEY}"))
    );
    let mut big = Vec::new();
    for round in round0..round0 + 5 {
        let members: Vec<Value> = (0..500)
            .map(|i| {
                json!({
                    "email_address": format!("calibration.{round}.{i}@example.com"),
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "Cal", "LNAME": "Ibration", "PLAN": "pro", "LTV": "12.50"},
                })
            })
            .collect();
        let body = json!({"members": members, "update_existing": false});
        let start = Instant::now();
        let r = client
            .post(format!("{url}/3.0/lists/{audience}"))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
            .expect("calibration batch subscribe");
        assert!(r.status().is_success(), "calibration: {}", r.status());
        let _ = r.bytes().await;
        big.push(start.elapsed());
    }
    let mut small = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        let r = client
            .get(format!("{url}/3.0/lists/{audience}?fields=id"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("calibration get");
        assert!(r.status().is_success(), "calibration: {}", r.status());
        let _ = r.bytes().await;
        small.push(start.elapsed());
    }
    big.sort();
    small.sort();
    (big[big.len() / 2], small[small.len() / 2])
}

fn mailchimp_bound(n: usize, t_batch: Duration, t_small: Duration) -> (f64, String) {
    let batches = n.div_ceil(500);
    let rounds = batches.div_ceil(10);
    (
        rounds as f64 * t_batch.as_secs_f64() + 2.0 * t_small.as_secs_f64(),
        format!(
            "{batches} batch subscribes of 500 in {rounds} rounds of 10 simultaneous × {:.0} ms (measured \
             median of one), then 1 `/batches` of {n} tag operations + 1 status read × {:.1} ms",
            t_batch.as_secs_f64() * 1e3,
            t_small.as_secs_f64() * 1e3
        ),
    )
}

async fn mailchimp(n: usize, sample: usize, latency_ms: u64, latency_sample: usize) -> Vec<Row> {
    let emu = serve_mailchimp(McEmuConfig::default())
        .await
        .expect("MC emulator");
    let e = &emu.emulator;
    progress(format!(
        "Mailchimp emulator at {}: max concurrent {:?}, batch delay {:?}",
        emu.url(),
        e.max_concurrent(),
        e.batch_delay()
    ));
    // Audiences are not created by paysync (the connector refuses): made as the account would.
    let audience = e.create_list(LIST_NAME);
    let calibration = e.create_list("Calibration");
    let list = ListId::new(&audience);
    let connector = |list: &ListId| {
        let mut cfg = MailchimpConfig::new(SecretString::from(MC_KEY.to_owned()), list.clone());
        cfg.api_base = Some(format!("{}/3.0", emu.url()));
        Arc::new(Mailchimp::new(cfg).expect("MC connector"))
    };
    let mc = connector(&list);
    let specs = [
        FieldSpec {
            key: "PLAN".into(),
            label: "Plan".into(),
        },
        FieldSpec {
            key: "LTV".into(),
            label: "Lifetime value".into(),
        },
    ];

    let setup = Instant::now();
    assert_eq!(
        mc.ensure_lists(&[LIST_NAME.into()])
            .await
            .expect("audience")[0]
            .id,
        list
    );
    // Mailchimp creates tags on first use; `ensure_tags` only looks them up (tag-search).
    if let Err(err) = mc.ensure_tags(&TAGS.map(String::from)).await {
        progress(format!(
            "MC ensure_tags failed (continuing: tags are created on first use): {err}"
        ));
    }
    let fields = mc.ensure_fields(&specs).await.expect("fields");
    let keys = FieldKeys {
        plan: key_of(&fields, "PLAN"),
        ltv: key_of(&fields, "LTV"),
    };
    progress(format!(
        "MC setup (2 merge fields): {} calls in {:.1} s",
        e.requests().to_json()["total"],
        setup.elapsed().as_secs_f64()
    ));
    // The calibration audience needs the same merge fields.
    connector(&ListId::new(&calibration))
        .ensure_fields(&specs)
        .await
        .expect("fields");
    let (t_batch, t_small) = mailchimp_call_times(&emu.url(), &calibration, 0).await;
    progress(format!(
        "MC call times (median): batch subscribe of 500 {:.1} ms, small request {:.2} ms",
        t_batch.as_secs_f64() * 1e3,
        t_small.as_secs_f64() * 1e3
    ));
    let field_names: HashMap<String, String> = [
        (keys.plan.clone(), keys.plan.clone()),
        (keys.ltv.clone(), keys.ltv.clone()),
    ]
    .into();
    let held = |contacts: &[DesiredContact]| {
        let st = e.state_json();
        let members = st["lists"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| text(&l["id"]) == audience)
            .map(|l| l["members"].clone())
            .unwrap_or(Value::Null);
        let map: HashMap<String, Held> = members
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let merge = m["merge_fields"].as_object().cloned().unwrap_or_default();
                (
                    text(&m["email"]).to_lowercase(),
                    Held {
                        first: merge.get("FNAME").map(text).unwrap_or_default(),
                        last: merge.get("LNAME").map(text).unwrap_or_default(),
                        on_list: m["status"] == "subscribed" && m["archived"] == false,
                        tags: m["tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(text)
                            .collect(),
                        fields: merge.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                    },
                )
            })
            .collect();
        verify(contacts, &map, &field_names)
    };
    let bench = Bench {
        vendor: "Mailchimp",
        short: "MC",
        log: e.requests(),
        held: &held,
    };
    let concurrency = mc.capabilities().max_concurrency;

    let mut rows = vec![
        bench
            .bulk(
                &*mc,
                "bulk",
                (0..n).map(|i| contact(i, &list, &keys)).collect(),
                mailchimp_bound(n, t_batch, t_small),
            )
            .await,
    ];
    rows.push(
        bench
            .one_by_one(
                mc.clone(),
                &format!("one call per contact, {concurrency} at a time"),
                (n..n + sample.min(n))
                    .map(|i| contact(i, &list, &keys))
                    .collect(),
                concurrency,
            )
            .await,
    );
    progress(format!("MC limits: {}", e.state_json()["limits"]));

    // The same with network latency added to every request (the emulator answers loopback in
    // well under a millisecond; Mailchimp's only limit is concurrency, so latency is what sets
    // the pace there).
    if latency_ms > 0 {
        e.faults().set(FaultConfig {
            latency_ms,
            ..FaultConfig::default()
        });
        let (t_batch, t_small) = mailchimp_call_times(&emu.url(), &calibration, 100).await;
        let label = format!("+{latency_ms} ms latency");
        rows.push(
            bench
                .bulk(
                    &*mc,
                    &format!("bulk, {label}"),
                    (3 * n..4 * n).map(|i| contact(i, &list, &keys)).collect(),
                    mailchimp_bound(n, t_batch, t_small),
                )
                .await,
        );
        rows.push(
            bench
                .one_by_one(
                    mc.clone(),
                    &format!("one call per contact, {concurrency} at a time, {label}"),
                    (4 * n..4 * n + latency_sample.min(n))
                        .map(|i| contact(i, &list, &keys))
                        .collect(),
                    concurrency,
                )
                .await,
        );
        progress(format!("MC limits: {}", e.state_json()["limits"]));
        e.faults().set(FaultConfig::default());
    }
    emu.stop().await;
    rows
}

// ---------------------------------------------------------------------------------------------
// Report

fn secs(s: f64) -> String {
    if s >= 3_600.0 {
        format!("{s:.0} ({:.1} h)", s / 3_600.0)
    } else if s >= 100.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

fn report(n: usize, rows: &[Row]) {
    println!();
    println!(
        "| destination | path | contacts | wall s | API calls | calls / 1,000 contacts | async jobs + status reads | non-2xx answers | outcomes | verified in emulator | lower bound s | wall / bound |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |");
    for r in rows {
        let k = r.scale(n);
        let extrapolated = r.measured != n;
        let contacts = if extrapolated {
            format!("{n}, **extrapolated from {}**", r.measured)
        } else {
            n.to_string()
        };
        let wall = r.wall.as_secs_f64() * k;
        let calls = r.calls.total as f64 * k;
        let (jobs, reads) = r.jobs();
        let (bound, ratio) = match &r.bound {
            Some((b, _)) => (
                format!("{b:.1}"),
                if wall / b < 10.0 {
                    format!("{:.1}", wall / b)
                } else {
                    format!("{:.0}", wall / b)
                },
            ),
            None => ("—".into(), "—".into()),
        };
        let approx = if extrapolated { "≈ " } else { "" };
        println!(
            "| {} | {} | {} | {approx}{} | {approx}{:.0} | {:.1} | {approx}{:.0} + {:.0} | {} | {} | {}/{} | {} | {} |",
            r.vendor,
            r.label,
            contacts,
            secs(wall),
            calls,
            calls * 1_000.0 / n as f64,
            jobs as f64 * k,
            reads as f64 * k,
            r.calls.non_2xx(),
            r.tally.summary(),
            r.verified,
            r.measured,
            bound,
            ratio
        );
    }
    println!();
    println!("Calls by endpoint, as measured (samples also scaled to {n}):");
    println!();
    println!("| destination | path | endpoint | calls | per 1,000 contacts |");
    println!("| --- | --- | --- | ---: | ---: |");
    for r in rows {
        for (endpoint, count) in &r.calls.by_endpoint {
            let scaled = *count as f64 * r.scale(n);
            let shown = if r.measured != n {
                format!("{count} of {} contacts → ≈ {scaled:.0}", r.measured)
            } else {
                count.to_string()
            };
            println!(
                "| {} | {} | `{}` | {} | {:.1} |",
                r.vendor,
                r.label,
                endpoint,
                shown,
                scaled * 1_000.0 / n as f64
            );
        }
    }
    println!();
    for r in rows {
        if let Some((_, how)) = &r.bound {
            println!("- Lower bound, {} {}: {how}.", r.vendor, r.label);
        }
        if r.calls.status("429") > 0 {
            println!(
                "- {} {}: {} answers were 429 (retried by the connector).",
                r.vendor,
                r.label,
                r.calls.status("429")
            );
        }
        if !r.tally.problems.is_empty() {
            println!("- {} {} problems:", r.vendor, r.label);
            for (p, k) in &r.tally.problems {
                println!("  - {k} × {p}");
            }
        }
        if r.verified != r.measured {
            println!(
                "- {} {}: only {} of {} contacts found complete in the emulator.",
                r.vendor, r.label, r.verified, r.measured
            );
        }
        if r.vendor == "Constant Contact" && r.path == Path::OneByOne {
            let calls = r.calls.total as f64 * r.scale(n);
            println!(
                "- Constant Contact, one call per contact: ≈ {calls:.0} calls for {n} contacts is {:.1} days of \
                 the 10,000-a-day quota, whatever the rate.",
                calls / 10_000.0
            );
        }
    }
}

fn main() {
    paysync_destinations::http::install_crypto_provider();
    let n = env_usize("BENCH_CONTACTS", 10_000);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let total = Instant::now();
    let mut rows = Vec::new();
    rt.block_on(async {
        if only.is_empty() || only == "cc" {
            rows.extend(constant_contact(n, env_usize("BENCH_SAMPLE_CC", 100)).await);
        }
        if only.is_empty() || only == "ac" {
            rows.extend(activecampaign(n, env_usize("BENCH_SAMPLE_AC", 100)).await);
        }
        if only.is_empty() || only == "mc" {
            rows.extend(
                mailchimp(
                    n,
                    env_usize("BENCH_SAMPLE_MC", n),
                    env_usize("BENCH_MC_LATENCY_MS", 100) as u64,
                    env_usize("BENCH_SAMPLE_MC_LATENCY", 1_000),
                )
                .await,
            );
        }
    });
    progress(format!("total {:.0} s", total.elapsed().as_secs_f64()));
    report(n, &rows);
}
