//! Produce (key 0), versions 3-11 (magic 2 batches only).
//!
//! Per partition: the broker must lead it (else NOT_LEADER_OR_FOLLOWER, with
//! the current leader from v10, KIP-951); every batch must be whole, magic
//! 2 and pass its CRC (CORRUPT_MESSAGE). acks=all needs at least
//! `min.insync.replicas` in the ISR (NOT_ENOUGH_REPLICAS). Idempotent
//! batches (producer id >= 0) are checked against the producer's epoch and
//! sequence (KIP-98): a retry of one of its last five batches is answered
//! with the original offsets and not appended again; a gap is
//! OUT_OF_ORDER_SEQUENCE_NUMBER, an older batch DUPLICATE_SEQUENCE_NUMBER, a
//! stale epoch INVALID_PRODUCER_EPOCH. The leader assigns offsets and stamps
//! its leader epoch, appends, then answers: acks=0 never (no response is
//! sent), acks=1 at once, acks=all (-1) once the high watermark covers the
//! records, i.e. every ISR member has them, or REQUEST_TIMED_OUT after
//! `timeout_ms` (the records stay; an idempotent retry is deduplicated), or
//! NOT_LEADER_OR_FOLLOWER if leadership moved while waiting. Other acks
//! values are INVALID_REQUIRED_ACKS.

use std::time::Duration;

use rill_protocol::messages::produce_request::ProduceRequest;
use rill_protocol::messages::produce_response::{LeaderIdAndEpoch, PartitionProduceResponse, ProduceResponse, TopicProduceResponse};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::log::split_batches;
use crate::partition::Appended;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(3, 11);

type Outcome = Result<Appended, (ErrorCode, Option<String>)>;

