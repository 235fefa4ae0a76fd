//! Writing results: aligned text tables, JSON documents, numbers.

use std::io::{self, Write};

/// Rows buffered before a table block is written: column widths are fitted
/// to the first block and only grow after it, so memory stays bounded.
const BLOCK_ROWS: usize = 1000;

/// A text table with left-aligned, space-separated columns; the last column
/// is not padded.
#[derive(Debug)]
pub(crate) struct Table {
    header: Option<Vec<String>>,
    widths: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles (printed once, above the first row).
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            header: Some(header.iter().map(|h| h.to_string()).collect()),
            widths: header.iter().map(|h| h.chars().count()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row, writing a block to `out` when enough are buffered.
    pub(crate) fn push(&mut self, out: &mut impl Write, row: Vec<String>) -> io::Result<()> {
        self.rows.push(row);
        if self.rows.len() >= BLOCK_ROWS {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Writes the buffered rows (and the header, the first time).
    pub(crate) fn flush(&mut self, out: &mut impl Write) -> io::Result<()> {
        for row in &self.rows {
            for (w, cell) in self.widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        if let Some(header) = self.header.take() {
            write_row(out, &self.widths, &header)?;
        }
        for row in self.rows.drain(..) {
            write_row(out, &self.widths, &row)?;
        }
        Ok(())
    }
}

fn write_row(out: &mut impl Write, widths: &[usize], row: &[String]) -> io::Result<()> {
    let last = row.len().saturating_sub(1);
    for (i, cell) in row.iter().enumerate() {
        if i == last {
            writeln!(out, "{cell}")?;
        } else {
            let pad = widths.get(i).copied().unwrap_or(0);
            write!(out, "{cell:<pad$}  ")?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_all_but_the_last_column() {
        let mut out = Vec::new();
        let mut t = Table::new(&["evt", "count"]);
        t.push(&mut out, vec!["openrouter_call".into(), "12".into()])
            .expect("push");
        t.push(&mut out, vec!["x".into(), "3".into()])
            .expect("push");
        t.flush(&mut out).expect("flush");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "evt              count\nopenrouter_call  12\nx                3\n"
        );
    }

    #[test]
    fn floats_print_so_they_read_back_exactly() {
        let sum = 0.1 + 0.2;
        assert_eq!(fmt_f64(sum), "0.30000000000000004");
        assert_eq!(fmt_f64(sum).parse::<f64>(), Ok(sum));
        assert_eq!(fmt_f64(3.0), "3");
        assert_eq!(json_f64(f64::NAN), serde_json::Value::Null);
    }
}
