//! The human-readable `fmt` layer installed by `init()`, with the same
//! redaction as the files, so secrets do not reach the terminal either.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::redact::{REDACTED, Redactor};

/// A `fmt` layer on stderr at `level` and above, redacting every field
/// (colours only when stderr is a terminal).
pub(crate) fn console_layer<S>(
    redactor: Redactor,
    level: LevelFilter,
) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let fields = redacting_fields(redactor);
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .fmt_fields(fields)
        .with_filter(level)
}

/// Field formatting that passes names and values through `redactor`.
fn redacting_fields(redactor: Redactor) -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(move |w, field, value| {
        let name = field.name();
        if redactor.is_secret_name(name) {
            return write!(w, "{name}={REDACTED}");
        }
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        match name {
            "message" => write!(w, "{}", redactor.redact(&text)),
            _ => write!(w, "{name}={}", redactor.redact(&text)),
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_console_never_shows_secrets() {
        let buf = Buf::default();
        let fields = redacting_fields(Redactor::default());
        let b2 = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || b2.clone())
            .fmt_fields(fields)
            .with_ansi(false);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::error!(
                authorization = "Bearer abcdefghijklmnop",
                note = "key sk-or-v1-0123456789abcdef0123456789",
                "x"
            );
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("authorization=[REDACTED]"), "{out}");
        assert!(out.contains("note=\"key [REDACTED]\""), "{out}");
        assert!(
            !out.contains("abcdefghijklmnop") && !out.contains("0123456789abcdef"),
            "{out}"
        );
    }
}
