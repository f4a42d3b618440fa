//! The engine against a real SQLite store and the destination emulators on loopback.

mod alerts;
mod consent_modes;
mod deletions;
mod reconcile_deliver;
mod token_store;
mod unsubscribes;
