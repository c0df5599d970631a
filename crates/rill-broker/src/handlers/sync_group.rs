//! SyncGroup (key 14), versions 0-5.
//!
//! Coordinator only (NOT_COORDINATOR). Unknown member: UNKNOWN_MEMBER_ID;
//! another generation: ILLEGAL_GENERATION; a rebalance under way:
//! REBALANCE_IN_PROGRESS. The leader's request carries every member's
//! assignment and makes the group stable; other members wait for it (up to
//! their rebalance timeout) and get their own assignment.

use rill_protocol::messages::sync_group_request::SyncGroupRequest;
use rill_protocol::messages::sync_group_response::SyncGroupResponse;
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::coordinator::{check_member, GroupPhase};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 5);

fn refused(code: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse { error_code: code.0, ..Default::default() }
}

pub(crate) async fn handle(shared: &Shared, req: SyncGroupRequest) -> SyncGroupResponse {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return refused(code);
    }
    let store = shared.controller.coordinator_store().clone();
    let mut changes = store.subscribe();
    let deadline = {
        let mut state = store.lock();
        let group = state.group_mut(&req.group_id);
        let now = Instant::now();
        group.expire(now);
        let check = check_member(Some(group), &req.member_id, req.generation_id);
        if check != ErrorCode::NONE {
            return refused(check);
        }
        if group.phase == GroupPhase::CompletingRebalance && group.leader.as_deref() == Some(req.member_id.as_str()) {
            for a in &req.assignments {
                if let Some(m) = group.members.get_mut(&a.member_id) {
                    m.assignment = a.assignment.clone();
                }
            }
            group.phase = GroupPhase::Stable;
            store.bump();
        }
        if let Some(m) = group.members.get_mut(&req.member_id) {
            m.last_seen = now;
        }
        now + group.members.get(&req.member_id).map(|m| m.rebalance_timeout).unwrap_or_default()
    };
    loop {
        {
            let mut state = store.lock();
            let group = state.group_mut(&req.group_id);
            let check = check_member(Some(group), &req.member_id, req.generation_id);
            if check != ErrorCode::NONE {
                return refused(check);
            }
            match group.phase {
                GroupPhase::Stable => {
                    let assignment = group.members.get(&req.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                    return SyncGroupResponse {
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol.clone(),
                        assignment,
                        ..Default::default()
                    };
                }
                GroupPhase::PreparingRebalance | GroupPhase::Empty => return refused(ErrorCode::REBALANCE_IN_PROGRESS),
                GroupPhase::CompletingRebalance => {}
            }
        }
        if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            return refused(ErrorCode::REBALANCE_IN_PROGRESS);
        }
    }
}
