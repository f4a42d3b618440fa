//! The crate's one integration-test binary (DESIGN "Dependencies": one link instead of dozens).

mod client;
