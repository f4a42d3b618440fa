//! Unix seconds as ISO 8601 text at a UTC offset (Mailchimp, ActiveCampaign), the SQL-style
//! `YYYY-MM-DD HH:MM:SS` some vendors show, and the inverse parse.

use paysync_core::dates::civil_from_days;

use super::calendar::days_from_civil;

/// `2015-09-16T19:24:29+00:00` for unix seconds `t` shown at `offset_secs` from UTC.
pub fn iso8601(t: i64, offset_secs: i32) -> String {
    let local = t + offset_secs as i64;
    let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        off / 3600,
        off % 3600 / 60
    )
}

/// `2018-10-01 08:40:10` (UTC), as ActiveCampaign shows `*_utc_timestamp` fields and Mailchimp
/// a webhook's `fired_at`.
pub fn sql_datetime(t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` with an optional `Z` or `±HH[:]MM`
/// suffix. Values without an offset are taken at `default_offset_secs` from UTC.
pub fn parse_iso8601(s: &str, default_offset_secs: i32) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0;
    let mut rest = &s[10..];
    if !rest.is_empty() {
        let sep = rest.as_bytes()[0];
        if sep != b'T' && sep != b't' && sep != b' ' {
            return None;
        }
        let r = &rest[1..];
        let rb = r.as_bytes();
        if rb.len() < 5 || rb[2] != b':' {
            return None;
        }
        let hh: i64 = r.get(0..2)?.parse().ok()?;
        let mm: i64 = r.get(3..5)?.parse().ok()?;
        let mut ss = 0;
        let mut i = 5;
        if rb.len() >= 8 && rb[5] == b':' {
            ss = r.get(6..8)?.parse().ok()?;
            i = 8;
            if rb.len() > i && rb[i] == b'.' {
                i += 1;
                while i < rb.len() && rb[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        secs = hh * 3600 + mm * 60 + ss;
        rest = &r[i..];
    }
    let offset = if rest.is_empty() {
        default_offset_secs as i64
    } else if rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let h: i64 = digits[0..2].parse().ok()?;
        let m: i64 = digits[2..4].parse().ok()?;
        sign * (h * 3600 + m * 60)
    };
    Some(days_from_civil(y, mo, d) * 86_400 + secs - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_760_000_000, 0), "2025-10-09T08:53:20+00:00");
        assert_eq!(iso8601(1_760_000_000, -18_000), "2025-10-09T03:53:20-05:00");
        assert_eq!(iso8601(-1, 0), "1969-12-31T23:59:59+00:00");
        assert_eq!(sql_datetime(1_760_000_000), "2025-10-09 08:53:20");
        for s in [
            "2025-10-09T08:53:20+00:00",
            "2025-10-09T08:53:20Z",
            "2025-10-09 08:53:20",
            "2025-10-09T03:53:20-05:00",
            "2025-10-09T03:53:20.123-0500",
        ] {
            assert_eq!(parse_iso8601(s, 0), Some(1_760_000_000), "{s}");
        }
        assert_eq!(parse_iso8601("2025-10-09", 0), Some(1_759_968_000));
        assert_eq!(
            parse_iso8601("2025-10-09", -18_000),
            Some(1_759_968_000 + 18_000)
        );
        assert_eq!(parse_iso8601("yesterday", 0), None);
        assert_eq!(parse_iso8601("2025-13-01", 0), None);
    }
}
