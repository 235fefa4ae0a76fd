//! `query`: print the events that pass the filters, as JSON lines (the lines
//! exactly as stored) or as an aligned table.

use std::io::Write;

use crate::args::Common;
use crate::error::CliError;
use crate::json::{self, JsonValue};
use crate::line::{Field, Line};
use crate::output::{Style, Table, TableFormat};
use crate::scan::{self, Flow};
use crate::timespec;

/// Column titles of the event table (`query --table`, `tail --table`).
pub(crate) const EVENT_COLUMNS: [&str; 6] = ["ts", "level", "evt", "source", "msg", "meta"];

/// Runs `query`, writing to `out`. `--json` means JSON lines even with `--table`.
///
/// # Errors
/// A missing directory, or a failure to write `out`.
pub(crate) fn run(
    common: &Common,
    table: bool,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let table = (table || common.style.format != TableFormat::Aligned) && !common.json;
    let mut printer = EventPrinter::new(table, &common.style);
    let mut left = limit.unwrap_or(u64::MAX);
    if left == 0 {
        crate::files::resolve(&common.input)?; // still a missing directory is an error
        return Ok(());
    }
    scan::scan(common, |line| {
        printer.print(out, line)?;
        left -= 1;
        Ok(if left == 0 {
            Flow::Stop
        } else {
            Flow::Continue
        })
    })?;
    printer.flush(out)?;
    Ok(())
}

/// Prints events as stored lines or table rows.
#[derive(Debug)]
pub(crate) struct EventPrinter {
    table: Option<Table>,
    style: Style,
}

impl EventPrinter {
    pub(crate) fn new(table: bool, style: &Style) -> Self {
        EventPrinter {
            table: table.then(|| Table::new(&EVENT_COLUMNS, *style)),
            style: *style,
        }
    }

    pub(crate) fn print(&mut self, out: &mut impl Write, line: &Line<'_>) -> std::io::Result<()> {
        match &mut self.table {
            Some(t) => t.push(out, event_row(line, &self.style)),
            None => writeln!(out, "{}", line.text),
        }
    }

    /// Writes buffered table rows.
    pub(crate) fn flush(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        match &mut self.table {
            Some(t) => t.flush(out),
            None => Ok(()),
        }
    }
}

/// One table row: the top-level keys, then `meta` as `key=value` pairs.
pub(crate) fn event_row(line: &Line<'_>, style: &Style) -> Vec<String> {
    let meta: Vec<String> = json::members(line.meta)
        .map(|(k, v)| format!("{}={}", one_line(&k.text()), cell_value(v)))
        .collect();
    vec![
        if style.local_time {
            timespec::format_ms_styled(line.ts_ms, style)
        } else {
            line.get(&Field::Ts)
                .map(|v| v.text().into_owned())
                .unwrap_or_default()
        },
        line.level.as_str().to_owned(),
        one_line(&line.evt.text()),
        one_line(&line.source.text()),
        one_line(&line.msg.text()),
        meta.join(" "),
    ]
}

/// Strings without spaces print bare; others as JSON.
fn cell_value(v: JsonValue<'_>) -> String {
    match v {
        JsonValue::Str(s) if !s.text().contains(char::is_whitespace) && !s.text().is_empty() => {
            one_line(&s.text())
        }
        JsonValue::Str(s) => serde_json::Value::String(s.text().into_owned()).to_string(),
        other => other.text().into_owned(),
    }
}

/// Control characters become spaces so each event stays on one row.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_flatten_meta_into_pairs() {
        let text = r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"svc","msg":"429\nRate limit","meta":{"status":429,"code":"rate_limited","note":"a b","empty":""}}"#;
        let line = Line::parse(text).expect("valid");
        assert_eq!(
            event_row(&line, &Style::default()),
            [
                "2025-10-06T13:43:10.123Z",
                "error",
                "openrouter_error",
                "svc",
                "429 Rate limit",
                r#"status=429 code=rate_limited note="a b" empty="""#
            ]
        );
    }
}
