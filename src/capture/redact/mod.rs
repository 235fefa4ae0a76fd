//! Redaction of secrets in field names and string values.
//!
//! [`Redactor`] is pure: it maps a field name and a value to the text that may
//! be logged, before anything is buffered or becomes a metric label.
//! The rules are documented on [`Redactor`]; the built-in value patterns
//! live in `patterns`.

use std::borrow::Cow;

use regex_lite::{Captures, Regex};

use crate::Error;

mod classes;
mod patterns;
mod tokens;

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Built-in secret names (normalised: lower case, `_` separators). The one
/// rule for names: a field with such a name, and a `name=value` (or
/// `name: value`, `"name":"value"`, `--name value`) inside a string, are
/// both redacted.
const BUILTIN_NAMES: [&str; 25] = [
    "authorization",
    "proxy_authorization",
    "auth",
    "key",
    "api_key",
    "apikey",
    "x_api_key",
    "private_key",
    "token",
    "access_token",
    "refresh_token",
    "secret",
    "client_secret",
    "credential",
    "credentials",
    "password",
    "passwd",
    "pwd",
    "pgpassword",
    "passphrase",
    "session",
    "session_id",
    "sessionid",
    "cookie",
    "set_cookie",
];

/// Byte normalisation for name comparison: ASCII lower case, `-`/`.` as `_`.
const NORM: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b'-' | b'.' => b'_',
            c => c.to_ascii_lowercase(),
        };
        i += 1;
    }
    t
};

/// Redacts secrets from field values before they are logged.
///
/// Pure: it maps a field name and a value to the text that may be logged.
/// `Redactor::default()` has the built-in names and patterns below on; use
/// [`Redactor::builder`] to add your own or switch the built-ins off.
///
/// # Secret names
///
/// One rule, for field names and for names inside strings: a name is secret
/// when, compared case-insensitively and with `-`, `.` and `_` treated alike,
/// it is one of the names below, either exactly or as a suffix not preceded by
/// an ASCII letter or digit, or as a camelCase word (`openrouter_key`,
/// `aws_secret_access_key`, `secretKey`, `X-Api-Key`, `db.password`,
/// `accessToken`, `MYSQL_PWD`; but not `tokens`, `max_tokens`, `token_count`,
/// `monkey`, `keys`, `author`, `oauth`, `sessions`). A field with a secret
/// name has its whole value replaced by [`REDACTED`]; inside a string, the
/// value after the name is (see the name/value pattern below).
///
/// `authorization`, `proxy_authorization`, `auth`, `key`, `api_key`, `apikey`,
/// `x_api_key`, `private_key`, `token`, `access_token`, `refresh_token`,
/// `secret`, `client_secret`, `credential`, `credentials`, `password`,
/// `passwd`, `pwd`, `pgpassword`, `passphrase`, `session`, `session_id`,
/// `sessionid`, `cookie`, `set_cookie`.
///
/// # Value patterns
///
/// Anywhere in a string, only the secret part is replaced by [`REDACTED`]:
///
/// | Pattern | Example | Becomes |
/// |---|---|---|
/// | `Bearer`/`Basic` (any case), spaces, token characters `[A-Za-z0-9._~+/=-]` | `Bearer eyJhbG.x` | `Bearer [REDACTED]` |
/// | a secret name then `=` or `:`, then a value | `?key=abc&x=1` | `?key=[REDACTED]&x=1` |
/// | `--`, a secret name, spaces, a value | `--password pw -v` | `--password [REDACTED] -v` |
/// | credentials in a URL | `https://u:pw@host` | `https://u:[REDACTED]@host` |
/// | a token as URL user | `https://tok@host` | `https://[REDACTED]@host` |
/// | a well-known token shape (102 literal prefixes from gitleaks' rule set: `ghp_`, `glpat-`, `xoxb-`, `AKIA`, `AIza`, `sk_live_`, `sk-`, `hf_`, `npm_`, ...), at a word boundary, with its minimum body length | `push ghp_0123…` | `push [REDACTED]` |
/// | a bare JWT (`eyJ….ey….sig`), a Discord or Telegram bot token, an Azure AD client secret | `eyJhbGci….eyJzdWIi….Sfl` | `[REDACTED]` |
/// | a PEM private key block: its body | `-----BEGIN RSA PRIVATE KEY-----\nMIIE…` | `-----BEGIN RSA PRIVATE KEY-----[REDACTED]` |
/// | the path of a Slack or Discord webhook URL | `https://hooks.slack.com/services/T0/B0/x` | `https://hooks.slack.com/services/[REDACTED]` |
///
/// The README's "Redaction" section lists every shape with its minimum length.
///
/// The name/value pattern accepts optional spaces around the separator and a
/// quoted name (`"name":`, `\"name\":`, `'name':`). A quoted value (`"…"`,
/// `\"…\"`, `'…'`, also inside a wrapper such as `Some("…")`) ends at its
/// closing quote (or the end of the text); an unquoted one at whitespace, `&`,
/// `,`, `;`, `}`, `)`, `#` or a quote. For `authorization`-like names an
/// unquoted scheme word is kept (`Authorization: Digest [REDACTED]`); for
/// `cookie`-like names in header form (`Cookie: a=1; b=2`) the value runs to
/// the end of the line.
///
/// User patterns (regex-lite syntax) run after the built-ins.
///
/// # Example
///
/// ```
/// use evt_telemetry::{Redactor, REDACTED};
///
/// let r = Redactor::builder()
///     .name("ticket")
///     .pattern(r"acme_(?P<secret>[A-Za-z0-9]{8,})")
///     .build()?;
/// // Secret names: a field's whole value goes; inside a string, the value.
/// assert_eq!(r.redact_field("openrouter_key", "abc"), REDACTED);
/// assert_eq!(r.redact_field("X-Ticket", "42"), REDACTED);
/// assert_eq!(r.redact_field("max_tokens", "512"), "512");
/// assert_eq!(r.redact("secretKey=abc n=1"), "secretKey=[REDACTED] n=1");
/// // Well-known token shapes: the whole token goes.
/// assert_eq!(r.redact("push ghp_0123456789abcdefghijABCDEFGHIJ012345 failed"),
///            "push [REDACTED] failed");
/// // Value patterns: only the secret part goes.
/// assert_eq!(r.redact("got 401 for Bearer eyJhbGciOi.x"), "got 401 for Bearer [REDACTED]");
/// assert_eq!(r.redact("GET /v1?key=abc&page=2"), "GET /v1?key=[REDACTED]&page=2");
/// assert_eq!(r.redact(r#"Config { api_key: "abc", retries: 3 }"#),
///            r#"Config { api_key: "[REDACTED]", retries: 3 }"#);
/// assert_eq!(r.redact("using sk-or-v1-0123456789abcdef0123"), "using [REDACTED]");
/// // A custom pattern with a `secret` group keeps the rest of the match.
/// assert_eq!(r.redact("token acme_abcdefgh12"), "token acme_[REDACTED]");
/// // Clean text is returned as is, without allocating.
/// assert!(matches!(r.redact("429 Rate limit"), std::borrow::Cow::Borrowed(_)));
/// # Ok::<(), evt_telemetry::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Redactor {
    names: NameSet,
    builtin_patterns: bool,
    patterns: Vec<UserPattern>,
}

