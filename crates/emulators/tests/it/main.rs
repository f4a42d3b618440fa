//! Integration tests of the emulators, in one binary.

mod activecampaign;
mod constant_contact;
mod helpers;
mod mailchimp;
mod stripe_errors;
mod stripe_lists;
mod stripe_mutations;
mod stripe_scale;
mod stripe_shapes;
mod stripe_webhooks;
