//! An in-memory Stripe that behaves like real Stripe (not like localstripe) for what paysync
//! uses, at the scale benchmarks need.
//!
//! - Lists of customers, charges, refunds, payment intents, subscriptions, invoices, checkout
//!   sessions, events, prices, products and webhook endpoints: newest first, `limit` 1–100,
//!   `starting_after`/`ending_before`, `created[…]`, each endpoint's filters, `expand[]`.
//! - Retrieves (a deleted customer is `{id, object, deleted: true}`), Stripe's error bodies.
//! - Customer create/update/delete with their events and `Idempotency-Key` replay.
//! - Bearer authentication, a token-bucket rate limit (25/s like test mode), fault injection.
//! - Seeded datasets ([`SeedSpec`]) with the last 30 days of events; live activity and signed
//!   webhooks to registered endpoints.
//! - `/_admin/*` to inspect and drive it.
//!
//! Start one with [`serve_stripe`] (or [`StripeEmulator::new`] + [`StripeEmulator::serve`]).

mod activity;
mod admin;
mod builder;
mod catalog;
mod config;
mod customers;
mod emulator;
mod endpoints;
mod error;
mod idempotency;
mod ids;
mod json;
mod model;
mod mutate;
mod params;
mod reads;
mod render;
mod seed;
mod seed_data;
mod server;
mod state;
mod table;
mod webhooks;

pub use config::{DEFAULT_API_VERSION, StripeEmulatorConfig, TEST_MODE_RATE, WebhookConfig};
pub use emulator::{Counts, StripeEmulator, serve_stripe};
pub use reads::Kind as ObjectKind;
pub use seed::{SeedReport, SeedSpec};
pub use webhooks::WebhookStats;
