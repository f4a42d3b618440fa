//! An in-memory Mailchimp Marketing API v3 (base `/3.0`) that behaves like Mailchimp for what
//! paysync uses (API-FACTS "Mailchimp Marketing v3"; the vendor's own spec in
//! `specs/mailchimp/*.yml`).
//!
//! - Audiences: `GET/POST /lists`, `GET/DELETE /lists/{list_id}`, merge fields (FNAME, LNAME on
//!   creation; custom tags).
//! - Members: `PUT …/members/{subscriber_hash}` upsert (MD5 of the lowercased address; the
//!   address or `contact_id` also accepted), `POST …/members`, `GET` one and a filtered list
//!   (`count`/`offset`, `status`, `since_last_changed`, …), `PATCH`, `DELETE` (archive),
//!   `actions/delete-permanent`; tags (`POST/GET …/tags`, created on first use).
//! - Batch subscribe `POST /lists/{list_id}` (≤ 500 members, `update_existing`, `sync_tags`)
//!   and asynchronous `POST /batches` with a tar.gz of results.
//! - Consent: no API path re-subscribes an `unsubscribed`/`cleaned` member ("Member In
//!   Compliance State") or re-adds a permanently deleted address ("Forgotten Email Not
//!   Subscribed").
//! - List webhooks (the URL is checked with a GET first); a person's unsubscribe or bounce,
//!   simulated through `/_admin`, is sent to them.
//! - Basic (`anystring:<key>-<dc>`) or Bearer auth, at most 10 simultaneous requests per key
//!   (429 beyond), `application/problem+json` errors, fault injection, `fields`/`exclude_fields`.
//! - `/_admin/*` to inspect and drive it.
//!
//! No URL of the emulator contains the substring "server": Mailchimp's SDK replaces it with the
//! datacenter in every URL it builds.
//!
//! Start one with [`serve_mailchimp`].

mod admin;
mod batches;
mod config;
mod emulator;
mod error;
mod hash;
mod model;
mod ops;
mod routes;
mod server;

// The per-key limit on simultaneous requests, kept under its old path too.
pub use crate::common::{ConcurrencyLimiter, Slot};
pub use config::{BATCH_SUBSCRIBE_MAX, MAX_CONCURRENT_PER_KEY, MailchimpConfig};
pub use emulator::{AdminError, MailchimpEmulator, serve_mailchimp};
pub use error::{PROBLEM_TYPE, Problem};
pub use hash::subscriber_hash;
