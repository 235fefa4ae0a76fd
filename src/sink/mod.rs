//! The sink: lines queue in memory and a background writer appends them to
//! daily files, in a directory it holds the only lock on.

pub(crate) mod batch;
pub(crate) mod daily_files;
pub(crate) mod dir_lock;
pub(crate) mod open;
mod pace;
pub(crate) mod queue;
pub(crate) mod writer;
