//! Well-known credential shapes: provider tokens with a literal prefix
//! (`ghp_…`, `AKIA…`, `xoxb-…`), bare JWTs, PEM private key blocks, webhook
//! URLs, `scheme://TOKEN@host`, `--password x` and a few unprefixed shapes
//! (Discord and Telegram bot tokens, Azure AD client secrets).
//!
//! The reference for the shapes is gitleaks' rule set (`config/gitleaks.toml`,
//! rule ids in the comments). Each shape is anchored at one byte the scan in
//! `patterns` already stops at: the first `_`, `-` or `.` of its prefix, or
//! its first upper-case letter. A 4096-bit set of the bytes around each
//! anchor (hashed) rejects nearly every ordinary `_`, `-`, `.` or capital in
//! one lookup; only then are the shapes of that anchor byte compared.

use super::NameSet;
use super::patterns::{Scan, ValueKind};

// === character sets ===

/// Character sets of token bodies; indexes into [`CHARSETS`] and the scan's
/// run cache.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Chars {
    /// `[A-Za-z0-9]`
    Alnum = 0,
    /// `[A-Za-z0-9_]`
    Word,
    /// `[A-Za-z0-9_-]`
    Key,
    /// `[0-9A-Fa-f]`
    Hex,
    /// `[A-Z0-9]`
    Upper,
    /// `[A-Za-z0-9+/=_-]`
    Base64,
    /// `[A-Za-z0-9._=-]`
    Dotted,
    /// `[A-Za-z0-9_~.-]` (Azure AD client secrets)
    Tilde,
}

/// Number of [`Chars`] variants.
pub(super) const N_CHARS: usize = 8;

pub(super) const CHARSETS: [[bool; 256]; N_CHARS] = [
    class(true, true, true, b""),
    class(true, true, true, b"_"),
    class(true, true, true, b"_-"),
    class(false, false, true, b"abcdefABCDEF"),
    class(true, false, true, b""),
    class(true, true, true, b"+/=_-"),
    class(true, true, true, b"._=-"),
    class(true, true, true, b"_~.-"),
];

const fn class(upper: bool, lower: bool, digits: bool, extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = (upper && b.is_ascii_uppercase())
            || (lower && b.is_ascii_lowercase())
            || (digits && b.is_ascii_digit());
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

// === shapes ===

/// A token: a literal prefix, then at least `min` bytes of `chars`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub(super) prefix: &'static [u8],
    /// Offset in `prefix` of the byte the scan stops at.
    anchor: usize,
    chars: Chars,
    min: usize,
}

const fn is_anchor(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.') || b.is_ascii_uppercase()
}

const fn shape(prefix: &'static str, chars: Chars, min: usize) -> Shape {
    let p = prefix.as_bytes();
    let mut anchor = 0;
    while !is_anchor(p[anchor]) {
        anchor += 1;
    }
    // The prefilter keys on the two bytes before an anchor, or the byte
    // after one at offset 0.
    assert!(anchor != 1 && anchor + 1 < p.len() || anchor >= 2);
    Shape {
        prefix: p,
        anchor,
        chars,
        min,
    }
}

use Chars::*;

