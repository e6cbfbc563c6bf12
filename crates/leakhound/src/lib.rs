//! The `leakhound` package's library: what its binary, its integration tests and its benchmark
//! share in process. That is only the simulated Go service `leakhound demo` runs against
//! ([`sim`]) and the detection benchmark's simulated service ([`detect_sim`]); the commands stay
//! in the binary (`src/main.rs`). It is a library so that the tests can start the simulator in
//! process: a binary cannot be imported.

pub mod detect_sim;
pub mod sim;
