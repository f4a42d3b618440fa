//! `subscription` with its `items` (each embedding `price` and `plan`).

use super::super::ids::suffix;
use super::super::json::{Obj, write_str};
use super::super::model::{Ix, SubItem, Subscription};
use super::super::state::State;
use super::catalog::{plan, price};
use super::customer::{customer_id, customer_ix};
use super::invoice::{invoice_id, invoice_ix};
use super::{Ctx, reference};

pub fn subscription(c: &Ctx<'_>, x: &Subscription, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "subscription");
    o.null("application")
        .null("application_fee_percent")
        .raw(
            "automatic_tax",
            r#"{"disabled_reason":null,"enabled":false,"liability":null}"#,
        )
        .int("billing_cycle_anchor", x.billing_cycle_anchor)
        .null("billing_cycle_anchor_config")
        .null("billing_thresholds")
        .opt_int("cancel_at", x.cancel_at)
        .bool("cancel_at_period_end", x.cancel_at_period_end)
        .opt_int("canceled_at", x.canceled_at)
        .obj("cancellation_details", |o| {
            o.null("comment")
                .null("feedback")
                .opt_str("reason", x.cancellation_reason);
        })
        .str("collection_method", "charge_automatically")
        .int("created", x.created)
        .str("currency", x.currency);
    if !c.basil() {
        o.int("current_period_end", x.current_period_end)
            .int("current_period_start", x.current_period_start);
    }
    reference(
        &mut o,
        c,
        "customer",
        Some(x.customer),
        customer_id,
        customer_ix,
    );
    o.null("days_until_due")
        .with("default_payment_method", |out| {
            write_str(out, &format!("pm_{}", &suffix(&x.id)[..14]))
        })
        .null("default_source")
        .raw("default_tax_rates", "[]")
        .null("description");
    if !c.basil() {
        o.null("discount");
    }
    o.raw("discounts", "[]")
        .opt_int("ended_at", x.ended_at)
        .raw(
            "invoice_settings",
            r#"{"account_tax_ids":null,"issuer":{"type":"self"}}"#,
        );
    let sub_items = c.child_paths("items");
    let ic = Ctx {
        expand: &sub_items,
        ..*c
    };
    o.obj("items", |o| {
        o.str("object", "list")
            .with("data", |out| {
                out.push(b'[');
                for (i, it) in x.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item(&ic, x, it, out);
                }
                out.push(b']');
            })
            .bool("has_more", false)
            .int("total_count", x.items.len() as i64)
            .with("url", |out| {
                write_str(
                    out,
                    &format!("/v1/subscription_items?subscription={}", x.id),
                )
            });
    });
    reference(
        &mut o,
        c,
        "latest_invoice",
        x.latest_invoice,
        invoice_id,
        invoice_ix,
    );
    o.bool("livemode", false)
        .str_map("metadata", &x.metadata)
        .null("next_pending_invoice_item_invoice")
        .null("on_behalf_of")
        .null("pause_collection")
        .raw(
            "payment_settings",
            r#"{"payment_method_options":null,"payment_method_types":null,"save_default_payment_method":"off"}"#,
        )
        .null("pending_invoice_item_interval")
        .null("pending_setup_intent")
        .null("pending_update");
    if !c.basil() {
        match x.items.as_slice() {
            [only] => {
                o.with("plan", |out| plan(c, only.price, out))
                    .int("quantity", only.quantity as i64);
            }
            _ => {
                o.null("plan").null("quantity");
            }
        }
    }
    o.null("schedule")
        .int("start_date", x.start_date)
        .str("status", x.status.as_str())
        .null("test_clock")
        .null("transfer_data")
        .opt_int("trial_end", x.trial_end)
        .raw(
            "trial_settings",
            r#"{"end_behavior":{"missing_payment_method":"create_invoice"}}"#,
        )
        .opt_int("trial_start", x.trial_start);
    o.end();
}

fn item(c: &Ctx<'_>, s: &Subscription, it: &SubItem, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("id", &it.id).str("object", "subscription_item");
    o.null("billing_thresholds").int("created", it.created);
    if c.basil() {
        o.int("current_period_end", s.current_period_end)
            .int("current_period_start", s.current_period_start);
    }
    let price_paths = c.child_paths("data.price");
    let pc = Ctx {
        expand: &price_paths,
        ..*c
    };
    o.raw("discounts", "[]")
        .raw("metadata", "{}")
        .with("plan", |out| plan(c, it.price, out))
        .with("price", |out| price(&pc, it.price, out))
        .int("quantity", it.quantity as i64)
        .str("subscription", &s.id)
        .raw("tax_rates", "[]");
    o.end();
}

pub(crate) fn subscription_id(st: &State, ix: Ix) -> &str {
    &st.subscriptions.get(ix).id
}

pub(crate) fn subscription_ix(c: &Ctx<'_>, ix: Ix, out: &mut Vec<u8>) {
    subscription(c, c.st.subscriptions.get(ix), out)
}
