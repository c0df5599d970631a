//! Fetch (key 1), versions 4-17.
//!
//! Consumers (replica id -1) read up to the high watermark
//! (read_uncommitted) or the last stable offset (read_committed: the first
//! offset of the earliest open transaction, and with the records the
//! aborted transactions of the returned range, whose records the consumer
//! drops; `txn_index.rs`); every partition reports its last stable offset; followers
//! (replica id >= 0, from `replica_state` in v15+) read up to the log end,
//! and their fetch offset is how the leader learns their progress: it moves
//! the high watermark, adds caught-up followers to the ISR and tells
//! lagging ones apart (see `partition.rs`). Per partition: only the leader
//! answers (NOT_LEADER_OR_FOLLOWER, with the current leader from v12);
//! `current_leader_epoch` older than ours is FENCED_LEADER_EPOCH, newer
//! UNKNOWN_LEADER_EPOCH (KIP-320); `last_fetched_epoch` (v12+) that ends
//! before the fetch offset on the leader is answered with `diverging_epoch`
//! and no records; an offset past the log end is OFFSET_OUT_OF_RANGE.
//! v13+ names topics by id (UNKNOWN_TOPIC_ID). Whole batches only, at least
//! one if any (KIP-74), within `max_bytes` and `partition_max_bytes`. If
//! fewer than `min_bytes` are ready the request waits up to `max_wait_ms`
//! for appends or high-watermark moves. v7+ incremental fetch sessions
//! (KIP-227, `fetch_session.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::messages::fetch_request::FetchRequest;
use rill_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use rill_protocol::{ErrorCode, Uuid, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::fetch_session::{SessionDecision, SessionPartition, SessionPartitions};
use crate::partition::{Fetcher, ReadResult};

/// The most bytes of records one answer holds, whatever the request's
/// `max_bytes` (Kafka's broker `fetch.max.bytes` default, 55 MiB): the
/// answer is copied together in memory, twice with its encoding.
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(4, 17);

pub(crate) async fn handle(shared: &Shared, version: i16, req: FetchRequest) -> FetchResponse {
    let replica_id = if req.replica_state.replica_id >= 0 { req.replica_state.replica_id } else { req.replica_id };
    let fetcher =
        if replica_id >= 0 { Fetcher::Follower(replica_id) } else { Fetcher::Consumer { read_committed: req.isolation_level == 1 } };
    let by_id = version >= 13;
    let name_of = |name: &str, id: Uuid| if by_id { shared.controller.topic_name(id) } else { Some(name.to_string()) };
    let mut requested = SessionPartitions::new();
    let mut unknown_ids: Vec<(Uuid, i32)> = Vec::new();
    for t in &req.topics {
        let name = name_of(&t.topic, t.topic_id);
        for p in &t.partitions {
            match &name {
                Some(name) => {
                    requested.insert(
                        (name.clone(), p.partition),
                        SessionPartition::new(
                            t.topic_id,
                            p.fetch_offset,
                            p.current_leader_epoch,
                            p.last_fetched_epoch,
                            p.partition_max_bytes,
                        ),
                    );
                }
                None => unknown_ids.push((t.topic_id, p.partition)),
            }
        }
    }
    let forgotten: Vec<(String, i32)> = req
        .forgotten_topics_data
        .iter()
        .filter_map(|t| name_of(&t.topic, t.topic_id).map(|n| (n, t.partitions.clone())))
        .flat_map(|(n, ps)| ps.into_iter().map(move |p| (n.clone(), p)))
        .collect();
    let decision = {
        let mut state = shared.lock();
        let state = &mut *state;
        state.sessions.begin(&mut state.rng, Instant::now(), req.session_id, req.session_epoch, requested, &forgotten)
    };
    let (session_id, incremental, partitions) = match decision {
        SessionDecision::Error(code) => return FetchResponse { error_code: code.0, ..Default::default() },
        SessionDecision::Full { session_id, partitions } => (session_id, false, partitions),
        SessionDecision::Incremental { session_id, partitions } => (session_id, true, partitions),
    };

    let deadline = Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let mut changes = shared.subscribe();
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0).min(FETCH_MAX_BYTES);
    let reads = loop {
        let reads = read_all(shared, &partitions, fetcher, max_bytes);
        let bytes: usize = reads.values().map(|r| r.batches.iter().map(|b| b.bytes.len()).sum::<usize>()).sum();
        let urgent = reads.values().any(|r| r.error != ErrorCode::NONE || r.diverging.is_some());
        if bytes >= min_bytes.max(1) || urgent || Instant::now() >= deadline || reads.is_empty() {
            break reads;
        }
        if !shared.wait_for_change(&mut changes, deadline).await {
            break read_all(shared, &partitions, fetcher, max_bytes);
        }
    };

    let mut topics: BTreeMap<String, FetchableTopicResponse> = BTreeMap::new();
    for ((name, index), read) in reads {
        let key = (name.clone(), index);
        let has_news = {
            let mut state = shared.lock();
            state.sessions.record_sent(session_id, &key, read.high_watermark, read.last_stable_offset, 0)
        };
        if incremental && read.batches.is_empty() && read.error == ErrorCode::NONE && read.diverging.is_none() && !has_news {
            continue;
        }
        let topic_id = partitions.get(&key).map_or(Uuid::ZERO, |p| p.topic_id);
        let data = partition_data(shared, version, &name, index, read);
        topics
            .entry(name.clone())
            .or_insert_with(|| FetchableTopicResponse {
                topic: if by_id { String::new() } else { name.clone() },
                topic_id: if by_id { shared.controller.topic(&name).map_or(topic_id, |t| t.id) } else { Uuid::ZERO },
                ..Default::default()
            })
            .partitions
            .push(data);
    }
    let mut responses: Vec<FetchableTopicResponse> = topics.into_values().collect();
    let mut unknown: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (id, p) in unknown_ids {
        unknown.entry(id).or_default().push(p);
    }
    for (id, ps) in unknown {
        responses.push(FetchableTopicResponse {
            topic_id: id,
            partitions: ps
                .into_iter()
                .map(|p| PartitionData {
                    partition_index: p,
                    error_code: ErrorCode::UNKNOWN_TOPIC_ID.0,
                    high_watermark: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    FetchResponse { error_code: 0, session_id, responses, ..Default::default() }
}

/// Reads every partition of the request within the response's byte budget.
fn read_all(shared: &Shared, partitions: &SessionPartitions, fetcher: Fetcher, max_bytes: usize) -> BTreeMap<(String, i32), ReadResult> {
    let mut remaining = max_bytes;
    let mut out = BTreeMap::new();
    for (key, p) in partitions {
        let partition_max = usize::try_from(p.max_bytes).unwrap_or(0).min(remaining);
        let mut read = shared.read_as_leader(key, p.fetch_offset, p.current_leader_epoch, p.last_fetched_epoch, partition_max, fetcher);
        if remaining == 0 {
            // Budget spent: this partition gets positions but no records.
            read.batches.clear();
        }
        let used: usize = read.batches.iter().map(|b| b.bytes.len()).sum();
        remaining = remaining.saturating_sub(used);
        out.insert(key.clone(), read);
    }
    out
}

fn partition_data(shared: &Shared, version: i16, topic: &str, index: i32, read: ReadResult) -> PartitionData {
    let mut records = BytesMut::new();
    for b in &read.batches {
        records.extend_from_slice(&b.bytes);
    }
    let mut data = PartitionData {
        partition_index: index,
        error_code: read.error.0,
        high_watermark: read.high_watermark,
        last_stable_offset: read.last_stable_offset,
        log_start_offset: if read.error == ErrorCode::NONE { 0 } else { -1 },
        // read_committed: the aborted transactions in the returned range (KIP-98),
        // unless the test-only bug `omit_aborted_transactions` is on.
        aborted_transactions: Some(
            read.aborted
                .iter()
                .filter(|_| !shared.bugs().omit_aborted_transactions)
                .map(|a| AbortedTransaction { producer_id: a.producer_id, first_offset: a.first_offset, ..Default::default() })
                .collect(),
        ),
        records: Some(Bytes::from(records)),
        ..Default::default()
    };
    // Tagged v12+ fields (KIP-320, KIP-951).
    if version >= 12 {
        if let Some(d) = read.diverging {
            data.diverging_epoch = EpochEndOffset { epoch: d.epoch, end_offset: d.end_offset, ..Default::default() };
        }
        if matches!(read.error, ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::FENCED_LEADER_EPOCH) {
            if let Some(p) = shared.controller.partition(topic, index) {
                data.current_leader = LeaderIdAndEpoch { leader_id: p.leader, leader_epoch: p.leader_epoch, ..Default::default() };
            }
        }
    }
    data
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &FetchRequest, code: ErrorCode) -> FetchResponse {
    FetchResponse {
        responses: req
            .topics
            .iter()
            .map(|t| FetchableTopicResponse {
                topic: t.topic.clone(),
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionData { partition_index: p.partition, error_code: code.0, high_watermark: -1, ..Default::default() })
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
    use rill_protocol::messages::fetch_request::{FetchPartition, FetchTopic};

    fn request(offset: i64, current_leader_epoch: i32, last_fetched_epoch: i32, replica_id: i32) -> FetchRequest {
        FetchRequest {
            replica_id,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    current_leader_epoch,
                    last_fetched_epoch,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn reads_fences_and_reports_divergence() {
        let b = broker();
        let s = b.shared();
        s.append_as_leader(&("t".into(), 0), crate::log::split_batches(&batch(2)).unwrap(), 1).unwrap();
        let p = handle(s, 12, request(0, -1, -1, -1)).await.responses[0].partitions[0].clone();
        assert_eq!((p.error_code, p.high_watermark, p.last_stable_offset), (0, 2, 2));
        assert!(p.records.unwrap().len() > 61);
        // KIP-320 fencing against our leader epoch 0.
        b.controller().register_broker(2, "h", 2);
        b.controller().alter_isr("t", 0, 1, 0, 0, vec![1]).unwrap();
        b.controller().reassign("t", 0, vec![1, 2]).unwrap();
        b.controller().set_alive(2, true);
        let moved = b.controller().alter_isr("t", 0, 1, 0, 2, vec![1, 2]).unwrap();
        let moved = b.controller().move_leader("t", 0, 1).map(|_| moved).unwrap();
        assert_eq!(moved.leader, 1);
        let epoch = b.controller().partition("t", 0).unwrap().leader_epoch;
        assert_eq!(epoch, 1);
        let code = |r: FetchResponse| r.responses[0].partitions[0].error_code;
        assert_eq!(code(handle(s, 12, request(0, 0, -1, -1)).await), ErrorCode::FENCED_LEADER_EPOCH.0);
        assert_eq!(code(handle(s, 12, request(0, 5, -1, -1)).await), ErrorCode::UNKNOWN_LEADER_EPOCH.0);
        assert_eq!(code(handle(s, 12, request(3, 1, -1, -1)).await), ErrorCode::OFFSET_OUT_OF_RANGE.0);
        // A follower claiming 5 records of epoch 0 diverges at our end of epoch 0 (offset 2).
        let p = handle(s, 12, request(5, 1, 0, 2)).await.responses[0].partitions[0].clone();
        assert_eq!((p.diverging_epoch.epoch, p.diverging_epoch.end_offset), (0, 2));
        // A follower's fetch at our end moves the high watermark of the two-member ISR.
        s.append_as_leader(&("t".into(), 0), crate::log::split_batches(&batch(1)).unwrap(), 1).unwrap();
        assert_eq!(b.high_watermark("t", 0), Some(2), "the follower has not fetched the new record yet");
        let p = handle(s, 12, request(3, 1, 1, 2)).await.responses[0].partitions[0].clone();
        assert_eq!((p.error_code, p.high_watermark), (0, 3));
        // Consumers never read past the high watermark; topic ids (v13+) that are unknown are refused.
        let mut by_id = request(0, -1, -1, -1);
        by_id.topics[0].topic_id = rill_protocol::Uuid::from_u64_pair(9, 9);
        assert_eq!(code(handle(s, 13, by_id).await), ErrorCode::UNKNOWN_TOPIC_ID.0);
    }
}
