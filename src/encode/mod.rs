//! Encoding: an event's captured fields become one JSON line.

pub(crate) mod json;
pub(crate) mod line;
