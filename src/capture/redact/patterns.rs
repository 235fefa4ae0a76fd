//! The built-in value patterns: one pass over the bytes, looking at trigger
//! bytes only, collecting the byte ranges to redact. Token shapes (`ghp_…`,
//! JWTs, PEM blocks, ...) live in `tokens`.

use std::borrow::Cow;

use super::classes::{ALWAYS, BACK, CLASS, DASH, DOT, IDENT, LOWER_B, NONE};
use super::classes::{TERMINATOR, TOKEN, UPPER_B, USERINFO};
use super::tokens::{self, CHARSETS, Chars, N_CHARS};
use super::{NameSet, REDACTED, ends_with_name};
use crate::words::{between_bytes, first, word_at};

/// `value` with every built-in pattern's secret part replaced; borrowed when clean.
pub(super) fn redact_builtin<'a>(names: &NameSet, value: &'a str) -> Cow<'a, str> {
    let spans = builtin_spans(names, value);
    if spans.is_empty() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(replace_spans(value, spans))
    }
}

/// Appends `value` with every built-in pattern's secret part replaced to
/// `out`, keeping at most `max` bytes (at a char boundary); returns the
/// length of the whole redacted text.
pub(super) fn redact_builtin_into(
    names: &NameSet,
    value: &str,
    out: &mut String,
    max: usize,
) -> usize {
    let spans = builtin_spans(names, value);
    if spans.is_empty() {
        out.push_str(&value[..value.floor_char_boundary(max)]);
        value.len()
    } else {
        let red = replace_spans(value, spans);
        out.push_str(&red[..red.floor_char_boundary(max)]);
        red.len()
    }
}

/// The byte ranges of `value` the built-in patterns redact (unsorted, may overlap).
#[inline(always)]
fn builtin_spans(names: &NameSet, value: &str) -> Vec<(usize, usize)> {
    // Built on the first candidate that passes `may_start_at`: clean text
    // (most text) never pays for it.
    let mut scan = None;
    let bytes = value.as_bytes();
    let n = bytes.len();
    let mut base = 0;
    while let Some(w) = word_at(bytes, base) {
        visit_all(names, &mut scan, value, base, trigger_mask(w));
        base += 8;
    }
    match n.checked_sub(8).and_then(|at| word_at(bytes, at)) {
        // The tail, through the last (overlapping) word minus the bytes seen.
        Some(w) if base < n => {
            let seen = 8 * (8 - (n - base));
            visit_all(
                names,
                &mut scan,
                value,
                n - 8,
                trigger_mask(w) >> seen << seen,
            );
        }
        Some(_) => {}
        None => {
            for i in base..n {
                if may_start_at(bytes, i) {
                    let scan = scan.get_or_insert_with(|| Scan::new(value));
                    try_rules_at(names, scan, i, bytes[i]);
                }
            }
        }
    }
    scan.map_or_else(Vec::new, |s| s.spans)
}

/// Tries the rules at each candidate of `mask` (high bits) in the word at `base`.
#[inline(always)]
fn visit_all<'a>(
    names: &NameSet,
    scan: &mut Option<Scan<'a>>,
    value: &'a str,
    base: usize,
    mut mask: u64,
) {
    while mask != 0 {
        let i = base + first(mask);
        mask &= mask - 1;
        if may_start_at(value.as_bytes(), i) {
            let scan = scan.get_or_insert_with(|| Scan::new(value));
            try_rules_at(names, scan, i, value.as_bytes()[i]);
        }
    }
}

/// The high bit of every byte of `w` in one of the trigger ranges (SWAR):
/// `-.`, `:;<=`, `A`–`Z[\\]^_` and `b`. Exact per byte; callers check each
/// candidate's [`CLASS`].
#[inline(always)]
fn trigger_mask(w: u64) -> u64 {
    between_bytes(w, 0x2c, 0x2f)
        | between_bytes(w, 0x39, 0x3e)
        | between_bytes(w, 0x40, 0x60)
        | between_bytes(w, 0x61, 0x63)
}

