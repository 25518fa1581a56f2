//! Typed condition values: numbers, dates, booleans, base64 binaries and IP ranges, parsed from
//! policy text and from request context values.

use std::net::IpAddr;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A decimal number: optional sign, digits, optional fraction, optional exponent. Infinity, NaN
/// and hexadecimal are refused.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `true` or `false`, ignoring case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A point in time as nanoseconds since the Unix epoch.
pub(crate) type Nanos = i128;

/// Converts a context date.
pub(crate) fn nanos_of(t: OffsetDateTime) -> Nanos {
    t.unix_timestamp_nanos()
}

/// Epoch seconds (possibly fractional) as nanoseconds.
pub(crate) fn nanos_of_epoch(seconds: f64) -> Option<Nanos> {
    // Refuse the absurd (beyond any calendar anyone writes in a policy).
    if !seconds.is_finite() || seconds.abs() > 1e15 {
        return None;
    }
    let whole = seconds.trunc();
    let frac = ((seconds - whole) * 1e9).round();
    Some(whole as Nanos * 1_000_000_000 + frac as Nanos)
}

/// Epoch seconds written as text: `-`? digits, then `.` and a fraction (to the nanosecond).
fn parse_epoch(s: &str) -> Option<Nanos> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if whole.len() > 15 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: Nanos = 0;
    for b in whole.bytes() {
        nanos = nanos * 10 + Nanos::from(b - b'0');
    }
    nanos *= 1_000_000_000;
    let mut scale: Nanos = 100_000_000;
    for b in frac.bytes().take(9) {
        nanos += Nanos::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(if neg { -nanos } else { nanos })
}

