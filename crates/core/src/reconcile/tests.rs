use proptest::prelude::*;

use super::*;
use crate::contact::OptOutBy;
use crate::object::ObjectKind;
use crate::profile::{PersonObject, fold};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn list(s: &str) -> ListId {
    ListId(s.to_owned())
}

fn managed(lists: &[&str], tags: &[&str]) -> Managed {
    Managed {
        lists: lists.iter().map(|l| list(l)).collect(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        tag_prefix: Some("stripe-integration".into()),
        ..Managed::default()
    }
}

fn grants_permission(op: &Op) -> bool {
    match op {
        Op::AddToLists(_) => true,
        Op::Upsert(d) => matches!(d.consent, Consent::Subscribed | Consent::Pending),
        _ => false,
    }
}

fn consent() -> impl Strategy<Value = Consent> {
    prop_oneof![
        Just(Consent::Subscribed),
        Just(Consent::NonMarketing),
        Just(Consent::Pending),
        Just(Consent::Unsubscribed)
    ]
}

fn remote_consent() -> impl Strategy<Value = RemoteConsent> {
    prop_oneof![
        Just(RemoteConsent::Subscribed),
        Just(RemoteConsent::Pending),
        Just(RemoteConsent::NonMarketing),
        Just(RemoteConsent::NotSet),
        Just(RemoteConsent::Unsubscribed {
            by: OptOutBy::Contact
        }),
        Just(RemoteConsent::Cleaned),
    ]
}

fn some_of(pool: &'static [&'static str]) -> impl Strategy<Value = BTreeSet<String>> {
    prop::sample::subsequence(pool, 0..=pool.len())
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn maybe(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(pool).prop_map(str::to_owned))
}

const LISTS: &[&str] = &["paying", "subscribers", "refunded", "newsletter"];
const TAGS: &[&str] = &[
    "vip",
    "stripe-integration",
    "stripe-integration-charge.failed",
    "from-webinar",
];
const NAMES: &[&str] = &["Ann", "Bo", "Lee"];
const FIELD_VALUES: &[&str] = &["gold", "silver"];

fn desired_contact() -> impl Strategy<Value = DesiredContact> {
    (
        consent(),
        maybe(NAMES),
        maybe(NAMES),
        some_of(LISTS),
        some_of(TAGS),
        maybe(FIELD_VALUES),
    )
        .prop_map(|(consent, first, last, lists, tags, tier)| {
            let mut d = DesiredContact::new(email("ann@example.com"), consent);
            d.first_name = first;
            d.last_name = last;
            d.lists = lists.into_iter().map(ListId).collect();
            d.tags = tags;
            if let Some(t) = tier {
                d.fields.insert("TIER".into(), t);
            }
            d
        })
}

fn remote_contact() -> impl Strategy<Value = RemoteContact> {
    (
        remote_consent(),
        maybe(NAMES),
        some_of(LISTS),
        some_of(LISTS),
        some_of(TAGS),
        maybe(FIELD_VALUES),
    )
        .prop_map(|(consent, first, lists, unsubscribed, tags, tier)| {
            let mut r = RemoteContact::new("r1", email("ann@example.com"), consent);
            r.first_name = first;
            r.lists = lists.into_iter().map(ListId).collect();
            r.unsubscribed_lists = unsubscribed.into_iter().map(ListId).collect();
            r.tags = tags;
            if let Some(t) = tier {
                r.fields.insert("TIER".into(), t);
            }
            r
        })
}

