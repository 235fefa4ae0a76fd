//! UTC day numbers (days since 1970-01-01) and their `YYYY-MM-DD` text,
//! through the `time` crate.

use time::{Date, Month};

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days since the Unix epoch of a millisecond timestamp (UTC).
pub(crate) fn day_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(DAY_MS)
}

/// The civil date of a day number, within `time`'s range (years ±9999).
pub(crate) fn date_of(day: i64) -> Option<Date> {
    let julian = i32::try_from(day.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// The day number of a civil date, if the date exists.
pub(crate) fn day_number(year: i32, month: u8, day: u8) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// `YYYY-MM-DD` of a day number (`day<N>` outside years 0–9999, which no
/// clock produces but a test may).
pub(crate) fn date_string(day: i64) -> String {
    match date_of(day).filter(|d| (0..=9999).contains(&d.year())) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => format!("day{day}"),
    }
}

/// The day number of a strict `YYYY-MM-DD` date (four-digit year).
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u16> {
        b[r].iter().try_fold(0u16, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
        })
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    day_number(i32::from(y), u8::try_from(m).ok()?, u8::try_from(d).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_through_their_text() {
        for day in [-719_528, -1, 0, 1, 19_999, 20_367, 2_932_896] {
            assert_eq!(parse_date(&date_string(day)), Some(day), "{day}");
        }
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(20_367), "2025-10-06");
        assert_eq!(date_string(-1), "1969-12-31");
        assert_eq!(date_string(i64::MAX), format!("day{}", i64::MAX));
    }

    #[test]
    fn only_real_dates_parse() {
        assert_eq!(parse_date("2024-02-29"), day_number(2024, 2, 29));
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-10-32",
            "2025-1-01",
            "25-10-06",
            "2025/10/06",
            "2025-10-06 ",
            "２025-10-06",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
    }
}
