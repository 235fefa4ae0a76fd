//! The sink: lines queue in memory and a background writer appends them to
//! daily files.

pub(crate) mod daily_files;
pub(crate) mod queue;
pub(crate) mod writer;
