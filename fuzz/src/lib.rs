//! Shared code of the fuzz targets: the agent's probe readers, compiled from their source files.
//!
//! `leakhound-agent` pulls in SQLite, TLS, Docker and SMTP clients; building all of that with
//! libFuzzer's instrumentation would cost minutes on every CI run for three functions that use
//! only `leakhound_core` and `serde_json`. So the three modules are included by path: the code
//! fuzzed is the agent's code, byte for byte. If one of them starts to use another agent module,
//! this stops compiling — then depend on `leakhound-agent` instead.

#[path = "../../crates/leakhound-agent/src/probe/prometheus.rs"]
pub mod prometheus;

#[path = "../../crates/leakhound-agent/src/probe/health.rs"]
pub mod health;

#[path = "../../crates/leakhound-agent/src/probe/expvar.rs"]
pub mod expvar;
