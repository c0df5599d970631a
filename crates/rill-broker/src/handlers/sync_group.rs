//! SyncGroup (key 14), versions 0-5.
//!
//! Coordinator only (NOT_COORDINATOR). Unknown member: UNKNOWN_MEMBER_ID;
//! another generation: ILLEGAL_GENERATION; a rebalance under way:
//! REBALANCE_IN_PROGRESS. The leader's request carries every member's
//! assignment and makes the group stable; other members wait for it (up to
//! their rebalance timeout) and get their own assignment. A member waiting
//! here is alive (as Kafka keeps members awaiting sync); the others' sessions
//! still run out, so a leader that died before sending its SyncGroup is
//! removed after its session timeout and the waiting members are told
//! REBALANCE_IN_PROGRESS (instead of waiting out the rebalance timeout).

use std::time::Duration;

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
        if group.expire(now) {
            store.bump();
        }
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
        let wake = {
            let mut state = store.lock();
            let group = state.group_mut(&req.group_id);
            let now = Instant::now();
            if let Some(m) = group.members.get_mut(&req.member_id) {
                m.last_seen = now;
            }
            if group.expire(now) {
                store.bump();
            }
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
            if now >= deadline {
                return refused(ErrorCode::REBALANCE_IN_PROGRESS);
            }
            group.next_expiry().map_or(deadline, |expiry| expiry.min(deadline))
        };
        let _ = tokio::time::timeout_at(wake.max(Instant::now()) + Duration::from_millis(1), changes.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{broker, group_member as member};

    /// The simulator's seed 21 of `group-range` (issue 7): the leader of a
    /// completed JoinGroup died before its SyncGroup. The follower waiting
    /// in SyncGroup must learn of the rebalance once the leader's session
    /// runs out (6 s), not after its own rebalance timeout (20 s).
    #[tokio::test(start_paused = true)]
    async fn a_dead_leader_is_expired_while_a_follower_waits_in_sync() {
        let b = broker();
        let store = b.controller().coordinator_store().clone();
        let start = Instant::now();
        {
            let mut state = store.lock();
            let group = state.group_mut("g");
            group.members.insert("a".into(), member(start));
            group.members.insert("b".into(), member(start));
            group.prepare_rebalance(start, Duration::ZERO);
            group.members.values_mut().for_each(|m| m.joined = true);
            assert!(group.maybe_complete_rebalance(start));
            assert_eq!((group.leader.as_deref(), group.generation), (Some("a"), 1));
        }
        let request = SyncGroupRequest { group_id: "g".into(), generation_id: 1, member_id: "b".into(), ..Default::default() };
        let answer = handle(b.shared(), request).await;
        assert_eq!(answer.error_code, ErrorCode::REBALANCE_IN_PROGRESS.0);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(6) && waited < Duration::from_secs(7), "answered after {waited:?}");
        let state = store.lock();
        let group = state.groups.get("g").unwrap();
        assert!(!group.members.contains_key("a"), "the dead leader was removed");
        assert_eq!(group.phase, GroupPhase::PreparingRebalance);
    }
}
