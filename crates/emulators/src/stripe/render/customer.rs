//! `customer` and the deleted-customer tombstone.

use super::super::json::Obj;
use super::super::model::{Address, Customer, Ix};
use super::Ctx;

pub fn customer(_c: &Ctx<'_>, x: &Customer, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "customer");
    match &x.address {
        Some(a) => {
            o.obj("address", |o| address(o, a));
        }
        None => {
            o.null("address");
        }
    }
    o.int("balance", 0)
        .int("created", x.created)
        .opt_str("currency", x.currency)
        .null("default_source")
        .bool("delinquent", x.delinquent)
        .opt_str("description", x.description.as_deref())
        .null("discount")
        .opt_str("email", x.email.as_deref())
        .str("invoice_prefix", &x.invoice_prefix)
        .raw(
            "invoice_settings",
            r#"{"custom_fields":null,"default_payment_method":null,"footer":null,"rendering_options":null}"#,
        )
        .bool("livemode", false)
        .str_map("metadata", &x.metadata)
        .opt_str("name", x.name.as_deref())
        .int("next_invoice_sequence", x.next_invoice_sequence as i64)
        .opt_str("phone", x.phone.as_deref())
        .str_list("preferred_locales", x.preferred_locales.iter().map(|s| s.as_str()))
        .null("shipping")
        .str("tax_exempt", "none")
        .null("test_clock");
    o.end();
}

fn address(o: &mut Obj<'_>, a: &Address) {
    o.opt_str("city", a.city.as_deref())
        .opt_str("country", a.country.as_deref())
        .opt_str("line1", a.line1.as_deref())
        .opt_str("line2", a.line2.as_deref())
        .opt_str("postal_code", a.postal_code.as_deref())
        .opt_str("state", a.state.as_deref());
}

/// `{id, object: "customer", deleted: true}`.
pub fn deleted_customer(id: &str, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("id", id)
        .str("object", "customer")
        .bool("deleted", true);
    o.end();
}

/// A customer by row: the tombstone if deleted.
pub(crate) fn customer_ix(c: &Ctx<'_>, ix: Ix, out: &mut Vec<u8>) {
    let x = c.st.customers.get(ix);
    if x.deleted {
        deleted_customer(&x.id, out);
    } else {
        customer(c, x, out);
    }
}

pub(crate) fn customer_id(st: &super::super::state::State, ix: Ix) -> &str {
    &st.customers.get(ix).id
}
