//! Faithful local emulators of the APIs paysync talks to, for tests, the demo and benchmarks.
//!
//! - [`stripe`]: an in-memory Stripe (lists, retrieves, customer mutations, events, signed
//!   webhooks, rate limits) that behaves like real Stripe for what paysync uses, and scales to
//!   hundreds of thousands of objects (localstripe does not).
//! - [`constant_contact`]: Constant Contact API v3: OAuth 2.0 with PKCE and rotating refresh
//!   tokens, contacts with consent states, lists, tags, custom fields, asynchronous bulk
//!   activities, a per-second rate and a daily quota.
//! - [`mailchimp`]: the Mailchimp Marketing API v3: audiences, members by subscriber hash,
//!   merge fields, tags, batch subscribe and asynchronous `/batches` with tar.gz results, list
//!   webhooks, at most 10 simultaneous requests per key.
//! - [`activecampaign`]: ActiveCampaign API v3: contact sync, lists and memberships, tags,
//!   custom fields, asynchronous bulk import, Deep Data, 5 requests a second per account.
//! - [`common`]: the pieces every emulator shares: loopback binding and the [`EmulatorHandle`],
//!   fault injection, a settable clock, token-bucket rate limits and per-key concurrency limits,
//!   request accounting and the `/_admin` helpers, and crate-internal helpers (ISO 8601 times,
//!   calendar days, email syntax, `fields`/`exclude_fields` projections, query strings, random
//!   ids, MD5, base64, a tar.gz writer).
//!
//! - [`smtp_sink`]: an SMTP server that keeps what it is sent (opt-in and alert emails).
//!
//! None of the vendor emulators depends on another; what they share is in [`common`].
//! Emulators bind 127.0.0.1 only.

pub mod activecampaign;
pub mod common;
pub mod constant_contact;
pub mod mailchimp;
pub mod smtp_sink;
pub mod stripe;

pub use common::{EmulatorHandle, FaultConfig, Faults};