/// Whether a rule may start at `i`: the byte's class and a cheap look at its
/// neighbours keep the scan loop tight for frequent bytes (`b`, `_`, `-`,
/// `.`, capitals).
#[inline(always)]
fn may_start_at(bytes: &[u8], i: usize) -> bool {
    let b = bytes[i];
    let class = CLASS[usize::from(b)];
    if class == NONE {
        return false;
    }
    let next = bytes.get(i + 1).map_or(0, |&n| n);
    let bearer = matches!(next | 0x20, b'e' | b'a');
    match class {
        ALWAYS => true,
        LOWER_B => bearer,
        UPPER_B => bearer || tokens::front(b, next),
        BACK => tokens::back(bytes, i, b),
        DASH => next == b'-' || tokens::back(bytes, i, b),
        DOT => bytes.get(i + 7) == Some(&b'.') || tokens::back(bytes, i, b),
        _ => tokens::front(b, next),
    }
}

// === rules ===

#[inline(never)]
fn try_rules_at(names: &NameSet, scan: &mut Scan<'_>, i: usize, b: u8) {
    match b {
        b'=' => name_value(names, scan, i, false),
        b':' => {
            // `https://x-access-token:pw@host`: URL credentials, not a name/value pair.
            if !url_userinfo(scan, i) {
                name_value(names, scan, i, true);
            }
            tokens::at_colon(scan, i);
        }
        b'b' => auth_scheme(scan, i),
        b'B' => {
            auth_scheme(scan, i);
            tokens::at_anchor(names, scan, i, b);
        }
        _ => tokens::at_anchor(names, scan, i, b),
    }
}

/// `name=value`, `name: value`, `"name":"value"`, ... at the separator `i`.
fn name_value(names: &NameSet, scan: &mut Scan<'_>, i: usize, colon: bool) {
    let text = scan.text;
    let name = &text[..name_end(text, i)];
    if !names.matches(name) {
        return;
    }
    let kind = if ends_with_name(name, b"authorization") {
        ValueKind::Authorization
    } else if colon && ends_with_name(name, b"cookie") {
        ValueKind::HeaderLine
    } else {
        ValueKind::Plain
    };
    if let Some((start, end)) = scan.value_span(i + 1, kind) {
        scan.push(start, end);
    }
}

/// Where the name before the separator at `i` ends: skips spaces and a closing quote.
fn name_end(text: &[u8], i: usize) -> usize {
    let mut j = i;
    while j > 0 && matches!(text[j - 1], b' ' | b'\t') {
        j -= 1;
    }
    if j > 0 && matches!(text[j - 1], b'"' | b'\'') {
        j -= 1;
        // `\"name\":`, and deeper escaping (`\\\"` once more Debug-formatted).
        while j > 0 && text[j - 1] == b'\\' {
            j -= 1;
        }
    }
    j
}

// === impl Scan ===

/// How the value after a secret name is delimited when unquoted.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum ValueKind {
    Plain,
    /// Keeps a leading scheme word (`Bearer`, `Digest`, ...).
    Authorization,
    /// Runs to the end of the line (`Cookie: a=1; b=2`).
    HeaderLine,
}

