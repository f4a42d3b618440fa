//! The crate's one integration-test binary (DESIGN "Dependencies": one link instead of dozens):
//! each connector against its vendor's emulator from `paysync-emulators`.

mod activecampaign;
mod constant_contact;
mod mailchimp;
mod spec_conformance;
mod support;