proptest! {
    /// `diff(desired, desired)` is empty: a destination holding exactly what is desired needs nothing.
    #[test]
    fn nothing_to_do_when_the_destination_holds_the_desired_contact(d in desired_contact()) {
        let m = managed(LISTS, TAGS);
        let held = acknowledge(None, "r1", &[Op::Upsert(d.clone())]).unwrap();
        let ops = diff(&d, Some(&held), &m);
        // An upsert of a non-subscribed person adds no lists; then nothing else may differ.
        if d.consent == Consent::Subscribed || d.lists.is_empty() {
            prop_assert!(ops.is_empty(), "{ops:?}");
        }
    }

    /// Applying the ops and diffing again gives nothing more to do, from any state.
    #[test]
    fn applying_the_ops_then_diffing_again_is_empty(d in desired_contact(), r in prop::option::of(remote_contact())) {
        let m = managed(LISTS, TAGS);
        let ops = diff(&d, r.as_ref(), &m);
        let after = acknowledge(r.as_ref(), "r1", &ops).unwrap();
        let again = diff(&d, Some(&after), &m);
        prop_assert!(again.is_empty(), "first {ops:?}\nthen {again:?}\nstate {after:?}");
    }

    /// Whatever is desired, an opted-out contact is never given permission, and stays opted out.
    #[test]
    fn an_opted_out_contact_is_never_resubscribed(d in desired_contact(), mut r in remote_contact(), cleaned in any::<bool>()) {
        r.consent = if cleaned { RemoteConsent::Cleaned } else { RemoteConsent::Unsubscribed { by: OptOutBy::Contact } };
        let ops = diff(&d, Some(&r), &managed(LISTS, TAGS));
        prop_assert!(!ops.iter().any(grants_permission), "{ops:?}");
        let after = acknowledge(Some(&r), "r1", &ops).unwrap();
        prop_assert!(after.consent.is_opted_out());
    }

    /// A deletion action never grants permission, touches only contacts the destination holds,
    /// and once applied asks for nothing more.
    #[test]
    fn deletion_actions_are_done_once_and_grant_nothing(r in prop::option::of(remote_contact()), tag in any::<bool>()) {
        let on_delete = if tag { OnDelete::Tag("stripe-deleted".into()) } else { OnDelete::Unsubscribe };
        let who = r.as_ref().map_or_else(|| email("gone@example.com"), |r| r.email.clone());
        let ops = deletion_ops(&on_delete, &who, r.as_ref());
        prop_assert!(!ops.iter().any(grants_permission), "{ops:?}");
        if r.is_none() {
            prop_assert!(ops.is_empty());
        } else {
            let after = acknowledge(r.as_ref(), "r1", &ops).unwrap();
            prop_assert!(deletion_ops(&on_delete, &who, Some(&after)).is_empty(), "{ops:?} then {after:?}");
            prop_assert!(deletion_ops(&OnDelete::Keep, &who, Some(&after)).is_empty());
        }
    }
}

#[test]
fn only_managed_non_sticky_lists_and_tags_are_removed() {
    let d = DesiredContact::new(email("ann@example.com"), Consent::Subscribed);
    let mut r = RemoteContact::new("r1", email("ann@example.com"), RemoteConsent::Subscribed);
    r.lists = ["paying", "newsletter", "vip-list"].map(list).into();
    r.tags = ["vip", "from-webinar", "stripe-integration-charge.failed"]
        .map(str::to_owned)
        .into();
    let mut m = managed(&["paying", "vip-list"], &["vip"]);
    m.sticky_lists.insert(list("vip-list"));
    let ops = diff(&d, Some(&r), &m);
    assert_eq!(
        ops,
        [
            Op::RemoveFromLists(MembershipChange {
                email: email("ann@example.com"),
                lists: [list("paying")].into()
            }),
            Op::RemoveTags(TagChange {
                email: email("ann@example.com"),
                tags: [
                    "stripe-integration-charge.failed".to_owned(),
                    "vip".to_owned()
                ]
                .into()
            }),
        ]
    );
}

#[test]
fn a_list_the_person_left_at_the_destination_is_not_rejoined() {
    let mut d = DesiredContact::new(email("ann@example.com"), Consent::Subscribed);
    d.lists = [list("paying"), list("newsletter")].into();
    let mut r = RemoteContact::new("r1", email("ann@example.com"), RemoteConsent::Subscribed);
    r.unsubscribed_lists = [list("newsletter")].into();
    let ops = diff(&d, Some(&r), &managed(&["paying", "newsletter"], &[]));
    assert_eq!(
        ops,
        [Op::AddToLists(MembershipChange {
            email: email("ann@example.com"),
            lists: [list("paying")].into()
        })]
    );
}

#[test]
fn a_permission_given_at_the_destination_is_not_downgraded() {
    let d = DesiredContact::new(email("ann@example.com"), Consent::NonMarketing);
    let r = RemoteContact::new("r1", email("ann@example.com"), RemoteConsent::Subscribed);
    assert!(diff(&d, Some(&r), &Managed::default()).is_empty());
}

/// People with different payment histories, as profiles.
fn people() -> Vec<(String, Profile)> {
    let amounts = [500, 2_500, 9_000, 12_000, 30_000];
    amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| {
            let customer =
                format!(r#"{{"email":"p{i}@example.com","name":"Person {i}","created":1}}"#);
            let charge = format!(
                r#"{{"amount":{amount},"currency":"usd","status":"succeeded","created":100}}"#
            );
            let objects = [
                PersonObject {
                    kind: ObjectKind::Customer,
                    object_id: "cus",
                    body: &customer,
                    deleted: false,
                },
                PersonObject {
                    kind: ObjectKind::Charge,
                    object_id: "ch",
                    body: &charge,
                    deleted: false,
                },
            ];
            (format!("p{i}@example.com"), fold(&objects, &[]))
        })
        .collect()
}

