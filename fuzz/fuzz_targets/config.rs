#![no_main]
//! The TOML config reader (parse + validation) on arbitrary text. `${VAR}`s expand to a fixed
//! value so that the expansion path runs too.

use leakhound_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SECRET").then(|| "s3cret".to_string());
    if let Err(errors) = Config::parse(text, &env) {
        // Rendering the errors (line, column, the bad value) must not panic either.
        let _ = errors.to_string();
    }
});
