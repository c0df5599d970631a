//! Fuzz target: a whole request frame (header + body of any API), as the
//! broker model decodes it; a decoded request must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rill_fuzz::request_frame(data));