/// The prefixed shapes, longest prefix first within a family.
#[rustfmt::skip]
pub(super) const SHAPES: [Shape; 102] = [
    // GitHub (github-pat, github-oauth, github-app-token, github-refresh-token,
    // github-fine-grained-pat)
    shape("ghp_", Alnum, 36), shape("gho_", Alnum, 36), shape("ghu_", Alnum, 36),
    shape("ghs_", Alnum, 36), shape("ghr_", Alnum, 36), shape("github_pat_", Word, 82),
    // GitLab (gitlab-*)
    shape("glpat-", Key, 20), shape("glptt-", Hex, 40), shape("gldt-", Key, 20),
    shape("glrt-", Key, 20), shape("glft-", Key, 20), shape("glsoat-", Key, 20),
    shape("glcbt-", Key, 20), shape("gloas-", Key, 64), shape("glagent-", Key, 50),
    shape("glimt-", Key, 25), shape("glffct-", Key, 20), shape("GR1348941", Key, 20),
    // Slack (slack-*-token)
    shape("xoxb-", Key, 10), shape("xoxp-", Key, 10), shape("xoxa-", Key, 10),
    shape("xoxr-", Key, 10), shape("xoxs-", Key, 10), shape("xoxo-", Key, 10),
    shape("xoxe.", Key, 20), shape("xoxe-", Key, 20), shape("xapp-", Key, 20),
    // AWS (aws-access-token)
    shape("AKIA", Upper, 16), shape("ASIA", Upper, 16), shape("ABIA", Upper, 16),
    shape("ACCA", Upper, 16), shape("A3T", Upper, 17),
    // Google (gcp-api-key; OAuth client secrets and access tokens)
    shape("AIza", Key, 35), shape("GOCSPX-", Key, 28), shape("ya29.", Key, 20),
    // Stripe (stripe-access-token; webhook signing secrets)
    shape("sk_live_", Alnum, 10), shape("sk_test_", Alnum, 10), shape("sk_prod_", Alnum, 10),
    shape("rk_live_", Alnum, 10), shape("rk_test_", Alnum, 10), shape("rk_prod_", Alnum, 10),
    shape("whsec_", Alnum, 32),
    // OpenAI, Anthropic, OpenRouter, DeepSeek, ... (openai-api-key,
    // anthropic-api-key, anthropic-admin-api-key): all `sk-…`
    shape("sk-", Key, 20),
    // Hugging Face (huggingface-access-token, huggingface-organization-api-token)
    shape("hf_", Alnum, 34), shape("api_org_", Alnum, 34),
    // Other LLM providers (perplexity-api-key; Groq, xAI, Replicate,
    // Fireworks, LangSmith)
    shape("pplx-", Alnum, 48), shape("gsk_", Alnum, 48), shape("xai-", Alnum, 60),
    shape("r8_", Alnum, 30), shape("fw_", Alnum, 20), shape("lsv2_", Word, 40),
    // Package registries (npm-access-token, pypi-upload-token,
    // rubygems-api-token, clojars-api-token; Docker Hub)
    shape("npm_", Alnum, 36), shape("pypi-AgEIcHlwaS5vcmc", Key, 50),
    shape("rubygems_", Hex, 48), shape("CLOJARS_", Alnum, 60), shape("dckr_pat_", Key, 27),
    // CI and chat services (CircleCI; twilio-api-key, sendgrid-api-token,
    // mailgun-private-api-token, sendinblue-api-token)
    shape("CCIPAT_", Word, 40), shape("CCIPRJ_", Word, 40), shape("SK", Hex, 32),
    shape("SG.", Dotted, 60), shape("key-", Hex, 32), shape("xkeysib-", Key, 70),
    // Hosting and tooling (shopify-*, digitalocean-*, linear-api-key,
    // postman-api-token, grafana-*, new-relic-user-api-key, sentry-*,
    // vault-*, doppler-api-token, pulumi-api-token, heroku-api-key-v2,
    // flyio-access-token, planetscale-*, artifactory-api-key,
    // dynatrace-api-token, alibaba-access-key-id, adobe-client-secret,
    // prefect-api-token, readme-api-token, scalingo-api-token,
    // shippo-api-token, duffel-api-token, easypost-*, notion-api-token,
    // sourcegraph-access-token, square-access-token, age-secret-key,
    // 1password-service-account-token, typeform-api-token; Supabase)
    shape("shpat_", Hex, 32), shape("shpss_", Hex, 32), shape("shpca_", Hex, 32),
    shape("shppa_", Hex, 32), shape("dop_v1_", Hex, 64), shape("doo_v1_", Hex, 64),
    shape("dor_v1_", Hex, 64), shape("lin_api_", Alnum, 40), shape("PMAK-", Key, 59),
    shape("glsa_", Word, 41), shape("glc_", Base64, 32), shape("NRAK-", Alnum, 27),
    shape("sntryu_", Hex, 64), shape("sntrys_", Base64, 60), shape("hvs.", Key, 90),
    shape("hvb.", Key, 138), shape("dp.pt.", Alnum, 43), shape("pul-", Hex, 40),
    shape("HRKU-", Key, 60), shape("fo1_", Key, 43), shape("pscale_", Dotted, 32),
    shape("AKCp", Alnum, 69), shape("dt0c01.", Dotted, 80), shape("LTAI", Alnum, 20),
    shape("pnu_", Alnum, 36), shape("rdme_", Alnum, 70), shape("tk-us-", Key, 48),
    shape("shippo_", Word, 45), shape("duffel_", Base64, 48), shape("EZAK", Alnum, 54),
    shape("EZTK", Alnum, 54), shape("ntn_", Alnum, 46), shape("sgp_", Word, 40),
    shape("sq0atp-", Key, 22), shape("sq0csp-", Key, 40), shape("AGE-SECRET-KEY-1", Upper, 58),
    shape("ops_eyJ", Base64, 100), shape("tfp_", Dotted, 59), shape("sbp_", Hex, 40),
    shape("sb_secret_", Key, 30),
];

