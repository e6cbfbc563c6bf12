#![no_main]
//! The agent's health JSON reader (`/api/monitor/health`) on arbitrary bytes, with the default
//! field mapping and with a look-alike's.

use leakhound_core::config::FieldMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = leakhound_fuzz::health::parse(data, &FieldMap::default());
    let custom = FieldMap {
        goroutines: "/runtime/goroutines".into(),
        alloc_mb: "/mem/0".into(),
        total_alloc_mb: String::new(),
        sys_mb: "/a~1b".into(),
        num_gc: "/gc".into(),
    };
    let _ = leakhound_fuzz::health::parse(data, &custom);
});
