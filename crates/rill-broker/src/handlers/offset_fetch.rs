//! OffsetFetch (key 9), versions 1-9.
//!
//! Coordinator only (NOT_COORDINATOR, at the top level from v2 and per
//! group from v8). Committed offsets of the listed partitions (offset -1 for
//! none), or of every partition with a commit when `topics` is null (v2+).
//! v8+ answers several groups at once. Offsets staged by TxnOffsetCommit
//! appear only once their transaction commits; v7+ with `require_stable`
//! (KIP-447) a partition with staged offsets of a transaction not yet
//! complete is UNSTABLE_OFFSET_COMMIT (the client retries).

use rill_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use rill_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::coordinator::CommittedOffset;
use crate::txn_state::unstable_offsets;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(1, 9);

/// Per topic, each partition's committed offset (if any).
type Committed = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;
/// Per topic, each partition's committed offset (`Err`: UNSTABLE_OFFSET_COMMIT).
type Found = Vec<(String, Vec<(i32, Result<Option<CommittedOffset>, ErrorCode>)>)>;

/// The committed offsets of one group; `None` topics: everything committed.
fn lookup(shared: &Shared, group: &str, topics: Option<Vec<(String, Vec<i32>)>>, require_stable: bool) -> Result<Found, ErrorCode> {
    if let Some(code) = super::not_coordinator(shared, group) {
        return Err(code);
    }
    let store = shared.controller.coordinator_store();
    let unstable = if require_stable { unstable_offsets(&store.lock().transactions, group) } else { Default::default() };
    let found = lookup_committed(store.committed(group), topics);
    Ok(found
        .into_iter()
        .map(|(name, ps)| {
            let ps = ps
                .into_iter()
                .map(|(p, c)| (p, if unstable.contains(&(name.clone(), p)) { Err(ErrorCode::UNSTABLE_OFFSET_COMMIT) } else { Ok(c) }))
                .collect();
            (name, ps)
        })
        .collect())
}

fn lookup_committed(
    offsets: std::collections::BTreeMap<(String, i32), CommittedOffset>,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Committed {
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, ps)| {
                let found = ps.into_iter().map(|p| (p, offsets.get(&(name.clone(), p)).cloned())).collect();
                (name, found)
            })
            .collect(),
        None => {
            let mut by_topic: std::collections::BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> = Default::default();
            for ((t, p), c) in offsets {
                by_topic.entry(t).or_default().push((p, Some(c)));
            }
            by_topic.into_iter().collect()
        }
    }
}

/// A partition's offset and error code (UNSTABLE_OFFSET_COMMIT shows no offset).
fn split(c: Result<Option<CommittedOffset>, ErrorCode>) -> (Option<CommittedOffset>, ErrorCode) {
    match c {
        Ok(c) => (c, ErrorCode::NONE),
        Err(code) => (None, code),
    }
}

pub(crate) fn handle(shared: &Shared, version: i16, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
                match lookup(shared, &g.group_id, topics, req.require_stable) {
                    Ok(found) => OffsetFetchResponseGroup {
                        group_id: g.group_id,
                        topics: found
                            .into_iter()
                            .map(|(name, ps)| OffsetFetchResponseTopics {
                                name,
                                partitions: ps
                                    .into_iter()
                                    .map(|(p, c)| {
                                        let (c, error) = split(c);
                                        OffsetFetchResponsePartitions {
                                            partition_index: p,
                                            committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                                            committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                                            metadata: c.and_then(|c| c.metadata).or(Some(String::new())),
                                            error_code: error.0,
                                            ..Default::default()
                                        }
                                    })
                                    .collect(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    },
                    Err(code) => OffsetFetchResponseGroup { group_id: g.group_id, error_code: code.0, ..Default::default() },
                }
            })
            .collect();
        return OffsetFetchResponse { groups, ..Default::default() };
    }
    let topics = req.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
    match lookup(shared, &req.group_id, topics, version >= 7 && req.require_stable) {
        Ok(found) => OffsetFetchResponse {
            topics: found
                .into_iter()
                .map(|(name, ps)| OffsetFetchResponseTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|(p, c)| {
                            let (c, error) = split(c);
                            let mut r = OffsetFetchResponsePartition {
                                partition_index: p,
                                error_code: error.0,
                                committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                                committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                                metadata: c.and_then(|c| c.metadata).or(Some(String::new())),
                                ..Default::default()
                            };
                            // The leader epoch is a v5+ field.
                            if version < 5 {
                                r.committed_leader_epoch = -1;
                            }
                            r
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        // v1 has no top-level error code.
        Err(code) if version >= 2 => OffsetFetchResponse { error_code: code.0, ..Default::default() },
        Err(_) => OffsetFetchResponse::default(),
    }
}
