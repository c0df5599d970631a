//! OffsetCommit (key 8), versions 2-9.
//!
//! Coordinator only (NOT_COORDINATOR). A commit with generation -1 and no
//! member id is a standalone commit, allowed while the group has no
//! members (else UNKNOWN_MEMBER_ID). A member's commit must name a current
//! member (UNKNOWN_MEMBER_ID) of the current generation
//! (ILLEGAL_GENERATION: a consumer that missed a rebalance cannot move
//! offsets it no longer owns) and not come while the group waits for its
//! leader's assignment (REBALANCE_IN_PROGRESS). Accepted offsets are durable
//! at once (see `coordinator.rs`). The test-only bug `accept_rewinding_commit`
//! skips the member and generation checks, so a late commit from an old
//! generation, or from a member expired while it was cut off from the
//! coordinator, can move a committed offset backwards. A partition whose
//! metadata is longer than 4096 bytes is OFFSET_METADATA_TOO_LARGE and not
//! committed (Kafka's `offset.metadata.max.bytes`), one that does not exist
//! UNKNOWN_TOPIC_OR_PARTITION; the others are.

use rill_protocol::messages::offset_commit_request::OffsetCommitRequest;
use rill_protocol::messages::offset_commit_response::{OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::coordinator::{check_member, commit_code, exists_at, CommittedOffset, GroupPhase};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(2, 9);

pub(crate) fn handle(shared: &Shared, req: OffsetCommitRequest) -> OffsetCommitResponse {
    // Which partitions exist, looked up before the group is locked.
    let exists: Vec<Vec<bool>> = req
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| shared.controller.has_partition(&t.name, p.partition_index)).collect())
        .collect();
    let code = commit(shared, &req, &exists);
    respond(&req, code, &exists)
}

fn commit(shared: &Shared, req: &OffsetCommitRequest, exists: &[Vec<bool>]) -> ErrorCode {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return code;
    }
    let store = shared.controller.coordinator_store();
    let mut state = store.lock();
    let group = state.group_mut(&req.group_id);
    let now = Instant::now();
    group.expire(now);
    let standalone = req.generation_id_or_member_epoch < 0 && req.member_id.is_empty();
    if standalone {
        if !group.members.is_empty() {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
    } else {
        let mut check = check_member(Some(group), &req.member_id, req.generation_id_or_member_epoch);
        let late = check == ErrorCode::ILLEGAL_GENERATION || check == ErrorCode::UNKNOWN_MEMBER_ID;
        if late && shared.bugs().accept_rewinding_commit {
            check = ErrorCode::NONE;
        }
        if check != ErrorCode::NONE {
            return check;
        }
        if group.phase == GroupPhase::CompletingRebalance {
            return ErrorCode::REBALANCE_IN_PROGRESS;
        }
        if let Some(m) = group.members.get_mut(&req.member_id) {
            m.last_seen = now;
        }
    }
    for (t, exists) in req.topics.iter().zip(exists) {
        let partitions = t.partitions.iter().zip(exists.iter().copied());
        for (p, _) in partitions.filter(|(p, exists)| commit_code(ErrorCode::NONE, *exists, p.committed_metadata.as_deref()).is_none()) {
            group.offsets.insert(
                (t.name.clone(), p.partition_index),
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                },
            );
        }
    }
    store.bump();
    ErrorCode::NONE
}

/// `exists`: per topic and partition of the request, whether it exists
/// (empty: all do).
fn respond(req: &OffsetCommitRequest, code: ErrorCode, exists: &[Vec<bool>]) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(j, p)| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: commit_code(code, exists_at(exists, i, j), p.committed_metadata.as_deref()).0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    respond(req, code, &[])
}

#[cfg(test)]
mod tests {
    use rill_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use tokio::time::Instant;

    use super::*;
    use crate::coordinator::GroupPhase;
    use crate::test_support::{broker, group_member};