pub(crate) async fn handle(shared: &Shared, version: i16, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut outcomes: Vec<(String, Vec<(i32, Outcome)>)> = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let outcome = if !(-1..=1).contains(&acks) {
                Err((ErrorCode::INVALID_REQUIRED_ACKS, Some(format!("acks={acks}: use 0, 1 or -1 (all)"))))
            } else {
                append(shared, &topic.name, p.index, p.records, acks)
            };
            partitions.push((p.index, outcome));
        }
        outcomes.push((topic.name, partitions));
    }
    if acks == 0 {
        return None;
    }
    if acks == -1 {
        let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
        for (topic, partitions) in &mut outcomes {
            for (index, outcome) in partitions.iter_mut() {
                if let Ok(appended) = outcome {
                    let tp = (topic.clone(), *index);
                    let code = shared.wait_for_high_watermark(&tp, appended.required_offset, appended.leader_epoch, timeout).await;
                    if code != ErrorCode::NONE {
                        *outcome = Err((code, None));
                    }
                }
            }
        }
    }
    Some(ProduceResponse {
        responses: outcomes
            .into_iter()
            .map(|(name, partitions)| TopicProduceResponse {
                partition_responses: partitions
                    .into_iter()
                    .map(|(index, outcome)| partition_response(shared, version, &name, index, outcome))
                    .collect(),
                name,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

fn append(shared: &Shared, topic: &str, partition: i32, records: Option<bytes::Bytes>, acks: i16) -> Outcome {
    let Some(records) = records else {
        return Err((ErrorCode::CORRUPT_MESSAGE, Some("records are null".to_string())));
    };
    let batches = split_batches(&records).map_err(|e| (e.code, Some(e.message)))?;
    if batches.is_empty() {
        return Err((ErrorCode::CORRUPT_MESSAGE, Some("no record batch".to_string())));
    }
    // Markers come from the transaction coordinator only (WriteTxnMarkers), as Kafka's LogValidator requires.
    if batches.iter().any(|b| b.control) {
        return Err((ErrorCode::INVALID_RECORD, Some("control batches are written by the transaction coordinator only".to_string())));
    }
    shared.append_as_leader(&(topic.to_string(), partition), batches, acks).map_err(|code| (code, None))
}

fn partition_response(shared: &Shared, version: i16, topic: &str, index: i32, outcome: Outcome) -> PartitionProduceResponse {
    match outcome {
        Ok(a) => PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset: a.base_offset,
            log_append_time_ms: -1,
            log_start_offset: 0,
            ..Default::default()
        },
        Err((code, message)) => {
            // The current leader is a v10+ field (KIP-951).
            let current_leader = if code == ErrorCode::NOT_LEADER_OR_FOLLOWER && version >= 10 {
                shared
                    .controller
                    .partition(topic, index)
                    .map(|p| LeaderIdAndEpoch { leader_id: p.leader, leader_epoch: p.leader_epoch, ..Default::default() })
                    .unwrap_or_default()
            } else {
                LeaderIdAndEpoch::default()
            };
            PartitionProduceResponse {
                index,
                error_code: code.0,
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                error_message: message,
                current_leader,
                ..Default::default()
            }
        }
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &ProduceRequest, code: ErrorCode) -> ProduceResponse {
    ProduceResponse {
        responses: req
            .topic_data
            .iter()
            .map(|t| TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: t
                    .partition_data
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        index: p.index,
                        error_code: code.0,
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
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
    use rill_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};

    fn request(partition: i32, acks: i16, records: Option<bytes::Bytes>) -> ProduceRequest {
        ProduceRequest {
            acks,
            timeout_ms: 100,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData { index: partition, records, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn code_and_offset(r: &ProduceResponse) -> (i16, i64) {
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    #[tokio::test]
    async fn appends_and_refuses() {
        let b = broker();
        let s = b.shared();
        assert_eq!(code_and_offset(&handle(s, 9, request(0, 1, Some(batch(3)))).await.unwrap()), (0, 0));
        assert_eq!(code_and_offset(&handle(s, 9, request(0, -1, Some(batch(1)))).await.unwrap()), (0, 3));
        assert!(handle(s, 9, request(0, 0, Some(batch(1)))).await.is_none(), "acks=0 has no response");
        assert_eq!(b.disk().log_end_offset(&("t".into(), 0)), 5);
        let refused = |r: ProduceResponse| code_and_offset(&r).0;
        assert_eq!(refused(handle(s, 9, request(0, 2, Some(batch(1)))).await.unwrap()), ErrorCode::INVALID_REQUIRED_ACKS.0);
        assert_eq!(refused(handle(s, 9, request(9, 1, Some(batch(1)))).await.unwrap()), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0);
        assert_eq!(refused(handle(s, 9, request(0, 1, None)).await.unwrap()), ErrorCode::CORRUPT_MESSAGE.0);
        let torn = batch(2).slice(..20);
        assert_eq!(refused(handle(s, 9, request(0, 1, Some(torn))).await.unwrap()), ErrorCode::CORRUPT_MESSAGE.0);
        // Transaction markers come from the coordinator (WriteTxnMarkers), never from clients.
        let marker = rill_protocol::records::control::end_txn_marker(bytes::BytesMut::new(), 0, 7, 0, true, 0, -1).unwrap().freeze();
        assert_eq!(refused(handle(s, 9, request(0, 1, Some(marker))).await.unwrap()), ErrorCode::INVALID_RECORD.0);
        // min.insync.replicas above the ISR size: acks=all is refused before appending.
        let strict = crate::Broker::single_node(
            crate::BrokerConfig::new(1, "h", 1),
            crate::Disk::new(crate::FlushPolicy::Manual),
            crate::ControllerConfig { min_insync_replicas: 2, ..Default::default() },
        );
        strict.controller().register_broker(1, "h", 1);
        strict.controller().create_topic("t", 1, 1, &[], false).unwrap();
        assert_eq!(refused(handle(strict.shared(), 9, request(0, -1, Some(batch(1)))).await.unwrap()), ErrorCode::NOT_ENOUGH_REPLICAS.0);
        assert_eq!(refused(handle(strict.shared(), 9, request(0, 1, Some(batch(1)))).await.unwrap()), 0);
        // Not the leader: NOT_LEADER_OR_FOLLOWER with the current leader (v10+).
        b.controller().register_broker(2, "h", 2);
        b.controller().create_topic("other", 1, 1, &[vec![2]], false).unwrap();
        let mut r = request(0, 1, Some(batch(1)));
        r.topic_data[0].name = "other".into();
        let p = handle(s, 10, r).await.unwrap().responses[0].partition_responses[0].clone();
        assert_eq!((p.error_code, p.current_leader.leader_id), (ErrorCode::NOT_LEADER_OR_FOLLOWER.0, 2));
    }
}
