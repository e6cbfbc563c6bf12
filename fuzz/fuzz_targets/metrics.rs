#![no_main]
//! The agent's Prometheus `/metrics` text scanner on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = leakhound_fuzz::prometheus::parse(data);
});
