//! `invoice` with its `lines` (the basil shape since 2025-03-31: `parent` and `pricing`; the
//! older shape before).

use super::super::catalog::Price;
use super::super::ids::suffix;
use super::super::json::{Obj, write_str};
use super::super::model::{Invoice, InvoiceLine, InvoiceStatus, Ix};
use super::super::state::State;
use super::catalog::{plan, price};
use super::charge::{charge_id, charge_ix};
use super::customer::{customer_id, customer_ix};
use super::payment_intent::{payment_intent_id, payment_intent_ix};
use super::subscription::{subscription_id, subscription_ix};
use super::{Ctx, reference};

pub fn invoice(c: &Ctx<'_>, x: &Invoice, out: &mut Vec<u8>) {
    let finalized = x.status != InvoiceStatus::Draft;
    let paid = x.status == InvoiceStatus::Paid;
    let sfx = suffix(&x.id);
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "invoice");
    o.str("account_country", "US")
        .str("account_name", "Paysync Demo")
        .null("account_tax_ids")
        .int("amount_due", x.amount_due)
        .int("amount_overpaid", 0)
        .int("amount_paid", x.amount_paid)
        .int("amount_remaining", x.amount_due - x.amount_paid)
        .int("amount_shipping", 0)
        .null("application")
        .int("attempt_count", x.attempt_count as i64)
        .bool("attempted", x.attempt_count > 0 || paid)
        .bool("auto_advance", !finalized || x.status == InvoiceStatus::Open)
        .raw(
            "automatic_tax",
            r#"{"disabled_reason":null,"enabled":false,"liability":null,"provider":null,"status":null}"#,
        )
        .null("automatically_finalizes_at")
        .str("billing_reason", x.billing_reason);
    if !c.basil() {
        reference(&mut o, c, "charge", x.charge, charge_id, charge_ix);
    }
    o.str("collection_method", "charge_automatically")
        .int("created", x.created)
        .str("currency", x.currency)
        .null("custom_fields");
    reference(
        &mut o,
        c,
        "customer",
        Some(x.customer),
        customer_id,
        customer_ix,
    );
    o.null("customer_address")
        .opt_str("customer_email", x.customer_email.as_deref())
        .opt_str("customer_name", x.customer_name.as_deref())
        .null("customer_phone")
        .null("customer_shipping")
        .str("customer_tax_exempt", "none")
        .raw("customer_tax_ids", "[]")
        .null("default_payment_method")
        .null("default_source")
        .raw("default_tax_rates", "[]")
        .null("description")
        .raw("discounts", "[]")
        .null("due_date")
        .opt_int("effective_at", x.finalized_at)
        .opt_int("ending_balance", finalized.then_some(0))
        .null("footer")
        .null("from_invoice");
    if finalized {
        o.with("hosted_invoice_url", |out| {
            write_str(
                out,
                &format!("https://invoice.stripe.com/i/acct_paysyncdemo/test_{sfx}"),
            )
        })
        .with("invoice_pdf", |out| {
            write_str(
                out,
                &format!("https://pay.stripe.com/invoice/acct_paysyncdemo/test_{sfx}/pdf"),
            )
        });
    } else {
        o.null("hosted_invoice_url").null("invoice_pdf");
    }
    o.raw("issuer", r#"{"type":"self"}"#)
        .null("last_finalization_error")
        .null("latest_revision");
    let line_paths = c.child_paths("lines");
    let lc = Ctx {
        expand: &line_paths,
        ..*c
    };
    o.obj("lines", |o| {
        o.str("object", "list")
            .with("data", |out| {
                out.push(b'[');
                for (i, l) in x.lines.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    line(&lc, x, l, out);
                }
                out.push(b']');
            })
            .bool("has_more", false)
            .int("total_count", x.lines.len() as i64)
            .with("url", |out| {
                write_str(out, &format!("/v1/invoices/{}/lines", x.id))
            });
    });
    o.bool("livemode", false)
        .str_map("metadata", &x.metadata)
        .opt_int("next_payment_attempt", x.next_payment_attempt)
        .opt_str("number", x.number.as_deref())
        .null("on_behalf_of");
    if !c.basil() {
        o.bool("paid", paid).bool("paid_out_of_band", false);
    }
    if c.basil() {
        match x.subscription {
            Some(s) => {
                o.obj("parent", |o| {
                    o.null("quote_details")
                        .obj("subscription_details", |o| {
                            o.raw("metadata", "{}")
                                .str("subscription", subscription_id(c.st, s));
                        })
                        .str("type", "subscription_details");
                });
            }
            None => {
                o.null("parent");
            }
        }
    } else {
        reference(
            &mut o,
            c,
            "payment_intent",
            x.payment_intent,
            payment_intent_id,
            payment_intent_ix,
        );
    }
    o.raw(
        "payment_settings",
        r#"{"default_mandate":null,"payment_method_options":null,"payment_method_types":null}"#,
    )
    .int("period_end", x.period_end)
    .int("period_start", x.period_start)
    .int("post_payment_credit_notes_amount", 0)
    .int("pre_payment_credit_notes_amount", 0)
    .null("receipt_number")
    .null("rendering")
    .null("shipping_cost")
    .null("shipping_details")
    .int("starting_balance", 0)
    .null("statement_descriptor")
    .str("status", x.status.as_str())
    .obj("status_transitions", |o| {
        o.opt_int("finalized_at", x.finalized_at)
            .null("marked_uncollectible_at")
            .opt_int("paid_at", x.paid_at)
            .null("voided_at");
    });
    if !c.basil() {
        reference(
            &mut o,
            c,
            "subscription",
            x.subscription,
            subscription_id,
            subscription_ix,
        );
    }
    o.int("subtotal", x.amount_due)
        .int("subtotal_excluding_tax", x.amount_due)
        .null("test_clock")
        .int("total", x.amount_due)
        .raw("total_discount_amounts", "[]")
        .int("total_excluding_tax", x.amount_due);
    if c.basil() {
        o.raw("total_pretax_credit_amounts", "[]")
            .raw("total_taxes", "[]");
    } else {
        o.raw("total_tax_amounts", "[]");
    }
    o.opt_int("webhooks_delivered_at", x.finalized_at.or(Some(x.created)));
    o.end();
}

