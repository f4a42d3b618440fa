//! Millisecond timestamps on the emulator clock, and the ISO-8601 forms Constant Contact uses:
//! `2016-01-23T13:48:44.108Z` for date-times, `2016-07-08` for dates (`deleted_at`).
//!
//! The common [`Clock`] ticks in seconds; Constant Contact's filters (`updated_after`,
//! `optout_after`) compare instants, so the emulator keeps milliseconds: wall time in ms plus
//! the clock's offset.

use std::time::{SystemTime, UNIX_EPOCH};

use paysync_core::dates::civil_from_days;

use crate::common::Clock;
use crate::common::calendar::days_from_civil;

/// Unix milliseconds now on the emulator's clock.
pub fn now_ms(clock: &Clock) -> i64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    wall + clock.offset() * 1000
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn fmt_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `YYYY-MM-DD`.
pub fn fmt_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC day number of `ms` (quota days reset at 00:00 UTC).
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses the ISO-8601 forms clients send: `2022-01-01`, `2022-01-01T16:37:59Z`,
/// `2022-01-01T16:37:59.091Z`, `…+00:00`, `…+0000`, and no offset (UTC). A space where the
/// offset's `+` should be (an unencoded `+` in a query string) is read as `+`.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let t = &b[11..];
    if t.len() < 5 || t[2] != b':' {
        return None;
    }
    let (h, mi) = (digits(&t[0..2])?, digits(&t[3..5])?);
    let mut i = 5;
    let mut sec = 0;
    let mut frac_ms = 0;
    if t.len() > i && t[i] == b':' {
        sec = digits(t.get(i + 1..i + 3)?)?;
        i += 3;
        if t.len() > i && (t[i] == b'.' || t[i] == b',') {
            let start = i + 1;
            let mut end = start;
            while end < t.len() && t[end].is_ascii_digit() {
                end += 1;
            }
            if end == start {
                return None;
            }
            let mut f = String::from_utf8_lossy(&t[start..end.min(start + 3)]).into_owned();
            while f.len() < 3 {
                f.push('0');
            }
            frac_ms = f.parse::<i64>().ok()?;
            i = end;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += h * 3_600_000 + mi * 60_000 + sec * 1000 + frac_ms;
    let off = &t[i..];
    let offset_min = match off {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-' | b' '), rest @ ..] => {
            let rest: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            let (oh, om) = match rest.len() {
                2 => (digits(&rest)?, 0),
                4 => (digits(&rest[0..2])?, digits(&rest[2..4])?),
                _ => return None,
            };
            let m = oh * 60 + om;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    Some(ms - offset_min * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(fmt_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_ms(1_760_000_000_123), "2025-10-09T08:53:20.123Z");
        assert_eq!(
            parse_iso("2025-10-09T08:53:20.123Z"),
            Some(1_760_000_000_123)
        );
        assert_eq!(fmt_date(1_760_000_000_123), "2025-10-09");
        assert_eq!(parse_iso("2025-10-09"), Some(1_759_968_000_000));
        assert_eq!(fmt_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn client_forms() {
        let t = 1_760_000_000_000;
        for s in [
            "2025-10-09T08:53:20Z",
            "2025-10-09T08:53:20.000000+0000",
            "2025-10-09T08:53:20.000000",
            "2025-10-09T10:53:20+02:00",
            "2025-10-09T03:53:20-05",
            "2025-10-09T08:53:20 0000",
            "2025-10-09 08:53:20",
        ] {
            assert_eq!(parse_iso(s), Some(t), "{s}");
        }
        assert_eq!(parse_iso("2025-10-09T08:53Z"), Some(t - 20_000));
        for s in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-10-09T25:00:00Z",
            "2025-10-09T08:53:20X",
        ] {
            assert_eq!(parse_iso(s), None, "{s}");
        }
    }
}
