//! Civil (proleptic Gregorian) dates as day numbers since 1970-01-01.
//!
//! The other direction, day number to `(year, month, day)`, is
//! [`paysync_core::dates::civil_from_days`]. This inverse is kept here because
//! `paysync_core::dates` keeps its own private: it exposes only `civil_from_days` and
//! `parse_date`, which takes plain `YYYY-MM-DD` from 1970 on with day-of-month checks that the
//! emulators' parsers do not apply.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`). A day
/// past the month's end runs on into the next month.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use paysync_core::dates::civil_from_days;

    use super::*;

    #[test]
    fn round_trips_with_core() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 10, 9), 20_370);
        assert_eq!(days_from_civil(2025, 2, 29), days_from_civil(2025, 3, 1));
        for day in [-719_468, -146_097, -1, 0, 19_782, 20_370, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m.into(), d.into()), day, "{day}");
        }
    }
}