/// `SHAPES` indices grouped by anchor byte: `BY_ANCHOR.1[b]..BY_ANCHOR.1[b + 1]`
/// index `BY_ANCHOR.0` for anchor byte `b`.
const BY_ANCHOR: ([u8; SHAPES.len()], [u8; 257]) = {
    let mut counts = [0u8; 257];
    let mut i = 0;
    while i < SHAPES.len() {
        counts[SHAPES[i].prefix[SHAPES[i].anchor] as usize + 1] += 1;
        i += 1;
    }
    let mut starts = [0u8; 257];
    let mut b = 1;
    while b < 257 {
        starts[b] = starts[b - 1] + counts[b];
        b += 1;
    }
    let mut next = starts;
    let mut order = [0u8; SHAPES.len()];
    let mut i = 0;
    while i < SHAPES.len() {
        let b = SHAPES[i].prefix[SHAPES[i].anchor] as usize;
        order[next[b] as usize] = i as u8;
        next[b] += 1;
        i += 1;
    }
    (order, starts)
};

// === prefilter ===

/// The hashed key of an anchor at offset 2 or more: the two bytes before it.
#[inline(always)]
const fn back_key(a: u8, b: u8, anchor: u8) -> usize {
    hash(a as u32 | (b as u32) << 8 | (anchor as u32) << 16)
}

/// The hashed key of an anchor at offset 0: the byte after it.
#[inline(always)]
const fn front_key(anchor: u8, next: u8) -> usize {
    hash(0x0100_0000 | (anchor as u32) << 8 | next as u32)
}

#[inline(always)]
const fn hash(k: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> 20) as usize
}

/// The keys of every shape and of the structural rules below.
const KEYS: [u64; 64] = {
    let mut set = [0u64; 64];
    let mut i = 0;
    while i < SHAPES.len() {
        let (p, a) = (SHAPES[i].prefix, SHAPES[i].anchor);
        let k = match a {
            0 => front_key(p[0], p[1]),
            _ => back_key(p[a - 2], p[a - 1], p[a]),
        };
        set[k / 64] |= 1 << (k % 64);
        i += 1;
    }
    let extra = [
        back_key(b'e', b'y', b'J'), // JWT
        front_key(b'-', b'-'),      // PEM block, `--password x`
        front_key(b'Q', b'~'),      // Azure AD client secret
    ];
    let mut i = 0;
    while i < extra.len() {
        set[extra[i] / 64] |= 1 << (extra[i] % 64);
        i += 1;
    }
    set
};

#[inline(always)]
fn has_key(k: usize) -> bool {
    KEYS[k / 64] & (1 << (k % 64)) != 0
}

/// Whether a token rule anchored at `b` (at `i`, offset 2 or more in its
/// prefix) may match: one hashed lookup of the two bytes before it.
#[inline(always)]
pub(super) fn back(bytes: &[u8], i: usize, b: u8) -> bool {
    i >= 2 && has_key(back_key(bytes[i - 2], bytes[i - 1], b))
}

/// Whether a token rule anchored at the capital `b` (offset 0 in its prefix)
/// may match, `next` following it.
#[inline(always)]
pub(super) fn front(b: u8, next: u8) -> bool {
    has_key(front_key(b, next))
}

// === rules ===

