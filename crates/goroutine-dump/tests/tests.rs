//! One integration-test binary for the crate (modules under `suite/`).

// Test helpers outside #[test] functions panic on purpose when the environment is broken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
