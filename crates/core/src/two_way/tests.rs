use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::contact::{Email, ListId, RemoteConsent};

fn contact(first: &str, last: &str) -> RemoteContact {
    let mut c = RemoteContact::new(
        "m1",
        Email::parse("ann@example.com").unwrap(),
        RemoteConsent::Subscribed,
    );
    c.first_name = Some(first.into()).filter(|s: &String| !s.is_empty());
    c.last_name = Some(last.into()).filter(|s: &String| !s.is_empty());
    c
}

fn customer(name: &str, changed_at_ms: i64) -> CustomerView {
    CustomerView {
        id: "cus_1".into(),
        name: Some(name.into()),
        changed_at_ms,
        ..CustomerView::default()
    }
}

fn config(prefer: Prefer) -> TwoWayConfig {
    TwoWayConfig {
        fields: vec![
            TwoWayField {
                stripe: "name".into(),
                from: None,
                prefer,
            },
            TwoWayField {
                stripe: "metadata.company".into(),
                from: Some("COMPANY".into()),
                prefer,
            },
        ],
        ..TwoWayConfig::default()
    }
}

fn lists() -> BTreeMap<String, String> {
    BTreeMap::from([("l1".to_owned(), "Leads".to_owned())])
}

#[test]
fn an_edited_first_name_replaces_only_that_part() {
    let before = contact("Ann", "Lee");
    let mut now = contact("Anne", "Lee");
    now.updated_at_ms = Some(2_000);
    let update = customer_update(
        &config(Prefer::Newer),
        &now,
        Some(&before),
        &customer("Ann Lee-Jones", 1_000),
        &lists(),
    );
    assert_eq!(
        update,
        BTreeMap::from([("name".into(), "Anne Lee-Jones".into())])
    );
}

#[test]
fn what_paysync_wrote_is_not_an_edit() {
    let written = contact("Ann", "Lee");
    let update = customer_update(
        &config(Prefer::Destination),
        &written,
        Some(&written),
        &customer("Someone Else", 0),
        &lists(),
    );
    assert!(update.is_empty(), "{update:?}");
}

#[test]
fn conflicts_follow_prefer() {
    let before = contact("Ann", "Lee");
    let mut now = contact("Ann", "Smith");
    now.updated_at_ms = Some(1_000);
    let stripe_newer = customer("Ann Jones", 5_000);
    let run = |prefer| {
        customer_update(
            &config(prefer),
            &now,
            Some(&before),
            &stripe_newer,
            &lists(),
        )
    };
    assert!(run(Prefer::Newer).is_empty(), "Stripe changed later");
    assert!(run(Prefer::Stripe).is_empty(), "Stripe holds a value");
    assert_eq!(run(Prefer::Destination)["name"], "Ann Smith");
    // `stripe` still fills an empty value.
    let empty = CustomerView {
        changed_at_ms: 5_000,
        ..CustomerView::default()
    };
    let filled = customer_update(
        &config(Prefer::Stripe),
        &now,
        Some(&before),
        &empty,
        &lists(),
    );
    assert_eq!(filled["name"], "Ann Smith");
}

#[test]
fn empty_values_never_clear_stripe() {
    let before = contact("Ann", "Lee");
    let now = contact("", "");
    let update = customer_update(
        &config(Prefer::Destination),
        &now,
        Some(&before),
        &customer("Ann Lee", 0),
        &lists(),
    );
    assert!(update.is_empty(), "{update:?}");
}

#[test]
fn memberships_and_actions() {
    let mut c = contact("Ann", "Lee");
    c.lists.insert(ListId("l1".into()));
    c.tags.insert("VIP".into());
    let cfg = TwoWayConfig {
        memberships_field: Some("marketing".into()),
        actions: vec![TwoWayAction {
            when: Condition::Tag("vip".into()),
            then: Effect {
                description: Some("VIP customer".into()),
                ..Effect::default()
            },
        }],
        ..TwoWayConfig::default()
    };
    let update = customer_update(&cfg, &c, Some(&c), &customer("Ann Lee", 0), &lists());
    assert_eq!(update["metadata[marketing]"], "Leads, VIP");
    assert_eq!(update["description"], "VIP customer");
}

#[test]
fn email_changes_are_carried_only_when_asked() {
    let mut c = contact("Ann", "Lee");
    assert!(!carries_email(&TwoWayConfig::default(), &c, &lists()));
    let everyone = TwoWayConfig {
        email: true,
        ..TwoWayConfig::default()
    };
    assert!(carries_email(&everyone, &c, &lists()));
    let verified = TwoWayConfig {
        actions: vec![TwoWayAction {
            when: Condition::List("Leads".into()),
            then: Effect {
                email: true,
                ..Effect::default()
            },
        }],
        ..TwoWayConfig::default()
    };
    assert!(!carries_email(&verified, &c, &lists()));
    c.lists.insert(ListId("l1".into()));
    assert!(carries_email(&verified, &c, &lists()));
}

