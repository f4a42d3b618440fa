//! Pieces shared by every emulator: binding and shutdown, fault injection, the emulator clock,
//! token-bucket rate limits and per-key concurrency limits, request accounting (counts, and
//! opt-in capture of whole requests: [`capture`]) and `/_admin` router helpers, and the small
//! generic helpers the vendor emulators share (ISO 8601 times, calendar days, email syntax,
//! `fields`/`exclude_fields` projections, query strings, random ids, MD5, base64, a tar.gz
//! writer).

mod admin;
pub mod capture;
mod clock;
mod concurrency;
mod faults;
mod ratelimit;
mod server;

pub(crate) mod archive;
pub(crate) mod b64;
pub(crate) mod calendar;
pub(crate) mod email;
pub(crate) mod hash;
pub(crate) mod http;
pub(crate) mod iso8601;
pub(crate) mod projection;
pub(crate) mod query;
pub(crate) mod random;

pub(crate) use admin::{ClockReq, json_error, parse_body, rate_limit_route};
pub use admin::{RequestLog, captured_routes, faults_routes, json_ok};
pub use capture::CapturedRequest;
pub use clock::{Clock, system_now};
pub use concurrency::{ConcurrencyLimiter, Slot};
pub use faults::{FaultAction, FaultConfig, FaultCounts, FaultDecision, Faults};
pub use ratelimit::{KeyedLimiter, RateLimit, TokenBucket};
pub use server::{EmulatorHandle, bind_loopback, serve};
