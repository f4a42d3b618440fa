//! The account's products and prices: a small fixed catalog with stable ids, so that paysync
//! configurations (segments by product or price) keep working across runs and seeds.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::ids::{self, new_id};

#[derive(Clone, Debug)]
pub struct Product {
    pub id: Box<str>,
    pub name: &'static str,
    pub description: &'static str,
    /// `service` or `good`.
    pub kind: &'static str,
    pub created: i64,
    pub default_price: u16,
}

#[derive(Clone, Debug)]
pub struct Price {
    pub id: Box<str>,
    pub product: u16,
    pub unit_amount: i64,
    pub currency: &'static str,
    /// `(interval, interval_count)` for recurring prices.
    pub recurring: Option<(&'static str, u32)>,
    pub nickname: Option<&'static str>,
    pub lookup_key: Option<&'static str>,
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub prices: Vec<Price>,
}

/// Catalog creation time: 2023-01-02T00:00:00Z, before any seeded history.
const CATALOG_CREATED: i64 = 1_672_617_600;

impl Catalog {
    /// The fixed catalog (same ids on every run).
    pub fn standard() -> Self {
        let mut rng = StdRng::seed_from_u64(0x5eed_ca7a_1095);
        let products_spec: [(&str, &str, &str, u16); 5] = [
            ("Starter", "Starter plan", "service", 0),
            ("Pro", "Pro plan", "service", 1),
            ("Team", "Team plan", "service", 3),
            ("Handbook", "The paysync handbook (PDF)", "good", 4),
            ("Workshop", "Live workshop seat", "service", 5),
        ];
        let products = products_spec
            .iter()
            .enumerate()
            .map(|(i, (name, description, kind, default_price))| Product {
                id: new_id(&mut rng, ids::PRODUCT),
                name,
                description,
                kind,
                created: CATALOG_CREATED + i as i64,
                default_price: *default_price,
            })
            .collect();
        #[allow(clippy::type_complexity)]
        let prices_spec: [(u16, i64, Option<(&str, u32)>, Option<&str>, Option<&str>); 7] = [
            (
                0,
                900,
                Some(("month", 1)),
                Some("Starter monthly"),
                Some("starter_monthly"),
            ),
            (
                1,
                2900,
                Some(("month", 1)),
                Some("Pro monthly"),
                Some("pro_monthly"),
            ),
            (
                1,
                29000,
                Some(("year", 1)),
                Some("Pro yearly"),
                Some("pro_yearly"),
            ),
            (
                2,
                9900,
                Some(("month", 1)),
                Some("Team monthly"),
                Some("team_monthly"),
            ),
            (3, 2400, None, None, Some("handbook")),
            (4, 14900, None, None, Some("workshop")),
            (
                0,
                9000,
                Some(("year", 1)),
                Some("Starter yearly"),
                Some("starter_yearly"),
            ),
        ];
        let prices = prices_spec
            .iter()
            .enumerate()
            .map(
                |(i, (product, amount, recurring, nickname, lookup_key))| Price {
                    id: new_id(&mut rng, ids::PRICE),
                    product: *product,
                    unit_amount: *amount,
                    currency: "usd",
                    recurring: *recurring,
                    nickname: *nickname,
                    lookup_key: *lookup_key,
                    created: CATALOG_CREATED + 10 + i as i64,
                },
            )
            .collect();
        Self { products, prices }
    }

    pub fn recurring_prices(&self) -> impl Iterator<Item = u16> + '_ {
        self.prices
            .iter()
            .enumerate()
            .filter(|(_, p)| p.recurring.is_some())
            .map(|(i, _)| i as u16)
    }

    pub fn one_time_prices(&self) -> impl Iterator<Item = u16> + '_ {
        self.prices
            .iter()
            .enumerate()
            .filter(|(_, p)| p.recurring.is_none())
            .map(|(i, _)| i as u16)
    }

    pub fn price_ix(&self, id: &str) -> Option<u16> {
        self.prices
            .iter()
            .position(|p| &*p.id == id)
            .map(|i| i as u16)
    }

    pub fn product_ix(&self, id: &str) -> Option<u16> {
        self.products
            .iter()
            .position(|p| &*p.id == id)
            .map(|i| i as u16)
    }
}
