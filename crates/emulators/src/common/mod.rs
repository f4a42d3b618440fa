//! Pieces shared by every emulator: binding and shutdown, fault injection, the emulator clock,
//! token-bucket rate limits, request accounting and `/_admin` router helpers.

mod admin;
mod clock;
mod faults;
mod ratelimit;
mod server;

pub use admin::{RequestLog, faults_routes, json_ok};
pub use clock::{Clock, system_now};
pub use faults::{FaultAction, FaultConfig, FaultCounts, FaultDecision, Faults};
pub use ratelimit::{KeyedLimiter, RateLimit, TokenBucket};
pub use server::{EmulatorHandle, bind_loopback, serve};
