//! Word lists and small helpers for generated people and dates.

use paysync_core::dates::civil_from_days;
use rand::Rng;

use crate::common::calendar::days_from_civil;

use super::model::Card;

pub const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Charlotte",
    "James",
    "Ava",
    "William",
    "Isabella",
    "Benjamin",
    "Mia",
    "Lucas",
    "Evelyn",
    "Henry",
    "Harper",
    "Theodore",
    "Luna",
    "Jack",
    "Camila",
    "Levi",
    "Gianna",
    "Alexander",
    "Elizabeth",
    "Jackson",
    "Eleanor",
    "Mateo",
    "Ella",
    "Daniel",
    "Abigail",
    "Michael",
    "Sofia",
    "Mason",
    "Avery",
    "Sebastian",
    "Scarlett",
    "Ethan",
    "Emily",
    "Logan",
    "Aria",
    "Owen",
    "Penelope",
    "Samuel",
    "Chloe",
    "Jacob",
    "Layla",
    "Asher",
    "Aiko",
    "Chen",
    "Priya",
    "Arjun",
    "Fatima",
    "Omar",
    "Zoë",
    "José",
    "Björn",
    "Ngozi",
];

pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Tanaka",
    "Wang",
    "Patel",
    "Kumar",
    "O'Brien",
    "Müller",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Okafor",
];

pub const DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "fastmail.com",
    "aol.com",
    "gmx.de",
    "example.com",
    "acme.io",
    "initech.com",
    "globex.net",
];

pub const SIGNUP_SOURCES: &[&str] = &["web", "mobile", "partner", "import", "webinar"];

pub const CARDS: &[Card] = &[
    Card {
        brand: "visa",
        last4: "4242",
        funding: "credit",
        exp_month: 12,
        exp_year: 2034,
    },
    Card {
        brand: "mastercard",
        last4: "4444",
        funding: "credit",
        exp_month: 8,
        exp_year: 2031,
    },
    Card {
        brand: "amex",
        last4: "0005",
        funding: "credit",
        exp_month: 3,
        exp_year: 2030,
    },
    Card {
        brand: "visa",
        last4: "5556",
        funding: "debit",
        exp_month: 5,
        exp_year: 2032,
    },
];

pub const REFUND_REASONS: &[Option<&str>] = &[
    Some("requested_by_customer"),
    Some("requested_by_customer"),
    Some("duplicate"),
    Some("fraudulent"),
    None,
];

pub fn pick<'a, T>(rng: &mut impl Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// ASCII-only, lowercase local part from a name.
fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'ö' | 'Ö' => Some('o'),
            'ü' | 'Ü' => Some('u'),
            'ë' | 'é' => Some('e'),
            _ => None,
        })
        .collect()
}

/// A person: (first, last).
pub fn person(rng: &mut impl Rng) -> (&'static str, &'static str) {
    (*pick(rng, FIRST_NAMES), *pick(rng, LAST_NAMES))
}

/// An email for a person; `n` keeps generated addresses distinct.
pub fn email(rng: &mut impl Rng, first: &str, last: &str, n: usize) -> String {
    let (f, l) = (slug(first), slug(last));
    let domain = pick(rng, DOMAINS);
    match rng.random_range(0..4) {
        0 => format!("{f}.{l}{n}@{domain}"),
        1 => format!("{}{l}{n}@{domain}", &f[..1.min(f.len())]),
        2 => format!("{f}_{l}{n}@{domain}"),
        _ => format!("{f}{n}@{domain}"),
    }
}

/// The same address with different letter case (Stripe treats it as another email).
pub fn recased(e: &str) -> String {
    let mut out = String::with_capacity(e.len());
    let mut up = true;
    for c in e.chars() {
        if up && c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            if c == '.' || c == '@' {
                up = true;
            }
            out.push(c);
        }
    }
    out
}

// Calendar-month billing periods, on civil dates.

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, i64::from(m) + 1, 1)
    };
    (next - days_from_civil(y, m.into(), 1)) as u32
}

/// `ts` plus `n` calendar months, the day clamped to the month's length (as Stripe bills).
pub fn add_months(ts: i64, n: u32) -> i64 {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let total = (m - 1) + n;
    let ny = y + (total / 12) as i64;
    let nm = total % 12 + 1;
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm.into(), nd.into()) * 86_400 + secs
}

/// The end of a billing period that starts at `start`.
pub fn period_end(start: i64, interval: &str, count: u32) -> i64 {
    match interval {
        "year" => add_months(start, 12 * count),
        "week" => start + 7 * 86_400 * count as i64,
        "day" => start + 86_400 * count as i64,
        _ => add_months(start, count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        // 2024-01-31T10:00:00Z + 1 month = 2024-02-29T10:00:00Z
        let jan31 = days_from_civil(2024, 1, 31) * 86_400 + 36_000;
        assert_eq!(
            civil_from_days(add_months(jan31, 1).div_euclid(86_400)),
            (2024, 2, 29)
        );
        assert_eq!(add_months(jan31, 1).rem_euclid(86_400), 36_000);
        assert_eq!(
            civil_from_days(add_months(jan31, 12).div_euclid(86_400)),
            (2025, 1, 31)
        );
        assert_eq!(civil_from_days(days_from_civil(1970, 1, 1)), (1970, 1, 1));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn recase() {
        assert_eq!(recased("jane.doe@gmail.com"), "Jane.Doe@Gmail.Com");
    }
}
