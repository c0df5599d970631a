//! LeaveGroup (key 13), versions 0-5.
//!
//! Coordinator only (NOT_COORDINATOR). Removes the member (v0-2
//! `member_id`; v3+ a batch of `members`, each answered), which starts a
//! rebalance for the others; an unknown member is UNKNOWN_MEMBER_ID.

use rill_protocol::messages::leave_group_request::LeaveGroupRequest;
use rill_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 5);

pub(crate) fn handle(shared: &Shared, version: i16, req: LeaveGroupRequest) -> LeaveGroupResponse {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return LeaveGroupResponse { error_code: code.0, ..Default::default() };
    }
    let store = shared.controller.coordinator_store();
    let mut state = store.lock();
    let group = state.group_mut(&req.group_id);
    let now = Instant::now();
    let mut leave = |id: &str| if group.remove(id, now) { ErrorCode::NONE } else { ErrorCode::UNKNOWN_MEMBER_ID };
    let response = if version >= 3 {
        let members = req
            .members
            .iter()
            .map(|m| MemberResponse {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                error_code: leave(&m.member_id).0,
                ..Default::default()
            })
            .collect();
        LeaveGroupResponse { members, ..Default::default() }
    } else {
        LeaveGroupResponse { error_code: leave(&req.member_id).0, ..Default::default() }
    };
    store.bump();
    response
}
