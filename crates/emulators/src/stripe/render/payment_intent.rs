//! `payment_intent`.

use super::super::ids::suffix;
use super::super::json::{Obj, write_str};
use super::super::model::{Ix, PaymentIntent};
use super::super::state::State;
use super::charge::{charge_id, charge_ix};
use super::customer::{customer_id, customer_ix};
use super::invoice::{invoice_id, invoice_ix};
use super::{Ctx, reference};

pub fn payment_intent(c: &Ctx<'_>, x: &PaymentIntent, out: &mut Vec<u8>) {
    let sfx = suffix(&x.id);
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "payment_intent");
    o.int("amount", x.amount)
        .int("amount_capturable", 0)
        .raw("amount_details", r#"{"tip":{}}"#)
        .int("amount_received", x.amount_received)
        .null("application")
        .null("application_fee_amount")
        .raw(
            "automatic_payment_methods",
            r#"{"allow_redirects":"always","enabled":true}"#,
        )
        .opt_int("canceled_at", x.canceled_at)
        .null("cancellation_reason")
        .str("capture_method", "automatic_async")
        .with("client_secret", |out| {
            write_str(
                out,
                &format!("{}_secret_{}", x.id, &sfx[..sfx.len().min(25)]),
            )
        })
        .str("confirmation_method", "automatic")
        .int("created", x.created)
        .str("currency", x.currency);
    reference(&mut o, c, "customer", x.customer, customer_id, customer_ix);
    o.opt_str("description", x.description.as_deref());
    if !c.basil() {
        reference(&mut o, c, "invoice", x.invoice, invoice_id, invoice_ix);
    }
    match (x.last_error, x.latest_charge) {
        (Some(e), ch) => {
            o.obj("last_payment_error", |o| {
                if let Some(ch) = ch {
                    o.str("charge", charge_id(c.st, ch));
                }
                o.str("code", e.code)
                    .str("decline_code", e.decline_code)
                    .with("doc_url", |out| {
                        write_str(
                            out,
                            &format!(
                                "https://stripe.com/docs/error-codes/{}",
                                e.code.replace('_', "-")
                            ),
                        )
                    })
                    .str("message", e.message)
                    .str("type", "card_error");
            });
        }
        (None, _) => {
            o.null("last_payment_error");
        }
    }
    reference(
        &mut o,
        c,
        "latest_charge",
        x.latest_charge,
        charge_id,
        charge_ix,
    );
    o.bool("livemode", false)
        .str_map("metadata", &x.metadata)
        .null("next_action")
        .null("on_behalf_of");
    if x.status == "succeeded" {
        o.with("payment_method", |out| {
            let pm = x
                .latest_charge
                .map(|ch| format!("pm_{}", suffix(charge_id(c.st, ch))))
                .unwrap_or_else(|| format!("pm_{sfx}"));
            write_str(out, &pm)
        });
    } else {
        o.null("payment_method");
    }
    o.null("payment_method_configuration_details")
        .raw(
            "payment_method_options",
            r#"{"card":{"installments":null,"mandate_options":null,"network":null,"request_three_d_secure":"automatic"}}"#,
        )
        .str_list("payment_method_types", ["card"])
        .null("processing")
        .opt_str("receipt_email", x.receipt_email.as_deref())
        .null("review")
        .null("setup_future_usage")
        .null("shipping")
        .null("source")
        .null("statement_descriptor")
        .null("statement_descriptor_suffix")
        .str("status", x.status)
        .null("transfer_data")
        .null("transfer_group");
    o.end();
}

pub(crate) fn payment_intent_id(st: &State, ix: Ix) -> &str {
    &st.payment_intents.get(ix).id
}

pub(crate) fn payment_intent_ix(c: &Ctx<'_>, ix: Ix, out: &mut Vec<u8>) {
    payment_intent(c, c.st.payment_intents.get(ix), out)
}
