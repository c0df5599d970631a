//! JoinGroup (key 11), versions 0-9 (classic protocol).
//!
//! Only the group's coordinator answers (NOT_COORDINATOR). v4+ a member
//! without an id first gets MEMBER_ID_REQUIRED with its new id (KIP-394);
//! v0-3 it joins under a new id at once. An id the group does not know is
//! UNKNOWN_MEMBER_ID.
//! A join from a known member of a stable group with unchanged metadata
//! returns the current generation; otherwise it starts (or joins) a
//! rebalance and waits until every known member has rejoined or the
//! rebalance timeout passed (late members are dropped); then the next
//! generation, the protocol every member supports, and the leader (who gets
//! every member's metadata) are answered. A session timeout outside the
//! broker's bounds is INVALID_SESSION_TIMEOUT; a different protocol type
//! than the group's is INCONSISTENT_GROUP_PROTOCOL.

use std::time::Duration;

use rill_protocol::messages::join_group_request::JoinGroupRequest;
use rill_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::coordinator::{Group, GroupPhase, Member};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 9);

fn refused(code: ErrorCode, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse { error_code: code.0, generation_id: -1, member_id: member_id.to_string(), ..Default::default() }
}

pub(crate) async fn handle(shared: &Shared, version: i16, client_id: &str, req: JoinGroupRequest) -> JoinGroupResponse {
    if let Some(code) = super::not_coordinator(shared, &req.group_id) {
        return refused(code, &req.member_id);
    }
    if req.group_id.is_empty() {
        return refused(ErrorCode::INVALID_GROUP_ID, &req.member_id);
    }
    let session = Duration::from_millis(u64::try_from(req.session_timeout_ms).unwrap_or(0));
    if session < shared.config.group_min_session_timeout || session > shared.config.group_max_session_timeout {
        return refused(ErrorCode::INVALID_SESSION_TIMEOUT, &req.member_id);
    }
    // v0 has no rebalance timeout: it is the session timeout.
    let rebalance = if version >= 1 { Duration::from_millis(u64::try_from(req.rebalance_timeout_ms).unwrap_or(0)) } else { session };
    let store = shared.controller.coordinator_store().clone();
    let now = Instant::now();
    let (member_id, joined_generation) = {
        let mut state = store.lock();
        // v0-3 (before KIP-394) a member without an id joins at once under a new one.
        let joins_with_new_id = req.member_id.is_empty();
        let member_id = if joins_with_new_id {
            let id = state.new_member_id(client_id);
            if version >= 4 {
                let group = state.group_mut(&req.group_id);
                group.expire(now);
                group.pending.insert(id.clone(), now + session);
                return refused(ErrorCode::MEMBER_ID_REQUIRED, &id);
            }
            id
        } else {
            req.member_id.clone()
        };
        let group = state.group_mut(&req.group_id);
        group.expire(now);
        let known = group.members.contains_key(&member_id);
        if !known && !joins_with_new_id && group.pending.remove(&member_id).is_none() {
            return refused(ErrorCode::UNKNOWN_MEMBER_ID, &member_id);
        }
        if !group.members.is_empty() && group.protocol_type.as_deref() != Some(req.protocol_type.as_str()) {
            return refused(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &member_id);
        }
        let protocols: Vec<(String, bytes::Bytes)> = req.protocols.iter().map(|p| (p.name.clone(), p.metadata.clone())).collect();
        let unchanged = group.members.get(&member_id).is_some_and(|m| m.protocols == protocols);
        if known && unchanged && group.phase == GroupPhase::Stable {
            if let Some(m) = group.members.get_mut(&member_id) {
                m.last_seen = now;
            }
            return answer(group, &member_id);
        }
        group.protocol_type = Some(req.protocol_type.clone());
        group.members.insert(
            member_id.clone(),
            Member {
                protocols,
                session_timeout: session,
                rebalance_timeout: rebalance,
                last_seen: now,
                joined: true,
                assignment: bytes::Bytes::new(),
                instance_id: req.group_instance_id.clone(),
            },
        );
        let first = group.phase == GroupPhase::Empty;
        group.prepare_rebalance(now, if first { shared.config.group_initial_rebalance_delay } else { Duration::ZERO });
        if let Some(m) = group.members.get_mut(&member_id) {
            m.joined = true;
        }
        let generation = group.generation;
        store.bump();
        (member_id, generation)
    };
    let mut changes = store.subscribe();
    loop {
        let deadline = {
            let mut state = store.lock();
            let group = state.group_mut(&req.group_id);
            let now = Instant::now();
            if group.expire(now) {
                store.bump();
            }
            if group.maybe_complete_rebalance(now) {
                store.bump();
            }
            if !group.members.contains_key(&member_id) {
                return refused(ErrorCode::UNKNOWN_MEMBER_ID, &member_id);
            }
            if group.generation > joined_generation && group.phase != GroupPhase::PreparingRebalance {
                return answer(group, &member_id);
            }
            // Also wake when a member that has not rejoined runs out of
            // session: its removal may complete the rebalance.
            let deadline = group.rebalance_deadline.unwrap_or(now);
            group.next_expiry().map_or(deadline, |expiry| expiry.min(deadline))
        };
        // Wake at the deadline even without other activity.
        let _ = tokio::time::timeout_at(deadline.max(Instant::now()) + Duration::from_millis(1), changes.changed()).await;
    }
}

