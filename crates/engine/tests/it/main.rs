//! The engine against a real SQLite store (PostgreSQL where scale-out is tested) and the
//! emulators on loopback.

mod alerts;
mod backfill_split;
mod consent_modes;
mod deletions;
mod reconcile_deliver;
mod shared_limits;
mod token_store;
mod unsubscribes;
