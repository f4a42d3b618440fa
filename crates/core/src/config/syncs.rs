//! `[[syncs]]`: what one Stripe account's people become at one destination — the permission
//! paysync records, the lists and tags (segments), and the fields (mapping).
//!
//! ```toml
//! [[syncs]]
//! name = "customers-to-cc"
//! account = "main"              # Stripe account (default: the only one)
//! destination = "cc"
//! consent = "non_marketing"     # or "subscribed" / "pending" when the business has opt-in
//! filter = { charged = {} }     # only people who paid (optional; the others are held)
//! payment_activity_lists = true # Constant Contact's "Stripe: Paying customers" … lists
//! event_tags = { prefix = "stripe-integration" }  # ActiveCampaign-style event tags
//! fields = [ { to = "company", from = "metadata.company" } ]
//! on_delete = { tag = "stripe-deleted" }   # or "unsubscribe", "archive" (not ActiveCampaign),
//!                                          # "delete"; default "keep"
//! # With consent = "subscribed": who affirmed that these customers consented, recorded in the
//! # consent ledger for each of them.
//! prior_consent = { affirmed_by = "jane@shop.example", affirmed_at = "2026-11-01", statement = "…" }
//!
//! [[syncs.segments]]
//! name = "Big spenders"
//! tag = "big-spender"
//! rule = { charged = { total = { gte = 10000 } } }
//!
//! # Two-way sync (off by default): see `crate::two_way` for every key.
//! [syncs.two_way]
//! fields = [ { stripe = "name" }, { stripe = "metadata.company", from = "COMPANY" } ]
//! create_customers = { lists = ["Leads"] }
//!
//! # Opt-in by email (with consent = "subscribed"): people are held until they confirm; a
//! # one-time email goes to customers of the last `lookback_days` and to every new customer.
//! [syncs.opt_in]
//! subject = "Would you like our news?"
//! from = "news@shop.example"
//! from_name = "The Shop"
//! reply_to = "help@shop.example"
//! body = "Hello {{name}},\n\nConfirm here: {{confirm_url}}\n"
//! lookback_days = 180
//! link_valid_days = 30
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::destinations::{DestinationConfig, DestinationKind};
use super::{Problems, StripeAccount, valid_name};
use crate::contact::Consent;
use crate::mapping::FieldMapping;
use crate::reconcile::OnDelete;
use crate::segments::{EventTags, Rule, Segment, Target, payment_activity_lists};
use crate::two_way::TwoWayConfig;

/// The coalescing window by default: a person's changes within it become one delivery.
pub const DEFAULT_COALESCE_MS: u64 = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub name: String,
    pub account: Option<String>,
    pub destination: String,
    #[serde(default = "RawSync::default_consent")]
    pub consent: Consent,
    /// Only people matching this rule are pushed; the others are held and counted.
    pub filter: Option<Rule>,
    #[serde(default)]
    pub payment_activity_lists: bool,
    pub event_tags: Option<EventTags>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    #[serde(default = "RawSync::default_coalesce_ms")]
    pub coalesce_ms: u64,
    /// Opt-in by email: only people who confirm a link are pushed (subscribed).
    pub opt_in: Option<OptInEmail>,
    /// When every Stripe customer of a person is deleted: "keep" (default), "unsubscribe", or
    /// `{ tag = "stripe-deleted" }`.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// The operator's affirmation that the people synced as subscribed gave consent.
    pub prior_consent: Option<PriorConsent>,
    /// Two-way sync: destination edits and new contacts reach Stripe (off when absent).
    pub two_way: Option<TwoWayConfig>,
}

/// Who affirmed, and when, that the business collected consent before paysync (Constant
/// Contact's "I affirm these contacts gave permission"). Recorded in the consent ledger for
/// each person it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConsent {
    pub affirmed_by: String,
    /// `YYYY-MM-DD`.
    pub affirmed_at: String,
    /// How the consent was collected ("newsletter box ticked at checkout").
    pub statement: Option<String>,
}

/// The opt-in email of a sync and who gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptInEmail {
    pub subject: String,
    pub from: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// Plain text with `{{confirm_url}}` (required), `{{name}}` and `{{email}}`.
    pub body: String,
    /// Customers created this many days back or later get the email; new ones always do.
    #[serde(default = "OptInEmail::default_lookback_days")]
    pub lookback_days: u32,
    /// How long a confirmation link works.
    #[serde(default = "OptInEmail::default_link_valid_days")]
    pub link_valid_days: u32,
}

