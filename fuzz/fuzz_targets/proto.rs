#![no_main]
//! The proto goroutine dump parser on arbitrary bytes: an error is fine, a panic, a hang or an
//! allocation out of proportion to the input is not (`-rss_limit_mb` in scripts/fuzz).

use goroutine_dump::{bucketize, parse_as, Format, GroupBy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = parse_as(data, Format::Proto) {
        // Whatever parses must also bucket, total and rank without panicking.
        let _ = snapshot.total();
        let buckets = bucketize(&snapshot, GroupBy::Function);
        let _ = goroutine_dump::diff(&buckets, &bucketize(&snapshot, GroupBy::Line));
    }
});