/// One pass over a text, collecting the byte ranges to redact.
pub(super) struct Scan<'a> {
    pub(super) text: &'a [u8],
    /// Byte ranges to redact; overlapping neighbours are merged as they come,
    /// the rest when replacing.
    spans: Vec<(usize, usize)>,
    /// The last run `(start, end)` of each token character set: a run ends
    /// at the same place from any start inside it, so overlapping token
    /// candidates (`sk-sk-sk-…`) stay linear.
    runs: [(usize, usize); N_CHARS],
    /// The last search for a PEM END line: `(from, found at)`.
    pem: Option<(usize, Option<usize>)>,
    /// Bytes walked by token runs and PEM searches (linearity tests).
    #[cfg(test)]
    pub(super) walked: usize,
    /// The last unquoted run `(start, end)`, reused for any start inside it.
    run: (usize, usize),
    /// The same for the last header-line value (`Cookie: ...`), so repeated
    /// `cookie:` stays linear.
    line: (usize, usize),
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Scan {
            text: text.as_bytes(),
            spans: Vec::new(),
            runs: [(0, 0); N_CHARS],
            pem: None,
            #[cfg(test)]
            walked: 0,
            run: (0, 0),
            line: (0, 0),
        }
    }

    pub(super) fn push(&mut self, start: usize, end: usize) {
        match self.spans.last_mut() {
            Some(last) if start <= last.1 && end >= last.0 => {
                *last = (last.0.min(start), last.1.max(end));
            }
            _ => self.spans.push((start, end)),
        }
    }

    /// The end of the run of `set` bytes starting at `from`.
    fn run_of(&self, set: &[bool; 256], from: usize) -> usize {
        let len = self.text[from.min(self.text.len())..]
            .iter()
            .take_while(|&&b| set[usize::from(b)])
            .count();
        from + len
    }

    /// The end of the run of `chars` bytes starting at `from`, reusing the
    /// last run of that set when `from` lies inside it.
    pub(super) fn run_cached(&mut self, chars: Chars, from: usize) -> usize {
        let (start, end) = self.runs[chars as usize];
        if start <= from && from < end {
            return end;
        }
        let end = self.run_of(&CHARSETS[chars as usize], from);
        self.runs[chars as usize] = (from, end);
        #[cfg(test)]
        {
            self.walked += end.saturating_sub(from);
        }
        end
    }

    /// Where the PEM block whose body starts at `from` ends: at its
    /// `-----END` line, or at the end of the text.
    pub(super) fn pem_end(&mut self, from: usize) -> usize {
        let found = match self.pem {
            Some((at, found)) if at <= from && found.is_none_or(|f| f >= from) => found,
            _ => {
                let found = find(self.text, from, b"-----END");
                #[cfg(test)]
                {
                    self.walked += found.unwrap_or(self.text.len()) - from;
                }
                found
            }
        };
        self.pem = Some((from, found));
        found.unwrap_or(self.text.len())
    }

    pub(super) fn skip_spaces(&self, from: usize) -> usize {
        from + self.text[from.min(self.text.len())..]
            .iter()
            .take_while(|&&b| matches!(b, b' ' | b'\t'))
            .count()
    }

    /// The byte range of the value starting after a separator at `from`.
    pub(super) fn value_span(&mut self, from: usize, kind: ValueKind) -> Option<(usize, usize)> {
        let mut j = self.skip_spaces(from);
        j = self.skip_wrapper(j);
        if let Some(span) = self.quoted(j) {
            return Some(span).filter(|(s, e)| e > s);
        }
        if kind == ValueKind::Authorization {
            j = self.skip_scheme(j);
        }
        let end = match kind {
            ValueKind::HeaderLine => self.line_end(j),
            _ => self.unquoted_end(j),
        };
        Some((j, end)).filter(|(s, e)| e > s)
    }

    /// Skips `Ident(` before a quote, as in `Some("...")`.
    fn skip_wrapper(&self, j: usize) -> usize {
        let w = self.run_of(&IDENT, j);
        match (self.text.get(w), self.text.get(w + 1)) {
            (Some(b'('), Some(b'"' | b'\'' | b'\\')) if w > j => w + 1,
            _ => j,
        }
    }

    /// Skips a scheme word and its spaces when a credential follows.
    fn skip_scheme(&self, j: usize) -> usize {
        let w = j + self.text[j.min(self.text.len())..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let k = self.skip_spaces(w);
        match self.text.get(k) {
            Some(&b) if w > j && k > w && !TERMINATOR[usize::from(b)] => k,
            _ => j,
        }
    }

    /// The content range of a quoted value starting at `j`, if one starts there.
    fn quoted(&self, j: usize) -> Option<(usize, usize)> {
        let text = self.text;
        // Escaping deeper than 15 backslashes is not text anyone logs; the
        // bound keeps the closing-quote search linear.
        let slashes = text[j..]
            .iter()
            .take(16)
            .take_while(|&&b| b == b'\\')
            .count();
        let (start, end) = match (text.get(j)?, text.get(j + slashes)) {
            // `\"…\"` (escaped once, or more): ends at the same escaped quote.
            (b'\\', Some(b'"')) => {
                let close = &text[j..=j + slashes];
                (j + slashes + 1, find(text, j + slashes + 1, close))
            }
            (b'\'', _) => (j + 1, find(text, j + 1, b"'")),
            (b'"', _) => (j + 1, closing_double_quote(text, j + 1)),
            _ => return None,
        };
        Some((start, end.unwrap_or(text.len())))
    }

    fn unquoted_end(&mut self, from: usize) -> usize {
        if !(self.run.0 <= from && from < self.run.1) {
            let len = self.text[from..]
                .iter()
                .take_while(|&&b| !TERMINATOR[usize::from(b)])
                .count();
            self.run = (from, from + len);
        }
        self.run.1
    }

    fn line_end(&mut self, from: usize) -> usize {
        if !(self.line.0 <= from && from < self.line.1) {
            let len = self.text[from..]
                .iter()
                .take_while(|&&b| !matches!(b, b'\n' | b'\r' | b'"'))
                .count();
            self.line = (from, from + len);
        }
        self.line.1
    }
}