#[test]
fn contacts_on_the_chosen_lists_create_customers() {
    let mut c = contact("Ann", "Lee");
    let cfg = TwoWayConfig {
        create_customers: Some(CreateCustomers {
            lists: vec!["Leads".into()],
            tags: vec![],
        }),
        ..TwoWayConfig::default()
    };
    assert_eq!(new_customer(&cfg, "mc", &c, &lists()), None, "not on Leads");
    c.lists.insert(ListId("l1".into()));
    let params = new_customer(&cfg, "mc", &c, &lists()).expect("created");
    assert_eq!(params["email"], "ann@example.com");
    assert_eq!(params["name"], "Ann Lee");
    assert_eq!(params["metadata[paysync_source]"], "mc");
    assert_eq!(params["metadata[paysync_contact_id]"], "m1");
    assert_eq!(
        new_customer(&TwoWayConfig::default(), "mc", &c, &lists()),
        None
    );
}

#[test]
fn edits_are_taken_into_the_acknowledged_contact_and_nothing_else() {
    let cfg = config(Prefer::Newer);
    let mut ack = contact("Ann", "Lee");
    ack.tags.insert("paying".into());
    let mut now = contact("Ann", "Smith");
    now.fields.insert("COMPANY".into(), "Acme".into());
    now.fields.insert("OTHER".into(), "vendor noise".into());
    assert!(has_edits(&cfg, &now, Some(&ack)));
    assert!(!has_edits(&cfg, &ack, Some(&ack)));
    let learnt = with_edits(&cfg, &ack, &now);
    assert_eq!(learnt.last_name.as_deref(), Some("Smith"));
    assert_eq!(
        learnt.fields.get("COMPANY").map(String::as_str),
        Some("Acme")
    );
    assert!(!learnt.fields.contains_key("OTHER"));
    assert!(learnt.tags.contains("paying"));
    assert!(!has_edits(&cfg, &now, Some(&learnt)));
}

#[test]
fn configuration_problems_are_named() {
    let cfg = TwoWayConfig {
        fields: vec![
            TwoWayField {
                stripe: "email".into(),
                from: None,
                prefer: Prefer::Newer,
            },
            TwoWayField {
                stripe: "description".into(),
                from: None,
                prefer: Prefer::Newer,
            },
        ],
        memberships_field: Some("a[b]".into()),
        ..TwoWayConfig::default()
    };
    let keys: Vec<String> = cfg.problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "fields[0].stripe",
            "fields[0].from",
            "fields[1].from",
            "memberships_field"
        ]
    );
}

fn apply(customer: &mut CustomerView, update: &BTreeMap<String, String>) {
    for (k, v) in update {
        match k.as_str() {
            "name" => customer.name = Some(v.clone()),
            "phone" => customer.phone = Some(v.clone()),
            "description" => customer.description = Some(v.clone()),
            _ => {
                let key = k.trim_start_matches("metadata[").trim_end_matches(']');
                customer.metadata.insert(key.to_owned(), v.clone());
            }
        }
    }
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[A-Za-z]{1,6}"]
}

proptest! {
    /// One edit is written once: after the update reaches Stripe and paysync records the contact
    /// as acknowledged, neither a repeated poll nor Stripe's echo asks for another write.
    #[test]
    fn an_edit_is_written_once_and_never_echoed(
        first in word(), last in word(), company in word(),
        before_first in word(), before_last in word(), before_company in word(),
        stripe_name in word(), prefer in prop_oneof![Just(Prefer::Newer), Just(Prefer::Stripe), Just(Prefer::Destination)],
        contact_at in 0i64..10, stripe_at in 0i64..10, tagged in any::<bool>(),
    ) {
        let mut cfg = config(prefer);
        cfg.memberships_field = Some("marketing".into());
        cfg.actions.push(TwoWayAction {
            when: Condition::Tag("vip".into()),
            then: Effect { description: Some("VIP".into()), ..Effect::default() },
        });
        let mut before = contact(&before_first, &before_last);
        before.fields.insert("COMPANY".into(), before_company);
        let mut now = contact(&first, &last);
        now.fields.insert("COMPANY".into(), company);
        now.updated_at_ms = Some(contact_at);
        if tagged {
            now.tags.insert("vip".into());
        }
        let mut stripe = customer(&stripe_name, stripe_at);
        let update = customer_update(&cfg, &now, Some(&before), &stripe, &lists());
        apply(&mut stripe, &update);
        // Acknowledged is now the contact; Stripe's webhook changed the customer's time.
        stripe.changed_at_ms = 100;
        let again = customer_update(&cfg, &now, Some(&now), &stripe, &lists());
        prop_assert!(again.is_empty(), "{update:?} then {again:?}");
    }
}
