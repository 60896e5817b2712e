//! `Envelope::parse` on arbitrary bytes, with its round-trip invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| homeward_fuzz::envelope(data));
