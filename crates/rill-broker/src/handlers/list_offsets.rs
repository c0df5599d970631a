//! ListOffsets (key 2), versions 1-10.
//!
//! Per partition, on the leader only (NOT_LEADER_OR_FOLLOWER; the
//! `current_leader_epoch` fencing of KIP-320 from v4): timestamp -1 is the
//! latest offset (the high watermark, or the last stable offset for
//! read_committed), -2 the earliest (0: this model keeps everything), -3
//! (v7+) the record with the largest timestamp, any other the first record
//! whose timestamp is at least the one given (offset -1 if none), searched
//! below that latest offset. v4+ answers the leader epoch of that offset.
//! A partition named more than once in a request is INVALID_REQUEST each
//! time, as Kafka answers (each lookup may read the whole log: repeated,
//! 16 bytes an entry, one request kept the broker busy without end).

use std::collections::BTreeSet;

use rill_protocol::messages::list_offsets_request::ListOffsetsRequest;
use rill_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse};
use rill_protocol::records::{BatchView, DecodeOptions};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::disk::TopicPartition;
use crate::partition::check_leader_epoch;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(1, 10);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(crate) fn handle(shared: &Shared, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let duplicates: BTreeSet<(String, i32)> = {
        let mut seen = BTreeSet::new();
        let entries = req.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.as_str(), p.partition_index)));
        entries.filter(|tp| !seen.insert(*tp)).map(|(t, p)| (t.to_string(), p)).collect()
    };
    ListOffsetsResponse {
        topics: req
            .topics
            .into_iter()
            .map(|t| ListOffsetsTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let tp = (t.name.clone(), p.partition_index);
                        let found = if duplicates.contains(&tp) {
                            Err(ErrorCode::INVALID_REQUEST)
                        } else {
                            lookup(shared, &tp, p.current_leader_epoch, p.timestamp, req.isolation_level == 1)
                        };
                        let mut r = match found {
                            Ok((timestamp, offset, epoch)) => ListOffsetsPartitionResponse {
                                partition_index: p.partition_index,
                                timestamp,
                                offset,
                                leader_epoch: epoch,
                                ..Default::default()
                            },
                            Err(code) => ListOffsetsPartitionResponse {
                                partition_index: p.partition_index,
                                error_code: code.0,
                                ..Default::default()
                            },
                        };
                        if version < 4 {
                            r.leader_epoch = -1;
                        }
                        r
                    })
                    .collect(),
                name: t.name,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// (timestamp, offset, leader epoch) for one partition.
fn lookup(
    shared: &Shared,
    tp: &TopicPartition,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ErrorCode> {
    let ctrl = shared.partition_state(tp)?;
    let (hw, epoch) = {
        let mut state = shared.lock();
        let replica = shared.sync(&mut state, tp, &ctrl);
        if !replica.is_leader {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        let check = check_leader_epoch(current_leader_epoch, replica.epoch);
        if check != ErrorCode::NONE {
            return Err(check);
        }
        // READ_COMMITTED sees the log up to the last stable offset (KIP-98).
        let end = if read_committed { replica.txns.last_stable_offset(replica.high_watermark) } else { replica.high_watermark };
        (end, replica.epoch)
    };
    let epoch_at = |offset: i64| shared.disk.batches(tp).iter().find(|b| b.last_offset >= offset).map_or(epoch, |b| b.leader_epoch);
    match timestamp {
        LATEST => Ok((-1, hw, epoch)),
        EARLIEST => Ok((-1, 0, epoch_at(0))),
        MAX_TIMESTAMP => {
            let best = records_below(shared, tp, hw).into_iter().fold(None, |best: Option<(i64, i64, i32)>, r| match best {
                Some(b) if b.0 >= r.0 => Some(b),
                _ => Some(r),
            });
            Ok(best.unwrap_or((-1, -1, -1)))
        }
        target => Ok(records_below(shared, tp, hw).into_iter().find(|r| r.0 >= target).unwrap_or((-1, -1, -1))),
    }
}

/// (timestamp, offset, epoch) of every data record below `until`, in offset order.
fn records_below(shared: &Shared, tp: &TopicPartition, until: i64) -> Vec<(i64, i64, i32)> {
    let mut out = Vec::new();
    for b in shared.disk.batches(tp) {
        if b.next_offset() > until {
            break;
        }
        if b.control {
            continue;
        }
        let Ok(view) = BatchView::decode(&b.bytes, &DecodeOptions::default()) else { continue };
        for r in view.records().flatten() {
            out.push((view.timestamp_of(&r), view.offset_of(&r), b.leader_epoch));
        }
    }
    out
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &ListOffsetsRequest, code: ErrorCode) -> ListOffsetsResponse {
    ListOffsetsResponse {
        topics: req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ListOffsetsPartitionResponse { partition_index: p.partition_index, error_code: code.0, ..Default::default() })
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
    use rill_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};

    fn ask(shared: &Shared, version: i16, partition: i32, timestamp: i64, current_leader_epoch: i32) -> ListOffsetsPartitionResponse {
        let req = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp,
                    current_leader_epoch,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        handle(shared, version, req).topics[0].partitions[0].clone()
    }

    #[test]
    fn latest_earliest_timestamp_and_errors() {
        let b = broker();
        let s = b.shared();
        s.append_as_leader(&("t".into(), 0), crate::log::split_batches(&batch(3)).unwrap(), 1).unwrap();
        assert_eq!(ask(s, 7, 0, LATEST, -1).offset, 3);
        assert_eq!(ask(s, 7, 0, EARLIEST, -1).offset, 0);
        assert_eq!(ask(s, 7, 0, 101, -1).offset, 1);
        assert_eq!(ask(s, 7, 0, 999, -1).offset, -1);
        assert_eq!(ask(s, 7, 0, MAX_TIMESTAMP, -1).offset, 2);
        assert_eq!(ask(s, 7, 0, LATEST, -1).leader_epoch, 0);
        assert_eq!(ask(s, 3, 0, LATEST, -1).leader_epoch, -1, "leader epoch is a v4+ field");
        assert_eq!(ask(s, 7, 0, LATEST, 3).error_code, ErrorCode::UNKNOWN_LEADER_EPOCH.0);
        assert_eq!(ask(s, 7, 5, LATEST, -1).error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0);
    }

    #[test]
    fn a_partition_named_twice_is_an_invalid_request_and_the_others_are_answered() {
        let b = broker();
        let s = b.shared();
        s.append_as_leader(&("t".into(), 0), crate::log::split_batches(&batch(3)).unwrap(), 1).unwrap();
        let topic = |partitions: &[i32]| ListOffsetsTopic {
            name: "t".into(),
            partitions: partitions
                .iter()
                .map(|p| ListOffsetsPartition { partition_index: *p, timestamp: LATEST, ..Default::default() })
                .collect(),
            ..Default::default()
        };
        // Partition 0 twice in one topic entry and once in another; 1 once.
        let req = ListOffsetsRequest { replica_id: -1, topics: vec![topic(&[0, 1, 0]), topic(&[0])], ..Default::default() };
        let r = handle(s, 7, req);
        let answers: Vec<(i32, i16, i64)> =
            r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.error_code, p.offset))).collect();
        let invalid = ErrorCode::INVALID_REQUEST.0;
        assert_eq!(answers, [(0, invalid, -1), (1, 0, 0), (0, invalid, -1), (0, invalid, -1)]);
    }
}
