//! Random identifiers: lowercase hex strings and UUID-shaped ids.

/// Random lowercase hex of `n` characters.
pub fn random_hex(rng: &mut impl rand::Rng, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

/// A random RFC 4122-shaped id (`8-4-4-4-12` hex), as Mailchimp's `instance` and
/// ActiveCampaign's import `batchId`.
pub fn random_uuid(rng: &mut impl rand::Rng) -> String {
    let h = random_hex(rng, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shapes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let h = random_hex(&mut rng, 10);
        assert_eq!(h.len(), 10);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let u = random_uuid(&mut rng);
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
        assert_eq!(&u[19..20], "a");
    }
}
