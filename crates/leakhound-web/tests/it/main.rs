//! The integration tests of `leakhound-web`: one test binary for the crate (issue 14), a module
//! per area. The router is called in-process (`tower::ServiceExt::oneshot`), the server over
//! real sockets on 127.0.0.1. `cargo test -p leakhound-web --test it` runs them all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

mod app;
mod dashboard;
mod hostile;
mod server;
