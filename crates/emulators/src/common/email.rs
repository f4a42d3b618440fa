//! Email address syntax as Mailchimp and ActiveCampaign check it.

/// A pragmatic address check both vendors apply in spirit: one `@`, a local part of at most 64
/// printable characters without spaces or stray dots, and a domain of at least two
/// letter/digit/hyphen labels ending in an alphabetic TLD of two or more letters.
pub fn valid_email(s: &str) -> bool {
    if s.len() > 254 || s.trim() != s {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    if !local
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && !"()<>,;:\\\"[]".contains(c))
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    for l in &labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return false;
        }
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "x_y@d-1.io"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "a@b.c",
            "@b.com",
            "a b@c.com",
            "a@@b.com",
            "a@b..com",
            ".a@b.com",
            "a@-b.com",
            "a@b.c0m",
            " a@b.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