impl OptInEmail {
    fn default_lookback_days() -> u32 {
        180
    }
    fn default_link_valid_days() -> u32 {
        30
    }
}

impl RawSync {
    fn default_consent() -> Consent {
        Consent::NonMarketing
    }
    fn default_coalesce_ms() -> u64 {
        DEFAULT_COALESCE_MS
    }
}

/// A validated sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    pub name: String,
    pub account: String,
    pub destination: String,
    pub rules: SyncRulesConfig,
    pub coalesce_ms: u64,
    pub opt_in: Option<OptInEmail>,
    pub prior_consent: Option<PriorConsent>,
    pub two_way: Option<TwoWayConfig>,
}

/// Everything that decides the contact a person should be at the destination. When it changes,
/// every person of the account is re-reconciled (the diff then finds exactly the affected ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRulesConfig {
    pub consent: Consent,
    pub filter: Option<Rule>,
    /// The built-in lists (when asked for) followed by the custom segments.
    pub segments: Vec<Segment>,
    pub event_tags: Option<EventTags>,
    pub fields: Vec<FieldMapping>,
    /// Opt-in by email: how far back customers are asked (days); `None` when the sync does
    /// not ask. (Absent from the fingerprint when `None`, so older installations keep theirs.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_in_window_days: Option<u32>,
    /// What a deleted person's contact gets (absent from the fingerprint when "keep").
    #[serde(skip_serializing_if = "OnDelete::is_keep")]
    pub on_delete: OnDelete,
}

impl SyncRulesConfig {
    /// A stable text form of the rules, stored to notice when they change.
    pub fn fingerprint(&self) -> String {
        // Serialising plain data to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The list names the segments put people on (the destination must have them).
    pub fn list_names(&self) -> BTreeSet<String> {
        self.segments
            .iter()
            .filter_map(|s| match &s.target {
                Target::List(name) => Some(name.clone()),
                Target::Tag(_) => None,
            })
            .collect()
    }

    /// The destination field keys the mapping writes.
    pub fn field_keys(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.to.clone()).collect()
    }
}

