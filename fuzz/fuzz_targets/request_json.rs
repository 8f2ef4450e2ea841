//! Arbitrary bytes as a REST request body: the decoder answers 400/422, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    emporium::http::fuzz_decode_bodies(data);
});