/// Builds a [`Redactor`]; validates names and patterns once in
/// [`build`](RedactorBuilder::build).
///
/// | Setting | Default |
/// |---|---|
/// | [`builtin_names`](Self::builtin_names) | `true` |
/// | [`builtin_patterns`](Self::builtin_patterns) | `true` |
/// | [`name`](Self::name) | none added |
/// | [`pattern`](Self::pattern) | none added |
#[derive(Debug)]
#[must_use]
pub struct RedactorBuilder {
    builtin_names: bool,
    builtin_patterns: bool,
    names: Vec<String>,
    patterns: Vec<String>,
}

// === impl Redactor ===

impl Default for Redactor {
    fn default() -> Self {
        Self::assemble(true, true, &[], Vec::new())
    }
}

impl Redactor {
    /// A builder starting from the defaults (built-ins on, nothing added).
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder::default()
    }

    fn assemble(names: bool, patterns: bool, extra: &[String], user: Vec<UserPattern>) -> Self {
        let mut names_set = NameSet::default();
        let builtin = BUILTIN_NAMES.iter().copied().filter(|_| names);
        for name in builtin.chain(extra.iter().map(String::as_str)) {
            names_set.insert(name);
        }
        Redactor {
            names: names_set,
            builtin_patterns: patterns,
            patterns: user,
        }
    }

    /// Whether a field with this name is secret: its whole value is redacted.
    pub fn is_secret_name(&self, name: &str) -> bool {
        self.names.matches(name.as_bytes())
    }

    /// Replaces the secret parts of `value` by [`REDACTED`].
    ///
    /// Returns `Cow::Borrowed` (no allocation) when nothing was found.
    pub fn redact<'a>(&self, value: &'a str) -> Cow<'a, str> {
        let mut out = if self.builtin_patterns {
            patterns::redact_builtin(&self.names, value)
        } else {
            Cow::Borrowed(value)
        };
        for pattern in &self.patterns {
            if let Cow::Owned(s) = pattern.apply(&out) {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Appends [`redact`](Self::redact)`(value)` to `out`, cut to at most
    /// `max` bytes (at a char boundary); returns the redacted length before
    /// the cut. Clean text is copied once, straight from `value`.
    pub(crate) fn redact_into(&self, value: &str, out: &mut String, max: usize) -> usize {
        if self.patterns.is_empty() && self.builtin_patterns {
            return patterns::redact_builtin_into(&self.names, value, out, max);
        }
        let red = self.redact(value);
        out.push_str(&red[..red.floor_char_boundary(max)]);
        red.len()
    }

    /// [`REDACTED`] if `name` is a secret name, else [`redact`](Self::redact)`(value)`.
    pub fn redact_field<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_secret_name(name) {
            Cow::Borrowed(REDACTED)
        } else {
            self.redact(value)
        }
    }
}

