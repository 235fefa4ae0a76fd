//! Redactor hot paths: secret-name checks per field and value scans per string.
//!
//! `cargo bench --bench redact`

use criterion::{Criterion, criterion_group, criterion_main};
use evt_telemetry::Redactor;
use std::hint::black_box;

#[path = "common/redact_texts.rs"]
mod redact_texts;

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
    for (label, text) in redact_texts::redact_texts() {
        c.bench_function(&format!("redact/{label}/{}B", text.len()), |b| {
            b.iter(|| r.redact(black_box(&text)))
        });
    }
}

criterion_group!(benches, names, values);
criterion_main!(benches);
