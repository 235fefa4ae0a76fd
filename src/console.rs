//! The human-readable console output, with the same redaction as the files,
//! so secrets reach neither the terminal nor journald, Docker logs or Loki.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FormatFields, Layer as FmtLayer};

use crate::capture::redact::{REDACTED, Redactor};

/// Field formatting for a `tracing_subscriber::fmt` layer that passes every
/// field through a [`Redactor`]: a secret-named field is written
/// `name=[REDACTED]`, and every other value (the message included) has its
/// secrets replaced, as in the files.
///
/// Fields are written `name=value`, separated by spaces, the message first
/// without its name, like `fmt`'s default. Use it with any `fmt` layer
/// configuration, or take [`console_layer`] for the usual one.
///
/// ```
/// use evt_telemetry::{RedactingFields, Redactor};
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let console = tracing_subscriber::fmt::layer()
///     .fmt_fields(RedactingFields::new(Redactor::default()))
///     .with_writer(std::io::stderr);
/// let _subscriber = tracing_subscriber::registry().with(console);
/// ```
#[derive(Debug, Clone)]
pub struct RedactingFields {
    redactor: Redactor,
}

impl RedactingFields {
    /// Formats fields redacted by `redactor` (usually the one given to
    /// [`TelemetryBuilder::redactor`](crate::TelemetryBuilder::redactor)).
    pub fn new(redactor: Redactor) -> Self {
        RedactingFields { redactor }
    }
}

impl Default for RedactingFields {
    /// Redaction with every built-in name and pattern.
    fn default() -> Self {
        Self::new(Redactor::default())
    }
}

impl<'w> FormatFields<'w> for RedactingFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = RedactingVisitor {
            writer,
            redactor: &self.redactor,
            first: true,
            result: Ok(()),
            text: String::new(),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct RedactingVisitor<'a, 'w> {
    writer: Writer<'w>,
    redactor: &'a Redactor,
    first: bool,
    result: fmt::Result,
    text: String,
}

impl RedactingVisitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        let name = field.name();
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if self.redactor.is_secret_name(name) {
            return write!(self.writer, "{name}={REDACTED}");
        }
        self.text.clear();
        write!(self.text, "{value:?}")?;
        let clean = self.redactor.redact(&self.text);
        match name {
            "message" => write!(self.writer, "{clean}"),
            _ => write!(self.writer, "{name}={clean}"),
        }
    }
}

impl Visit for RedactingVisitor<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }
}

/// The `fmt` layer [`TelemetryBuilder::init`](crate::TelemetryBuilder::init)
/// installs, made by [`console_layer`].
pub type ConsoleLayer<S> = FmtLayer<S, RedactingFields, Format, fn() -> std::io::Stderr>;

/// A human-readable `fmt` layer on stderr whose fields are redacted by
/// `redactor` (colours only when stderr is a terminal). It has no filter of
/// its own: give it one with `.with_filter(...)`, which keeps the filter to
/// the console and away from the evt-telemetry layer.
///
/// ```no_run
/// use evt_telemetry::{Redactor, TelemetryBuilder};
/// use tracing_subscriber::{EnvFilter, Layer as _};
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tracing_subscriber::util::SubscriberInitExt as _;
///
/// # fn main() -> Result<(), evt_telemetry::Error> {
/// let redactor = Redactor::default();
/// let (layer, _guard) = TelemetryBuilder::new().redactor(redactor.clone()).build()?;
/// tracing_subscriber::registry()
///     .with(layer)
///     .with(evt_telemetry::console_layer(redactor).with_filter(EnvFilter::from_default_env()))
///     .init();
/// # Ok(())
/// # }
/// ```
pub fn console_layer<S>(redactor: Redactor) -> ConsoleLayer<S> {
    let stderr: fn() -> std::io::Stderr = std::io::stderr;
    tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(stderr)
        .fmt_fields(RedactingFields::new(redactor))
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
        let b2 = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || b2.clone())
            .fmt_fields(RedactingFields::default())
            .with_ansi(false)
            .without_time();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!("call", api_key = "sk-or-v1-0123456789abcdef0123456789");
            let _in = span.enter();
            tracing::error!(
                authorization = "Bearer abcdefghijklmnop",
                note = "key sk-or-v1-0123456789abcdef0123456789",
                n = 3,
                secretKey = "s3cr3tvalue",
                "x Bearer abcdefghijklmnop ghp_0123456789abcdefghijABCDEFGHIJqrstuv"
            );
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "ERROR call{api_key=[REDACTED]}: evt_telemetry::console::tests: x Bearer [REDACTED] \
             [REDACTED] authorization=[REDACTED] note=\"key [REDACTED]\" n=3 secretKey=[REDACTED]\n"
        );
    }
}