// === impl RedactorBuilder ===

impl Default for RedactorBuilder {
    fn default() -> Self {
        RedactorBuilder {
            builtin_names: true,
            builtin_patterns: true,
            names: Vec::new(),
            patterns: Vec::new(),
        }
    }
}

impl RedactorBuilder {
    /// Whether the built-in secret names apply, to fields and inside the
    /// name/value pattern alike. Defaults to `true`.
    pub fn builtin_names(mut self, on: bool) -> Self {
        self.builtin_names = on;
        self
    }

    /// Whether the built-in value patterns apply (`Bearer`/`Basic`, secret
    /// `name=value` pairs, URL credentials, well-known token shapes, JWTs,
    /// PEM private keys). Defaults to `true`.
    pub fn builtin_patterns(mut self, on: bool) -> Self {
        self.builtin_patterns = on;
        self
    }

    /// Adds a secret field name, matched like the built-ins (case-insensitive,
    /// exact or as a suffix). Defaults to none added.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Adds a regex-lite pattern: each match is replaced by [`REDACTED`], or
    /// only its capture group named `secret` if it has one. Runs after the
    /// built-ins. Defaults to none added.
    pub fn pattern(mut self, regex: impl Into<String>) -> Self {
        self.patterns.push(regex.into());
        self
    }

    /// Validates the names and compiles the patterns.
    ///
    /// # Errors
    ///
    /// [`Error::Pattern`] for a pattern that does not compile (naming it);
    /// [`Error::Config`] for an empty name.
    pub fn build(self) -> Result<Redactor, Error> {
        if self.names.iter().any(String::is_empty) {
            return Err(Error::Config("a redaction name is empty".into()));
        }
        let patterns = self
            .patterns
            .iter()
            .map(|p| UserPattern::new(p))
            .collect::<Result<_, _>>()?;
        Ok(Redactor::assemble(
            self.builtin_names,
            self.builtin_patterns,
            &self.names,
            patterns,
        ))
    }
}

// === names ===

/// Normalised secret names, bucketed by last byte so that most ordinary
/// names are rejected by one table lookup.
#[derive(Clone, Debug)]
struct NameSet {
    /// Sorted by last byte: `starts[b]..starts[b + 1]` end in byte `b`.
    names: Vec<Box<[u8]>>,
    starts: Box<[u32; 257]>,
}

impl Default for NameSet {
    fn default() -> Self {
        NameSet {
            names: Vec::new(),
            starts: Box::new([0; 257]),
        }
    }
}

impl NameSet {
    fn insert(&mut self, name: &str) {
        let norm: Box<[u8]> = name.bytes().map(|b| NORM[usize::from(b)]).collect();
        // A name already covered as a suffix of a shorter one adds nothing.
        if norm.is_empty() || self.matches(&norm) {
            return;
        }
        self.names.push(norm);
        self.names.sort_by_key(|n| n.last().copied());
        for b in 0..=256 {
            let before = self
                .names
                .partition_point(|n| n.last().map_or(0, |&l| usize::from(l)) < b);
            self.starts[b] = u32::try_from(before).unwrap_or(u32::MAX);
        }
    }

    /// Whether `text` ends with one of the names at a word boundary.
    #[inline]
    fn matches(&self, text: &[u8]) -> bool {
        let Some(&last) = text.last() else {
            return false;
        };
        let last = usize::from(NORM[usize::from(last)]);
        let (lo, hi) = (self.starts[last] as usize, self.starts[last + 1] as usize);
        self.names
            .get(lo..hi)
            .is_some_and(|names| names.iter().any(|n| ends_with_name(text, n)))
    }
}

