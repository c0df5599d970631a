//! Fuzz target: any response body by API key and version, through the
//! generated `ResponseBody` dispatch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rill_fuzz::any_response(data));
