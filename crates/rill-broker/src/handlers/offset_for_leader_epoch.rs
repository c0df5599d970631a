//! OffsetForLeaderEpoch (key 23), versions 2-4.
//!
//! Per partition, on the leader only (NOT_LEADER_OR_FOLLOWER), with the
//! `current_leader_epoch` fencing of KIP-320: the largest epoch at most the
//! requested one and its end offset (the start of the next epoch, or the log
//! end for the latest), from the leader-epoch checkpoint (KIP-101/KIP-279).
//! A consumer uses it to detect truncation after a leader change; an epoch
//! older than every one known is answered as (-1, -1).

use rill_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use rill_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::partition::check_leader_epoch;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(2, 4);

pub(crate) fn handle(shared: &Shared, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        topics: req
            .topics
            .into_iter()
            .map(|t| OffsetForLeaderTopicResult {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let tp = (t.topic.clone(), p.partition);
                        let refused = |code: ErrorCode| EpochEndOffset {
                            error_code: code.0,
                            partition: p.partition,
                            leader_epoch: -1,
                            end_offset: -1,
                            ..Default::default()
                        };
                        let ctrl = match shared.partition_state(&tp) {
                            Ok(c) => c,
                            Err(code) => return refused(code),
                        };
                        {
                            let mut state = shared.lock();
                            let replica = shared.sync(&mut state, &tp, &ctrl);
                            if !replica.is_leader {
                                return refused(ErrorCode::NOT_LEADER_OR_FOLLOWER);
                            }
                            let check = check_leader_epoch(p.current_leader_epoch, replica.epoch);
                            if check != ErrorCode::NONE {
                                return refused(check);
                            }
                        }
                        match shared.disk.end_offset_for_epoch(&tp, p.leader_epoch) {
                            Some(end) => EpochEndOffset {
                                partition: p.partition,
                                leader_epoch: end.epoch,
                                end_offset: end.end_offset,
                                ..Default::default()
                            },
                            None => EpochEndOffset { partition: p.partition, leader_epoch: -1, end_offset: -1, ..Default::default() },
                        }
                    })
                    .collect(),
                topic: t.topic,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &OffsetForLeaderEpochRequest, code: ErrorCode) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetForLeaderTopicResult {
                topic: t.topic.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| EpochEndOffset {
                        error_code: code.0,
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{batch, broker};
    use rill_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};

    fn ask(shared: &Shared, leader_epoch: i32, current_leader_epoch: i32) -> EpochEndOffset {
        let req = OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![OffsetForLeaderTopic {
                topic: "t".into(),
                partitions: vec![OffsetForLeaderPartition { partition: 0, current_leader_epoch, leader_epoch, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        handle(shared, req).topics[0].partitions[0].clone()
    }

    #[test]
    fn end_offsets_of_epochs() {
        let b = broker();
        let s = b.shared();
        s.append_as_leader(&("t".into(), 0), crate::log::split_batches(&batch(2)).unwrap(), 1).unwrap();
        let r = ask(s, 0, -1);
        assert_eq!((r.error_code, r.leader_epoch, r.end_offset), (0, 0, 2));
        // A newer epoch than any: the latest one and the log end.
        let r = ask(s, 7, 0);
        assert_eq!((r.leader_epoch, r.end_offset), (0, 2));
        assert_eq!(ask(s, 0, 1).error_code, ErrorCode::UNKNOWN_LEADER_EPOCH.0);
        assert_eq!(error_response(&OffsetForLeaderEpochRequest::default(), ErrorCode::NONE).topics.len(), 0);
    }
}
