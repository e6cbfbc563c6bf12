//! The integration tests of `goroutine-dump`: one test binary for the crate (issue 14), a module
//! per area. `cargo test -p goroutine-dump --test it` runs them all; a name filters as usual
//! (`cargo test -p goroutine-dump --test it memory_bound -- --nocapture`).

// Test helpers outside #[test] functions panic on purpose when the environment is broken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod analysis;
mod fixture;
mod formats;
mod go126;
mod hostile;
mod memory_bound;
mod props;