/// A date: epoch seconds (`1577836800`, `1577836800.5`), or one of the W3C profiles of ISO 8601:
/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.s+]]` followed by `Z` or `±hh:mm`
/// (UTC when the zone is left out). `±hhmm` and the basic format `YYYYMMDDThhmmssZ` are
/// accepted too.
pub(crate) fn parse_date(s: &str) -> Option<Nanos> {
    let s = s.trim();
    if s.is_empty() || !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    // Four or eight digits are a year or a basic-format date; other runs of digits (with an
    // optional sign or fraction) are epoch seconds.
    let all_digits = b.iter().all(u8::is_ascii_digit);
    let looks_epoch = b
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || *c == b'.' || (i == 0 && *c == b'-'));
    if looks_epoch && !(all_digits && (b.len() == 4 || b.len() == 8)) {
        return parse_epoch(s);
    }
    parse_iso8601(b)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    let mut v = 0u32;
    for c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_iso8601(b: &[u8]) -> Option<Nanos> {
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    let mut i = 4;
    let mut month = 1;
    let mut day = 1;
    let extended = b.get(i) == Some(&b'-');
    if extended {
        month = digits(b, i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'-') {
            day = digits(b, i + 1, 2)?;
            i += 3;
        }
    } else if b.len() > i {
        // Basic format: YYYYMMDD.
        month = digits(b, i, 2)?;
        day = digits(b, i + 2, 2)?;
        i += 4;
    }
    let date = Date::from_calendar_date(
        year,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let mut time = Time::MIDNIGHT;
    let mut offset = UtcOffset::UTC;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't') {
            return None;
        }
        i += 1;
        let hour = digits(b, i, 2)?;
        i += 2;
        let colon = b.get(i) == Some(&b':');
        if colon {
            i += 1;
        }
        let minute = digits(b, i, 2)?;
        i += 2;
        let mut second = 0;
        let mut nanos = 0u32;
        let has_seconds = if colon {
            b.get(i) == Some(&b':')
        } else {
            b.get(i).is_some_and(u8::is_ascii_digit)
        };
        if has_seconds {
            if colon {
                i += 1;
            }
            second = digits(b, i, 2)?;
            i += 2;
            if matches!(b.get(i), Some(b'.' | b',')) {
                i += 1;
                let start = i;
                let mut scale = 100_000_000u32;
                while i < b.len() && b[i].is_ascii_digit() {
                    nanos += u32::from(b[i] - b'0') * scale;
                    scale /= 10;
                    i += 1;
                }
                if i == start {
                    return None;
                }
            }
        }
        time = Time::from_hms_nano(
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
            nanos,
        )
        .ok()?;
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') => i += 1,
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                i += 3;
                if b.get(i) == Some(&b':') {
                    i += 1;
                }
                let om = digits(b, i, 2)?;
                i += 2;
                if oh > 23 || om > 59 {
                    return None;
                }
                let secs = i32::try_from(oh * 3600 + om * 60).ok()?;
                offset =
                    UtcOffset::from_whole_seconds(if sign == b'-' { -secs } else { secs }).ok()?;
            }
            Some(_) => return None,
        }
        if i != b.len() {
            return None;
        }
    }
    Some(nanos_of(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// An IP range: an address and the number of leading bits that must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `203.0.113.0/24`, `2001:DB8::/32`, or a bare address (`/32` or `/128`).
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().ok()?
            }
            Some(_) => return None,
        };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range. An IPv4 address embedded in IPv6 (`::ffff:a.b.c.d`) counts
    /// as IPv4.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix.min(128)));
    a & mask == b & mask
}

/// Standard base64 (with or without `=` padding; whitespace ignored).
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut padding = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padding > 0 {
            // Data after padding.
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // 6 leftover bits cannot be a whole byte: a truncated group.
    if bits >= 6 || padding > 2 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let ok: &[(&str, f64)] = &[
            ("0", 0.0),
            ("10", 10.0),
            ("-3", -3.0),
            ("+3", 3.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1.5E-2", 0.015),
            (" 7 ", 7.0),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_number(s), Some(want), "{s:?}");
        }
        for s in [
            "", "-", ".", "abc", "1a", "0x10", "inf", "NaN", "1e", "1e+", "1..2", "--1", "1 2",
            "1e999",
        ] {
            assert_eq!(parse_number(s), None, "{s:?}");
        }
    }

    #[test]
    fn dates() {
        let base = 1_577_836_800i128 * 1_000_000_000; // 2020-01-01T00:00:00Z
        let ok: &[(&str, i128)] = &[
            ("2020-01-01T00:00:00Z", base),
            ("2020-01-01T00:00:00z", base),
            ("2020-01-01t00:00:00Z", base),
            ("2020-01-01T00:00Z", base),
            ("2020-01-01T00:00:00", base),
            ("2020-01-01", base),
            ("2020-01", base),
            ("2020", base),
            ("2020-01-01T00:00:01Z", base + 1_000_000_000),
            ("2020-01-01T00:00:00.5Z", base + 500_000_000),
            ("2020-01-01T00:00:00.123456789Z", base + 123_456_789),
            ("2020-01-01T01:00:00+01:00", base),
            ("2019-12-31T23:00:00-01:00", base),
            ("2020-01-01T01:00:00+0100", base),
            ("20200101T000000Z", base),
            ("20200101", base),
            ("1577836800", base),
            ("1577836800.25", base + 250_000_000),
            ("0", 0),
            ("-1", -1_000_000_000),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_date(s), Some(want), "{s:?}");
        }
        for s in [
            "",
            "x",
            "2020-13-01",
            "2020-02-30",
            "2020-01-01T25:00:00Z",
            "2020-01-01T00:60:00Z",
            "2020-01-01 00:00:00",
            "2020-01-01T00:00:00+25:00",
            "2020-01-01T00:00:00Q",
            "2020-01-01T",
            "2020-01-01T00",
            "2020-1-1",
            "é",
            "2020-01-01T00:00:00.Z",
            "2020-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let cases: &[(&str, &str, bool)] = &[
            ("203.0.113.0/24", "203.0.113.7", true),
            ("203.0.113.0/24", "203.0.114.7", false),
            ("203.0.113.5/24", "203.0.113.200", true),
            ("203.0.113.7", "203.0.113.7", true),
            ("203.0.113.7", "203.0.113.8", false),
            ("203.0.113.7/32", "203.0.113.7", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("10.0.0.0/8", "10.255.255.255", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            (
                "2001:DB8:1234:5678::/64",
                "2001:db8:1234:5678:abcd::1",
                true,
            ),
            ("2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", false),
            ("::/0", "::1", true),
            ("::/0", "1.2.3.4", false),
            ("2001:db8::1", "2001:db8::1", true),
            ("2001:db8::1", "2001:db8::2", false),
            ("203.0.113.0/24", "::ffff:203.0.113.9", true),
            ("203.0.113.0/25", "203.0.113.127", true),
            ("203.0.113.0/25", "203.0.113.128", false),
        ];
        for &(net, addr, want) in cases {
            let cidr = Cidr::parse(net);
            assert!(cidr.is_some(), "{net:?}");
            let addr = ip(addr);
            assert!(addr.is_some());
            if let (Some(c), Some(a)) = (cidr, addr) {
                assert_eq!(c.contains(a), want, "{net} contains {a}");
            }
        }
        for s in [
            "",
            "x",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3/24",
            "1.2.3.4/1/2",
            "1.2.3.4/0x8",
        ] {
            assert_eq!(Cidr::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn base64() {
        let cases: &[(&str, &[u8])] = &[
            ("", b""),
            ("QQ==", b"A"),
            ("QQ", b"A"),
            ("QUI=", b"AB"),
            ("QUJD", b"ABC"),
            ("QmluYXJ5VmFsdWVJbkJhc2U2NA==", b"BinaryValueInBase64"),
            ("/+8=", &[0xff, 0xef]),
        ];
        for &(s, want) in cases {
            assert_eq!(decode_base64(s).as_deref(), Some(want), "{s:?}");
        }
        for s in ["Q", "QQ=A", "Q===", "@@@@", "QUJDR"] {
            assert_eq!(decode_base64(s), None, "{s:?}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool("1"), None);
    }
}
