//! The day files: `{prefix}-YYYY-MM-DD.jsonl` for the lines of one UTC day,
//! `{prefix}-YYYY-MM-DD.jsonl.gz` for a finished day once compressed, and
//! the hidden names of the crash-safe gzip protocol.
//!
//! Compressing the plain file `P` of a finished day:
//! 1. the new `P.gz` is built whole (old members plus one for `P`) as the
//!    hidden `.P.gz.tmp`, and synced;
//! 2. `P` is renamed to the hidden `.P.compressed`: the commit point;
//! 3. `.P.gz.tmp` is renamed over `P.gz`;
//! 4. `.P.compressed` is removed.
//!
//! So a reader that finds `.P.compressed` while `.P.gz.tmp` still exists
//! reads it (its lines are not in `P.gz` yet); once the temporary file is
//! gone, the hidden file is a leftover and its lines are in `P.gz`.

use std::path::Path;

use super::date::{date_string, parse_date};

/// The extension of a day file.
const PLAIN_EXT: &str = ".jsonl";
/// The extension of a compressed day file.
const GZ_EXT: &str = ".jsonl.gz";
/// Suffix of a hidden plain file whose lines are (being) compressed.
const COMPRESSED_SUFFIX: &str = ".compressed";
/// Suffix of the hidden `.gz` under construction.
const TMP_SUFFIX: &str = ".tmp";

/// `{prefix}-YYYY-MM-DD.jsonl` of a day number.
pub(crate) fn file_name(prefix: &str, day: i64) -> String {
    format!("{prefix}-{}{PLAIN_EXT}", date_string(day))
}

/// `{name}.gz`: the compressed file of the plain day file `name`.
pub(crate) fn gz_name(plain: &str) -> String {
    format!("{plain}.gz")
}

/// The day and gzip flag of a file named exactly
/// `{prefix}-YYYY-MM-DD.jsonl[.gz]`.
pub(crate) fn parse_file_name(prefix: &str, name: &str) -> Option<(i64, bool)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (date, ext) = rest.split_at_checked(10)?;
    let gz = match ext {
        PLAIN_EXT => false,
        GZ_EXT => true,
        _ => return None,
    };
    Some((parse_date(date)?, gz))
}

/// `.{plain}.compressed`: step 2's name for the plain file `plain`.
pub(crate) fn compressed_name(plain: &str) -> String {
    format!(".{plain}{COMPRESSED_SUFFIX}")
}

/// `.{plain}.gz.tmp`: step 1's name for the new `.gz` of `plain`.
pub(crate) fn gz_tmp_name(plain: &str) -> String {
    format!(".{}{TMP_SUFFIX}", gz_name(plain))
}

/// The plain day file name hidden in `.{plain}.compressed`, if `name` is
/// one for `prefix`.
pub(crate) fn parse_compressed_name<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    let plain = name.strip_prefix('.')?.strip_suffix(COMPRESSED_SUFFIX)?;
    parse_file_name(prefix, plain)
        .is_some_and(|(_, gz)| !gz)
        .then_some(plain)
}

/// Whether the lines of the hidden `.{plain}.compressed` in `dir` are still
/// missing from the `.gz` (its step 3 has not happened yet).
pub(crate) fn compression_pending(dir: &Path, plain: &str) -> bool {
    dir.join(gz_tmp_name(plain)).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::date::day_number;

    #[test]
    fn file_names_are_prefix_and_utc_date() {
        let day = day_number(2025, 10, 6).unwrap();
        assert_eq!(file_name("events", day), "events-2025-10-06.jsonl");
        assert_eq!(file_name("app", 0), "app-1970-01-01.jsonl");
        assert_eq!(gz_name("app-1970-01-01.jsonl"), "app-1970-01-01.jsonl.gz");
        assert_eq!(
            parse_file_name("events", "events-2025-10-06.jsonl"),
            Some((day, false))
        );
        assert_eq!(
            parse_file_name("events", "events-2025-10-06.jsonl.gz"),
            Some((day, true))
        );
        assert_eq!(
            parse_file_name("app", "app-2025-10-06.jsonl"),
            Some((day, false))
        );
    }

    #[test]
    fn only_exact_names_with_valid_dates_parse() {
        for name in [
            "events-2025-10-06.json",
            "events-2025-10-06.jsonl.tmp",
            "events-2025-02-30.jsonl",
            "events2025-10-06.jsonl",
            "xevents-2025-10-06.jsonl",
            "events-2025-10-6.jsonl",
            ".events-2025-10-06.jsonl.compressed",
            "events-2025-10-06.jsonl.gz.tmp",
        ] {
            assert_eq!(parse_file_name("events", name), None, "{name}");
        }
        assert_eq!(parse_file_name("app", "events-2025-10-06.jsonl"), None);
    }

    #[test]
    fn hidden_names_never_look_like_day_files_and_parse_back() {
        let plain = "events-2025-10-06.jsonl";
        assert_eq!(
            compressed_name(plain),
            ".events-2025-10-06.jsonl.compressed"
        );
        assert_eq!(gz_tmp_name(plain), ".events-2025-10-06.jsonl.gz.tmp");
        assert_eq!(
            parse_compressed_name("events", &compressed_name(plain)),
            Some(plain)
        );
        assert_eq!(parse_compressed_name("app", &compressed_name(plain)), None);
        let gz = gz_name(plain);
        assert_eq!(parse_compressed_name("events", &compressed_name(&gz)), None);
        for hidden in [compressed_name(plain), gz_tmp_name(plain)] {
            assert_eq!(parse_file_name("events", &hidden), None);
        }
    }
}
