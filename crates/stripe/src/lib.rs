//! paysync's side of Stripe: a small API client ([`client`]) for the few endpoints paysync calls
//! (lists, retrieves, idempotent POSTs) with a per-account rate limit and in-call retries, and the
//! verification of webhook signatures ([`signature`]), which is pure and kept fast for the webhook
//! hot path.

pub mod client;
pub mod signature;

pub use client::{ClientConfig, ClientError, ListPage, PageCursor, StripeClient, object_id};
pub use signature::SignatureError;
