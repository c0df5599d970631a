//! Fuzz target: MetadataResponse, DescribeClusterResponse, DescribeTopicPartitionsResponse: what a client learns the cluster from.
//! Input: selector byte, 2-byte version seed, body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_fuzz::{message, split};
use rill_protocol::messages::*;

fuzz_target!(|data: &[u8]| {
    let Some((sel, seed, body)) = split(data) else { return };
    match sel as usize % 3 {
        0 => message::<MetadataResponse>(seed, body),
        1 => message::<DescribeClusterResponse>(seed, body),
        2 => message::<DescribeTopicPartitionsResponse>(seed, body),
        _ => {}
    }
});
