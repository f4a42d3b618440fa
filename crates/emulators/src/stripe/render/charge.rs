//! `charge` (with its `refunds` list when expanded, or by default before 2022-11-15) and
//! `refund` (one of the few objects without `livemode`).

use super::super::ids::suffix;
use super::super::json::Obj;
use super::super::model::{Charge, ChargeStatus, Ix, Refund};
use super::super::state::State;
use super::customer::{customer_id, customer_ix};
use super::invoice::{invoice_id, invoice_ix};
use super::payment_intent::{payment_intent_id, payment_intent_ix};
use super::{Ctx, NULL_ADDRESS, reference};

/// How many refunds an embedded `refunds` list holds (as Stripe's sublists: 10).
const EMBEDDED_REFUNDS: usize = 10;

pub fn charge(c: &Ctx<'_>, x: &Charge, out: &mut Vec<u8>) {
    let succeeded = x.status == ChargeStatus::Succeeded;
    let sfx = suffix(&x.id);
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "charge");
    o.int("amount", x.amount)
        .int("amount_captured", if succeeded { x.amount } else { 0 })
        .int("amount_refunded", x.amount_refunded)
        .null("application")
        .null("application_fee")
        .null("application_fee_amount");
    if x.status == ChargeStatus::Failed {
        o.null("balance_transaction");
    } else {
        o.with("balance_transaction", |out| {
            super::super::json::write_str(out, &format!("txn_{sfx}"))
        });
    }
    o.obj("billing_details", |o| {
        o.raw("address", NULL_ADDRESS)
            .opt_str("email", x.billing_email.as_deref())
            .opt_str("name", x.billing_name.as_deref())
            .null("phone")
            .null("tax_id");
    })
    .str("calculated_statement_descriptor", "PAYSYNC DEMO")
    .bool("captured", x.status != ChargeStatus::Failed)
    .int("created", x.created)
    .str("currency", x.currency);
    reference(&mut o, c, "customer", x.customer, customer_id, customer_ix);
    o.opt_str("description", x.description.as_deref())
        .null("destination")
        .null("dispute")
        .bool("disputed", false)
        .null("failure_balance_transaction")
        .opt_str("failure_code", x.failure.map(|f| f.code))
        .opt_str("failure_message", x.failure.map(|f| f.message))
        .raw("fraud_details", "{}");
    if !c.basil() {
        reference(&mut o, c, "invoice", x.invoice, invoice_id, invoice_ix);
    }
    o.bool("livemode", false)
        .str_map("metadata", &x.metadata)
        .null("on_behalf_of");
    o.obj("outcome", |o| {
        o.null("advice_code").null("network_advice_code");
        match x.failure {
            None => {
                o.null("network_decline_code")
                    .str("network_status", "approved_by_network")
                    .null("reason")
                    .str("risk_level", "normal")
                    .int("risk_score", 20)
                    .str("seller_message", "Payment complete.")
                    .str("type", "authorized");
            }
            Some(f) => {
                o.null("network_decline_code")
                    .str("network_status", "declined_by_network")
                    .str("reason", f.decline_code)
                    .str("risk_level", "normal")
                    .int("risk_score", 32)
                    .str(
                        "seller_message",
                        "The bank did not return any further details with this decline.",
                    )
                    .str("type", "issuer_declined");
            }
        }
    });
    o.bool("paid", succeeded);
    reference(
        &mut o,
        c,
        "payment_intent",
        x.payment_intent,
        payment_intent_id,
        payment_intent_ix,
    );
    o.with("payment_method", |out| {
        super::super::json::write_str(out, &format!("pm_{sfx}"))
    });
    o.obj("payment_method_details", |o| {
        o.obj("card", |o| {
            o.opt_int("amount_authorized", succeeded.then_some(x.amount))
                .null("authorization_code")
                .str("brand", x.card.brand)
                .raw(
                    "checks",
                    r#"{"address_line1_check":null,"address_postal_code_check":null,"cvc_check":"pass"}"#,
                )
                .str("country", "US")
                .int("exp_month", x.card.exp_month as i64)
                .int("exp_year", x.card.exp_year as i64)
                .raw("extended_authorization", r#"{"status":"disabled"}"#)
                .str("fingerprint", fingerprint(x.card.last4))
                .str("funding", x.card.funding)
                .raw("incremental_authorization", r#"{"status":"unavailable"}"#)
                .null("installments")
                .str("last4", x.card.last4)
                .null("mandate")
                .raw("multicapture", r#"{"status":"unavailable"}"#)
                .str("network", x.card.brand)
                .raw("network_token", r#"{"used":false}"#)
                .null("network_transaction_id");
            o.obj("overcapture", |o| {
                o.int("maximum_amount_capturable", x.amount)
                    .str("status", "unavailable");
            });
            o.str("regulated_status", "unregulated")
                .null("three_d_secure")
                .null("wallet");
        })
        .str("type", "card");
    })
    .raw("radar_options", "{}")
    .opt_str("receipt_email", x.receipt_email.as_deref())
    .null("receipt_number");
    if succeeded {
        o.with("receipt_url", |out| {
            super::super::json::write_str(
                out,
                &format!("https://pay.stripe.com/receipts/payment/{sfx}"),
            )
        });
    } else {
        o.null("receipt_url");
    }
    o.bool("refunded", x.amount_refunded >= x.amount && x.amount > 0);
    if c.refunds_by_default() || c.expands("refunds") {
        let sub = c.child_paths("refunds");
        let cc = Ctx { expand: &sub, ..*c };
        o.obj("refunds", |o| {
            o.str("object", "list");
            o.with("data", |out| {
                out.push(b'[');
                for (i, &r) in x.refunds.iter().rev().take(EMBEDDED_REFUNDS).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    refund(&cc, c.st.refunds.get(r), out);
                }
                out.push(b']');
            })
            .bool("has_more", x.refunds.len() > EMBEDDED_REFUNDS)
            .int("total_count", x.refunds.len() as i64)
            .with("url", |out| {
                super::super::json::write_str(out, &format!("/v1/charges/{}/refunds", x.id))
            });
        });
    }
    o.null("review")
        .null("shipping")
        .null("source")
        .null("source_transfer")
        .null("statement_descriptor")
        .null("statement_descriptor_suffix")
        .str("status", x.status.as_str())
        .null("transfer_data")
        .null("transfer_group");
    o.end();
}

/// A stable fake card fingerprint per test card.
fn fingerprint(last4: &str) -> &'static str {
    match last4 {
        "4242" => "Xt5EWLLDS7FJjR1c",
        "4444" => "h4Kc2yyVZ6mGZ0tq",
        "0005" => "mQ9Jx2hPzHkYvB3n",
        _ => "q8Wd6a0PfTn1Lr2K",
    }
}

pub fn refund(c: &Ctx<'_>, x: &Refund, out: &mut Vec<u8>) {
    let ch = c.st.charges.get(x.charge);
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "refund");
    o.int("amount", x.amount)
        .with("balance_transaction", |out| {
            super::super::json::write_str(out, &format!("txn_{}", suffix(&x.id)))
        });
    reference(&mut o, c, "charge", Some(x.charge), charge_id, charge_ix);
    o.int("created", x.created).str("currency", x.currency);
    match ch.customer {
        Some(cu) => o.str("customer", customer_id(c.st, cu)),
        None => o.null("customer"),
    };
    o.raw(
        "destination_details",
        r#"{"card":{"reference_status":"available","reference_type":"acquirer_reference_number","type":"refund"},"type":"card"}"#,
    )
    .str_map("metadata", &x.metadata);
    reference(
        &mut o,
        c,
        "payment_intent",
        ch.payment_intent,
        payment_intent_id,
        payment_intent_ix,
    );
    o.with("payment_method", |out| {
        super::super::json::write_str(out, &format!("pm_{}", suffix(&ch.id)))
    })
    .opt_str("reason", x.reason)
    .null("receipt_number")
    .null("source_transfer_reversal")
    .str("status", x.status)
    .null("transfer_reversal");
    o.end();
}

pub(crate) fn charge_id(st: &State, ix: Ix) -> &str {
    &st.charges.get(ix).id
}

pub(crate) fn charge_ix(c: &Ctx<'_>, ix: Ix, out: &mut Vec<u8>) {
    charge(c, c.st.charges.get(ix), out)
}