/// The first occurrence of `needle` at or after `from`.
fn find(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    text.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The closing `"` at or after `from`, skipping backslash escapes.
fn closing_double_quote(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `Bearer <token>` / `Basic <token>` with the `b`/`B` at `i`.
fn auth_scheme(scan: &mut Scan<'_>, i: usize) {
    let rest = &scan.text[i..];
    let scheme_len = match rest.get(1) {
        Some(b'e' | b'E') if starts_with_ignore_case(rest, b"bearer") => 6,
        Some(b'a' | b'A') if starts_with_ignore_case(rest, b"basic") => 5,
        _ => return,
    };
    let start = scan.skip_spaces(i + scheme_len);
    let end = scan.run_of(&TOKEN, start);
    if start > i + scheme_len && end > start {
        scan.push(start, end);
    }
}

fn starts_with_ignore_case(text: &[u8], word: &[u8]) -> bool {
    text.get(..word.len())
        .is_some_and(|t| t.eq_ignore_ascii_case(word))
}

/// `scheme://user:password@host` with the `:` at `i`: redacts the password.
fn url_userinfo(scan: &mut Scan<'_>, i: usize) -> bool {
    let t = scan.text;
    let user = t[..i]
        .iter()
        .rev()
        .take_while(|&&b| USERINFO[usize::from(b)])
        .count();
    if i - user < 2 || &t[i - user - 2..i - user] != b"//" {
        return false;
    }
    let end = scan.run_of(&USERINFO, i + 1);
    let found = end > i + 1 && t.get(end) == Some(&b'@');
    if found {
        scan.push(i + 1, end);
    }
    found
}

/// Replaces each byte range by [`REDACTED`], merging overlaps.
fn replace_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len() + spans.len() * REDACTED.len());
    let mut at = 0;
    for (start, end) in spans {
        let (start, end) = (
            text.floor_char_boundary(start.max(at)),
            text.ceil_char_boundary(end),
        );
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Redactor;

    fn r(text: &str) -> String {
        Redactor::default().redact(text).into_owned()
    }

    /// The scan one byte at a time, as [`builtin_spans`] was before its
    /// word-at-a-time trigger search.
    fn spans_bytewise(names: &NameSet, value: &str) -> Vec<(usize, usize)> {
        scan_bytewise(names, value).spans
    }

    fn scan_bytewise<'a>(names: &NameSet, value: &'a str) -> Scan<'a> {
        let mut scan = Scan::new(value);
        let bytes = value.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if may_start_at(bytes, i) {
                try_rules_at(names, &mut scan, i, b);
            }
        }
        scan
    }

    proptest::proptest! {
        #[test]
        fn the_word_scan_finds_what_the_byte_scan_finds(
            text in "([a-zA-Z0-9 =:/._\"'~;<,\\[\\]^-]|sk-|ghp_|AKIA|eyJ|Bearer |Basic |api_key=|token: |https://u:p@|--|-----BEGIN |8Q~){0,40}",
        ) {
            let names = &Redactor::default().names;
            proptest::prop_assert_eq!(builtin_spans(names, &text), spans_bytewise(names, &text));
        }
    }

    #[test]
    fn bearer_and_basic_tokens_are_redacted_keeping_the_scheme() {
        assert_eq!(
            r("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x-y_z~+/="),
            "Bearer [REDACTED]"
        );
        assert_eq!(
            r("auth failed (bearer  abc123), retry"),
            "auth failed (bearer  [REDACTED]), retry"
        );
        assert_eq!(r("BASIC dXNlcjpwYXNz end"), "BASIC [REDACTED] end");
        assert_eq!(r("Bearer"), "Bearer");
        assert_eq!(r("Bearer "), "Bearer ");
        assert_eq!(r("Bearers abc"), "Bearers abc");
    }

    #[test]
    fn sk_keys_are_redacted_whole_at_a_word_boundary() {
        assert_eq!(
            r("key sk-or-v1-0123456789abcdef0123456789abcdef used"),
            "key [REDACTED] used"
        );
        assert_eq!(r("(sk-proj_ABCDEFGHIJ0123456789)"), "([REDACTED])");
        assert_eq!(r("sk-0123456789abcdefghi"), "sk-0123456789abcdefghi"); // 19 chars
        assert_eq!(r("sk-0123456789abcdefghij"), "[REDACTED]"); // 20 chars
        assert_eq!(
            r("task-queue-0123456789abcdefghij"),
            "task-queue-0123456789abcdefghij"
        );
    }

    #[test]
    fn query_parameters_with_secret_names_are_redacted() {
        assert_eq!(
            r("GET /v1/models?key=abc&x=1"),
            "GET /v1/models?key=[REDACTED]&x=1"
        );
        assert_eq!(
            r("https://h/p?api_key=s3cr3t#frag"),
            "https://h/p?api_key=[REDACTED]#frag"
        );
        assert_eq!(r("a=1&token=xyz;b=2"), "a=1&token=[REDACTED];b=2");
        assert_eq!(
            r("openrouter_api_key = abc def"),
            "openrouter_api_key = [REDACTED] def"
        );
    }

    #[test]
    fn headers_with_secret_names_are_redacted() {
        assert_eq!(r("Authorization: xyz"), "Authorization: [REDACTED]");
        assert_eq!(
            r("Authorization: Bearer abc.def"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            r("proxy-authorization: Digest u=1,x"),
            "proxy-authorization: Digest [REDACTED],x"
        );
        assert_eq!(
            r("X-Api-Key: abc\r\nHost: x"),
            "X-Api-Key: [REDACTED]\r\nHost: x"
        );
        assert_eq!(
            r("Cookie: a=1; b=2\nHost: x"),
            "Cookie: [REDACTED]\nHost: x"
        );
        assert_eq!(r("Set-Cookie: id=1; Path=/"), "Set-Cookie: [REDACTED]");
    }

    #[test]
    fn debug_formatted_structs_are_redacted() {
        assert_eq!(
            r(r#"Config { api_key: "abc", x: 1 }"#),
            r#"Config { api_key: "[REDACTED]", x: 1 }"#
        );
        assert_eq!(
            r(r#"C { password: Some("p\"w"), n: 2 }"#),
            r#"C { password: Some("[REDACTED]"), n: 2 }"#
        );
        assert_eq!(
            r("C { token: 1234, n: 2 }"),
            "C { token: [REDACTED], n: 2 }"
        );
        assert_eq!(
            r(r#"Creds { accessToken: "abc", refreshToken: "def" }"#),
            r#"Creds { accessToken: "[REDACTED]", refreshToken: "[REDACTED]" }"#
        );
        assert_eq!(
            r(r#"{'secret': 'x y', 'a': 1}"#),
            r#"{'secret': '[REDACTED]', 'a': 1}"#
        );
    }

    #[test]
    fn json_in_strings_is_redacted_also_with_escaped_quotes() {
        assert_eq!(
            r(r#"{"password":"hunter2"}"#),
            r#"{"password":"[REDACTED]"}"#
        );
        assert_eq!(
            r(r#"{"password" : "a b", "user":"x"}"#),
            r#"{"password" : "[REDACTED]", "user":"x"}"#
        );
        assert_eq!(
            r(r#"body={\"password\":\"x\",\"n\":1}"#),
            r#"body={\"password\":\"[REDACTED]\",\"n\":1}"#
        );
        // Escaped twice: a JSON string inside JSON, Debug-formatted.
        assert_eq!(
            r(r#"\"{\\\"access_token\\\":\\\"abc\\\"}\""#),
            r#"\"{\\\"access_token\\\":\\\"[REDACTED]\\\"}\""#
        );
        assert_eq!(r(r#"{"token":12345}"#), r#"{"token":[REDACTED]}"#);
        assert_eq!(r(r#"{"secret":"cut off"#), r#"{"secret":"[REDACTED]"#);
        assert_eq!(r(r#"{"secret":""}"#), r#"{"secret":""}"#);
    }

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            r("postgres://app:pa55@db:5432/x"),
            "postgres://app:[REDACTED]@db:5432/x"
        );
        assert_eq!(
            r("https://example.com:8443/a@b"),
            "https://example.com:8443/a@b"
        );
    }

    #[test]
    fn several_secrets_in_one_string_are_all_redacted() {
        assert_eq!(
            r("token=abc Bearer xyz sk-or-v1-0123456789abcdef0123 é password: \"q\""),
            "token=[REDACTED] Bearer [REDACTED] [REDACTED] é password: \"[REDACTED]\""
        );
        // Overlapping rules: the name rule takes `xBearer`, the scheme rule the token.
        assert_eq!(r("token=xBearer abc"), "token=[REDACTED] [REDACTED]");
    }

    /// A timing check, so never part of the default run (a loaded machine
    /// fails it): `cargo test --release --lib adversarial -- --ignored`.
    #[test]
    #[ignore = "timing: run on a quiet machine with --ignored"]
    fn adversarial_repetition_stays_fast() {
        let red = Redactor::default();
        for unit in [
            "sk-",
            "key=",
            "key:\"",
            "bearer ",
            "//a:",
            "a:",
            "Authorization: x ",
            "\\\"key\\\":",
            "cookie:",
            "Set-Cookie: ",
            "key=\\\\\\\\\\\\\\\\\"",
        ] {
            let text = unit.repeat(200_000 / unit.len());
            let start = std::time::Instant::now();
            let _ = red.redact(&text);
            assert!(
                start.elapsed() < std::time::Duration::from_secs(2),
                "{unit}: {:?}",
                start.elapsed()
            );
        }
    }

    #[test]
    fn token_rules_walk_each_byte_a_bounded_number_of_times() {
        let names = &Redactor::default().names;
        for unit in [
            "sk-",
            "sk-a",
            "ghp_",
            "xoxb-",
            "sk_live_",
            "eyJ",
            "eyJabcdefghijkl.",
            "eyJabcdefghijkl.eyabcdefghijkl.",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----x",
            "--password ",
            "--a",
            "1234567:A",
            "https://a",
            "https://hooks.slack.com/services/",
            "abcdefghijklmnopqrstuvwxyz0.abcdef.",
            "abc8Q~",
            "AKIA",
            "SK",
            "ghp_sk-",
        ] {
            let text = unit.repeat(100_000 / unit.len());
            let scan = scan_bytewise(names, &text);
            assert!(
                scan.walked <= 4 * text.len(),
                "{unit}: {} bytes walked for {}",
                scan.walked,
                text.len()
            );
        }
    }
}