    fn commit_of(member_id: &str, generation: i32, offset: i64) -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: generation,
            member_id: member_id.into(),
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitRequestPartition { partition_index: 0, committed_offset: offset, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Group `g` in generation 2 with the one member `a`, which committed 10.
    fn stable_group() -> crate::Broker {
        let b = broker();
        {
            let store = b.controller().coordinator_store().clone();
            let mut state = store.lock();
            let group = state.group_mut("g");
            group.protocol_type = Some("consumer".into());
            group.members.insert("a".into(), group_member(Instant::now()));
            group.generation = 2;
            group.phase = GroupPhase::Stable;
        }
        assert_eq!(ErrorCode(handle(b.shared(), commit_of("a", 2, 10)).topics[0].partitions[0].error_code), ErrorCode::NONE);
        b
    }

    fn committed(b: &crate::Broker) -> i64 {
        b.controller().coordinator_store().committed("g")[&("t".to_string(), 0)].offset
    }

    /// A commit from an old generation, or from a member the group expired
    /// (cut off from the coordinator past its session), must not move the
    /// committed offset: that is how offsets rewind.
    #[tokio::test(start_paused = true)]
    async fn late_commits_are_refused_and_leave_the_committed_offset() {
        let b = stable_group();
        let stale = handle(b.shared(), commit_of("a", 1, 5));
        assert_eq!(ErrorCode(stale.topics[0].partitions[0].error_code), ErrorCode::ILLEGAL_GENERATION);
        let expired = handle(b.shared(), commit_of("gone", 1, 4));
        assert_eq!(ErrorCode(expired.topics[0].partitions[0].error_code), ErrorCode::UNKNOWN_MEMBER_ID);
        assert_eq!(committed(&b), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn metadata_past_4096_bytes_is_refused_for_its_partition_only() {
        let b = stable_group();
        let mut req = commit_of("a", 2, 20);
        let long = OffsetCommitRequestPartition {
            partition_index: 1,
            committed_offset: 7,
            committed_metadata: Some("m".repeat(crate::coordinator::MAX_OFFSET_METADATA_BYTES + 1)),
            ..Default::default()
        };
        req.topics[0].partitions[0].committed_metadata = Some("m".repeat(crate::coordinator::MAX_OFFSET_METADATA_BYTES));
        req.topics[0].partitions.push(long);
        let answer = handle(b.shared(), req);
        let codes: Vec<ErrorCode> = answer.topics[0].partitions.iter().map(|p| ErrorCode(p.error_code)).collect();
        assert_eq!(codes, [ErrorCode::NONE, ErrorCode::OFFSET_METADATA_TOO_LARGE]);
        let committed = b.controller().coordinator_store().committed("g");
        assert_eq!(committed[&("t".to_string(), 0)].offset, 20);
        assert!(!committed.contains_key(&("t".to_string(), 1)), "the refused partition was committed");
    }

    #[tokio::test(start_paused = true)]
    async fn partitions_that_do_not_exist_are_refused_and_not_kept() {
        let b = stable_group();
        let mut req = commit_of("a", 2, 30);
        req.topics[0].partitions.push(OffsetCommitRequestPartition { partition_index: 2, committed_offset: 5, ..Default::default() });
        req.topics.push(OffsetCommitRequestTopic {
            name: "made-up".into(),
            partitions: vec![OffsetCommitRequestPartition { partition_index: 0, committed_offset: 5, ..Default::default() }],
            ..Default::default()
        });
        let answer = handle(b.shared(), req);
        let codes: Vec<ErrorCode> = answer.topics.iter().flat_map(|t| t.partitions.iter().map(|p| ErrorCode(p.error_code))).collect();
        assert_eq!(codes, [ErrorCode::NONE, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]);
        let committed = b.controller().coordinator_store().committed("g");
        assert_eq!(committed.keys().cloned().collect::<Vec<_>>(), [("t".to_string(), 0)]);
        assert_eq!(committed[&("t".to_string(), 0)].offset, 30);
    }

    /// The sensitivity switch: both kinds of late commit are accepted and rewind.
    #[cfg(feature = "fault-injection")]
    #[tokio::test(start_paused = true)]
    async fn with_the_bug_late_commits_rewind_the_committed_offset() {
        let b = stable_group();
        b.set_bugs(crate::faults::BugSwitches { accept_rewinding_commit: true, ..Default::default() });
        assert_eq!(ErrorCode(handle(b.shared(), commit_of("a", 1, 5)).topics[0].partitions[0].error_code), ErrorCode::NONE);
        assert_eq!(committed(&b), 5);
        assert_eq!(ErrorCode(handle(b.shared(), commit_of("gone", 1, 4)).topics[0].partitions[0].error_code), ErrorCode::NONE);
        assert_eq!(committed(&b), 4);
    }
}
