#![no_main]
//! The agent's expvar `/debug/vars` reader on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = leakhound_fuzz::expvar::parse(data, "goroutines");
});
