//! AMS datetimes: ISO 8601 with a UTC offset, e.g. `2019-11-27T12:01:01+08:00`.
//!
//! [`AmsDateTime`] keeps the exact wire string, so a value round-trips byte for byte even if this crate
//! cannot interpret it; interpretation is explicit through [`AmsDateTime::parse`]. The parser is
//! hand-written (no date crate): it accepts `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds (1–9
//! digits, truncated to milliseconds), and `Z`, `±HH:MM` or `±HHMM`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A datetime as sent on the wire (`2019-11-27T12:01:01+08:00`), kept verbatim.
///
/// Deserialisation accepts any string (forward compatible); [`parse`](Self::parse),
/// [`unix_millis`](Self::unix_millis) and [`offset_minutes`](Self::offset_minutes) report what is wrong
/// with an invalid one.
///
/// ```
/// use ams_protocol::AmsDateTime;
///
/// let t = AmsDateTime::new("2019-11-27T12:01:01+08:00");
/// assert_eq!(t.unix_millis().unwrap(), 1_574_827_261_000);
/// assert_eq!(t.offset_minutes().unwrap(), 480);
/// assert_eq!(AmsDateTime::from_unix_millis(1_574_827_261_000, 480).unwrap(), t);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AmsDateTime(String);

/// The instant and offset an [`AmsDateTime`] denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParsedDateTime {
    /// Milliseconds since 1970-01-01T00:00:00Z (fractional seconds truncated to milliseconds).
    pub unix_millis: i64,
    /// The UTC offset written in the string, in minutes (`+08:00` → 480, `-07:00` → -420, `Z` → 0).
    pub offset_minutes: i32,
}

/// Why a datetime string could not be interpreted, or why a datetime could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeError {
    input: String,
    reason: String,
}

impl DateTimeError {
    fn new(input: impl Into<String>, reason: impl Into<String>) -> Self {
        DateTimeError {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// The offending input.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid AMS datetime {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for DateTimeError {}

impl AmsDateTime {
    /// Wraps a wire string without checking it.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        AmsDateTime(value.into())
    }

    /// Wraps a wire string after checking that it parses.
    ///
    /// # Errors
    ///
    /// A [`DateTimeError`] saying what is wrong.
    pub fn parse_str(value: &str) -> Result<Self, DateTimeError> {
        let dt = AmsDateTime::new(value);
        dt.parse()?;
        Ok(dt)
    }

    /// Formats an instant in the wire form `YYYY-MM-DDTHH:MM:SS±HH:MM` in the given offset (whole seconds;
    /// sub-second milliseconds are dropped, rounding towards the past). Offset 0 is written `+00:00`.
    ///
    /// # Errors
    ///
    /// When the offset is not within ±23:59, or the local year falls outside 0000–9999.
    pub fn from_unix_millis(unix_millis: i64, offset_minutes: i32) -> Result<Self, DateTimeError> {
        let describe = || format!("unix millis {unix_millis}, offset {offset_minutes} min");
        if offset_minutes.abs() >= 24 * 60 {
            return Err(DateTimeError::new(
                describe(),
                "offset must be within -23:59..=+23:59",
            ));
        }
        let local_secs = unix_millis.div_euclid(1000) + i64::from(offset_minutes) * 60;
        let days = local_secs.div_euclid(86_400);
        let secs_of_day = local_secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return Err(DateTimeError::new(
                describe(),
                format!("year {year} cannot be written with four digits"),
            ));
        }
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let off = offset_minutes.unsigned_abs();
        Ok(AmsDateTime(format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60,
            off / 60,
            off % 60
        )))
    }

    /// The exact wire string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps into the wire string.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }

    /// `true` if [`parse`](Self::parse) succeeds.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.parse().is_ok()
    }

    /// Interprets the string.
    ///
    /// # Errors
    ///
    /// A [`DateTimeError`] saying what is wrong (shape, out-of-range field, missing offset...).
    pub fn parse(&self) -> Result<ParsedDateTime, DateTimeError> {
        parse_datetime(&self.0).map_err(|reason| DateTimeError::new(self.0.clone(), reason))
    }

    /// Milliseconds since the Unix epoch.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn unix_millis(&self) -> Result<i64, DateTimeError> {
        self.parse().map(|p| p.unix_millis)
    }

    /// The written UTC offset in minutes.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn offset_minutes(&self) -> Result<i32, DateTimeError> {
        self.parse().map(|p| p.offset_minutes)
    }
}

impl fmt::Display for AmsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for AmsDateTime {
    fn from(value: String) -> Self {
        AmsDateTime(value)
    }
}

impl From<&str> for AmsDateTime {
    fn from(value: &str) -> Self {
        AmsDateTime(value.to_owned())
    }
}

