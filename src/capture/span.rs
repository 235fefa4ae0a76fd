//! Span fields: recorded (and redacted) once when the span is created or
//! recorded, kept in the span's extensions, added to the `meta` of each
//! event inside it.

use std::fmt;

use tracing::field::{Field, Visit};

use crate::capture::debug_text;
use crate::capture::redact::{REDACTED, Redactor};
use crate::capture::value::OwnedValue;

/// The fields of a span, redacted when recorded, kept in its extensions.
#[derive(Debug, Default)]
pub(crate) struct SpanFields(pub(crate) Vec<(&'static str, OwnedValue)>);

/// Records span fields into [`SpanFields`], replacing earlier values.
pub(crate) struct SpanVisitor<'a> {
    pub(crate) fields: &'a mut SpanFields,
    pub(crate) redactor: &'a Redactor,
    pub(crate) max: usize,
}

impl SpanVisitor<'_> {
    fn put(&mut self, name: &'static str, value: OwnedValue) {
        let value = match value {
            OwnedValue::Str(s) => OwnedValue::Str(self.clean(name, &s)),
            _ if self.redactor.is_secret_name(name) => OwnedValue::Str(REDACTED.to_owned()),
            v => v,
        };
        match self.fields.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.0.push((name, value)),
        }
    }

    /// Redacted, and cut to the line cap with the same marker the line
    /// uses (a span keeps its fields for its whole life: no huge copies).
    fn clean(&self, name: &str, s: &str) -> String {
        let red = self.redactor.redact_field(name, s);
        let kept = red.floor_char_boundary(self.max);
        match red.len() - kept {
            0 => red.into_owned(),
            cut => format!("{}...[truncated {cut} bytes]", &red[..kept]),
        }
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), OwnedValue::Str(value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        debug_text(&mut text, value, self.max.saturating_mul(4));
        self.put(field.name(), OwnedValue::Str(text));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), OwnedValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), OwnedValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field.name(), OwnedValue::I128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field.name(), OwnedValue::U128(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), OwnedValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), OwnedValue::Bool(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_span_fields_are_cut_with_a_marker() {
        let redactor = Redactor::default();
        let mut fields = SpanFields::default();
        let visitor = SpanVisitor {
            fields: &mut fields,
            redactor: &redactor,
            max: 4,
        };
        assert_eq!(
            visitor.clean("note", "abcdefgh"),
            "abcd...[truncated 4 bytes]"
        );
        assert_eq!(visitor.clean("note", "abcd"), "abcd");
    }
}
