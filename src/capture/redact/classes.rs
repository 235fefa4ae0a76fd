//! Byte classes of the built-in value patterns: which bytes may start a
//! pattern, and the characters of tokens, identifiers, URL user info and
//! the bytes that end an unquoted value (tables built at compile time).

// What a trigger byte needs before its rules are tried (see `patterns::may_start_at`).
pub(super) const NONE: u8 = 0;
pub(super) const ALWAYS: u8 = 1;
pub(super) const LOWER_B: u8 = 2;
pub(super) const UPPER_B: u8 = 3;
pub(super) const BACK: u8 = 4;
pub(super) const DASH: u8 = 5;
pub(super) const DOT: u8 = 6;
pub(super) const FRONT: u8 = 7;

/// The class of each byte at which a built-in value pattern may start: `=`,
/// `:`, `b`/`B` (`Bearer`), and the anchors of token shapes (`_`, `-`, `.`,
/// capitals).
pub(super) const CLASS: [u8; 256] = {
    let mut t = [NONE; 256];
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = FRONT;
        c += 1;
    }
    t[b'=' as usize] = ALWAYS;
    t[b':' as usize] = ALWAYS;
    t[b'b' as usize] = LOWER_B;
    t[b'B' as usize] = UPPER_B;
    t[b'_' as usize] = BACK;
    t[b'J' as usize] = BACK;
    t[b'-' as usize] = DASH;
    t[b'.' as usize] = DOT;
    t
};
/// Characters of a `Bearer`/`Basic` token.
pub(super) const TOKEN: [bool; 256] = alnum_and(b"._~+/=-");
/// Characters of an identifier (`Some` in `Some("...")`).
pub(super) const IDENT: [bool; 256] = alnum_and(b"_");
/// Characters of URL user info (RFC 3986 unreserved, sub-delims, `%`).
pub(super) const USERINFO: [bool; 256] = alnum_and(b"-._~%!$&'()*+,;=");
/// Bytes ending an unquoted value.
pub(super) const TERMINATOR: [bool; 256] = byte_set(b" \t\r\n\x0b\x0c&,;})#\"'");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

const fn alnum_and(extra: &[u8]) -> [bool; 256] {
    let mut t = byte_set(extra);
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = true;
        }
        c += 1;
    }
    t
}