/// Reads `n` ASCII digits at `pos` as a number.
fn digits(bytes: &[u8], pos: usize, n: usize) -> Option<u32> {
    let slice = bytes.get(pos..pos + n)?;
    slice.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn expect_byte(bytes: &[u8], pos: usize, want: u8, what: &str) -> Result<(), String> {
    match bytes.get(pos) {
        Some(&b) if b == want => Ok(()),
        Some(&b) => Err(format!(
            "expected '{}' {what} at byte {pos}, found '{}'",
            char::from(want),
            char::from(b).escape_default()
        )),
        None => Err(format!(
            "expected '{}' {what} at byte {pos}, found end",
            char::from(want)
        )),
    }
}

fn field(bytes: &[u8], pos: usize, n: usize, name: &str) -> Result<u32, String> {
    digits(bytes, pos, n).ok_or_else(|| format!("{name} must be {n} digits at byte {pos}"))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // The casts are lossless: day is 1..=31 and month 1..=12 by construction.
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn parse_datetime(s: &str) -> Result<ParsedDateTime, String> {
    let b = s.as_bytes();
    let year = i64::from(field(b, 0, 4, "year")?);
    expect_byte(b, 4, b'-', "after the year")?;
    let month = field(b, 5, 2, "month")?;
    expect_byte(b, 7, b'-', "after the month")?;
    let day = field(b, 8, 2, "day")?;
    expect_byte(b, 10, b'T', "between date and time")?;
    let hour = field(b, 11, 2, "hour")?;
    expect_byte(b, 13, b':', "after the hour")?;
    let minute = field(b, 14, 2, "minute")?;
    expect_byte(b, 16, b':', "after the minute")?;
    let second = field(b, 17, 2, "second")?;

    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is out of range 01-12"));
    }
    let dim = days_in_month(year, month);
    if day == 0 || day > dim {
        return Err(format!(
            "day {day:02} is out of range for {year:04}-{month:02} ({dim} days)"
        ));
    }
    if hour > 23 {
        return Err(format!("hour {hour:02} is out of range 00-23"));
    }
    if minute > 59 {
        return Err(format!("minute {minute:02} is out of range 00-59"));
    }
    if second > 59 {
        return Err(format!("second {second:02} is out of range 00-59"));
    }

    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        let start = pos + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 9 {
            return Err(format!(
                "fractional seconds must have 1 to 9 digits, found {n}"
            ));
        }
        for (i, &d) in b[start..end].iter().take(3).enumerate() {
            millis += i64::from(d - b'0') * [100, 10, 1][i];
        }
        pos = end;
    }

    let offset_minutes: i32 = match b.get(pos) {
        Some(b'Z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = field(b, pos + 1, 2, "offset hours")?;
            let (om, len) = if b.get(pos + 3) == Some(&b':') {
                (field(b, pos + 4, 2, "offset minutes")?, 6)
            } else {
                (field(b, pos + 3, 2, "offset minutes")?, 5)
            };
            if oh > 23 || om > 59 {
                return Err(format!("offset {oh:02}:{om:02} is out of range"));
            }
            pos += len;
            // oh <= 23 and om <= 59, so this fits easily.
            let total = i32::try_from(oh * 60 + om).unwrap_or(0);
            if sign == b'-' { -total } else { total }
        }
        Some(_) => {
            return Err(format!(
                "expected 'Z', '+HH:MM' or '-HH:MM' at byte {pos}, found {:?}",
                &s[pos.min(s.len())..]
            ));
        }
        None => {
            return Err("missing UTC offset (expected 'Z', '+HH:MM' or '-HH:MM')".to_owned());
        }
    };
    if pos != b.len() {
        return Err(format!("unexpected trailing characters {:?}", &s[pos..]));
    }

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second)
        - i64::from(offset_minutes) * 60;
    Ok(ParsedDateTime {
        unix_millis: secs * 1000 + millis,
        offset_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(s: &str) -> i64 {
        AmsDateTime::new(s).unix_millis().unwrap()
    }

    fn reason(s: &str) -> String {
        AmsDateTime::new(s).parse().unwrap_err().reason().to_owned()
    }

    #[test]
    fn parses_offsets() {
        assert_eq!(millis("1970-01-01T00:00:00Z"), 0);
        assert_eq!(millis("1970-01-01T00:00:00+00:00"), 0);
        assert_eq!(millis("1970-01-01T08:00:00+08:00"), 0);
        assert_eq!(millis("1969-12-31T17:00:00-07:00"), 0);
        assert_eq!(millis("1970-01-01T08:30:00+0830"), 0);
        assert_eq!(millis("2019-11-27T12:01:01+08:00"), 1_574_827_261_000);
        assert_eq!(millis("2024-01-01T00:00:00+00:00"), 1_704_067_200_000);
        assert_eq!(
            AmsDateTime::new("2020-03-02T19:11:19-08:00")
                .offset_minutes()
                .unwrap(),
            -480
        );
        assert_eq!(
            AmsDateTime::new("2020-10-10T12:01:01+08:30")
                .offset_minutes()
                .unwrap(),
            510
        );
        assert_eq!(millis("1969-12-31T23:59:59Z"), -1000);
    }

    #[test]
    fn fractional_seconds_truncate_to_millis() {
        assert_eq!(millis("2024-01-01T00:00:00.1234567Z"), 1_704_067_200_123);
        assert_eq!(millis("2024-01-01T00:00:00.5+00:00"), 1_704_067_200_500);
        assert_eq!(millis("2024-01-01T00:00:00.000000001Z"), 1_704_067_200_000);
        assert!(reason("2024-01-01T00:00:00.Z").contains("1 to 9 digits"));
        assert!(reason("2024-01-01T00:00:00.1234567890Z").contains("found 10"));
    }

    #[test]
    fn leap_years_and_month_ends() {
        assert_eq!(millis("2024-02-29T00:00:00Z"), 1_709_164_800_000);
        assert_eq!(millis("2000-02-29T12:00:00Z"), 951_825_600_000);
        assert_eq!(
            reason("2023-02-29T00:00:00Z"),
            "day 29 is out of range for 2023-02 (28 days)"
        );
        assert_eq!(
            reason("1900-02-29T00:00:00Z"),
            "day 29 is out of range for 1900-02 (28 days)"
        );
        assert!(reason("2024-04-31T00:00:00Z").contains("(30 days)"));
        assert!(reason("2024-00-10T00:00:00Z").contains("month 00"));
        assert!(reason("2024-13-10T00:00:00Z").contains("month 13"));
        assert!(reason("2024-01-00T00:00:00Z").contains("day 00"));
        // End of month in a negative offset is the next month in UTC.
        assert_eq!(
            millis("2024-01-31T23:59:59-07:00"),
            millis("2024-02-01T06:59:59Z")
        );
        // End of year with a positive offset is the previous year in UTC.
        assert_eq!(
            millis("2025-01-01T07:59:59+08:00"),
            millis("2024-12-31T23:59:59+00:00")
        );
    }

    #[test]
    fn rejects_malformed_strings_with_a_reason() {
        assert!(reason("2024-01-01T00:00:00").contains("missing UTC offset"));
        assert!(reason("2024-01-01 00:00:00Z").contains("between date and time"));
        assert!(reason("2024-1-01T00:00:00Z").contains("month must be 2 digits"));
        assert!(reason("2024-01-01T24:00:00Z").contains("hour 24"));
        assert!(reason("2024-01-01T23:60:00Z").contains("minute 60"));
        assert!(reason("2024-01-01T23:59:60Z").contains("second 60"));
        assert!(reason("2024-01-01T00:00:00+24:00").contains("out of range"));
        assert!(reason("2024-01-01T00:00:00+08:00 ").contains("trailing"));
        assert!(reason("2024-01-01T00:00:00Zx").contains("trailing"));
        assert!(reason("2024-01-01T00:00:00+8:00").contains("offset hours"));
        assert!(reason("").contains("year"));
        assert!(reason("1685599933871").contains("expected '-'"));
        // Non-ASCII input is an error, never a panic on a char boundary.
        for s in [
            "2024-01-01T00:00:00é",
            "2024-01-01T00:00:00+08:00é",
            "2024-01-01T00:00:00.5é",
            "２０２４-01-01T00:00:00Z",
            "2024-01-01T00:00:0é",
        ] {
            assert!(AmsDateTime::new(s).parse().is_err(), "{s}");
        }
        let err = AmsDateTime::new("nope").parse().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid AMS datetime \"nope\": ")
        );
    }

    #[test]
    fn invalid_strings_deserialise_and_round_trip() {
        let t: AmsDateTime = serde_json::from_str("\"not a date\"").unwrap();
        assert!(!t.is_valid());
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"not a date\"");
        assert!(AmsDateTime::parse_str("not a date").is_err());
    }

    #[test]
    fn formats_wire_form() {
        let f = |ms, off| AmsDateTime::from_unix_millis(ms, off).unwrap().into_inner();
        assert_eq!(f(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(f(1_574_827_261_000, 480), "2019-11-27T12:01:01+08:00");
        assert_eq!(f(0, -420), "1969-12-31T17:00:00-07:00");
        assert_eq!(f(-1, 0), "1969-12-31T23:59:59+00:00");
        assert_eq!(f(1_709_164_800_999, 0), "2024-02-29T00:00:00+00:00");
        assert_eq!(f(1_709_251_199_000, 0), "2024-02-29T23:59:59+00:00");
        assert_eq!(f(1_709_251_200_000, -30), "2024-02-29T23:30:00-00:30");
        assert!(AmsDateTime::from_unix_millis(0, 24 * 60).is_err());
        assert!(AmsDateTime::from_unix_millis(i64::MAX / 2, 0).is_err());
    }

    #[test]
    fn format_then_parse_round_trips() {
        let offsets = [0, 480, -420, 330, 525, -600, 840, -59];
        let mut ms: i64 = -86_400_000 * 400;
        while ms < 4_102_444_800_000 {
            for off in offsets {
                let t = AmsDateTime::from_unix_millis(ms, off).unwrap();
                let p = t.parse().unwrap();
                assert_eq!(p.unix_millis, ms.div_euclid(1000) * 1000, "{t}");
                assert_eq!(p.offset_minutes, off, "{t}");
                assert_eq!(AmsDateTime::parse_str(t.as_str()).unwrap(), t);
            }
            ms += 7_777_777_777;
        }
    }
}
