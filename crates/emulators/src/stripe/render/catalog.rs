//! `price`, `plan` (the legacy view of a price, still embedded in subscription items) and
//! `product`.

use super::super::catalog::Catalog;
use super::super::json::{Obj, write_str};
use super::Ctx;

pub fn price(c: &Ctx<'_>, i: u16, out: &mut Vec<u8>) {
    price_in(&c.st.catalog, c, i, out)
}

fn price_in(cat: &Catalog, c: &Ctx<'_>, i: u16, out: &mut Vec<u8>) {
    let p = &cat.prices[i as usize];
    let mut o = Obj::new(out);
    o.str("id", &p.id).str("object", "price");
    o.bool("active", true)
        .str("billing_scheme", "per_unit")
        .int("created", p.created)
        .str("currency", p.currency)
        .null("custom_unit_amount")
        .bool("livemode", false)
        .opt_str("lookup_key", p.lookup_key)
        .raw("metadata", "{}")
        .opt_str("nickname", p.nickname);
    if c.expands("product") {
        o.with("product", |out| product(c, p.product, out));
    } else {
        o.str("product", &cat.products[p.product as usize].id);
    }
    match p.recurring {
        Some((interval, count)) => {
            o.obj("recurring", |o| {
                if !c.basil() {
                    o.null("aggregate_usage");
                }
                o.str("interval", interval)
                    .int("interval_count", count as i64)
                    .null("meter")
                    .null("trial_period_days")
                    .str("usage_type", "licensed");
            });
        }
        None => {
            o.null("recurring");
        }
    }
    o.str("tax_behavior", "unspecified")
        .null("tiers_mode")
        .null("transform_quantity")
        .str(
            "type",
            if p.recurring.is_some() {
                "recurring"
            } else {
                "one_time"
            },
        )
        .int("unit_amount", p.unit_amount)
        .with("unit_amount_decimal", |out| {
            write_str(out, &p.unit_amount.to_string())
        });
    o.end();
}

pub fn plan(c: &Ctx<'_>, i: u16, out: &mut Vec<u8>) {
    let cat = &c.st.catalog;
    let p = &cat.prices[i as usize];
    let (interval, count) = p.recurring.unwrap_or(("month", 1));
    let mut o = Obj::new(out);
    o.str("id", &p.id).str("object", "plan");
    o.bool("active", true);
    if !c.basil() {
        o.null("aggregate_usage");
    }
    o.int("amount", p.unit_amount)
        .with("amount_decimal", |out| {
            write_str(out, &p.unit_amount.to_string())
        })
        .str("billing_scheme", "per_unit")
        .int("created", p.created)
        .str("currency", p.currency)
        .str("interval", interval)
        .int("interval_count", count as i64)
        .bool("livemode", false)
        .raw("metadata", "{}")
        .null("meter")
        .opt_str("nickname", p.nickname)
        .str("product", &cat.products[p.product as usize].id)
        .null("tiers_mode")
        .null("transform_usage")
        .null("trial_period_days")
        .str("usage_type", "licensed");
    o.end();
}

pub fn product(c: &Ctx<'_>, i: u16, out: &mut Vec<u8>) {
    let cat = &c.st.catalog;
    let p = &cat.products[i as usize];
    let mut o = Obj::new(out);
    o.str("id", &p.id).str("object", "product");
    o.bool("active", true)
        .int("created", p.created)
        .str("default_price", &cat.prices[p.default_price as usize].id)
        .str("description", p.description)
        .raw("images", "[]")
        .bool("livemode", false)
        .raw("marketing_features", "[]")
        .raw("metadata", "{}")
        .str("name", p.name)
        .null("package_dimensions")
        .null("shippable")
        .null("statement_descriptor")
        .null("tax_code")
        .str("type", p.kind)
        .null("unit_label")
        .int("updated", p.created)
        .null("url");
    o.end();
}
