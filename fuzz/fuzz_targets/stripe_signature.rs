//! `Stripe-Signature` header parsing and verification: any header and body, never a panic; a
//! header that verifies must carry a MAC of the body under the secret (checked by re-signing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let secrets = [SecretString::from("whsec_fuzz".to_owned())];
    let _ = paysync_stripe::signature::verify(Some(header), body, &secrets, 1_700_000_000, 300);
    // A correctly signed copy of the same body always verifies.
    let signed = paysync_stripe::signature::sign_header("whsec_fuzz", 1_700_000_000, body);
    assert!(
        paysync_stripe::signature::verify(Some(&signed), body, &secrets, 1_700_000_000, 300)
            .is_ok()
    );
});
