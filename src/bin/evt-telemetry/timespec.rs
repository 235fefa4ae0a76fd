//! Times as the command reads and writes them: line timestamps, `--from`/`--to`
//! instants, `--since`/`--every` durations, UTC days. All in Unix milliseconds.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) use crate::contract::date::DAY_MS;
use crate::contract::date::{date_string, day_number, parse_date};

/// The current time (Unix ms).
pub(crate) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Parses a line's `ts`: the contract's `YYYY-MM-DDTHH:MM:SS.mmmZ` quickly,
/// any other RFC 3339 timestamp through the `time` crate.
pub(crate) fn parse_ts(s: &str) -> Option<i64> {
    fast_ts(s.as_bytes()).or_else(|| rfc3339(s))
}

fn rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

fn num(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

fn fast_ts(b: &[u8]) -> Option<i64> {
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[23] != b'Z' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || b[19] != b'.' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let day = day_number(
        i32::try_from(y).ok()?,
        u8::try_from(mo).ok()?,
        u8::try_from(d).ok()?,
    )?;
    let (h, m, s, ms) = (
        num(&b[11..13])?,
        num(&b[14..16])?,
        num(&b[17..19])?,
        num(&b[20..23])?,
    );
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let in_day = ((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1000 + i64::from(ms);
    Some(day * DAY_MS + in_day)
}

/// Parses `YYYY-MM-DD` into a day number.
pub(crate) fn parse_day(s: &str) -> Option<i64> {
    parse_date(s)
}

/// Parses a `--from`/`--to` instant: RFC 3339 (`2025-10-06T13:00:00Z`,
/// offsets allowed) or a UTC date (`2025-10-06`, meaning its midnight).
pub(crate) fn parse_instant(s: &str) -> Result<i64, String> {
    parse_day(s)
        .map(|d| d * DAY_MS)
        .or_else(|| parse_ts(s))
        .ok_or_else(|| {
            format!(
                "invalid time {s:?} (expected RFC 3339 like 2025-10-06T13:00:00Z, or 2025-10-06)"
            )
        })
}

/// Parses a duration like `90s`, `15m`, `24h`, `7d`, `500ms` or `1h30m`.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. 30s, 15m, 24h, 7d, 1h30m)");
    let mut rest = s;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => DAY_MS,
            "w" => 7 * DAY_MS,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if total <= 0 { Err(bad()) } else { Ok(total) }
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn day_string(day: i64) -> String {
    date_string(day)
}

/// RFC 3339 UTC text of an instant: seconds precision, milliseconds if any.
pub(crate) fn format_ms(ms: i64) -> String {
    let day = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (s, frac) = (in_day / 1000, in_day % 1000);
    let hms = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if frac == 0 {
        format!("{}T{hms}Z", day_string(day))
    } else {
        format!("{}T{hms}.{frac:03}Z", day_string(day))
    }
}

/// [`format_ms`], or with `--local` the local time with its offset
/// (`2025-10-06T15:43:10.123+02:00`).
pub(crate) fn format_ms_styled(ms: i64, style: &crate::output::Style) -> String {
    if !style.local_time {
        return format_ms(ms);
    }
    match local_offset_s(ms) {
        Some(offset) => {
            let text = format_ms(ms + offset * 1000);
            let sign = if offset < 0 { '-' } else { '+' };
            let (h, m) = (offset.abs() / 3600, offset.abs() / 60 % 60);
            format!("{}{sign}{h:02}:{m:02}", &text[..text.len() - 1])
        }
        None => format_ms(ms),
    }
}

/// The local zone's UTC offset (seconds) at `ms`, from `TZ` or the system
/// zone. The `time` crate refuses once other threads exist (the command
/// has none); then times stay UTC, said once on stderr.
fn local_offset_s(ms: i64) -> Option<i64> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    match time::UtcOffset::local_offset_at(at) {
        Ok(offset) => Some(i64::from(offset.whole_seconds())),
        Err(_) => {
            WARNED.call_once(|| {
                eprintln!("evt-telemetry: --local: the local time zone is unknown; times are UTC");
            });
            None
        }
    }
}

/// Text of a duration in its largest exact unit (`5m`, `1h`, `90s`).
pub(crate) fn format_duration(ms: i64) -> String {
    for (unit, len) in [("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms % len == 0 {
            return format!("{}{unit}", ms / len);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_timestamps_parse_fast_and_match_the_time_crate() {
        let ts = "2025-10-06T13:43:10.123Z";
        assert_eq!(fast_ts(ts.as_bytes()), Some(1_759_758_190_123));
        assert_eq!(rfc3339(ts), Some(1_759_758_190_123));
        assert_eq!(
            parse_ts("2025-10-06T15:43:10.123+02:00"),
            Some(1_759_758_190_123)
        );
        assert_eq!(parse_ts("2025-10-06T13:43:10Z"), Some(1_759_758_190_000));
        assert_eq!(parse_ts("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_ts("2025-02-30T00:00:00.000Z"), None);
        assert_eq!(parse_ts("yesterday"), None);
    }

    #[test]
    fn instants_accept_dates_and_timestamps() {
        assert_eq!(parse_instant("2025-10-06"), Ok(20_367 * DAY_MS));
        assert_eq!(
            parse_instant("2025-10-06T00:00:01Z"),
            Ok(20_367 * DAY_MS + 1000)
        );
        assert!(parse_instant("2025-13-01").is_err());
    }

    #[test]
    fn durations_add_their_parts() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("7d"), Ok(7 * DAY_MS));
        assert_eq!(parse_duration("250ms"), Ok(250));
        for bad in ["", "h", "10", "5x", "0s", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(day_string(20_367), "2025-10-06");
        assert_eq!(parse_day("2025-10-06"), Some(20_367));
        assert_eq!(format_ms(1_759_758_190_123), "2025-10-06T13:43:10.123Z");
        assert_eq!(format_ms(1_759_758_180_000), "2025-10-06T13:43:00Z");
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_duration(DAY_MS), "1d");
        assert_eq!(format_duration(1500), "1500ms");
    }
}
