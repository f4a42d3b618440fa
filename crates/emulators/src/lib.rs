//! Faithful local emulators of the APIs paysync talks to, for tests, the demo and benchmarks.
//!
//! - [`stripe`]: an in-memory Stripe (lists, retrieves, customer mutations, events, signed
//!   webhooks, rate limits) that behaves like real Stripe for what paysync uses, and scales to
//!   hundreds of thousands of objects (localstripe does not).
//! - [`common`]: the pieces every emulator shares: loopback binding and the [`EmulatorHandle`],
//!   fault injection, a settable clock, token-bucket rate limits, request accounting and the
//!   `/_admin` helpers.
//!
//! Emulators bind 127.0.0.1 only.

pub mod activecampaign;
pub mod common;
pub mod constant_contact;
pub mod mailchimp;
pub mod stripe;

pub use common::{EmulatorHandle, FaultConfig, Faults};