fn describe(p: &Price, product: &str, qty: u32) -> String {
    let dollars = format!("${}.{:02}", p.unit_amount / 100, p.unit_amount % 100);
    match p.recurring {
        Some((interval, _)) => format!("{qty} × {product} (at {dollars} / {interval})"),
        None => format!("{qty} × {product}"),
    }
}

fn line(c: &Ctx<'_>, inv: &Invoice, l: &InvoiceLine, out: &mut Vec<u8>) {
    let cat = &c.st.catalog;
    let p = &cat.prices[l.price as usize];
    let product = &cat.products[p.product as usize];
    let sub_id = inv.subscription.map(|s| subscription_id(c.st, s));
    let mut o = Obj::new(out);
    o.str("id", &l.id).str("object", "line_item");
    o.int("amount", l.amount);
    if !c.basil() {
        o.int("amount_excluding_tax", l.amount);
    }
    o.str("currency", inv.currency)
        .with("description", |out| {
            write_str(out, &describe(p, product.name, l.quantity))
        })
        .raw("discount_amounts", "[]")
        .bool("discountable", true)
        .raw("discounts", "[]")
        .str("invoice", &inv.id)
        .bool("livemode", false)
        .raw("metadata", "{}");
    if c.basil() {
        match (sub_id, &l.sub_item) {
            (Some(s), Some(si)) => {
                o.obj("parent", |o| {
                    o.null("invoice_item_details")
                        .obj("subscription_item_details", |o| {
                            o.null("invoice_item")
                                .bool("proration", false)
                                .raw("proration_details", r#"{"credited_items":null}"#)
                                .str("subscription", s)
                                .str("subscription_item", si);
                        })
                        .str("type", "subscription_item_details");
                });
            }
            _ => {
                o.null("parent");
            }
        }
    }
    o.obj("period", |o| {
        o.int("end", l.period_end).int("start", l.period_start);
    });
    if !c.basil() {
        o.with("plan", |out| {
            if p.recurring.is_some() {
                plan(c, l.price, out)
            } else {
                out.extend_from_slice(b"null")
            }
        })
        .with("price", |out| price(c, l.price, out))
        .bool("proration", false)
        .raw("proration_details", r#"{"credited_items":null}"#);
    } else {
        o.raw("pretax_credit_amounts", "[]").obj("pricing", |o| {
            o.obj("price_details", |o| {
                o.str("price", &p.id).str("product", &product.id);
            })
            .str("type", "price_details")
            .with("unit_amount_decimal", |out| {
                write_str(out, &p.unit_amount.to_string())
            });
        });
    }
    o.int("quantity", l.quantity as i64);
    if !c.basil() {
        o.opt_str("subscription", sub_id)
            .opt_str("subscription_item", l.sub_item.as_deref())
            .raw("tax_amounts", "[]")
            .raw("tax_rates", "[]")
            .str(
                "type",
                if sub_id.is_some() {
                    "subscription"
                } else {
                    "invoiceitem"
                },
            )
            .with("unit_amount_excluding_tax", |out| {
                write_str(out, &p.unit_amount.to_string())
            });
    } else {
        o.raw("taxes", "[]");
    }
    o.end();
}

pub(crate) fn invoice_id(st: &State, ix: Ix) -> &str {
    &st.invoices.get(ix).id
}

pub(crate) fn invoice_ix(c: &Ctx<'_>, ix: Ix, out: &mut Vec<u8>) {
    invoice(c, c.st.invoices.get(ix), out)
}
