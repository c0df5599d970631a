//! OffsetFetch (key 9), versions 1-9.
//!
//! Coordinator only (NOT_COORDINATOR, at the top level from v2 and per
//! group from v8). Committed offsets of the listed partitions (offset -1 for
//! none), or of every partition with a commit when `topics` is null (v2+).
//! v8+ answers several groups at once.

use rill_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use rill_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::coordinator::CommittedOffset;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(1, 9);

/// Per topic, each partition's committed offset (if any).
type Found = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// The committed offsets of one group; `None` topics: everything committed.
fn lookup(shared: &Shared, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Result<Found, ErrorCode> {
    if let Some(code) = super::not_coordinator(shared, group) {
        return Err(code);
    }
    let offsets = shared.controller.coordinator_store().committed(group);
    Ok(match topics {
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
    })
}

pub(crate) fn handle(shared: &Shared, version: i16, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
                match lookup(shared, &g.group_id, topics) {
                    Ok(found) => OffsetFetchResponseGroup {
                        group_id: g.group_id,
                        topics: found
                            .into_iter()
                            .map(|(name, ps)| OffsetFetchResponseTopics {
                                name,
                                partitions: ps
                                    .into_iter()
                                    .map(|(p, c)| OffsetFetchResponsePartitions {
                                        partition_index: p,
                                        committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                                        committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                                        metadata: c.and_then(|c| c.metadata).or(Some(String::new())),
                                        ..Default::default()
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
    match lookup(shared, &req.group_id, topics) {
        Ok(found) => OffsetFetchResponse {
            topics: found
                .into_iter()
                .map(|(name, ps)| OffsetFetchResponseTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|(p, c)| {
                            let mut r = OffsetFetchResponsePartition {
                                partition_index: p,
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
