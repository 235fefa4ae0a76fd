//! Faults: a moving clock, crashes, a full disk, slow shutdowns.
//!
//! One test binary per area: linking is what costs in CI.

#[path = "../common/mod.rs"]
mod common;

#[cfg(target_os = "linux")]
mod breaker;
mod clock;
mod crash;
#[cfg(target_os = "linux")]
mod disk_full;
#[cfg(unix)]
mod one_writer;
#[cfg(unix)]
mod outside_writes;
mod shutdown;