fn big_spenders(threshold: i64) -> Vec<Segment> {
    let text = format!(
        r#"name = "Big spenders"
list = "Big spenders"
rule = {{ charged = {{ total = {{ gte = {threshold} }} }} }}"#
    );
    vec![toml::from_str(&text).unwrap()]
}

/// The issue's acceptance test: changing a segment rule gives ops to exactly the people whose
/// membership changed.
#[test]
fn a_rule_change_touches_exactly_the_affected_contacts() {
    let catalog = BTreeMap::from([("Big spenders".to_owned(), list("L1"))]);
    let ctx = Context {
        now: 1_000,
        exists_in_destination: true,
    };
    let rules = |segments| SyncRules {
        filter: None,
        segments,
        event_tags: None,
        fields: &[],
        consent: Consent::Subscribed,
        lists: &catalog,
    };
    let before = big_spenders(10_000);
    let after = big_spenders(2_000);

    // Sync everyone under the old rule: what each destination now holds.
    let held: BTreeMap<String, RemoteContact> = people()
        .into_iter()
        .map(|(key, p)| {
            let d = desired(&p, &rules(&before), &ctx).unwrap();
            let ops = diff(&d, None, &Managed::of(&rules(&before)));
            (key, acknowledge(None, "r", &ops).unwrap())
        })
        .collect();

    let touched: Vec<String> = people()
        .into_iter()
        .filter(|(key, p)| {
            let d = desired(p, &rules(&after), &ctx).unwrap();
            !diff(&d, held.get(key), &Managed::of(&rules(&after))).is_empty()
        })
        .map(|(key, _)| key)
        .collect();
    // 2,500 and 9,000 cross the new threshold; 500 stays out, 12,000 and 30,000 were already in.
    assert_eq!(touched, ["p1@example.com", "p2@example.com"]);
}

#[test]
fn desired_needs_a_valid_email_and_a_live_person_and_known_lists() {
    let catalog = BTreeMap::new();
    let rules = SyncRules {
        filter: None,
        segments: &[],
        event_tags: None,
        fields: &[],
        consent: Consent::Subscribed,
        lists: &catalog,
    };
    let ctx = Context {
        now: 0,
        exists_in_destination: false,
    };
    let mut p = Profile::default();
    assert_eq!(desired(&p, &rules, &ctx), Err(Skip::NoEmail));
    p.identity.email = Some("not-an-email".into());
    assert!(matches!(
        desired(&p, &rules, &ctx),
        Err(Skip::InvalidEmail(_))
    ));
    p.identity.email = Some("ann@example.com".into());
    p.identity.deleted = true;
    assert_eq!(desired(&p, &rules, &ctx), Err(Skip::Deleted));
    p.identity.deleted = false;
    let only_refunded: crate::segments::Rule = serde_json::from_str(r#"{"refunded": {}}"#).unwrap();
    let filtered = SyncRules {
        filter: Some(&only_refunded),
        ..rules.clone()
    };
    assert_eq!(desired(&p, &filtered, &ctx), Err(Skip::FilteredOut));
    let segments = big_spenders(0);
    let rules = SyncRules {
        filter: None,
        segments: &segments,
        ..rules
    };
    p.charges.push(crate::profile::ChargeRecord {
        id: "ch".into(),
        amount: 1,
        currency: "usd".into(),
        created: 0,
        succeeded: true,
        amount_refunded: 0,
    });
    assert_eq!(
        desired(&p, &rules, &ctx),
        Err(Skip::UnknownList("Big spenders".into()))
    );
}

/// Found by the property test: list membership is a subscription, so a non-marketing person with
/// lists in their desired state (however it got there) is never added to them.
#[test]
fn a_person_without_marketing_consent_is_not_put_on_lists() {
    let mut d = DesiredContact::new(email("ann@example.com"), Consent::NonMarketing);
    d.lists = [list("newsletter")].into();
    let r = RemoteContact::new("r1", email("ann@example.com"), RemoteConsent::NonMarketing);
    assert!(
        diff(&d, Some(&r), &managed(&["newsletter"], &[]))
            .iter()
            .all(|op| !grants_permission(op))
    );
}