/// Every token rule anchored at `b` (at `i`).
pub(super) fn at_anchor(names: &NameSet, scan: &mut Scan<'_>, i: usize, b: u8) {
    let (order, starts) = &BY_ANCHOR;
    let bucket =
        &order[usize::from(starts[usize::from(b)])..usize::from(starts[usize::from(b) + 1])];
    for &s in bucket {
        if prefixed(scan, &SHAPES[usize::from(s)], i) {
            break;
        }
    }
    match b {
        b'J' => jwt(scan, i),
        b'-' if scan.text.get(i + 1) == Some(&b'-') => {
            pem_block(scan, i);
            long_option(names, scan, i);
        }
        b'.' => discord_bot_token(scan, i),
        b'Q' => azure_client_secret(scan, i),
        _ => {}
    }
}

/// Rules anchored at a `:`: `scheme://TOKEN@host`, webhook URLs and
/// Telegram bot tokens.
pub(super) fn at_colon(scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    if t.get(i + 1..i + 3) == Some(b"//") {
        url_token(scan, i + 3);
        webhook(scan, i + 3);
    } else if t.get(i + 1) == Some(&b'A') {
        telegram_bot_token(scan, i);
    }
}

/// Whether a token may start at `start`: not inside a word.
fn boundary(t: &[u8], start: usize) -> bool {
    start == 0 || !t[start - 1].is_ascii_alphanumeric()
}

fn prefixed(scan: &mut Scan<'_>, s: &Shape, i: usize) -> bool {
    let t = scan.text;
    let Some(start) = i.checked_sub(s.anchor) else {
        return false;
    };
    if !t[start..].starts_with(s.prefix) || !boundary(t, start) {
        return false;
    }
    let body = start + s.prefix.len();
    let end = scan.run_cached(s.chars, body);
    if end - body < s.min {
        return false;
    }
    scan.push(start, end);
    true
}

/// `eyJ<header>.ey<payload>.<signature>` with the `J` at `i` (jwt).
fn jwt(scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    if i < 2 || &t[i - 2..i] != b"ey" || !boundary(t, i - 2) {
        return;
    }
    let start = i - 2;
    let header = scan.run_cached(Key, start);
    if header - start < 12 || t.get(header) != Some(&b'.') {
        return;
    }
    let payload = scan.run_cached(Key, header + 1);
    let ok = t[header + 1..].starts_with(b"ey") && payload - header > 12;
    if !ok || t.get(payload) != Some(&b'.') {
        return;
    }
    let end = scan.run_cached(Base64, payload + 1);
    scan.push(start, end);
}

/// `-----BEGIN … PRIVATE KEY-----` at `i`: the body up to the END line (or
/// the end of the text) is redacted, the BEGIN and END lines are kept.
fn pem_block(scan: &mut Scan<'_>, i: usize) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let t = scan.text;
    if !t[i..].starts_with(BEGIN) || (i > 0 && t[i - 1] == b'-') {
        return;
    }
    let from = i + BEGIN.len();
    let label_end = t[from..t.len().min(from + 100)]
        .windows(5)
        .position(|w| w == b"-----")
        .map(|p| from + p);
    let Some(label_end) = label_end else { return };
    let label = &t[from..label_end];
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")) {
        return;
    }
    let body = label_end + 5;
    let end = scan.pem_end(body);
    if end > body {
        scan.push(body, end);
    }
}

/// `--password x`, `--api-key 'x'` (the `--` at `i`): a secret option name,
/// spaces, then a value. `--password=x` is a name/value pair.
fn long_option(names: &NameSet, scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    let word = &CHARSETS[Key as usize];
    if i > 0 && word[usize::from(t[i - 1])] {
        return;
    }
    let name_start = i + 2;
    if !t.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return;
    }
    let len = t[name_start..]
        .iter()
        .take_while(|&&b| word[usize::from(b)])
        .count();
    let name_end = name_start + len;
    if t.get(name_end) != Some(&b' ') || !names.matches(&t[name_start..name_end]) {
        return;
    }
    let j = scan.skip_spaces(name_end);
    if t.get(j).is_none_or(|&b| b == b'-') {
        return;
    }
    if let Some((start, end)) = scan.value_span(j, ValueKind::Plain) {
        scan.push(start, end);
    }
}

