//! The texts of the redaction benches (`redact.rs` times them, `instructions.rs`
//! counts their instructions under callgrind).

/// `(label, text)` pairs: clean text, text with secrets, ordinary pipeline
/// content full of token-shape anchors, and well-known tokens.
pub fn redact_texts() -> Vec<(&'static str, String)> {
    vec![
        (
            "clean_msg",
            "429 Rate limit exceeded for deepseek/deepseek-v3.2-exp, retrying in 2 s".into(),
        ),
        (
            "clean_1k",
            "The quick brown fox jumps over the lazy dog; status=200 model=x. ".repeat(16),
        ),
        (
            "secret",
            "401 for Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc key=sk-or-v1-0123456789abcdef0123".into(),
        ),
        (
            "ordinary_ids",
            "paper chinaxiv-202510.00012 via anthropic/claude-sonnet-4.5, run 550e8400-e29b-41d4-a716-446655440000, commit 9fceb02d0ae598e95dc970b74767f19372d61af8, /data/papers/2510.01234/fig_3.png".into(),
        ),
        (
            "tokens",
            "push failed: remote rejected ghp_0123456789abcdefghijABCDEFGHIJ012345 (AKIAIOSFODNN7EXAMPLE)".into(),
        ),
    ]
}
