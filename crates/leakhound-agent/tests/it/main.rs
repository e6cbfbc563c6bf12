//! The agent's integration tests, one binary (`it`) with a module per area:
//! [`hostile_profile`] checks that a huge goroutine profile is parsed off the async runtime;
//! [`handle`] runs the agent and reads what it publishes; [`discovery`] follows `[[discovery]]`
//! sources (files, an http_sd endpoint, a real dockerd).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod discovery;
mod handle;
mod hostile_profile;
mod reload;
mod retention;
