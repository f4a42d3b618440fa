//! Object ids shaped like Stripe's: a prefix and base62 characters (`cus_` + 14, `ch_` + 24, …).

use rand::Rng;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An id kind: its prefix and how many random characters follow it.
#[derive(Clone, Copy, Debug)]
pub struct IdKind(pub &'static str, pub usize);

pub const CUSTOMER: IdKind = IdKind("cus_", 14);
pub const CHARGE: IdKind = IdKind("ch_", 24);
pub const REFUND: IdKind = IdKind("re_", 24);
pub const PAYMENT_INTENT: IdKind = IdKind("pi_", 24);
pub const SUBSCRIPTION: IdKind = IdKind("sub_", 24);
pub const SUBSCRIPTION_ITEM: IdKind = IdKind("si_", 14);
pub const INVOICE: IdKind = IdKind("in_", 24);
pub const INVOICE_LINE: IdKind = IdKind("il_", 24);
pub const CHECKOUT_SESSION: IdKind = IdKind("cs_test_", 58);
pub const EVENT: IdKind = IdKind("evt_", 24);
pub const WEBHOOK_ENDPOINT: IdKind = IdKind("we_", 24);
pub const WEBHOOK_SECRET: IdKind = IdKind("whsec_", 32);
pub const REQUEST: IdKind = IdKind("req_", 14);
pub const PRODUCT: IdKind = IdKind("prod_", 14);
pub const PRICE: IdKind = IdKind("price_", 24);

/// A fresh random id of `kind`.
pub fn new_id(rng: &mut impl Rng, kind: IdKind) -> Box<str> {
    let mut s = String::with_capacity(kind.0.len() + kind.1);
    s.push_str(kind.0);
    for _ in 0..kind.1 {
        s.push(BASE62[rng.random_range(0..62)] as char);
    }
    s.into_boxed_str()
}

/// The random part of an id (after its prefix), used to derive related ids (`txn_`, `pm_`).
pub fn suffix(id: &str) -> &str {
    id.split_once('_').map_or(id, |(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shapes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let c = new_id(&mut rng, CUSTOMER);
        assert!(c.starts_with("cus_") && c.len() == 18);
        assert!(c[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(new_id(&mut rng, CHECKOUT_SESSION).len(), 66);
        assert_eq!(suffix("cs_test_abc"), "test_abc");
        assert_eq!(suffix("ch_abc"), "abc");
    }
}
