//! Internal problems, told on stderr with the crate prefix.

/// Prints an internal problem on stderr with the crate prefix, if enabled.
///
/// The layer never emits `tracing` events about itself: they would loop.
pub(crate) fn diag(enabled: bool, msg: std::fmt::Arguments<'_>) {
    if enabled {
        eprintln!("evt-telemetry: {msg}");
    }
}
