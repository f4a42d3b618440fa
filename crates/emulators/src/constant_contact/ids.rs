//! Ids and tokens: UUIDs (Constant Contact's ids are UUIDs), opaque tokens, and the PKCE S256
//! challenge (SHA-256 from `sha2`, base64url from [`crate::common::b64`]).

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::common::b64;

/// A random (version 4) UUID, lowercase hyphenated: `04fe9a97-a579-43c5-bb1a-58ed29bf0a6a`.
pub fn uuid(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Whether `s` has the shape of a UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An opaque token of `len` base62 characters.
pub fn token(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| BASE62[rng.random_range(0..62)] as char)
        .collect()
}

/// The PKCE S256 challenge of a verifier: `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    b64::encode_url(&Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uuids() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let u = uuid(&mut rng);
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert!(!is_uuid("04fe9a-a579-43c5-bb1a-58ed29bf0a6a"));
    }

    #[test]
    fn pkce_rfc7636_example() {
        // RFC 7636, Appendix B.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
