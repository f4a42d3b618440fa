//! The configuration parser and validator: any TOML text, never a panic; every problem is
//! reported, not thrown.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paysync_core::config::RawConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = toml::from_str::<RawConfig>(text) else {
        return;
    };
    let _ = raw.resolve(&|name| (name.len() % 2 == 0).then(|| "0123456789abcdef".repeat(4)));
});
