//! Fuzz target: ProduceResponse.
//! Input: selector byte, 2-byte version seed, body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_fuzz::{message, split};
use rill_protocol::messages::*;

fuzz_target!(|data: &[u8]| {
    let Some((sel, seed, body)) = split(data) else { return };
    match sel as usize % 1 {
        0 => message::<ProduceResponse>(seed, body),
        _ => {}
    }
});