fn answer(group: &Group, member_id: &str) -> JoinGroupResponse {
    let leader = group.leader.clone().unwrap_or_default();
    let protocol = group.protocol.clone();
    let members = if leader == member_id {
        group
            .members
            .iter()
            .map(|(id, m)| JoinGroupResponseMember {
                member_id: id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.protocols.iter().find(|(n, _)| Some(n) == protocol.as_ref()).map(|(_, b)| b.clone()).unwrap_or_default(),
                ..Default::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinGroupResponse {
        error_code: if protocol.is_some() { 0 } else { ErrorCode::INCONSISTENT_GROUP_PROTOCOL.0 },
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: protocol,
        leader,
        member_id: member_id.to_string(),
        members,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{broker, group_member};
    use rill_protocol::messages::join_group_request::JoinGroupRequestProtocol;

    /// A consumer's JoinGroup for group "g" without a member id, with a 6 s session.
    fn join_request(rebalance_timeout_ms: i32) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 6_000,
            rebalance_timeout_ms,
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol { name: "range".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    /// A member of a stable group died; a new member's JoinGroup starts a
    /// rebalance the dead one never rejoins. The join must complete once
    /// the dead member's session runs out (6 s), not at the rebalance
    /// timeout (20 s), even though nobody else calls the coordinator
    /// meanwhile (issue 7: Kafka expires sessions on a timer).
    #[tokio::test(start_paused = true)]
    async fn a_rebalance_completes_when_a_member_that_did_not_rejoin_expires() {
        let b = broker();
        let store = b.controller().coordinator_store().clone();
        let start = Instant::now();
        {
            let mut state = store.lock();
            let group = state.group_mut("g");
            group.protocol_type = Some("consumer".into());
            group.members.insert("dead".into(), group_member(start));
            group.prepare_rebalance(start, Duration::ZERO);
            group.members.values_mut().for_each(|m| m.joined = true);
            assert!(group.maybe_complete_rebalance(start));
            group.phase = GroupPhase::Stable;
        }
        let request = join_request(20_000);
        let required = handle(b.shared(), 9, "new", request.clone()).await;
        assert_eq!(required.error_code, ErrorCode::MEMBER_ID_REQUIRED.0);
        let answer = handle(b.shared(), 9, "new", JoinGroupRequest { member_id: required.member_id, ..request }).await;
        assert_eq!(answer.error_code, 0);
        assert_eq!(answer.generation_id, 2);
        assert_eq!(answer.leader, answer.member_id, "the new member leads the group alone");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(6) && waited < Duration::from_secs(7), "answered after {waited:?}");
    }

    /// Before KIP-394 (v0-3) a member without an id is given one and joins
    /// in the same request; an id the group never gave out is still refused.
    #[tokio::test(start_paused = true)]
    async fn a_v3_member_without_an_id_joins_at_once_and_an_unknown_id_is_refused() {
        let b = broker();
        let request = join_request(1_000);
        let answer = handle(b.shared(), 3, "old-client", request.clone()).await;
        assert_eq!(ErrorCode(answer.error_code), ErrorCode::NONE, "{answer:?}");
        assert!(!answer.member_id.is_empty());
        assert_eq!(answer.leader, answer.member_id);
        assert_eq!(answer.generation_id, 1);
        let unknown = handle(b.shared(), 3, "old-client", JoinGroupRequest { member_id: "never-given".into(), ..request }).await;
        assert_eq!(ErrorCode(unknown.error_code), ErrorCode::UNKNOWN_MEMBER_ID);
    }

    /// A member id handed out with MEMBER_ID_REQUIRED (KIP-394) is good for
    /// the session timeout the request asked for, as in Kafka: joining
    /// with it within that time works, after it the id is unknown, and the
    /// group no longer holds it (ids asked for and never used would pile up).
    #[tokio::test(start_paused = true)]
    async fn a_member_id_handed_out_is_forgotten_after_the_session_timeout() {
        let b = broker();
        let request = join_request(1_000);
        let late = handle(b.shared(), 9, "c", request.clone()).await.member_id;
        handle(b.shared(), 9, "c", request.clone()).await;
        let pending = |b: &crate::broker::Broker| b.controller().coordinator_store().lock().group_mut("g").pending.len();
        assert_eq!(pending(&b), 2);
        tokio::time::advance(Duration::from_millis(6_001)).await;
        let unknown = handle(b.shared(), 9, "c", JoinGroupRequest { member_id: late, ..request.clone() }).await;
        assert_eq!(ErrorCode(unknown.error_code), ErrorCode::UNKNOWN_MEMBER_ID);
        assert_eq!(pending(&b), 0, "both ids were given out 6 s ago");
        let fresh = handle(b.shared(), 9, "c", request.clone()).await.member_id;
        tokio::time::advance(Duration::from_millis(5_000)).await;
        let joined = handle(b.shared(), 9, "c", JoinGroupRequest { member_id: fresh, ..request }).await;
        assert_eq!(ErrorCode(joined.error_code), ErrorCode::NONE, "{joined:?}");
    }
}
