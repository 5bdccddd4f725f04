//! Frozen copy of the pre-optimisation `src/time.rs` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::event::Micros;

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12, day 1..=31).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (y + i64::from(m <= 2), m, d)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Microseconds of a UTC civil date-time, or `None` if a field is out of range.
/// Second 60 (a leap second) is accepted and folds into the next second, as POSIX time does.
pub fn civil_to_micros(
    y: i32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    us: u32,
) -> Option<Micros> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    Some(secs * MICROS_PER_SEC + i64::from(us))
}

/// The UTC year a timestamp falls in.
pub fn year_of(micros: Micros) -> i32 {
    let (y, _, _) = civil_from_days(micros.div_euclid(MICROS_PER_DAY));
    y.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The current wall-clock time.
pub fn now_micros() -> Micros {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// RFC 3339 rendering of a timestamp; see [`format_rfc3339`].
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339 {
    micros: Micros,
    millis_only: bool,
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.micros.div_euclid(MICROS_PER_DAY);
        let rem = self.micros.rem_euclid(MICROS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        let secs = rem / MICROS_PER_SEC;
        let frac = rem % MICROS_PER_SEC;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        if self.millis_only {
            write!(f, ".{:03}Z", frac / 1000)
        } else {
            write!(f, ".{frac:06}Z")
        }
    }
}

/// `2026-10-21T06:06:58.096785Z` (always six fractional digits, always `Z`).
pub fn format_rfc3339(micros: Micros) -> Rfc3339 {
    Rfc3339 {
        micros,
        millis_only: false,
    }
}

/// `2026-10-21T06:06:58.096Z`: millisecond precision (truncated), for the HTTP API.
pub fn format_rfc3339_millis(micros: Micros) -> Rfc3339 {
    Rfc3339 {
        micros,
        millis_only: true,
    }
}

/// Reads exactly `n` ASCII digits at `s[at..]`.
fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let d = s.get(at..at.checked_add(n)?)?;
    let mut v: u32 = 0;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

/// Reads an optional `.ffffff` (or `,ffffff`) fraction at `s[at..]`: (microseconds, bytes used).
/// Digits past the sixth are consumed and ignored (nanosecond stamps).
fn fraction(s: &[u8], at: usize) -> (u32, usize) {
    match s.get(at) {
        Some(b'.' | b',') => {}
        _ => return (0, 0),
    }
    let mut us: u32 = 0;
    let mut n = 0;
    while let Some(&b) = s.get(at + 1 + n) {
        if !b.is_ascii_digit() {
            break;
        }
        if n < 6 {
            us = us * 10 + u32::from(b - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..6 {
        us *= 10;
    }
    (us, n + 1)
}

fn month_from_abbrev(s: &[u8]) -> Option<u32> {
    let s = s.get(..3)?;
    let lower = [
        s[0].to_ascii_lowercase(),
        s[1].to_ascii_lowercase(),
        s[2].to_ascii_lowercase(),
    ];
    Some(match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// A BSD syslog date (`Oct 21 06:06:58.096785`), which carries no year and no zone (taken as UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BsdDate {
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub micros: u32,
}

impl BsdDate {
    /// Resolves the missing year: `year`, unless that puts the date more than one day after
    /// `now` (a December line read in January), in which case the year before.
    pub fn resolve(self, year: i32, now: Micros) -> Option<Micros> {
        let at = |y| {
            civil_to_micros(
                y,
                self.month,
                self.day,
                self.hour,
                self.min,
                self.sec,
                self.micros,
            )
        };
        match at(year) {
            Some(t) if t <= now.saturating_add(MICROS_PER_DAY) => Some(t),
            // Feb 29 of a non-leap `year` also lands here and gets a chance in the year before.
            _ => at(year.checked_sub(1)?),
        }
    }
}

/// Parses `Mmm dd hh:mm:ss[.ffffff]` at the start of `s` (day padded with a space, a zero, or
/// not at all). Returns the date and the bytes consumed.
pub fn parse_bsd(s: &[u8]) -> Option<(BsdDate, usize)> {
    let month = month_from_abbrev(s)?;
    if s.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let (day, dl) = match (digits(s, i, 2), digits(s, i, 1)) {
        (Some(d), _) => (d, 2),
        (None, Some(d)) => (d, 1),
        _ => return None,
    };
    i += dl;
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let hour = digits(s, i, 2)?;
    let min = digits(s, i + 3, 2)?;
    let sec = digits(s, i + 6, 2)?;
    if s.get(i + 2) != Some(&b':') || s.get(i + 5) != Some(&b':') {
        return None;
    }
    i += 8;
    let (micros, fl) = fraction(s, i);
    i += fl;
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some((
        BsdDate {
            month,
            day,
            hour,
            min,
            sec,
            micros,
        },
        i,
    ))
}

/// Parses a zone offset at `s[at..]`: `Z`, `+hh:mm`, `+hhmm`, `+hh`. Returns (seconds east, used).
fn offset(s: &[u8], at: usize) -> Option<(i64, usize)> {
    let sign = match s.get(at)? {
        b'Z' | b'z' => return Some((0, 1)),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = digits(s, at + 1, 2)?;
    let (m, used) = if s.get(at + 3) == Some(&b':') {
        (digits(s, at + 4, 2)?, 6)
    } else if let Some(m) = digits(s, at + 3, 2) {
        (m, 5)
    } else {
        (0, 3)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (i64::from(h) * 3600 + i64::from(m) * 60), used))
}

/// Parses an RFC 3339 / ISO 8601 timestamp at the start of `s`:
/// `2023-01-01T12:00:00[.ffffff](Z|+01:00|+0100)`, `T` or a space between date and time.
/// A missing offset is taken as UTC. Returns the instant and the bytes consumed.
pub fn parse_rfc3339(s: &[u8]) -> Option<(Micros, usize)> {
    let y = digits(s, 0, 4)?;
    let mo = digits(s, 5, 2)?;
    let d = digits(s, 8, 2)?;
    if s.get(4) != Some(&b'-')
        || s.get(7) != Some(&b'-')
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let h = digits(s, 11, 2)?;
    let mi = digits(s, 14, 2)?;
    let sec = digits(s, 17, 2)?;
    if s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    let mut i = 19;
    let (us, fl) = fraction(s, i);
    i += fl;
    let (off, ol) = offset(s, i).unwrap_or((0, 0));
    i += ol;
    let t = civil_to_micros(y as i32, mo, d, h, mi, sec, us)?;
    Some((t - off * MICROS_PER_SEC, i))
}

/// Parses the Proxmox firewall form `20/Jun/2022:13:09:14 +0200` at the start of `s`.
pub fn parse_proxmox(s: &[u8]) -> Option<(Micros, usize)> {
    let d = digits(s, 0, 2)?;
    if s.get(2) != Some(&b'/') || s.get(6) != Some(&b'/') || s.get(11) != Some(&b':') {
        return None;
    }
    let mo = month_from_abbrev(s.get(3..6)?)?;
    let y = digits(s, 7, 4)?;
    let h = digits(s, 12, 2)?;
    let mi = digits(s, 15, 2)?;
    let sec = digits(s, 18, 2)?;
    if s.get(14) != Some(&b':') || s.get(17) != Some(&b':') {
        return None;
    }
    let mut i = 20;
    let mut off = 0;
    if s.get(i) == Some(&b' ') {
        if let Some((o, ol)) = offset(s, i + 1) {
            off = o;
            i += 1 + ol;
        }
    }
    let t = civil_to_micros(y as i32, mo, d, h, mi, sec, 0)?;
    Some((t - off * MICROS_PER_SEC, i))
}
