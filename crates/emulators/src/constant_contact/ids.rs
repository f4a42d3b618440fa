//! Ids, tokens and the small encodings the emulator needs: UUIDs (Constant Contact's ids are
//! UUIDs), opaque tokens, base64 (HTTP Basic credentials, cursors, PKCE) and SHA-256 (PKCE S256).

use rand::Rng;

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

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// base64url without padding (RFC 4648 §5), as PKCE and the cursors use.
pub fn b64url(data: &[u8]) -> String {
    encode(data, URL, false)
}

/// Decodes base64 in either alphabet, padded or not; `None` if malformed.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = STD
            .iter()
            .position(|x| *x == c)
            .or_else(|| URL.iter().position(|x| *x == c))? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None;
    }
    Some(out)
}

/// SHA-256, from *ring* through the TLS 1.3 suite's hash provider that rustls exposes (the
/// crate has no `sha2` dependency of its own).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    use rustls::SupportedCipherSuite;
    match rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256 {
        SupportedCipherSuite::Tls13(s) => s.common.hash_provider.hash(data).as_ref().to_vec(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite"),
    }
}

/// The PKCE S256 challenge of a verifier: `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
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
    fn base64() {
        assert_eq!(encode(b"limit=1&next=2", STD, true), "bGltaXQ9MSZuZXh0PTI=");
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
        assert_eq!(
            b64_decode("bGltaXQ9MSZuZXh0PTI=").unwrap(),
            b"limit=1&next=2"
        );
        assert_eq!(b64_decode("-_8").unwrap(), b"\xfb\xff");
        assert_eq!(
            b64_decode("Y2xpZW50OnNlY3JldA==").unwrap(),
            b"client:secret"
        );
        assert!(b64_decode("a").is_none());
        assert!(b64_decode("**").is_none());
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
