//! Writing results: aligned text tables (or CSV/TSV), JSON documents,
//! numbers. Every table cell is made safe for a terminal here, whatever
//! command built it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

/// Rows buffered before a table block is written: column widths are fitted
/// to the first block and only grow after it, so memory stays bounded.
const BLOCK_ROWS: usize = 1000;
/// Significant digits of numbers in aligned tables (`--json`, CSV and TSV
/// keep every digit).
const HUMAN_DIGITS: usize = 6;

/// How tables are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TableFormat {
    /// Space-aligned columns for people (the default).
    #[default]
    Aligned,
    /// RFC 4180 comma-separated values (`--csv`).
    Csv,
    /// Tab-separated values (`--tsv`).
    Tsv,
}

/// Presentation options shared by every command.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Style {
    pub(crate) format: TableFormat,
    /// Colour the `level` column (aligned tables only).
    pub(crate) color: bool,
    /// Show times in the local time zone instead of UTC.
    pub(crate) local_time: bool,
}

impl Style {
    /// A number for a table cell: rounded for people in aligned tables,
    /// every digit (the shortest text that reads back the same) otherwise.
    pub(crate) fn number(&self, v: f64) -> String {
        match self.format {
            TableFormat::Aligned => fmt_human(v),
            TableFormat::Csv | TableFormat::Tsv => fmt_f64(v),
        }
    }
}

/// A text table: left-aligned, space-separated columns (the last one not
/// padded), or CSV/TSV rows.
#[derive(Debug)]
pub(crate) struct Table {
    style: Style,
    header: Option<Vec<String>>,
    widths: Vec<usize>,
    rows: Vec<Vec<String>>,
    /// The column holding a level, coloured when `style.color` is on.
    level_column: Option<usize>,
}

impl Table {
    /// A table with these column titles (printed once, above the first row).
    pub(crate) fn new(header: &[&str], style: Style) -> Self {
        Table {
            style,
            header: Some(header.iter().map(|h| h.to_string()).collect()),
            widths: header.iter().map(|h| h.width()).collect(),
            rows: Vec::new(),
            level_column: header.iter().position(|&h| h == "level"),
        }
    }

    /// Adds a row, writing a block to `out` when enough are buffered
    /// (CSV and TSV rows are written at once).
    pub(crate) fn push(&mut self, out: &mut impl Write, row: Vec<String>) -> io::Result<()> {
        let row = row
            .into_iter()
            .map(|c| match sanitize(&c) {
                Cow::Borrowed(_) => c,
                Cow::Owned(clean) => clean,
            })
            .collect();
        self.rows.push(row);
        if self.rows.len() >= BLOCK_ROWS || self.style.format != TableFormat::Aligned {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Writes the buffered rows (and the header, the first time).
    pub(crate) fn flush(&mut self, out: &mut impl Write) -> io::Result<()> {
        for row in &self.rows {
            for (w, cell) in self.widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        if let Some(header) = self.header.take() {
            self.write_row(out, &header, true)?;
        }
        let rows = std::mem::take(&mut self.rows);
        for row in &rows {
            self.write_row(out, row, false)?;
        }
        Ok(())
    }

    fn write_row(&self, out: &mut impl Write, row: &[String], header: bool) -> io::Result<()> {
        let sep = match self.style.format {
            TableFormat::Aligned => return self.write_aligned(out, row, header),
            TableFormat::Csv => ",",
            TableFormat::Tsv => "\t",
        };
        let cells: Vec<Cow<'_, str>> = match self.style.format {
            TableFormat::Csv => row.iter().map(|c| csv_cell(c)).collect(),
            _ => row.iter().map(|c| Cow::Borrowed(c.as_str())).collect(),
        };
        writeln!(out, "{}", cells.join(sep))
    }

    fn write_aligned(&self, out: &mut impl Write, row: &[String], header: bool) -> io::Result<()> {
        let last = row.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            let colour = (self.style.color && !header && Some(i) == self.level_column)
                .then(|| level_colour(cell))
                .flatten();
            match colour {
                Some(code) => {
                    let _ = write!(text, "\x1b[{code}m{cell}\x1b[0m");
                }
                None => text.push_str(cell),
            }
            if i < last {
                let pad = self.widths.get(i).copied().unwrap_or(0);
                let fill = pad.saturating_sub(cell.width()) + 2;
                text.extend(std::iter::repeat_n(' ', fill));
            }
        }
        writeln!(out, "{text}")
    }
}

/// The SGR colour of a level name, if it has one.
fn level_colour(level: &str) -> Option<&'static str> {
    Some(match level {
        "critical" => "1;31",
        "error" => "31",
        "warning" => "33",
        "info" => "32",
        "debug" | "trace" => "2",
        _ => return None,
    })
}

