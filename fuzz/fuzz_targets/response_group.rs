//! Fuzz target: Group coordinator responses and the embedded consumer protocol payloads.
//! Input: selector byte, 2-byte version seed, body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_fuzz::{message, split};
use rill_protocol::messages::*;

fuzz_target!(|data: &[u8]| {
    let Some((sel, seed, body)) = split(data) else { return };
    match sel as usize % 15 {
        0 => message::<FindCoordinatorResponse>(seed, body),
        1 => message::<JoinGroupResponse>(seed, body),
        2 => message::<SyncGroupResponse>(seed, body),
        3 => message::<HeartbeatResponse>(seed, body),
        4 => message::<LeaveGroupResponse>(seed, body),
        5 => message::<OffsetCommitResponse>(seed, body),
        6 => message::<OffsetFetchResponse>(seed, body),
        7 => message::<DescribeGroupsResponse>(seed, body),
        8 => message::<ListGroupsResponse>(seed, body),
        9 => message::<DeleteGroupsResponse>(seed, body),
        10 => message::<OffsetDeleteResponse>(seed, body),
        11 => message::<ConsumerGroupHeartbeatResponse>(seed, body),
        12 => message::<ConsumerGroupDescribeResponse>(seed, body),
        13 => message::<ConsumerProtocolAssignment>(seed, body),
        14 => message::<ConsumerProtocolSubscription>(seed, body),
        _ => {}
    }
});
