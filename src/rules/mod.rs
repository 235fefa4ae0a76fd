//! Metric rules: declared by the user, compiled once in `build()`, applied
//! to every event by the engine through the `metrics` facade.

pub(crate) mod catalogue;
pub(crate) mod check;
pub(crate) mod compile;
pub(crate) mod daily;
pub(crate) mod engine;
pub(crate) mod exemplars;
pub(crate) mod from_toml;
pub(crate) mod plan;
pub(crate) mod recent;
pub(crate) mod restore;
pub(crate) mod rule;
pub(crate) mod series;
