//! The gateway's `check::check` on arbitrary bytes, raw and re-signed.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homeward_fuzz::validator(data));
