//! TxnOffsetCommit (key 28), versions 0-4.
//!
//! Group coordinator only (NOT_COORDINATOR). Stages offsets in the
//! transaction of `transactional_id`: they become the group's committed
//! offsets when the transaction commits and are dropped when it aborts
//! (OffsetFetch shows them only then; with `require_stable` it answers
//! UNSTABLE_OFFSET_COMMIT meanwhile, KIP-447). The transaction must be
//! Ongoing with the group added by AddOffsetsToTxn (INVALID_TXN_STATE),
//! for this producer id (INVALID_PRODUCER_ID_MAPPING) and epoch
//! (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH before v3). v3+ with a
//! generation or member id (KIP-447) must name a current member of the
//! group's current generation (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), so
//! a zombie consumer-producer cannot commit. Errors apply to every
//! partition of the request; a partition whose metadata is longer than
//! 4096 bytes is OFFSET_METADATA_TOO_LARGE and one that does not exist
//! UNKNOWN_TOPIC_OR_PARTITION, and neither is staged.

use rill_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequest;
use rill_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::coordinator::{check_member, commit_code, exists_at, CommittedOffset, TxnPhase};
use crate::txn_state::fenced_code;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 4);

pub(crate) fn handle(shared: &Shared, version: i16, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    // Which partitions exist, looked up before the coordinator is locked.
    let exists: Vec<Vec<bool>> = req
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| shared.controller.has_partition(&t.name, p.partition_index)).collect())
        .collect();
    let code = stage(shared, version, &req, &exists).err().unwrap_or(ErrorCode::NONE);
    respond(&req, code, &exists)
}

fn stage(shared: &Shared, version: i16, req: &TxnOffsetCommitRequest, exists: &[Vec<bool>]) -> Result<(), ErrorCode> {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return Err(code);
    }
    let store = shared.controller.coordinator_store();
    let mut state = store.lock();
    let state = &mut *state;
    if version >= 3 && (req.generation_id >= 0 || !req.member_id.is_empty()) {
        let check = check_member(state.groups.get(&req.group_id), &req.member_id, req.generation_id);
        if check.is_error() {
            return Err(check);
        }
    }
    let txn = state.transactions.get_mut(&req.transactional_id).ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
    let check = txn.check_producer(req.producer_id, req.producer_epoch);
    if check.is_error() {
        return Err(fenced_code(check, version, 3));
    }
    if txn.phase != TxnPhase::Ongoing || !txn.groups.contains(&req.group_id) {
        return Err(ErrorCode::INVALID_TXN_STATE);
    }
    let staged = txn.pending_offsets.entry(req.group_id.clone()).or_default();
    for (t, exists) in req.topics.iter().zip(exists) {
        let partitions = t.partitions.iter().zip(exists.iter().copied());
        for (p, _) in partitions.filter(|(p, exists)| commit_code(ErrorCode::NONE, *exists, p.committed_metadata.as_deref()).is_none()) {
            staged.insert(
                (t.name.clone(), p.partition_index),
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                },
            );
        }
    }
    Ok(())
}

/// Every partition answered with `code` (an injected fault).
pub(crate) fn error_response(req: &TxnOffsetCommitRequest, code: ErrorCode) -> TxnOffsetCommitResponse {
    respond(req, code, &[])
}

/// `exists`: per topic and partition of the request, whether it exists
/// (empty: all do).
fn respond(req: &TxnOffsetCommitRequest, code: ErrorCode, exists: &[Vec<bool>]) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| TxnOffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(j, p)| TxnOffsetCommitResponsePartition {
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
