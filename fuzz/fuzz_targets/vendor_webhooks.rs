//! Mailchimp's and ActiveCampaign's form-encoded webhook bodies: any bytes, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paysync_destinations::webhooks::{parse_activecampaign, parse_mailchimp};

fuzz_target!(|data: &[u8]| {
    let _ = parse_mailchimp(data, "list1");
    let _ = parse_activecampaign(data);
});
