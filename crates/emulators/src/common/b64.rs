//! Base64 as the vendors' clients send it (HTTP Basic credentials, Constant Contact's list
//! cursors and PKCE challenges), through the `base64` crate. Decoding is lenient the way the
//! emulators have always been: padding optional, non-zero trailing bits ignored.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// base64url without padding (RFC 4648 §5), as PKCE and Constant Contact's cursors use.
pub fn encode_url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes standard base64 (RFC 4648 §4) after trimming white space; padding is optional and
/// anything from the first `=` on is ignored. `None` on any other character.
pub fn decode_standard(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s.split('=').next().unwrap_or(s);
    STANDARD_LENIENT.decode(s).ok()
}

/// Decodes base64 in either alphabet (RFC 4648 §4 or §5), padded or not; `None` if malformed.
pub fn decode_any(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    URL_SAFE_LENIENT
        .decode(s)
        .or_else(|_| STANDARD_LENIENT.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_any() {
        assert_eq!(encode_url(b"\xfb\xff"), "-_8");
        assert_eq!(encode_url(b"limit=1&next=2"), "bGltaXQ9MSZuZXh0PTI");
        assert_eq!(
            decode_any("bGltaXQ9MSZuZXh0PTI=").unwrap(),
            b"limit=1&next=2"
        );
        assert_eq!(decode_any("-_8").unwrap(), b"\xfb\xff");
        assert_eq!(decode_any("+/8=").unwrap(), b"\xfb\xff");
        assert_eq!(
            decode_any("Y2xpZW50OnNlY3JldA==").unwrap(),
            b"client:secret"
        );
        assert_eq!(decode_any("").unwrap(), b"");
        assert!(decode_any("a").is_none());
        assert!(decode_any("**").is_none());
    }

    #[test]
    fn standard() {
        assert_eq!(
            decode_standard("dXNlcjprZXktdXMx").unwrap(),
            b"user:key-us1"
        );
        assert_eq!(decode_standard(" YQ== ").unwrap(), b"a");
        assert_eq!(decode_standard("YR").unwrap(), b"a");
        assert_eq!(decode_standard("YQ==junk").unwrap(), b"a");
        assert!(decode_standard("**").is_none());
        assert!(decode_standard("-_8").is_none());
    }
}
