//! `checkout.session`, including guest sessions (`customer: null`, the buyer's email only in
//! `customer_details.email`).

use super::super::json::{Obj, write_str};
use super::super::model::CheckoutSession;
use super::customer::{customer_id, customer_ix};
use super::invoice::{invoice_id, invoice_ix};
use super::payment_intent::{payment_intent_id, payment_intent_ix};
use super::subscription::{subscription_id, subscription_ix};
use super::{Ctx, NULL_ADDRESS, reference};

pub fn checkout_session(c: &Ctx<'_>, x: &CheckoutSession, out: &mut Vec<u8>) {
    let open = x.status == "open";
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "checkout.session");
    o.null("adaptive_pricing")
        .null("after_expiration")
        .null("allow_promotion_codes")
        .int("amount_subtotal", x.amount_total)
        .int("amount_total", x.amount_total)
        .raw(
            "automatic_tax",
            r#"{"enabled":false,"liability":null,"provider":null,"status":null}"#,
        )
        .null("billing_address_collection")
        .str("cancel_url", "https://example.com/cancel")
        .null("client_reference_id")
        .null("client_secret")
        .null("collected_information")
        .null("consent")
        .null("consent_collection")
        .int("created", x.created)
        .str("currency", x.currency)
        .null("currency_conversion")
        .raw("custom_fields", "[]")
        .raw(
            "custom_text",
            r#"{"after_submit":null,"shipping_address":null,"submit":null,"terms_of_service_acceptance":null}"#,
        );
    reference(&mut o, c, "customer", x.customer, customer_id, customer_ix);
    o.opt_str("customer_creation", x.customer_creation);
    if open {
        o.null("customer_details");
    } else {
        o.obj("customer_details", |o| {
            o.raw("address", NULL_ADDRESS)
                .opt_str("email", x.details_email.as_deref())
                .opt_str("name", x.details_name.as_deref())
                .null("phone")
                .str("tax_exempt", "none")
                .raw("tax_ids", "[]");
        });
    }
    o.opt_str("customer_email", x.customer_email.as_deref())
        .raw("discounts", "[]")
        .int("expires_at", x.expires_at);
    reference(&mut o, c, "invoice", x.invoice, invoice_id, invoice_ix);
    if x.mode == "payment" {
        o.raw(
            "invoice_creation",
            r#"{"enabled":false,"invoice_data":{"account_tax_ids":null,"custom_fields":null,"description":null,"footer":null,"issuer":null,"metadata":{},"rendering_options":null}}"#,
        );
    } else {
        o.null("invoice_creation");
    }
    o.bool("livemode", false)
        .null("locale")
        .str_map("metadata", &x.metadata)
        .str("mode", x.mode);
    reference(
        &mut o,
        c,
        "payment_intent",
        x.payment_intent,
        payment_intent_id,
        payment_intent_ix,
    );
    o.null("payment_link")
        .str("payment_method_collection", "if_required")
        .null("payment_method_configuration_details")
        .raw(
            "payment_method_options",
            r#"{"card":{"request_three_d_secure":"automatic"}}"#,
        )
        .str_list("payment_method_types", ["card"])
        .str("payment_status", x.payment_status)
        .raw("phone_number_collection", r#"{"enabled":false}"#)
        .null("recovered_from")
        .null("saved_payment_method_options")
        .null("setup_intent")
        .null("shipping_address_collection")
        .null("shipping_cost");
    if !c.basil() {
        o.null("shipping_details");
    }
    o.raw("shipping_options", "[]")
        .str("status", x.status)
        .null("submit_type");
    reference(
        &mut o,
        c,
        "subscription",
        x.subscription,
        subscription_id,
        subscription_ix,
    );
    o.str("success_url", "https://example.com/success")
        .raw(
            "total_details",
            r#"{"amount_discount":0,"amount_shipping":0,"amount_tax":0}"#,
        )
        .str("ui_mode", "hosted");
    if open {
        o.with("url", |out| {
            write_str(out, &format!("https://checkout.stripe.com/c/pay/{}", x.id))
        });
    } else {
        o.null("url");
    }
    o.end();
}
