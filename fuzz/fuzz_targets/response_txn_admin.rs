//! Fuzz target: Transaction and admin responses.
//! Input: selector byte, 2-byte version seed, body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_fuzz::{message, split};
use rill_protocol::messages::*;

fuzz_target!(|data: &[u8]| {
    let Some((sel, seed, body)) = split(data) else { return };
    match sel as usize % 15 {
        0 => message::<InitProducerIdResponse>(seed, body),
        1 => message::<AddPartitionsToTxnResponse>(seed, body),
        2 => message::<AddOffsetsToTxnResponse>(seed, body),
        3 => message::<EndTxnResponse>(seed, body),
        4 => message::<TxnOffsetCommitResponse>(seed, body),
        5 => message::<DescribeProducersResponse>(seed, body),
        6 => message::<DescribeTransactionsResponse>(seed, body),
        7 => message::<ListTransactionsResponse>(seed, body),
        8 => message::<CreateTopicsResponse>(seed, body),
        9 => message::<DeleteTopicsResponse>(seed, body),
        10 => message::<DescribeConfigsResponse>(seed, body),
        11 => message::<AlterConfigsResponse>(seed, body),
        12 => message::<CreatePartitionsResponse>(seed, body),
        13 => message::<IncrementalAlterConfigsResponse>(seed, body),
        14 => message::<ResponseHeader>(seed, body),
        _ => {}
    }
});
