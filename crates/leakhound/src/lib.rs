//! The `leakhound` package's library: what its binary and its integration tests share in
//! process. That is only the simulated Go service `leakhound demo` runs against ([`sim`]); the
//! commands stay in the binary (`src/main.rs`). It is a library so that the tests can start the
//! simulator in process: a binary cannot be imported.

pub mod sim;
