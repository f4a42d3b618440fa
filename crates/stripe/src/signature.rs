//! Stripe webhook signatures (`Stripe-Signature` header), verified without I/O: the caller passes the
//! current time in.
//!
//! API-FACTS "Stripe": header `t=<unix>,v1=<hex>[,v1=<hex>…]`; `v1` = HMAC-SHA256(secret,
//! `"{t}.{raw body}"`); compare in constant time; accept if any `v1` matches; default tolerance 300 s.
//! Several `v1` appear while a secret is being rolled, and several secrets may be configured, so any
//! (secret, `v1`) pair may match.

use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook signature was refused. Never carries secret material, so it can be logged as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header: {0}")]
    MalformedHeader(String),
    #[error("Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    /// `age_secs` is now minus the signed timestamp: negative when the timestamp is in the future.
    #[error("signed timestamp is {age_secs} s from now, outside the tolerance")]
    TimestampOutsideTolerance { age_secs: i64 },
    #[error("no webhook signing secret is configured")]
    NoSecretConfigured,
    #[error("no v1 signature matches any configured secret")]
    Mismatch,
}

impl SignatureError {
    /// A short, stable label for metrics and status pages.
    pub fn reason_code(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader => "missing_header",
            SignatureError::MalformedHeader(_) => "malformed_header",
            SignatureError::NoV1Signature => "no_v1_signature",
            SignatureError::TimestampOutsideTolerance { age_secs } if *age_secs < 0 => {
                "future_timestamp"
            }
            SignatureError::TimestampOutsideTolerance { .. } => "stale_timestamp",
            SignatureError::NoSecretConfigured => "no_secret_configured",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// Length of a SHA-256 MAC, in bytes (a `v1` is twice as many hex digits).
const MAC_LEN: usize = 32;

/// Verifies a `Stripe-Signature` header against the raw request body and returns the signed
/// timestamp `t`.
///
/// The signature is checked before the timestamp (as Stripe's own libraries do), so that a forged
/// request is reported as `Mismatch` rather than by a timestamp that nobody signed.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<i64, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let header = header.ok_or(SignatureError::MissingHeader)?;
    let parsed = parse_header(header)?;

    // One MAC per secret over the body, compared (in constant time) against every v1.
    let matched = secrets.iter().any(|secret| {
        let tag = mac(secret.expose_secret().as_bytes(), parsed.t_raw, body).finalize();
        parsed
            .v1
            .iter()
            .any(|sig| tag == CtOutput::new((*sig).into()))
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }

    let age_secs = now_unix.saturating_sub(parsed.t);
    if age_secs.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::TimestampOutsideTolerance { age_secs });
    }
    Ok(parsed.t)
}

