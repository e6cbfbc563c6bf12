//! Shared code of the fuzz targets: the probe readers, from `leakhound_core::parse` (pure, so
//! the fuzz build needs no SQLite, TLS, Docker or SMTP client).

pub use leakhound_core::parse::{expvar, health, prometheus};
