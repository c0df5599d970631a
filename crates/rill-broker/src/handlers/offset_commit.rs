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
//! skips the generation check, so a late commit from an old generation can
//! move a committed offset backwards.

use rill_protocol::messages::offset_commit_request::OffsetCommitRequest;
use rill_protocol::messages::offset_commit_response::{OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::coordinator::{check_member, CommittedOffset, GroupPhase};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(2, 9);

pub(crate) fn handle(shared: &Shared, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let code = commit(shared, &req);
    respond(&req, code)
}

fn commit(shared: &Shared, req: &OffsetCommitRequest) -> ErrorCode {
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
        if check == ErrorCode::ILLEGAL_GENERATION && shared.bugs().accept_rewinding_commit {
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
    for t in &req.topics {
        for p in &t.partitions {
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

fn respond(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition { partition_index: p.partition_index, error_code: code.0, ..Default::default() })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    respond(req, code)
}
