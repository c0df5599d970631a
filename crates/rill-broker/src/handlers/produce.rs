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
use rill_protocol::messages::produce_response::{
    LeaderIdAndEpoch, PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
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
