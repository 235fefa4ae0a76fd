//! Field values as the layer sees them, shared by the line encoder and the
//! metric rules.

use crate::contract::level::LineLevel;

/// One field value of an event or span, after redaction, with its text
/// held as `S`.
///
/// Integers stay integers, floats floats, bools bools; `%`/`?` values are
/// rendered to text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<S> {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(S),
}

/// A value with borrowed text, as the metric rules read it.
pub(crate) type FieldValue<'a> = Value<&'a str>;

/// A value with owned text, as kept for span fields.
pub(crate) type OwnedValue = Value<String>;

impl<S> Value<S> {
    /// The same value with its text (if any) turned into `T` by `f`.
    #[inline]
    pub(crate) fn map_str<'s, T>(&'s self, f: impl FnOnce(&'s S) -> T) -> Value<T> {
        match self {
            Value::I64(v) => Value::I64(*v),
            Value::U64(v) => Value::U64(*v),
            Value::I128(v) => Value::I128(*v),
            Value::U128(v) => Value::U128(*v),
            Value::F64(v) => Value::F64(*v),
            Value::Bool(v) => Value::Bool(*v),
            Value::Str(s) => Value::Str(f(s)),
        }
    }
}

impl FieldValue<'_> {
    /// The value as a number, if it is one (strings that parse as numbers count).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::I64(v) => Some(v as f64),
            FieldValue::U64(v) => Some(v as f64),
            FieldValue::I128(v) => Some(v as f64),
            FieldValue::U128(v) => Some(v as f64),
            FieldValue::F64(v) => Some(v),
            FieldValue::Bool(_) => None,
            FieldValue::Str(s) => s.trim().parse().ok(),
        }
    }

    /// Writes the value as label text (no quoting) into `out`.
    pub(crate) fn write_label(&self, out: &mut String) {
        use std::fmt::Write;
        // UNWRAP: writing to a String cannot fail.
        match *self {
            FieldValue::I64(v) => write!(out, "{v}").unwrap(),
            FieldValue::U64(v) => write!(out, "{v}").unwrap(),
            FieldValue::I128(v) => write!(out, "{v}").unwrap(),
            FieldValue::U128(v) => write!(out, "{v}").unwrap(),
            FieldValue::F64(v) => write!(out, "{v}").unwrap(),
            FieldValue::Bool(v) => out.push_str(if v { "true" } else { "false" }),
            FieldValue::Str(s) => out.push_str(s),
        }
    }
}

#[cfg(test)]
impl OwnedValue {
    pub(crate) fn as_value(&self) -> FieldValue<'_> {
        self.map_str(String::as_str)
    }
}

/// What the metric rules see of one logged event: its top-level keys and a
/// way to look up any event or span field by name (event fields win over
/// span fields, inner spans over outer ones), after redaction.
pub(crate) trait EventView {
    fn evt(&self) -> &str;
    fn level(&self) -> LineLevel;
    fn source(&self) -> &str;
    /// The event's timestamp (the line's `ts`), in milliseconds since the Unix epoch.
    fn ts_unix_ms(&self) -> i64;
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;

    /// Looks each of `names` up into `out`, in one call. A view that keeps
    /// its fields in order may use `seen` (per name: where it was found in
    /// a previous event, and that field's name) to skip the search, and
    /// updates it.
    fn lookup<'s>(
        &'s self,
        names: &[String],
        out: &mut [Option<FieldValue<'s>>],
        seen: &mut [Option<FoundAt>],
    ) {
        let _ = seen;
        for (value, name) in out.iter_mut().zip(names) {
            *value = self.field(name);
        }
    }
}

/// Where a field was found in an event's field list: its position, and
/// its name (a callsite's static name: the same address means the same
/// name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundAt {
    pub(crate) position: usize,
    pub(crate) name: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_from_text_and_typed_values() {
        assert_eq!(FieldValue::Str(" 0.25 ").as_f64(), Some(0.25));
        assert_eq!(FieldValue::U64(7).as_f64(), Some(7.0));
        assert_eq!(FieldValue::Bool(true).as_f64(), None);
        assert_eq!(FieldValue::Str("abc").as_f64(), None);
    }
}