/// `<23–28 letters/digits>.<6>.<27+>` with the first `.` at `i`: a Discord
/// bot token (the user id in base64, a timestamp, an HMAC).
fn discord_bot_token(scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    if t.get(i + 7) != Some(&b'.') {
        return;
    }
    let id = t[..i]
        .iter()
        .rev()
        .take(29)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let key = &CHARSETS[Key as usize];
    if !(23..=28).contains(&id) || !t[i + 1..i + 7].iter().all(|&b| key[usize::from(b)]) {
        return;
    }
    let end = scan.run_cached(Key, i + 8);
    if end - (i + 8) >= 27 {
        scan.push(i - id, end);
    }
}

/// `<3 chars><digit>Q~<31+ chars>` with the `Q` at `i` (azure-ad-client-secret).
fn azure_client_secret(scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    let set = &CHARSETS[Tilde as usize];
    if t.get(i + 1) != Some(&b'~')
        || i < 4
        || !t[i - 1].is_ascii_digit()
        || !t[i - 4..i - 1].iter().all(|&b| set[usize::from(b)])
    {
        return;
    }
    if i > 4 && set[usize::from(t[i - 5])] {
        return;
    }
    let end = scan.run_cached(Tilde, i + 2);
    if end - (i + 2) >= 31 {
        scan.push(i - 4, end);
    }
}

/// `<5–16 digits>:A<34+ chars>` with the `:` at `i` (telegram-bot-api-token),
/// also after `bot` as in `api.telegram.org/bot<token>/`.
fn telegram_bot_token(scan: &mut Scan<'_>, i: usize) {
    let t = scan.text;
    let digits = t[..i]
        .iter()
        .rev()
        .take(17)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let start = i - digits;
    let after_bot = start >= 3 && &t[start - 3..start] == b"bot";
    if !(5..=16).contains(&digits) || !(boundary(t, start) || after_bot) {
        return;
    }
    let end = scan.run_cached(Key, i + 1);
    if end - (i + 1) >= 35 {
        scan.push(start, end);
    }
}

/// `scheme://TOKEN@host` with the user info starting at `from`: the whole
/// user info goes (`user:password@` is handled at its own `:`).
fn url_token(scan: &mut Scan<'_>, from: usize) {
    let t = scan.text;
    let end = from
        + t[from..]
            .iter()
            .take_while(|&&b| super::classes::USERINFO[usize::from(b)])
            .count();
    if end > from && t.get(end) == Some(&b'@') {
        scan.push(from, end);
    }
}

