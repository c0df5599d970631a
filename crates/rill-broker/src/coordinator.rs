//! Group and transaction coordinator state, and the classic group protocol.
//!
//! Design: the state a Kafka coordinator keeps in its internal topics
//! (`__consumer_offsets`, `__transaction_state`, replicated with acks=all)
//! lives here in one cluster-wide [`CoordinatorStore`] held by the
//! controller. It is durable and survives any broker crash, as an
//! acknowledged write to a replicated internal topic does; what depends on
//! the cluster is *who* may serve it: the coordinator of a key is a live
//! broker chosen by a stable hash of the key over the live brokers
//! ([`crate::Controller::coordinator_for`]), so a coordinator crash or
//! partition moves the group to another broker (clients see
//! NOT_COORDINATOR and look it up again), exactly the event the
//! simulator wants. Session and rebalance timers run on `tokio::time` on
//! whichever broker serves the group.
//!
//! The classic group protocol (KIP-62 timeouts, KIP-394 member ids):
//! Empty -> PreparingRebalance (joins collected until every known member
//! rejoined or the rebalance timeout passed) -> CompletingRebalance (the
//! leader's SyncGroup carries the assignment) -> Stable; a member whose
//! session times out, leaves, or joins with new metadata starts a new
//! rebalance with the next generation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::ErrorCode;
use tokio::sync::watch;
use tokio::time::Instant;

pub use crate::txn_state::{Transaction, TxnPhase};

/// A group's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPhase {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub last_seen: Instant,
    /// Rejoined during the current rebalance.
    pub joined: bool,
    pub assignment: Bytes,
    pub instance_id: Option<String>,
}

/// The most bytes of metadata a committed offset keeps (Kafka's
/// `offset.metadata.max.bytes` default): a partition whose commit carries
/// more is answered OFFSET_METADATA_TOO_LARGE and not committed. Unbounded,
/// one request could park a frame's worth of it per partition, copied
/// again into every OffsetFetch answer.
pub(crate) const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// A partition's code in an answer to a commit whose overall code is
/// `code`: as Kafka, a partition that does not exist is
/// UNKNOWN_TOPIC_OR_PARTITION and not committed (else offsets for made-up
/// partitions, a name copied per entry, would be kept for good), one with
/// metadata past [`MAX_OFFSET_METADATA_BYTES`] OFFSET_METADATA_TOO_LARGE.
pub(crate) fn commit_code(code: ErrorCode, exists: bool, metadata: Option<&str>) -> ErrorCode {
    if code != ErrorCode::NONE {
        code
    } else if !exists {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    } else if metadata.is_some_and(|m| m.len() > MAX_OFFSET_METADATA_BYTES) {
        ErrorCode::OFFSET_METADATA_TOO_LARGE
    } else {
        code
    }
}

/// Whether partition `j` of topic `i` of a commit request exists, from a
/// lookup made per topic and partition (empty: not looked up, all do).
pub(crate) fn exists_at(exists: &[Vec<bool>], i: usize, j: usize) -> bool {
    exists.is_empty() || exists.get(i).and_then(|t| t.get(j)).copied().unwrap_or(false)
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub phase: GroupPhase,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined
    /// (KIP-394), and until when each may join with it: its session timeout,
    /// after which Kafka forgets a pending member too. Kept for good, one
    /// JoinGroup without a member id after another would grow it without end.
    pub pending: BTreeMap<String, Instant>,
    pub rebalance_deadline: Option<Instant>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    fn new() -> Group {
        Group {
            phase: GroupPhase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            rebalance_deadline: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Starts a rebalance: every member must rejoin within the largest rebalance timeout.
    pub fn prepare_rebalance(&mut self, now: Instant, delay: Duration) {
        if self.phase == GroupPhase::PreparingRebalance {
            return;
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO);
        self.phase = GroupPhase::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout.max(delay));
        for m in self.members.values_mut() {
            m.joined = false;
        }
    }

    /// Removes members whose session expired (joined members waiting in a
    /// rebalance are alive); returns whether any was removed.
    pub fn expire(&mut self, now: Instant) -> bool {
        self.pending.retain(|_, until| now <= *until);
        let preparing = self.phase == GroupPhase::PreparingRebalance;
        let before = self.members.len();
        self.members.retain(|_, m| (preparing && m.joined) || now.saturating_duration_since(m.last_seen) <= m.session_timeout);
        let removed = self.members.len() != before;
        if removed {
            self.after_removal(now);
        }
        removed
    }

    /// When the next member's session runs out (members that have rejoined
    /// the rebalance under way do not expire), for handlers that hold a
    /// request: Kafka expires sessions on a timer, so a member that died
    /// (a leader that never sends SyncGroup, a member that never rejoins)
    /// is removed after its session timeout even when nobody else calls in.
    pub fn next_expiry(&self) -> Option<Instant> {
        let preparing = self.phase == GroupPhase::PreparingRebalance;
        self.members.values().filter(|m| !(preparing && m.joined)).map(|m| m.last_seen + m.session_timeout).min()
    }

    fn after_removal(&mut self, now: Instant) {
        if self.members.is_empty() {
            self.phase = GroupPhase::Empty;
            self.leader = None;
            self.rebalance_deadline = None;
            self.generation = self.generation.saturating_add(1);
        } else if self.phase != GroupPhase::PreparingRebalance {
            self.prepare_rebalance(now, Duration::ZERO);
        }
    }

    /// Removes a member (LeaveGroup).
    pub fn remove(&mut self, member_id: &str, now: Instant) -> bool {
        let removed = self.members.remove(member_id).is_some();
        if removed {
            self.after_removal(now);
        }
        removed
    }

    /// Ends a rebalance when every member rejoined or the deadline passed:
    /// the next generation, a protocol every member supports, a leader.
    pub fn maybe_complete_rebalance(&mut self, now: Instant) -> bool {
        if self.phase != GroupPhase::PreparingRebalance {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.joined);
        let late = self.rebalance_deadline.is_some_and(|d| now >= d);
        // Wait while some member has not rejoined, unless the deadline passed.
        if !late && (!all_joined || self.members.is_empty()) {
            return false;
        }
        self.members.retain(|_, m| m.joined);
        if self.members.is_empty() {
            self.phase = GroupPhase::Empty;
            self.generation = self.generation.saturating_add(1);
            self.leader = None;
            return true;
        }
        self.generation = self.generation.saturating_add(1);
        // The first protocol (in the leader's preference order) every member supports.
        let leader = match &self.leader {
            Some(l) if self.members.contains_key(l) => l.clone(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        let candidates: Vec<String> =
            self.members.get(&leader).map(|m| m.protocols.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
        self.protocol = candidates.into_iter().find(|p| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == p)));
        self.leader = Some(leader);
        self.phase = GroupPhase::CompletingRebalance;
        for m in self.members.values_mut() {
            m.last_seen = now;
            m.assignment = Bytes::new();
        }
        true
    }
}

#[derive(Debug)]
pub struct CoordinatorState {
    pub groups: BTreeMap<String, Group>,
    pub transactions: BTreeMap<String, Transaction>,
    pub next_producer_id: i64,
    next_member: u64,
}

impl CoordinatorState {
    pub fn group_mut(&mut self, id: &str) -> &mut Group {
        self.groups.entry(id.to_string()).or_insert_with(Group::new)
    }

    /// A new member id: deterministic (a counter), like Kafka's `clientId-uuid` in shape.
    pub fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member = self.next_member.wrapping_add(1);
        format!("{client_id}-{:016x}", self.next_member)
    }

    pub fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id = self.next_producer_id.saturating_add(1);
        id
    }
}

