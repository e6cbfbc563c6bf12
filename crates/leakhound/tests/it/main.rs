//! The integration tests of the `leakhound` binary: one test binary for the crate (issue 14),
//! one module per area. `cargo test -p leakhound --test it` runs them all; a module, a test or
//! a part of a name filters as usual (`cargo test -p leakhound --test it report::`).
//!
//! The `#[ignore]`d tests need peers — the Go fixture (`LEAKHOUND_FIXTURE`), Prometheus,
//! Chromium, tmux, a Docker daemon — and say which; `scripts/test` provides them and runs
//! everything with `--include-ignored`. All modules share one process: a test that must not
//! have other peers beside it takes `support::alone()` (see `support/peers.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

mod alerts;
mod analyze;
mod careless;
mod cli;
mod dashboard;
mod docker;
mod fixture;
mod ha;
mod hostile;
mod packaging;
mod reload;
mod remediation;
mod remote_write;
mod report;
mod trend;
mod tui;
mod verify;
mod web;
