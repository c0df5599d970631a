//! Heartbeat (key 12), versions 0-4.
//!
//! Coordinator only (NOT_COORDINATOR). Keeps a member's session alive.
//! UNKNOWN_MEMBER_ID (expired or never joined), ILLEGAL_GENERATION, or
//! REBALANCE_IN_PROGRESS (the member must rejoin) otherwise NONE.

use rill_protocol::messages::heartbeat_request::HeartbeatRequest;
use rill_protocol::messages::heartbeat_response::HeartbeatResponse;
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::coordinator::{check_member, GroupPhase};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 4);

pub(crate) fn handle(shared: &Shared, req: HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse { error_code: code(shared, &req).0, ..Default::default() }
}

fn code(shared: &Shared, req: &HeartbeatRequest) -> ErrorCode {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return code;
    }
    let store = shared.controller.coordinator_store();
    let mut state = store.lock();
    let group = state.group_mut(&req.group_id);
    let now = Instant::now();
    if group.expire(now) {
        store.bump();
    }
    let check = check_member(Some(group), &req.member_id, req.generation_id);
    if check != ErrorCode::NONE {
        return check;
    }
    if let Some(m) = group.members.get_mut(&req.member_id) {
        m.last_seen = now;
    }
    if group.phase == GroupPhase::PreparingRebalance {
        ErrorCode::REBALANCE_IN_PROGRESS
    } else {
        ErrorCode::NONE
    }
}