pub(super) fn resolve_syncs(
    raw: &[RawSync],
    accounts: &[StripeAccount],
    destinations: &[DestinationConfig],
    problems: &mut Problems,
) -> Vec<SyncConfig> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let at = |key: &str| format!("syncs[{i}].{key}");
        let errors_before = problems.error_count();
        if !valid_name(&s.name) {
            problems.error(
                at("name"),
                format!("{:?} must be 1-64 characters of a-z, 0-9, - and _", s.name),
            );
        }
        if raw[..i].iter().any(|e| e.name == s.name) {
            problems.error(
                at("name"),
                format!("{:?} is used by an earlier sync", s.name),
            );
        }
        let account = match (&s.account, accounts) {
            (Some(name), _) if accounts.iter().any(|a| &a.name == name) => Some(name.clone()),
            (Some(name), _) => {
                problems.error(
                    at("account"),
                    format!("no Stripe account is named {name:?}"),
                );
                None
            }
            (None, [only]) => Some(only.name.clone()),
            (None, _) => {
                problems.error(
                    at("account"),
                    "is required when there is not exactly one Stripe account",
                );
                None
            }
        };
        match destinations.iter().find(|d| d.name == s.destination) {
            None => problems.error(
                at("destination"),
                format!("no destination is named {:?}", s.destination),
            ),
            Some(d)
                if s.on_delete == OnDelete::Archive
                    && matches!(d.kind, DestinationKind::ActiveCampaign { .. }) =>
            {
                problems.error(
                    at("on_delete"),
                    "ActiveCampaign cannot archive contacts: use \"delete\", \"unsubscribe\" or a tag",
                )
            }
            Some(_) => {}
        }
        if s.consent == Consent::Unsubscribed {
            problems.error(
                at("consent"),
                "\"unsubscribed\" would unsubscribe everyone; use subscribed, pending or \
                 non_marketing",
            );
        }
        if let Some(p) = &s.prior_consent {
            if !matches!(s.consent, Consent::Subscribed | Consent::Pending) {
                problems.error(
                    at("prior_consent"),
                    "affirms marketing consent: use it with consent = \"subscribed\" or \"pending\"",
                );
            }
            if s.opt_in.is_some() {
                problems.error(
                    at("prior_consent"),
                    "and opt_in exclude each other: people either confirm by email or were affirmed",
                );
            }
            if p.affirmed_by.trim().is_empty() {
                problems.error(at("prior_consent.affirmed_by"), "is empty: say who affirms");
            }
            if let Err(e) = crate::dates::parse_date(&p.affirmed_at) {
                problems.error(at("prior_consent.affirmed_at"), e);
            }
        } else if s.consent == Consent::Subscribed && s.opt_in.is_none() {
            problems.warn(
                at("consent"),
                "\"subscribed\" without [syncs.prior_consent] or [syncs.opt_in]: record who \
                 affirmed that these customers consented (the consent ledger will say so)",
            );
        }
        if let Some(o) = &s.opt_in {
            if s.consent != Consent::Subscribed {
                problems.error(
                    at("consent"),
                    "with opt_in, people who confirm become subscribed: set consent = \"subscribed\"",
                );
            }
            if !o.body.contains("{{confirm_url}}") {
                problems.error(at("opt_in.body"), "must contain {{confirm_url}}");
            }
            if crate::object::normalise_email(&o.from).is_none() {
                problems.error(
                    at("opt_in.from"),
                    format!("{:?} is not an email address", o.from),
                );
            }
            if let Some(r) = &o.reply_to
                && crate::object::normalise_email(r).is_none()
            {
                problems.error(
                    at("opt_in.reply_to"),
                    format!("{r:?} is not an email address"),
                );
            }
            if o.subject.trim().is_empty() {
                problems.error(at("opt_in.subject"), "is empty");
            }
            if o.link_valid_days == 0 {
                problems.error(at("opt_in.link_valid_days"), "must be at least 1");
            }
        }
        if let Some(t) = &s.two_way {
            for (key, problem) in t.problems() {
                problems.error(at(&format!("two_way.{key}")), problem);
            }
        }
        if s.coalesce_ms > 60_000 {
            problems.error(at("coalesce_ms"), "must be at most 60000 (one minute)");
        }
        let mut segments = if s.payment_activity_lists {
            payment_activity_lists()
        } else {
            Vec::new()
        };
        let mut names: BTreeSet<String> = segments.iter().map(|g| g.name.clone()).collect();
        for (j, seg) in s.segments.iter().enumerate() {
            if !names.insert(seg.name.clone()) {
                problems.error(
                    format!("syncs[{i}].segments[{j}].name"),
                    format!("{:?} names another segment of this sync", seg.name),
                );
            }
        }
        segments.extend(s.segments.iter().cloned());
        let mut keys = BTreeSet::new();
        for (j, f) in s.fields.iter().enumerate() {
            if !keys.insert(&f.to) {
                problems.error(
                    format!("syncs[{i}].fields[{j}].to"),
                    format!("{:?} is mapped twice", f.to),
                );
            }
        }
        if s.segments.is_empty() && !s.payment_activity_lists && s.event_tags.is_none() {
            problems.warn(
                at("segments"),
                "no segments, built-in lists or event tags: contacts get fields only",
            );
        }
        let Some(account) = account else { continue };
        if problems.error_count() > errors_before {
            continue;
        }
        out.push(SyncConfig {
            name: s.name.clone(),
            account,
            destination: s.destination.clone(),
            rules: SyncRulesConfig {
                consent: s.consent,
                filter: s.filter.clone(),
                segments,
                event_tags: s.event_tags.clone(),
                fields: s.fields.clone(),
                opt_in_window_days: s.opt_in.as_ref().map(|o| o.lookback_days),
                on_delete: s.on_delete.clone(),
            },
            coalesce_ms: s.coalesce_ms,
            opt_in: s.opt_in.clone(),
            prior_consent: s.prior_consent.clone(),
            two_way: s.two_way.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigProblem, DestinationKind, RawConfig, Severity};
    use crate::contact::Consent;
    use secrecy::ExposeSecret;

    const BASE: &str = r#"
[store]
secret_key = "env:SECRET_KEY"

[[stripe.accounts]]
name = "main"
api_key = "env:KEY"
webhook_secrets = ["env:WHSEC"]
mode = "test"

[[destinations]]
name = "cc"
kind = "constant_contact"
client_id = "abc"
client_secret = "env:CC_SECRET"
redirect_uri = "https://paysync.example.com/oauth/cc"
refresh_token = "env:CC_REFRESH"

[[destinations]]
name = "ac"
kind = "activecampaign"
api_url = "https://acct.api-us1.com/"
api_token = "env:AC_TOKEN"
deep_data = true

[[destinations]]
name = "mc"
kind = "mailchimp"
api_key = "env:MC_KEY"
list_id = "a1b2c3"
rate_limit_per_sec = 5
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk_test_1".into()),
            "SECRET_KEY" => Some("ab".repeat(32)),
            "MC_KEY" => Some("0123-us6".into()),
            "WHSEC" | "CC_SECRET" | "CC_REFRESH" | "AC_TOKEN" => Some(format!("{name}-value")),
            _ => None,
        }
    }

    fn resolve(extra: &str) -> Result<crate::config::Config, Vec<ConfigProblem>> {
        let raw: RawConfig = toml::from_str(&format!("{BASE}{extra}")).expect("toml");
        raw.resolve(&env).map(|(c, _)| c)
    }

    #[test]
    fn debug_of_the_configuration_redacts_every_secret() {
        let config = resolve("").expect("valid");
        let shown = format!("{config:?} {:?}", config.destinations);
        for secret in [
            "sk_test_1".to_owned(),
            "ab".repeat(32),
            "0123-us6".to_owned(),
            "WHSEC-value".to_owned(),
            "CC_SECRET-value".to_owned(),
            "CC_REFRESH-value".to_owned(),
            "AC_TOKEN-value".to_owned(),
        ] {
            assert!(!shown.contains(&secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    fn error_paths(extra: &str) -> Vec<String> {
        resolve(extra)
            .expect_err("invalid")
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.path)
            .collect()
    }

    #[test]
    fn destinations_and_syncs_resolve_with_defaults() {
        let config = resolve(
            r#"
[[syncs]]
name = "to-cc"
destination = "cc"
payment_activity_lists = true
fields = [{ to = "company", from = "metadata.company" }]

[[syncs.segments]]
name = "Big spenders"
tag = "big-spender"
rule = { charged = { total = { gte = 10000 } } }

[[syncs]]
name = "to-ac"
destination = "ac"
consent = "subscribed"
event_tags = {}
coalesce_ms = 500
"#,
        )
        .expect("valid");
        assert_eq!(config.destinations.len(), 3);
        match &config.destination("ac").expect("ac").kind {
            DestinationKind::ActiveCampaign {
                api_url,
                api_token,
                deep_data,
            } => {
                assert_eq!(api_url, "https://acct.api-us1.com");
                assert_eq!(api_token.expose_secret(), "AC_TOKEN-value");
                assert!(deep_data);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            config.destination("mc").expect("mc").rate_limit_per_sec,
            Some(5)
        );
        let cc = &config.syncs[0];
        assert_eq!(cc.account, "main");
        assert_eq!(cc.rules.consent, Consent::NonMarketing);
        assert_eq!(cc.coalesce_ms, super::DEFAULT_COALESCE_MS);
        // Seven built-in lists, then the custom segment.
        assert_eq!(cc.rules.segments.len(), 8);
        assert!(cc.rules.list_names().contains("Stripe: Paying customers"));
        assert_eq!(cc.rules.field_keys(), ["company"]);
        let ac = &config.syncs[1];
        assert_eq!(
            ac.rules.event_tags.as_ref().map(|t| t.prefix.as_str()),
            Some("stripe-integration")
        );
        assert_eq!(ac.coalesce_ms, 500);
        assert_ne!(cc.rules.fingerprint(), ac.rules.fingerprint());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let paths = error_paths(
            r#"
[[destinations]]
name = "cc"
kind = "mailchimp"
api_key = "env:MISSING"
list_id = ""

[[syncs]]
name = "Bad Name"
account = "nope"
destination = "nowhere"
consent = "unsubscribed"
coalesce_ms = 120000
fields = [{ to = "x", value = "1" }, { to = "x", value = "2" }]

[[syncs.segments]]
name = "a"
tag = "a"
rule = { charged = {} }

[[syncs.segments]]
name = "a"
tag = "b"
rule = { refunded = {} }
"#,
        );
        assert_eq!(
            paths,
            [
                "destinations[3].name",
                "destinations[3].list_id",
                "destinations[3].api_key",
                "syncs[0].name",
                "syncs[0].account",
                "syncs[0].destination",
                "syncs[0].consent",
                "syncs[0].coalesce_ms",
                "syncs[0].segments[1].name",
                "syncs[0].fields[1].to",
            ]
        );
    }

    #[test]
    fn a_mailchimp_key_without_its_data_centre_needs_an_api_base() {
        let raw = BASE.replace("env:MC_KEY", "env:KEY");
        let raw: RawConfig = toml::from_str(&raw).expect("toml");
        let problems = raw.resolve(&env).expect_err("invalid");
        assert_eq!(problems[0].path, "destinations[2].api_key");
        assert!(!problems.iter().any(|p| p.message.contains("sk_test_1")));
    }

    #[test]
    fn constant_contact_needs_a_secret_key_for_its_rotating_tokens() {
        let raw = BASE.replace("secret_key = \"env:SECRET_KEY\"", "");
        let raw: RawConfig = toml::from_str(&raw).expect("toml");
        let problems = raw.resolve(&env).expect_err("invalid");
        assert_eq!(problems[0].path, "store.secret_key");
        let short = BASE.replace("env:SECRET_KEY", "env:KEY");
        let raw: RawConfig = toml::from_str(&short).expect("toml");
        let problems = raw.resolve(&env).expect_err("invalid");
        assert!(
            problems[0].message.contains("64 hexadecimal"),
            "{problems:?}"
        );
        assert!(!problems[0].message.contains("sk_test_1"));
        // Unset, PAYSYNC_MASTER_KEY is the key.
        let raw: RawConfig =
            toml::from_str(&BASE.replace("secret_key = \"env:SECRET_KEY\"", "")).expect("toml");
        let master = |name: &str| match name {
            crate::config::MASTER_KEY_VAR => Some("cd".repeat(32)),
            other => env(other),
        };
        let (config, _) = raw.resolve(&master).expect("valid with PAYSYNC_MASTER_KEY");
        assert_eq!(
            config
                .secret_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned()),
            Some("cd".repeat(32))
        );
    }

    fn resolve_with_sync(sync: &str) -> Result<Vec<ConfigProblem>, Vec<ConfigProblem>> {
        let raw: RawConfig = toml::from_str(&format!("{BASE}\n[[syncs]]\n{sync}")).expect("toml");
        raw.resolve(&env).map(|(_, warnings)| warnings)
    }

    #[test]
    fn consent_modes_are_checked() {
        // "none" is non-marketing.
        let raw: RawConfig = toml::from_str(&format!(
            "{BASE}\n[[syncs]]\nname = \"s\"\ndestination = \"mc\"\nconsent = \"none\"\n"
        ))
        .expect("toml");
        let (config, _) = raw.resolve(&env).expect("valid");
        assert_eq!(config.syncs[0].rules.consent, Consent::NonMarketing);
        // Subscribed without an affirmation or an opt-in: a warning that says what to record.
        let warnings =
            resolve_with_sync("name = \"s\"\ndestination = \"mc\"\nconsent = \"subscribed\"\n")
                .expect("valid");
        assert!(
            warnings
                .iter()
                .any(|w| w.path == "syncs[0].consent" && w.message.contains("prior_consent")),
            "{warnings:?}"
        );
        // An affirmation needs who and a real date, and a consent it can vouch for.
        let problems = resolve_with_sync(
            "name = \"s\"\ndestination = \"mc\"\nconsent = \"non_marketing\"\nprior_consent = { affirmed_by = \"\", affirmed_at = \"2026-13-01\" }\n",
        )
        .expect_err("invalid");
        let paths: Vec<&str> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "syncs[0].prior_consent",
                "syncs[0].prior_consent.affirmed_by",
                "syncs[0].prior_consent.affirmed_at"
            ]
        );
        let fine = resolve_with_sync(
            "name = \"s\"\ndestination = \"mc\"\nconsent = \"subscribed\"\nprior_consent = { affirmed_by = \"jane\", affirmed_at = \"2026-11-01\" }\n",
        )
        .expect("valid");
        assert!(
            !fine.iter().any(|w| w.path == "syncs[0].consent"),
            "{fine:?}"
        );
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let bad_kind = format!("{BASE}\n[[destinations]]\nname = \"x\"\nkind = \"hubspot\"\n");
        assert!(toml::from_str::<RawConfig>(&bad_kind).is_err());
        let bad_key =
            format!("{BASE}\n[[syncs]]\nname = \"s\"\ndestination = \"mc\"\ncolour = 1\n");
        assert!(toml::from_str::<RawConfig>(&bad_key).is_err());
        let bad_dest_key = BASE.replace("deep_data = true", "deep_data = true\nsecret_sauce = 1");
        assert!(toml::from_str::<RawConfig>(&bad_dest_key).is_err());
    }
}