/// Builds a valid `Stripe-Signature` header for `body`, signed with `secret` at `timestamp`.
pub fn sign_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let tag = mac(secret.as_bytes(), &t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

fn mac(secret: &[u8], t_raw: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(t_raw.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

struct ParsedHeader<'a> {
    t: i64,
    /// `t` exactly as sent: the signed payload is built from the header's text, not a re-rendering.
    t_raw: &'a str,
    v1: Vec<[u8; MAC_LEN]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    let malformed = |reason: &str| SignatureError::MalformedHeader(reason.to_owned());
    let mut t = None;
    let mut v1 = Vec::with_capacity(2);
    for element in header.split(',') {
        let element = element.trim();
        if element.is_empty() {
            continue;
        }
        let (key, value) = element
            .split_once('=')
            .ok_or_else(|| malformed("element without '='"))?;
        match key {
            "t" => {
                if t.is_some() {
                    return Err(malformed("more than one t"));
                }
                let parsed: i64 = value
                    .parse()
                    .map_err(|_| malformed("t is not an integer"))?;
                t = Some((parsed, value));
            }
            "v1" => {
                let mut sig = [0u8; MAC_LEN];
                hex::decode_to_slice(value, &mut sig)
                    .map_err(|_| malformed("v1 is not 64 hex digits"))?;
                v1.push(sig);
            }
            // Other schemes (v0 is Stripe's test-mode-only scheme) are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let (t, t_raw) = t.ok_or_else(|| malformed("no t"))?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(ParsedHeader { t, t_raw, v1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"customer.created"}"#;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn check(
        header: Option<&str>,
        body: &[u8],
        configured: &[&str],
    ) -> Result<i64, SignatureError> {
        verify(header, body, &secrets(configured), NOW, 300)
    }

    fn v1_of(secret: &str, t: i64, body: &[u8]) -> String {
        let header = sign_header(secret, t, body);
        header
            .split_once(",v1=")
            .expect("sign_header emits v1")
            .1
            .to_owned()
    }

    #[test]
    fn valid_signature_returns_timestamp() {
        let header = sign_header(SECRET, NOW - 10, BODY);
        assert_eq!(check(Some(&header), BODY, &[SECRET]), Ok(NOW - 10));
    }

    #[test]
    fn tampered_body_is_refused() {
        let header = sign_header(SECRET, NOW, BODY);
        let tampered = br#"{"id":"evt_2","type":"customer.created"}"#;
        assert_eq!(
            check(Some(&header), tampered, &[SECRET]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamp_is_refused() {
        let header = sign_header(SECRET, NOW - 301, BODY);
        let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
        assert_eq!(
            err,
            SignatureError::TimestampOutsideTolerance { age_secs: 301 }
        );
        assert_eq!(err.reason_code(), "stale_timestamp");
        // The boundary itself is accepted.
        let header = sign_header(SECRET, NOW - 300, BODY);
        assert_eq!(check(Some(&header), BODY, &[SECRET]), Ok(NOW - 300));
    }

    #[test]
    fn future_timestamp_is_refused() {
        let header = sign_header(SECRET, NOW + 301, BODY);
        let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
        assert_eq!(
            err,
            SignatureError::TimestampOutsideTolerance { age_secs: -301 }
        );
        assert_eq!(err.reason_code(), "future_timestamp");
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        for t in [i64::MIN, i64::MAX] {
            let header = sign_header(SECRET, t, BODY);
            assert!(matches!(
                check(Some(&header), BODY, &[SECRET]),
                Err(SignatureError::TimestampOutsideTolerance { .. })
            ));
        }
    }

    #[test]
    fn wrong_secret_is_refused() {
        let header = sign_header("whsec_other", NOW, BODY);
        let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
        assert_eq!(err, SignatureError::Mismatch);
        assert_eq!(err.reason_code(), "bad_signature");
    }

    #[test]
    fn forged_signature_with_stale_timestamp_reports_mismatch() {
        let header = sign_header("whsec_other", NOW - 10_000, BODY);
        assert_eq!(
            check(Some(&header), BODY, &[SECRET]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_header_is_refused() {
        let err = check(None, BODY, &[SECRET]).unwrap_err();
        assert_eq!(err, SignatureError::MissingHeader);
        assert_eq!(err.reason_code(), "missing_header");
    }

    #[test]
    fn no_configured_secret_is_refused() {
        let header = sign_header(SECRET, NOW, BODY);
        let err = check(Some(&header), BODY, &[]).unwrap_err();
        assert_eq!(err, SignatureError::NoSecretConfigured);
        assert_eq!(err.reason_code(), "no_secret_configured");
    }

    #[test]
    fn malformed_headers_are_refused() {
        let v1 = v1_of(SECRET, NOW, BODY);
        let cases = [
            ("".to_owned(), "no t"),
            ("garbage".to_owned(), "element without '='"),
            (format!("v1={v1}"), "no t"),
            (format!("t=abc,v1={v1}"), "t is not an integer"),
            (format!("t={NOW},t={NOW},v1={v1}"), "more than one t"),
            (format!("t={NOW},v1=zz"), "v1 is not 64 hex digits"),
            (
                format!("t={NOW},v1={}", &v1[..62]),
                "v1 is not 64 hex digits",
            ),
        ];
        for (header, reason) in cases {
            let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
            assert_eq!(
                err,
                SignatureError::MalformedHeader(reason.into()),
                "{header}"
            );
            assert_eq!(err.reason_code(), "malformed_header");
        }
    }

    #[test]
    fn header_without_v1_is_refused() {
        let v1 = v1_of(SECRET, NOW, BODY);
        let header = format!("t={NOW},v0={v1}");
        let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
        assert_eq!(err, SignatureError::NoV1Signature);
        assert_eq!(err.reason_code(), "no_v1_signature");
    }

    #[test]
    fn other_schemes_and_spaces_are_tolerated() {
        let v1 = v1_of(SECRET, NOW, BODY);
        let header = format!("t={NOW}, v0=deadbeef, v1={v1}");
        assert_eq!(check(Some(&header), BODY, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn second_of_several_v1_may_match() {
        let old = v1_of("whsec_old", NOW, BODY);
        let new = v1_of(SECRET, NOW, BODY);
        let header = format!("t={NOW},v1={old},v1={new}");
        assert_eq!(check(Some(&header), BODY, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn second_of_several_secrets_may_match() {
        let header = sign_header(SECRET, NOW, BODY);
        assert_eq!(check(Some(&header), BODY, &["whsec_old", SECRET]), Ok(NOW));
    }

    #[test]
    fn timestamp_is_signed_as_sent() {
        // A re-rendered timestamp ("0170…" → "170…") would be a different signed payload.
        let header = sign_header(SECRET, NOW, BODY).replacen("t=", "t=0", 1);
        assert_eq!(
            check(Some(&header), BODY, &[SECRET]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn errors_do_not_show_secrets() {
        let header = sign_header(SECRET, NOW - 1000, BODY);
        let err = check(Some(&header), BODY, &[SECRET]).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }

    proptest! {
        /// Hostile headers never panic the verifier: they are refused with a reason.
        #[test]
        fn arbitrary_headers_are_refused_without_panicking(
            header in "[tv01=,a-f0-9 \\x00-\\x7f]{0,120}",
            now in any::<i64>(),
        ) {
            let secrets = [SecretString::from("whsec_x".to_owned())];
            let _ = verify(Some(&header), b"{}", &secrets, now, 300);
        }

        #[test]
        fn sign_then_verify_roundtrips(
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            secret in "\\PC{0,64}",
            t in -1_000_000_000_000i64..1_000_000_000_000,
            skew in -300i64..=300,
        ) {
            let header = sign_header(&secret, t, &body);
            let configured = [SecretString::from(secret.clone())];
            prop_assert_eq!(verify(Some(&header), &body, &configured, t + skew, 300), Ok(t));
        }
    }
}
