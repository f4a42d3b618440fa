//! Small generic helpers the Mailchimp and ActiveCampaign emulators share: MD5 (Mailchimp's
//! subscriber hash, ActiveCampaign's contact `hash`), ISO 8601 times, email syntax, Basic-auth
//! decoding, a tar.gz writer (Mailchimp batch results) and `fields=`/`exclude_fields=`
//! projections. Nothing here is vendor-specific; these are candidates for `common/`.

use std::collections::BTreeMap;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// MD5 (RFC 1321)

const MD5_S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5 of `data` as 32 lowercase hex characters.
pub fn md5_hex(data: &[u8]) -> String {
    let mut a0: u32 = 0x67452301;
    let mut b0: u32 = 0xefcdab89;
    let mut c0: u32 = 0x98badcfe;
    let mut d0: u32 = 0x10325476;
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (i, w) in m.iter_mut().enumerate() {
            *w = u32::from_le_bytes([
                chunk[i * 4],
                chunk[i * 4 + 1],
                chunk[i * 4 + 2],
                chunk[i * 4 + 3],
            ]);
        }
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(MD5_K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(MD5_S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = String::with_capacity(32);
    for w in [a0, b0, c0, d0] {
        for byte in w.to_le_bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
    }
    out
}

/// Mailchimp's subscriber hash: MD5 of the lowercased address.
pub fn subscriber_hash(email: &str) -> String {
    md5_hex(email.trim().to_lowercase().as_bytes())
}

/// Whether `s` is 32 hex characters (an MD5 digest).
pub fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// Times

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

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

/// `2018-10-01 08:40:10` (UTC), as ActiveCampaign shows `*_utc_timestamp` fields.
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

// ---------------------------------------------------------------------------------------------
// Email syntax

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

// ---------------------------------------------------------------------------------------------
// Base64 (Basic auth)

/// Decodes standard base64 (padding optional); `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// tar.gz

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xffff_ffff
}

/// gzip of `data` with stored (uncompressed) deflate blocks: valid for every gzip reader, and
/// needs no compression library.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65_535 * 5 + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(if chunks.peek().is_none() { 1 } else { 0 });
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A ustar archive of regular files (names up to 100 bytes), then gzip.
pub fn tar_gz(files: &[(String, Vec<u8>)], mtime: i64) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, data) in files {
        let mut h = [0u8; 512];
        let nb = name.as_bytes();
        let n = nb.len().min(100);
        h[..n].copy_from_slice(&nb[..n]);
        let mut put = |off: usize, s: &str| h[off..off + s.len()].copy_from_slice(s.as_bytes());
        put(100, "0000644\0");
        put(108, "0000000\0");
        put(116, "0000000\0");
        put(124, &format!("{:011o}\0", data.len()));
        put(136, &format!("{:011o}\0", mtime.max(0)));
        put(148, "        ");
        put(156, "0");
        put(257, "ustar\0");
        put(263, "00");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let chk = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(chk.as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        tar.extend(std::iter::repeat_n(0u8, pad));
    }
    tar.extend(std::iter::repeat_n(0u8, 1024));
    gzip_stored(&tar)
}

// ---------------------------------------------------------------------------------------------
// fields= / exclude_fields=

#[derive(Default, Debug)]
struct PathTree {
    leaf: bool,
    children: BTreeMap<String, PathTree>,
}

impl PathTree {
    fn parse(spec: &str) -> Self {
        let mut root = PathTree::default();
        for path in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut node = &mut root;
            for seg in path.split('.') {
                node = node.children.entry(seg.to_owned()).or_default();
            }
            node.leaf = true;
        }
        root
    }
}

fn keep(v: &mut Value, t: &PathTree) {
    if t.leaf {
        return;
    }
    match v {
        Value::Object(m) => {
            m.retain(|k, _| t.children.contains_key(k));
            for (k, child) in m.iter_mut() {
                if let Some(sub) = t.children.get(k) {
                    keep(child, sub);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| keep(x, t)),
        _ => {}
    }
}

fn drop_paths(v: &mut Value, t: &PathTree) {
    match v {
        Value::Object(m) => {
            for (k, sub) in &t.children {
                if sub.leaf {
                    m.remove(k);
                } else if let Some(child) = m.get_mut(k) {
                    drop_paths(child, sub);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| drop_paths(x, t)),
        _ => {}
    }
}

/// Applies Mailchimp's `fields` (keep only these dotted paths) and `exclude_fields` (drop
/// these) to a response body. Arrays along a path apply the rest of the path to each element.
pub fn project(v: &mut Value, fields: Option<&str>, exclude: Option<&str>) {
    if let Some(f) = fields.filter(|f| !f.trim().is_empty()) {
        keep(v, &PathTree::parse(f));
    }
    if let Some(x) = exclude.filter(|f| !f.trim().is_empty()) {
        drop_paths(v, &PathTree::parse(x));
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings

/// Decoded `(name, value)` pairs of a raw query string.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// The last value of `name` in `q`.
pub fn query_get<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

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
    use serde_json::json;

    #[test]
    fn md5_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(md5_hex(&long), "cabe45dcc9ae5b66ba86600cca6b8ba8");
        assert_eq!(
            subscriber_hash(" Urist.McVankab@Freddiesjokes.com"),
            md5_hex(b"urist.mcvankab@freddiesjokes.com")
        );
    }

    #[test]
    fn times() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_760_000_000, 0), "2025-10-09T08:53:20+00:00");
        assert_eq!(iso8601(1_760_000_000, -18_000), "2025-10-09T03:53:20-05:00");
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

    #[test]
    fn base64() {
        assert_eq!(base64_decode("dXNlcjprZXktdXMx").unwrap(), b"user:key-us1");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("**").is_none());
    }

    #[test]
    fn gzip_framing() {
        let data = vec![7u8; 70_000];
        let gz = gzip_stored(&data);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(gz.len(), 10 + 5 + 65_535 + 5 + (70_000 - 65_535) + 8);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let t = tar_gz(&[("a.json".into(), b"[]".to_vec())], 0);
        assert!(t.len() > 1536);
    }

    #[test]
    fn projections() {
        let mut v = json!({"members": [{"id": 1, "email_address": "a", "stats": {"x": 1, "y": 2}}], "total_items": 1, "_links": []});
        project(
            &mut v,
            Some("members.email_address,members.stats.x,total_items"),
            None,
        );
        assert_eq!(
            v,
            json!({"members": [{"email_address": "a", "stats": {"x": 1}}], "total_items": 1})
        );
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}});
        project(&mut v, None, Some("a,b.c"));
        assert_eq!(v, json!({"b": {"d": 3}}));
    }
}
