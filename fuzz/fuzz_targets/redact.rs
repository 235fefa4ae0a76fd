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

/// Secret shapes: each embeds the body `b` (24 letters and digits).
const SHAPES: [fn(&str) -> String; 52] = [
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
    // Well-known token shapes (gitleaks' rule set as the reference).
    |b| format!("ghp_{b}012345678901"),
    |b| format!("gho_{b}012345678901"),
    |b| format!("github_pat_{b}{b}{b}0123456789"),
    |b| format!("glpat-{b}"),
    |b| format!("xoxb-{b}"),
    |b| format!("xoxp-123-456-{b}"),
    |b| format!("https://hooks.slack.com/services/T0/B0/{b}"),
    |b| format!("AKIA{}", &b.to_uppercase()[..16]),
    |b| format!("ASIA{}", &b.to_uppercase()[..16]),
    |b| format!("AIza{b}01234567890"),
    |b| format!("sk_live_{b}"),
    |b| format!("rk_live_{b}"),
    |b| format!("eyJhbGciOiJIUzI1NiJ9.eyJ{b}.{b}"),
    |b| format!("-----BEGIN RSA PRIVATE KEY-----\n{b}\n-----END RSA PRIVATE KEY-----"),
    |b| format!("-----BEGIN OPENSSH PRIVATE KEY-----\\n{b}"),
    |b| format!("https://{b}@github.com/o/r.git"),
    |b| format!("/v1/jobs?session_id={b}&page=2"),
    |b| format!("?access_token={b}"),
    |b| format!("PGPASSWORD={b} psql"),
    |b| format!("--password {b}"),
    |b| format!("sk-proj-{b}"),
    |b| format!("sk-ant-api03-{b}"),
    |b| format!("hf_{b}0123456789"),
    |b| format!("npm_{b}012345678901"),
    |b| format!("pypi-AgEIcHlwaS5vcmc{b}{b}{b}"),
    |b| format!("MTA0OTg2NzQxMjM0NTY3ODkw.GhT3xq.{b}0123456789ab"),
    |b| format!("123456789:AA{b}012345678"),
    |b| format!("CCIPAT_{b}_{b}{b}"),
    |b| format!("SG.{b}.{b}{b}"),
    |b| format!("dckr_pat_{b}0123"),
    |b| format!("abc8Q~{b}0123456789"),
    |b| format!("Config {{ secretKey: \"{b}\" }}"),
    |b| format!("credentials={b}"),
    |b| format!("{{\"passphrase\":\"{b}\"}}"),
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
    // Shapes that take the body in upper case take its first 16 characters.
    let upper = body.to_uppercase();
    let piece = match input.shape as usize % SHAPES.len() {
        25 | 26 => &upper[..8],
        _ => &body[..8],
    };
    if input.prefix.contains(piece) || input.suffix.contains(piece) {
        return;
    }
    let secret = SHAPES[usize::from(input.shape) % SHAPES.len()](&body);
    let text = format!("{} {secret} {}", input.prefix, input.suffix);
    let out = r.redact(&text);
    assert!(!out.contains(piece), "secret survived:\n in: {text:?}\nout: {out:?}");
});