/// The cluster-wide coordinator store (cloneable handle).
#[derive(Debug, Clone)]
pub struct CoordinatorStore {
    state: Arc<Mutex<CoordinatorState>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for CoordinatorStore {
    fn default() -> Self {
        let (tx, _) = watch::channel(0);
        CoordinatorStore {
            state: Arc::new(Mutex::new(CoordinatorState {
                groups: BTreeMap::new(),
                transactions: BTreeMap::new(),
                next_producer_id: 1000,
                next_member: 0,
            })),
            changes: Arc::new(tx),
        }
    }
}

impl CoordinatorStore {
    pub fn lock(&self) -> MutexGuard<'_, CoordinatorState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A group's committed offsets (for tests and the simulator's checkers).
    pub fn committed(&self, group: &str) -> BTreeMap<(String, i32), CommittedOffset> {
        self.lock().groups.get(group).map(|g| g.offsets.clone()).unwrap_or_default()
    }
}

/// Checks a member and generation against a group (Heartbeat, SyncGroup, OffsetCommit).
pub fn check_member(group: Option<&Group>, member_id: &str, generation: i32) -> ErrorCode {
    let Some(group) = group else { return ErrorCode::UNKNOWN_MEMBER_ID };
    if !group.members.contains_key(member_id) {
        ErrorCode::UNKNOWN_MEMBER_ID
    } else if generation != group.generation {
        ErrorCode::ILLEGAL_GENERATION
    } else {
        ErrorCode::NONE
    }
}

/// FNV-1a: a stable hash for choosing coordinators (not for security).
pub fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(now: Instant) -> Member {
        Member {
            protocols: vec![("range".into(), Bytes::new()), ("roundrobin".into(), Bytes::new())],
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            last_seen: now,
            joined: true,
            assignment: Bytes::new(),
            instance_id: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rebalance_generations_and_expiry() {
        let now = Instant::now();
        let mut g = Group::new();
        g.prepare_rebalance(now, Duration::ZERO);
        g.members.insert("a".into(), member(now));
        let mut b = member(now);
        b.protocols = vec![("roundrobin".into(), Bytes::new())];
        g.members.insert("b".into(), b);
        assert!(g.maybe_complete_rebalance(now));
        assert_eq!(
            (g.generation, g.phase, g.protocol.as_deref(), g.leader.as_deref()),
            (1, GroupPhase::CompletingRebalance, Some("roundrobin"), Some("a"))
        );
        g.phase = GroupPhase::Stable;
        // b stops heartbeating: it expires and a rebalance starts; a alone completes it at generation 2.
        g.members.get_mut("a").unwrap().last_seen = now + Duration::from_secs(15);
        assert!(g.expire(now + Duration::from_secs(11)));
        assert_eq!(g.phase, GroupPhase::PreparingRebalance);
        assert!(!g.maybe_complete_rebalance(now + Duration::from_secs(12)), "a has not rejoined");
        g.members.get_mut("a").unwrap().joined = true;
        assert!(g.maybe_complete_rebalance(now + Duration::from_secs(12)));
        assert_eq!((g.generation, g.members.len()), (2, 1));
        assert_eq!(check_member(Some(&g), "a", 1), ErrorCode::ILLEGAL_GENERATION);
        assert_eq!(check_member(Some(&g), "b", 2), ErrorCode::UNKNOWN_MEMBER_ID);
        assert_eq!(check_member(Some(&g), "a", 2), ErrorCode::NONE);
        assert!(g.remove("a", now));
        assert_eq!(g.phase, GroupPhase::Empty);
    }
}
