//! The scanner itself: a cursor that checks a line against the JSON
//! grammar as it moves, handing out borrowed values.

use std::ops::Range;

use super::{Invalid, JsonStr, JsonValue};
use crate::words::{first, json_special, word_at};

/// A position in a line being scanned.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    pub(super) fn fail<T>(&self, reason: &'static str) -> Result<T, Invalid> {
        Err(Invalid {
            reason,
            at: Some(self.pos),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `b` (after whitespace) or fails with `reason`.
    pub(crate) fn expect(&mut self, b: u8, reason: &'static str) -> Result<(), Invalid> {
        self.skip_ws();
        if self.peek() != Some(b) {
            return self.fail(reason);
        }
        self.pos += 1;
        Ok(())
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.text.len()
    }

    /// Starts an object: consumes `{` and reports whether it is empty (then
    /// also consumes the `}`).
    pub(crate) fn open_object(&mut self) -> Result<bool, Invalid> {
        self.expect(b'{', "expected '{'")?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads `"key" :` inside an object.
    pub(crate) fn key(&mut self) -> Result<JsonStr<'a>, Invalid> {
        self.skip_ws();
        let key = self.string()?;
        self.expect(b':', "expected ':' after key")?;
        Ok(key)
    }

    /// After a member: `Ok(true)` if another follows (`,`), `Ok(false)` at `}`.
    pub(crate) fn next_member(&mut self) -> Result<bool, Invalid> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.fail("expected ',' or '}'"),
        }
    }

    /// Reads an object, handing each member's key and the byte range of its
    /// value (in the cursor's text) to `each`; returns the object as
    /// written. Fails with `not_object` if the value is not an object.
    pub(crate) fn object_with(
        &mut self,
        not_object: &'static str,
        mut each: impl FnMut(JsonStr<'a>, Range<usize>),
    ) -> Result<&'a str, Invalid> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return Err(Invalid::contract(not_object));
        }
        let start = self.pos;
        if !self.open_object()? {
            loop {
                let key = self.key()?;
                self.skip_ws();
                let value_start = self.pos;
                self.value()?;
                each(key, value_start..self.pos);
                if !self.next_member()? {
                    break;
                }
            }
        }
        Ok(&self.text[start..self.pos])
    }

    /// Reads one value (validating nested objects and arrays).
    pub(crate) fn value(&mut self) -> Result<JsonValue<'a>, Invalid> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(JsonValue::Str),
            Some(b'{' | b'[') => self.compound(),
            Some(b't') => self.literal("true", JsonValue::Bool(true)),
            Some(b'f') => self.literal("false", JsonValue::Bool(false)),
            Some(b'n') => self.literal("null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail("expected a value"),
        }
    }

    fn literal(&mut self, word: &str, v: JsonValue<'a>) -> Result<JsonValue<'a>, Invalid> {
        if !self.text[self.pos..].starts_with(word) {
            return self.fail("invalid literal");
        }
        self.pos += word.len();
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<JsonValue<'a>, Invalid> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.text.as_bytes()[int_start] == b'0') {
            return self.fail("invalid number");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        Ok(JsonValue::Num(&self.text[start..self.pos]))
    }

    /// Reads a string, validating escapes and rejecting raw control characters.
    pub(crate) fn string(&mut self) -> Result<JsonStr<'a>, Invalid> {
        if self.peek() != Some(b'"') {
            return self.fail("expected a string");
        }
        self.pos += 1;
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            self.pos = find_special(bytes, self.pos);
            match bytes.get(self.pos) {
                Some(b'"') => {
                    let raw = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(JsonStr { raw, escaped });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => return self.fail("control character in string"),
                None => return self.fail("unterminated string"),
            }
        }
    }

    fn escape(&mut self) -> Result<(), Invalid> {
        let bytes = self.text.as_bytes();
        match bytes.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
            Some(b'u') => {
                let hex = bytes.get(self.pos + 2..self.pos + 6);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return self.fail("invalid \\u escape");
                }
                self.pos += 6;
            }
            _ => return self.fail("invalid escape"),
        }
        Ok(())
    }

    /// An object or array, validated without recursion: nesting is only
    /// bounded by the line cap (one byte of `closers` per open level).
    fn compound(&mut self) -> Result<JsonValue<'a>, Invalid> {
        let start = self.pos;
        let mut closers: Vec<u8> = Vec::new();
        'open: loop {
            // At a '{' or '[': open it; an empty one is a finished value.
            let closer = if self.peek() == Some(b'{') {
                b'}'
            } else {
                b']'
            };
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(closer) {
                self.pos += 1;
            } else {
                closers.push(closer);
                if closer == b'}' {
                    self.key()?;
                }
                if self.nested_value()? {
                    continue 'open;
                }
            }
            // After a value: close levels or move to the next member.
            loop {
                let Some(&closer) = closers.last() else {
                    return Ok(JsonValue::Compound(&self.text[start..self.pos]));
                };
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if closer == b'}' {
                            self.key()?;
                        }
                        if self.nested_value()? {
                            continue 'open;
                        }
                    }
                    Some(c) if c == closer => {
                        self.pos += 1;
                        closers.pop();
                    }
                    _ if closer == b'}' => return self.fail("expected ',' or '}'"),
                    _ => return self.fail("expected ',' or ']'"),
                }
            }
        }
    }

    /// Reads a scalar value, or stops at the start of an object or array
    /// (`Ok(true)`) for [`Cursor::compound`] to open.
    fn nested_value(&mut self) -> Result<bool, Invalid> {
        self.skip_ws();
        match self.peek() {
            Some(b'{' | b'[') => Ok(true),
            _ => self.value().map(|_| false),
        }
    }
}

/// The index of the first `"`, `\\` or control character (< 0x20) at or
/// after `from`, or `bytes.len()`. Looks at eight bytes at a time: strings
/// are most of a line, so this is the scanner's hot loop.
pub(super) fn find_special(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(w) = word_at(bytes, i) {
        let hits = json_special(w);
        if hits != 0 {
            return i + first(hits);
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}
