//! Mailchimp's subscriber hash: how a member is addressed in URLs.

use crate::common::hash::md5_hex;

/// Mailchimp's subscriber hash: MD5 of the lowercased address.
pub fn subscriber_hash(email: &str) -> String {
    md5_hex(email.trim().to_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercased_and_trimmed() {
        assert_eq!(
            subscriber_hash(" Urist.McVankab@Freddiesjokes.com"),
            md5_hex(b"urist.mcvankab@freddiesjokes.com")
        );
        assert_eq!(
            subscriber_hash("urist.mcvankab@freddiesjokes.com"),
            "62eeb292278cc15f5817cb78f7790b08"
        );
    }
}
