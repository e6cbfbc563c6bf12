//! Helpers shared by the modules: the committed dumps under `tests/data`, and the protobuf and
//! gzip builders the hostile-input tests forge profiles with.

use std::path::PathBuf;

pub fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}