/// A CSV field, quoted when it holds a comma, a quote or a space at an end.
fn csv_cell(cell: &str) -> Cow<'_, str> {
    let plain = !cell.contains([',', '"']) && cell.trim() == cell;
    if plain {
        Cow::Borrowed(cell)
    } else {
        Cow::Owned(format!("\"{}\"", cell.replace('"', "\"\"")))
    }
}

/// Whether `c` must not reach a terminal raw: control characters (which
/// start escape sequences) and the invisible bidirectional controls.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A cell safe to print: tab, newline and carriage return become spaces
/// (a row stays on one line), other unsafe characters their escape, as
/// `\u{1b}`.
pub(crate) fn sanitize(cell: &str) -> Cow<'_, str> {
    if !cell.chars().any(is_unsafe) {
        return Cow::Borrowed(cell);
    }
    let mut clean = String::with_capacity(cell.len() + 8);
    for c in cell.chars() {
        match c {
            '\t' | '\n' | '\r' => clean.push(' '),
            c if is_unsafe(c) => {
                let _ = write!(clean, "\\u{{{:x}}}", u32::from(c));
            }
            c => clean.push(c),
        }
    }
    Cow::Owned(clean)
}

/// Writes `value` as one line of JSON.
pub(crate) fn write_json(out: &mut impl Write, value: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// A JSON number for a finite `f64` (null otherwise).
pub(crate) fn json_f64(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Shortest text that reads back as the same `f64` (no exponent).
pub(crate) fn fmt_f64(v: f64) -> String {
    format!("{v}")
}

/// `v` rounded to [`HUMAN_DIGITS`] significant digits, without trailing
/// zeros or an exponent (`0.30000000000000004` prints `0.3`).
pub(crate) fn fmt_human(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return fmt_f64(v);
    }
    let rounded: f64 = format!("{v:.*e}", HUMAN_DIGITS - 1).parse().unwrap_or(v);
    fmt_f64(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(style: Style, rows: &[&[&str]]) -> String {
        let mut out = Vec::new();
        let mut t = Table::new(rows[0], style);
        for row in &rows[1..] {
            let row = row.iter().map(|c| c.to_string()).collect();
            t.push(&mut out, row).expect("push");
        }
        t.flush(&mut out).expect("flush");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn tables_align_all_but_the_last_column() {
        let rows: &[&[&str]] = &[&["evt", "count"], &["openrouter_call", "12"], &["x", "3"]];
        assert_eq!(
            render(Style::default(), rows),
            "evt              count\nopenrouter_call  12\nx                3\n"
        );
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let rows: &[&[&str]] = &[&["model", "n"], &["翻訳モデル", "1"], &["gpt", "2"]];
        assert_eq!(
            render(Style::default(), rows),
            "model       n\n翻訳モデル  1\ngpt         2\n"
        );
    }

    #[test]
    fn cells_cannot_carry_terminal_escapes() {
        let rows: &[&[&str]] = &[&["msg", "n"], &["\x1b[2Jgone\r\nnext\u{202e}", "1"]];
        assert_eq!(
            render(Style::default(), rows),
            "msg                          n\n\\u{1b}[2Jgone  next\\u{202e}  1\n"
        );
    }

    #[test]
    fn csv_quotes_and_tsv_separates_by_tabs() {
        let rows: &[&[&str]] = &[&["msg", "n"], &["a, \"b\"", "1"], &[" c", "2"]];
        let csv = Style {
            format: TableFormat::Csv,
            ..Style::default()
        };
        assert_eq!(render(csv, rows), "msg,n\n\"a, \"\"b\"\"\",1\n\" c\",2\n");
        let tsv = Style {
            format: TableFormat::Tsv,
            ..Style::default()
        };
        let rows: &[&[&str]] = &[&["msg", "n"], &["a\tb", "1"]];
        assert_eq!(render(tsv, rows), "msg\tn\na b\t1\n");
    }

    #[test]
    fn the_level_column_is_coloured_on_request() {
        let rows: &[&[&str]] = &[&["level", "evt"], &["error", "e"], &["notice", "n"]];
        let color = Style {
            color: true,
            ..Style::default()
        };
        assert_eq!(
            render(color, rows),
            "level   evt\n\x1b[31merror\x1b[0m   e\nnotice  n\n"
        );
    }

    #[test]
    fn numbers_round_for_people_and_keep_every_digit_for_machines() {
        let sum = 0.1 + 0.2;
        assert_eq!(fmt_f64(sum), "0.30000000000000004");
        assert_eq!(fmt_f64(sum).parse::<f64>(), Ok(sum));
        assert_eq!(fmt_human(sum), "0.3");
        assert_eq!(fmt_human(1.234_567_89e-7), "0.000000123457");
        assert_eq!(fmt_human(98_765_432.1), "98765400");
        assert_eq!(fmt_human(3.0), "3");
        assert_eq!(fmt_f64(3.0), "3");
        assert_eq!(json_f64(f64::NAN), serde_json::Value::Null);
    }
}