/// Whether `text` ends with the normalised `name` at a word boundary: not
/// preceded by a letter or digit, or starting a camelCase word (`accessToken`).
#[inline]
fn ends_with_name(text: &[u8], name: &[u8]) -> bool {
    let Some(start) = text.len().checked_sub(name.len()) else {
        return false;
    };
    let mut same = text[start..].iter().rev().zip(name.iter().rev());
    if !same.all(|(&t, &n)| NORM[usize::from(t)] == n) {
        return false;
    }
    match start.checked_sub(1).map(|p| text[p]) {
        None => true,
        Some(prev) if !prev.is_ascii_alphanumeric() => true,
        Some(prev) => prev.is_ascii_lowercase() && text[start].is_ascii_uppercase(),
    }
}

// === user patterns ===

#[derive(Clone, Debug)]
struct UserPattern {
    regex: Regex,
    /// Index of the capture group named `secret`, if any.
    secret: Option<usize>,
}

impl UserPattern {
    fn new(pattern: &str) -> Result<Self, Error> {
        let regex = Regex::new(pattern).map_err(|e| Error::Pattern {
            pattern: pattern.to_owned(),
            message: e.to_string(),
        })?;
        let secret = regex.capture_names().position(|n| n == Some("secret"));
        Ok(UserPattern { regex, secret })
    }

    fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.regex
            .replace_all(text, |caps: &Captures<'_>| self.replacement(caps))
    }