/// Slack and Discord webhook URLs: the path after the fixed part is the secret.
fn webhook(scan: &mut Scan<'_>, from: usize) {
    const HOOKS: [&[u8]; 5] = [
        b"hooks.slack.com/services/",
        b"hooks.slack.com/workflows/",
        b"hooks.slack.com/triggers/",
        b"discord.com/api/webhooks/",
        b"discordapp.com/api/webhooks/",
    ];
    let t = &scan.text[from..];
    if let Some(hook) = HOOKS.iter().find(|h| t.starts_with(h)) {
        let start = from + hook.len();
        let end = scan.run_cached(Base64, start);
        if end > start {
            scan.push(start, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_in_the_bucket_of_its_anchor_byte() {
        let (order, starts) = &BY_ANCHOR;
        for (k, s) in SHAPES.iter().enumerate() {
            let b = usize::from(s.prefix[s.anchor]);
            let bucket = &order[usize::from(starts[b])..usize::from(starts[b + 1])];
            assert!(bucket.contains(&(k as u8)), "{:?}", s.prefix);
            assert!(has_key(match s.anchor {
                0 => front_key(s.prefix[0], s.prefix[1]),
                a => back_key(s.prefix[a - 2], s.prefix[a - 1], s.prefix[a]),
            }));
        }
    }

    #[test]
    fn prefixes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for s in SHAPES {
            assert!(seen.insert(s.prefix), "{:?}", s.prefix);
        }
    }

    fn r(text: &str) -> String {
        crate::Redactor::default().redact(text).into_owned()
    }

    #[test]
    fn prefixed_tokens_need_a_word_boundary_and_their_minimum_length() {
        let ghp = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
        assert_eq!(r(&format!("t={ghp};")), "t=[REDACTED];");
        assert_eq!(r(&format!("({ghp})")), "([REDACTED])");
        assert_eq!(r(&format!("x{ghp}")), format!("x{ghp}"));
        assert_eq!(r(&ghp[..39]), &ghp[..39]); // 35 characters after `ghp_`
        assert_eq!(r("AKIAIOSFODNN7EXAMPLE"), "[REDACTED]");
        assert_eq!(r("AKIAIOSFODNN7EXAMPL"), "AKIAIOSFODNN7EXAMPL");
        assert_eq!(r("ASIAN_LANGUAGES SKIP_ME"), "ASIAN_LANGUAGES SKIP_ME");
        assert_eq!(r("sk_live_0123456789 end"), "[REDACTED] end");
        assert_eq!(r("ask_live_0123456789"), "ask_live_0123456789");
    }

    #[test]
    fn bare_jwts_need_three_parts() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(r(&format!("jwt {jwt} ok")), "jwt [REDACTED] ok");
        // Unsigned: the trailing `.` is part of it.
        assert_eq!(
            r("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0. x"),
            "[REDACTED] x"
        );
        assert_eq!(r("eyJhbGciOiJIUzI1NiJ9.e30"), "eyJhbGciOiJIUzI1NiJ9.e30");
        assert_eq!(r("keyJohn.eyJ0123456789ab.c"), "keyJohn.eyJ0123456789ab.c");
    }

    #[test]
    fn only_private_key_pem_blocks_are_redacted() {
        assert_eq!(
            r("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nnext"),
            "-----BEGIN EC PRIVATE KEY-----[REDACTED]-----END EC PRIVATE KEY-----\nnext"
        );
        assert_eq!(
            r(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\\nlQOYBF\\n-----END PGP PRIVATE KEY BLOCK-----"
            ),
            "-----BEGIN PGP PRIVATE KEY BLOCK-----[REDACTED]-----END PGP PRIVATE KEY BLOCK-----"
        );
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(r(cert), cert);
    }

    #[test]
    fn long_options_with_secret_names_take_the_next_word() {
        assert_eq!(r("cli --token abc --v"), "cli --token [REDACTED] --v");
        assert_eq!(r("cli --password=abc"), "cli --password=[REDACTED]");
        assert_eq!(r("cli --password --verbose"), "cli --password --verbose");
        assert_eq!(r("cli --password-file /p"), "cli --password-file /p");
        assert_eq!(r("cli --max-tokens 512"), "cli --max-tokens 512");
        assert_eq!(r("a---token x"), "a---token x");
    }

    #[test]
    fn url_users_webhooks_and_bot_tokens() {
        assert_eq!(r("https://abc123@h/x"), "https://[REDACTED]@h/x");
        assert_eq!(r("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(r("see https://h/x?a=1"), "see https://h/x?a=1");
        assert_eq!(
            r("https://hooks.slack.com/services/T0/B0/abc"),
            "https://hooks.slack.com/services/[REDACTED]"
        );
        assert_eq!(
            r("https://slack.com/services/x"),
            "https://slack.com/services/x"
        );
        let tg = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
        assert_eq!(r(tg), "[REDACTED]");
        assert_eq!(r(&format!("x{tg}")), format!("x{tg}"));
        assert_eq!(
            r("1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"),
            "1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
        );
        assert_eq!(r("at 12:30:00 A"), "at 12:30:00 A");
        let discord = "MTA0OTg2NzQxMjM0NTY3ODkw.GhT3xq.abcdefghijklmnopqrstuvwxyz0123456789AB";
        assert_eq!(r(&format!("bot {discord}")), "bot [REDACTED]");
        assert_eq!(
            r("a.bcdefg.hijklmnopqrstuvwxyz0123456789"),
            "a.bcdefg.hijklmnopqrstuvwxyz0123456789"
        );
        assert_eq!(
            r("k=abc8Q~abcdefghijklmnopqrstuvwxyz012345"),
            "k=[REDACTED]"
        );
        assert_eq!(r("abc8Q~short"), "abc8Q~short");
    }
}
