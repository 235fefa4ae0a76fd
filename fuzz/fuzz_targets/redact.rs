//! The redactor never panics on any name or text, and a secret planted in
//! any surrounding text never survives (not even its first 8 characters).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use evt_telemetry::Redactor;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    name: &'a str,
    text: &'a str,
    prefix: &'a str,
    suffix: &'a str,
    shape: u8,
    seed: u64,
}

/// Secret shapes: each embeds the body `b`.
const SHAPES: [fn(&str) -> String; 18] = [
    |b| format!("Authorization: Bearer {b}"),
    |b| format!("authorization: Basic {b}=="),
    |b| format!("bearer {b}"),
    |b| format!("sk-or-v1-{b}"),
    |b| format!("sk-{b}"),
    |b| format!("https://openrouter.ai/api/v1?api_key={b}&page=2"),
    |b| format!("/v1/models?key={b}"),
    |b| format!("postgres://app:{b}@db:5432/app"),
    |b| format!("Config {{ api_key: \"{b}\", retries: 3 }}"),
    |b| format!("Creds {{ token: Some(\"{b}\") }}"),
    |b| format!(r#"{{"password":"{b}","user":"x"}}"#),
    |b| format!(r#"{{\"access_token\":\"{b}\"}}"#),
    |b| format!(r#"{{\\\"access_token\\\":\\\"{b}\\\"}}"#),
    |b| format!("Cookie: session={b}; theme=dark"),
    |b| format!("X-Api-Key: {b}"),
    |b| format!("client_secret={b}"),
    |b| format!("Proxy-Authorization: Digest {b}"),
    |b| format!("openrouter_api_key='{b}'"),
];

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(Redactor::default)
}

/// 24 letters and digits from `seed`.
fn body(mut seed: u64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..24)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ALNUM[(seed % ALNUM.len() as u64) as usize] as char
        })
        .collect()
}

fuzz_target!(|input: Input<'_>| {
    let r = redactor();
    let _ = r.redact(input.text);
    let _ = r.redact_field(input.name, input.text);
    let _ = r.is_secret_name(input.name);

    let body = body(input.seed | 1);
    let piece = &body[..8];
    if input.prefix.contains(piece) || input.suffix.contains(piece) {
        return;
    }
    let secret = SHAPES[usize::from(input.shape) % SHAPES.len()](&body);
    let text = format!("{} {secret} {}", input.prefix, input.suffix);
    let out = r.redact(&text);
    assert!(!out.contains(piece), "secret survived:\n in: {text:?}\nout: {out:?}");
});