    fn replacement(&self, caps: &Captures<'_>) -> String {
        let Some(whole) = caps.get(0) else {
            return REDACTED.to_owned();
        };
        match (self.secret, self.secret.and_then(|i| caps.get(i))) {
            (None, _) => REDACTED.to_owned(),
            // The pattern has a `secret` group that did not take part: nothing to hide.
            (Some(_), None) => whole.as_str().to_owned(),
            (Some(_), Some(m)) => {
                let (s, e) = (m.start() - whole.start(), m.end() - whole.start());
                format!("{}{REDACTED}{}", &whole.as_str()[..s], &whole.as_str()[e..])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(text: &str) -> String {
        Redactor::default().redact(text).into_owned()
    }

    #[test]
    fn builtin_secret_names_match_exactly_and_as_suffix_in_any_case() {
        let red = Redactor::default();
        for name in BUILTIN_NAMES {
            assert!(red.is_secret_name(name), "{name}");
            assert!(red.is_secret_name(&name.to_uppercase()), "{name}");
        }
        for name in [
            "openrouter_api_key",
            "X-Api-Key",
            "db.password",
            "Proxy-Authorization",
            "user_PASSWD",
            "accessToken",
            "clientSecret",
            "openrouter_key",
            "aws_secret_access_key",
            "secretKey",
            "auth",
            "X-Auth",
            "credentials",
            "private_key",
            "passphrase",
            "session",
            "session_id",
            "sessionId",
            "MYSQL_PWD",
            "PGPASSWORD",
            "key",
        ] {
            assert!(red.is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn ordinary_names_are_not_secret() {
        let red = Redactor::default();
        for name in [
            "tokens",
            "token_count",
            "max_tokens",
            "secretary",
            "model",
            "status",
            "component",
            "monkey",
            "keys",
            "key_count",
            "author",
            "oauth",
            "sessions",
            "cwd",
            "mytoken",
            "maxTokens",
            "tokenCount",
            "TOKENS",
            "",
            "passwords",
        ] {
            assert!(!red.is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn redact_field_hides_secret_names_and_redacts_other_values() {
        let red = Redactor::default();
        assert_eq!(red.redact_field("authorization", "Bearer abc"), REDACTED);
        assert_eq!(
            red.redact_field("msg", "with Bearer abc"),
            "with Bearer [REDACTED]"
        );
        assert!(matches!(
            red.redact_field("model", "deepseek/deepseek-v3.2-exp"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn non_secrets_are_left_alone() {
        let red = Redactor::default();
        for text in [
            "tokens=5",
            "max_tokens: 512",
            "monkey=banana",
            "task-queue-0123456789abcdefghij",
            "429 Rate limit",
            "status: 200, model=deepseek/deepseek-v3.2-exp",
            "at 12:30:00, ratio=0.5",
            "basic",
            "",
        ] {
            assert!(
                matches!(red.redact(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn user_names_and_patterns_apply_after_the_builtins() {
        let red = Redactor::builder()
            .name("Session-Id")
            .pattern(r"\d{4}-\d{4}-\d{4}-\d{4}")
            .pattern(r"pin (?P<secret>\d+)")
            .pattern(r"a(?P<secret>b)?c")
            .build()
            .unwrap();
        assert!(red.is_secret_name("user_session_id"));
        assert_eq!(
            red.redact("card 1234-5678-9012-3456 ok"),
            "card [REDACTED] ok"
        );
        assert_eq!(
            red.redact("pin 1234 and pin 99"),
            "pin [REDACTED] and pin [REDACTED]"
        );
        assert_eq!(red.redact("ac abc"), "ac a[REDACTED]c");
        assert_eq!(red.redact("session_id=42"), "session_id=[REDACTED]");
        assert_eq!(red.redact("Bearer abc"), "Bearer [REDACTED]");
    }

    #[test]
    fn builtins_can_be_switched_off() {
        let none = Redactor::builder()
            .builtin_names(false)
            .builtin_patterns(false)
            .build()
            .unwrap();
        assert!(!none.is_secret_name("password"));
        assert_eq!(
            none.redact("Bearer abc password=x"),
            "Bearer abc password=x"
        );
        let patterns_only = Redactor::builder().builtin_names(false).build().unwrap();
        assert!(!patterns_only.is_secret_name("password"));
        // One rule for names: without the built-in names, `key=` is not
        // secret inside strings either; token shapes still are.
        assert_eq!(
            patterns_only
                .redact("password=x key=y Bearer z ghp_0123456789abcdefghijABCDEFGHIJ012345"),
            "password=x key=y Bearer [REDACTED] [REDACTED]"
        );
    }

    #[test]
    fn build_rejects_bad_patterns_and_empty_names() {
        let err = Redactor::builder().pattern("a(b").build().unwrap_err();
        assert!(
            matches!(&err, Error::Pattern { pattern, .. } if pattern == "a(b"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("invalid redaction pattern \"a(b\": "),
            "{err}"
        );
        let err = Redactor::builder().name("").build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: a redaction name is empty"
        );
    }

    fn planted(prefix: &str, secret: &str, suffix: &str, cut: usize) -> String {
        let cut = prefix.floor_char_boundary(cut);
        format!("{}{secret}{}{suffix}", &prefix[..cut], &prefix[cut..])
    }

    proptest! {
        #[test]
        fn planted_bearer_tokens_never_survive(
            text in "(?s).{0,40}", cut in 0usize..40, tail in "(?s).{0,10}",
            token in "[A-Za-z0-9._~+/=-]{16,40}",
        ) {
            let out = r(&planted(&text, &format!("Bearer {token}"), &tail, cut));
            prop_assert!(!out.contains(&token), "{out}");
        }

        #[test]
        fn planted_sk_keys_never_survive(
            text in "(?s).{0,40}", cut in 0usize..40, tail in "(?s).{0,10}",
            key in "[A-Za-z0-9_-]{20,64}",
        ) {
            let secret = format!(" sk-or-v1-{key}");
            let out = r(&planted(&text, &secret, &tail, cut));
            prop_assert!(!out.contains(&key), "{out}");
        }

        #[test]
        fn planted_api_key_parameters_never_survive(
            text in "(?s).{0,40}", cut in 0usize..40, tail in "[ &,;]\\PC{0,10}",
            value in "[A-Za-z0-9._~+/-]{12,40}",
        ) {
            let out = r(&planted(&text, &format!("api_key={value}"), &tail, cut));
            prop_assert!(!out.contains(&value), "{out}");
        }

        #[test]
        fn arbitrary_strings_never_panic(text in "(?s).{0,200}|[\\x00-\\x7f]{0,200}") {
            let red = Redactor::default();
            let _ = red.redact(&text);
            let _ = red.redact_field(&text, &text);
        }

        #[test]
        fn redact_into_appends_the_redacted_text_cut_at_a_char_boundary(
            text in "(?s).{0,60}|[ -~]{0,20}(Bearer |sk-or-v1-|api_key=)[A-Za-z0-9]{20,30}",
            max in 0usize..80, user in any::<bool>(),
        ) {
            let red = match user {
                true => Redactor::builder().pattern("[0-9]{3}").build().unwrap(),
                false => Redactor::default(),
            };
            let want = red.redact(&text);
            let mut out = String::from("prefix|");
            let len = red.redact_into(&text, &mut out, max);
            prop_assert_eq!(len, want.len());
            let cut = want.floor_char_boundary(max);
            prop_assert_eq!(&out["prefix|".len()..], &want[..cut]);
        }

        #[test]
        fn strings_without_triggers_are_borrowed_unchanged(text in "[^=:bBs]{0,200}") {
            prop_assert!(matches!(Redactor::default().redact(&text), Cow::Borrowed(t) if t == text));
        }
    }
}
