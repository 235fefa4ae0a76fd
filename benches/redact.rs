//! Redactor hot paths: secret-name checks per field and value scans per string.
//!
//! `cargo bench --bench redact`

use criterion::{Criterion, criterion_group, criterion_main};
use evt_telemetry::Redactor;
use std::hint::black_box;

fn names(c: &mut Criterion) {
    let r = Redactor::default();
    for name in ["model", "status", "component", "openrouter_api_key"] {
        c.bench_function(&format!("is_secret_name/{name}"), |b| {
            b.iter(|| r.is_secret_name(black_box(name)))
        });
    }
}

fn values(c: &mut Criterion) {
    let r = Redactor::default();
    let clean_msg = "429 Rate limit exceeded for deepseek/deepseek-v3.2-exp, retrying in 2 s";
    let clean_1k = "The quick brown fox jumps over the lazy dog; status=200 model=x. ".repeat(16);
    let secret = "401 for Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc key=sk-or-v1-0123456789abcdef0123";
    let cases = [
        ("clean_msg", clean_msg),
        ("clean_1k", clean_1k.as_str()),
        ("secret", secret),
    ];
    for (label, text) in cases {
        c.bench_function(&format!("redact/{label}/{}B", text.len()), |b| {
            b.iter(|| r.redact(black_box(text)))
        });
    }
}

criterion_group!(benches, names, values);
criterion_main!(benches);
