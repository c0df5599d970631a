//! The controller: cluster metadata, broker liveness, leader election, ISR
//! changes and reassignments.
//!
//! Design (the simplest honest one): the controller is one in-process object
//! shared by every broker of a cluster (the simulator creates it and hands a
//! clone to each broker incarnation; a dev broker makes its own). It plays
//! the KRaft quorum's role as a single, never-failing authority. What it
//! decides is visible to every broker at once (metadata propagation is
//! instant), so there are no zombie leaders serving stale metadata; what it
//! *learns* about brokers depends on the network:
//!
//! - Liveness: [`Controller::run_liveness_probe`] (which the simulator runs
//!   on a host of its own) sends a real ApiVersions request to every broker
//!   over the given transport each `probe_interval`; a broker that has not
//!   answered for `session_timeout` is declared dead (Kafka's
//!   `broker.session.timeout.ms`), one that answers again is alive. A network
//!   partition between the controller's host and a broker therefore fences
//!   the broker exactly as in KRaft.
//! - ISR changes come from partition leaders ([`Controller::alter_isr`],
//!   Kafka's AlterPartition, KIP-497), fenced by leader epoch and partition
//!   epoch; the leader decides them from the follower fetches the network let
//!   through.
//!
//! Elections are clean only (KIP-966 without ELR): a new leader is the first
//! live replica in the ISR, in replica order; with none, the partition is
//! offline (leader -1) and keeps its last ISR until one of them returns.
//! Every leader change bumps the leader epoch (KIP-101/KIP-320); every ISR or
//! replica change bumps the partition epoch.
//!
//! A broker that registers again (a restart) may have lost its unflushed
//! suffix, so it is removed from every ISR it shares with other members and
//! loses leadership of those partitions; it rejoins after catching up
//! (Kafka's broker epoch / KIP-966 unclean-shutdown handling, simplified).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rill_client::backoff::Rng;
use rill_client::Transport;

use crate::coordinator::{stable_hash, CoordinatorStore};
use rill_protocol::{ErrorCode, Uuid};
use tokio::sync::watch;

/// The most partitions one topic may have. Kafka sets no such limit, but
/// every partition here is a replica set, an ISR and a log in memory: a
/// CreateTopics asking for 2^31 - 1 of them would take the process down
/// (CreatePartitions is not served, so this bounds every topic).
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub alive: bool,
    /// Bumped on every registration (restart).
    pub epoch: i64,
}

/// One partition's replication state, as the controller decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub replicas: Vec<i32>,
    /// -1 when offline.
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicState {
    pub id: Uuid,
    pub partitions: Vec<PartitionState>,
}

/// Cluster-wide settings the controller enforces.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub cluster_id: String,
    /// `min.insync.replicas` for every topic (acks=all needs this many in the ISR).
    pub min_insync_replicas: usize,
    /// Partitions of topics created without a count (and auto-created ones).
    pub default_partitions: i32,
    /// Replication factor of topics created without one (capped by the brokers there are).
    pub default_replication_factor: i16,
    /// Seed of the only randomness (topic ids, replica placement).
    pub rng_seed: u64,
    /// How often the liveness probe asks each broker.
    pub probe_interval: Duration,
    /// A broker silent for this long is dead (`broker.session.timeout.ms`).
    pub session_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            cluster_id: "rill-dev-cluster".to_string(),
            min_insync_replicas: 1,
            default_partitions: 1,
            default_replication_factor: 1,
            rng_seed: 0x5eed,
            probe_interval: Duration::from_millis(500),
            session_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Debug)]
struct ControllerState {
    config: ControllerConfig,
    brokers: BTreeMap<i32, BrokerRegistration>,
    topics: BTreeMap<String, TopicState>,
    rng: Rng,
    /// Added to every key's hash when choosing its coordinator: bumped by
    /// [`Controller::move_coordinators`] (coordinator moves, a fault the
    /// simulator injects like Kafka's `__consumer_offsets` leader moves).
    coordinator_shift: u64,
}

/// The shared controller handle (cloneable).
#[derive(Debug, Clone)]
pub struct Controller {
    state: Arc<Mutex<ControllerState>>,
    changes: Arc<watch::Sender<u64>>,
    coordinators: CoordinatorStore,
}

/// Why the controller refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerError {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> ControllerError {
    ControllerError { code, message: message.into() }
}

/// A valid topic name (Kafka's `Topic.validate`).
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Controller {
        let rng = Rng::new(config.rng_seed);
        let (tx, _) = watch::channel(0u64);
        Controller {
            state: Arc::new(Mutex::new(ControllerState {
                config,
                brokers: BTreeMap::new(),
                topics: BTreeMap::new(),
                rng,
                coordinator_shift: 0,
            })),
            changes: Arc::new(tx),
            coordinators: CoordinatorStore::default(),
        }
    }

    /// Group and transaction state (see `coordinator.rs` for why it lives here).
    pub fn coordinator_store(&self) -> &CoordinatorStore {
        &self.coordinators
    }

    /// The coordinator of a group or transactional id: a live broker chosen
    /// by a stable hash of the key, so it moves when brokers die or return.
    pub fn coordinator_for(&self, key: &str) -> Option<BrokerRegistration> {
        let s = self.lock();
        let live: Vec<&BrokerRegistration> = s.brokers.values().filter(|b| b.alive).collect();
        let n = u64::try_from(live.len()).ok().filter(|n| *n > 0)?;
        let index = usize::try_from(stable_hash(key).wrapping_add(s.coordinator_shift) % n).ok()?;
        live.get(index).map(|b| (*b).clone())
    }

    /// Moves every group's and transactional id's coordinator to the next
    /// live broker (in id order). The state stays in the store, as Kafka's
    /// new coordinator loads it from `__consumer_offsets` and
    /// `__transaction_state`: clients get NOT_COORDINATOR and look it up again.
    pub fn move_coordinators(&self) {
        self.lock().coordinator_shift += 1;
        self.changed();
    }

    fn lock(&self) -> MutexGuard<'_, ControllerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every metadata change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn config(&self) -> ControllerConfig {
        self.lock().config.clone()
    }

    /// Registers (or re-registers after a restart) a broker; returns its new epoch.
    pub fn register_broker(&self, id: i32, host: &str, port: u16) -> i64 {
        let epoch = {
            let mut s = self.lock();
            let epoch = s.brokers.get(&id).map_or(1, |b| b.epoch.saturating_add(1));
            let restarted = s.brokers.contains_key(&id);
            s.brokers.insert(id, BrokerRegistration { id, host: host.to_string(), port, alive: true, epoch });
            if restarted {
                // It may have lost unflushed data: out of every shared ISR until it catches up.
                s.fence_replica(id, true);
            }
            s.elect_offline();
            epoch
        };
        self.changed();
        epoch
    }

    /// Marks a broker dead or alive (the liveness probe; tests and the simulator may call it too).
    pub fn set_alive(&self, id: i32, alive: bool) {
        {
            let mut s = self.lock();
            let Some(b) = s.brokers.get_mut(&id) else { return };
            if b.alive == alive {
                return;
            }
            b.alive = alive;
            if !alive {
                s.fence_replica(id, false);
            }
            s.elect_offline();
        }
        self.changed();
    }

    pub fn brokers(&self) -> Vec<BrokerRegistration> {
        self.lock().brokers.values().cloned().collect()
    }

    pub fn broker(&self, id: i32) -> Option<BrokerRegistration> {
        self.lock().brokers.get(&id).cloned()
    }

    pub fn topics(&self) -> BTreeMap<String, TopicState> {
        self.lock().topics.clone()
    }

    pub fn topic(&self, name: &str) -> Option<TopicState> {
        self.lock().topics.get(name).cloned()
    }

    pub fn topic_name(&self, id: Uuid) -> Option<String> {
        self.lock().topics.iter().find(|(_, t)| t.id == id).map(|(n, _)| n.clone())
    }

    /// Whether `topic` has partition `partition` (nothing cloned).
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        let s = self.lock();
        s.topics.get(topic).is_some_and(|t| usize::try_from(partition).is_ok_and(|p| p < t.partitions.len()))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionState> {
        let s = self.lock();
        let t = s.topics.get(topic)?;
        t.partitions.get(usize::try_from(partition).ok()?).cloned()
    }

    /// Creates a topic. `partitions`/`replication_factor` of -1 take the
    /// defaults; `assignment` (replicas per partition) overrides placement.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: &[Vec<i32>],
        validate_only: bool,
    ) -> Result<TopicState, ControllerError> {
        let topic = {
            let mut s = self.lock();
            if !valid_topic_name(name) {
                return Err(refuse(
                    ErrorCode::INVALID_TOPIC_EXCEPTION,
                    format!("topic name {name:?} is invalid: use 1-249 of [a-zA-Z0-9._-], not '.' or '..'"),
                ));
            }
            if s.topics.contains_key(name) {
                return Err(refuse(ErrorCode::TOPIC_ALREADY_EXISTS, format!("topic {name:?} already exists")));
            }
            let live: Vec<i32> = s.brokers.values().filter(|b| b.alive).map(|b| b.id).collect();
            let too_many = |count: usize| {
                refuse(
                    ErrorCode::INVALID_PARTITIONS,
                    format!("{count} partitions: this broker model takes at most {MAX_PARTITIONS_PER_TOPIC} per topic"),
                )
            };
            let replica_sets: Vec<Vec<i32>> = if assignment.is_empty() {
                let count = if partitions == -1 { s.config.default_partitions } else { partitions };
                if count <= 0 {
                    return Err(refuse(ErrorCode::INVALID_PARTITIONS, format!("{count} partitions: need at least 1")));
                }
                if count > MAX_PARTITIONS_PER_TOPIC {
                    return Err(too_many(usize::try_from(count).unwrap_or(usize::MAX)));
                }
                let rf = if replication_factor == -1 {
                    s.config.default_replication_factor.min(i16::try_from(live.len()).unwrap_or(i16::MAX)).max(1)
                } else {
                    replication_factor
                };
                let rf_usize = usize::try_from(rf).unwrap_or(0);
                if rf_usize == 0 || rf_usize > live.len() {
                    return Err(refuse(
                        ErrorCode::INVALID_REPLICATION_FACTOR,
                        format!("replication factor {rf}: {} live brokers", live.len()),
                    ));
                }
                // Round robin from a seeded start, as Kafka's rack-unaware placement.
                let start = s.rng.below(live.len());
                (0..count)
                    .map(|p| {
                        let p = usize::try_from(p).unwrap_or(0);
                        (0..rf_usize).filter_map(|r| live.get((start + p + r) % live.len()).copied()).collect()
                    })
                    .collect()
            } else {
                if assignment.len() > MAX_PARTITIONS_PER_TOPIC as usize {
                    return Err(too_many(assignment.len()));
                }
                for replicas in assignment {
                    let mut seen = replicas.clone();
                    seen.sort_unstable();
                    seen.dedup();
                    if replicas.is_empty() || seen.len() != replicas.len() || replicas.iter().any(|r| !s.brokers.contains_key(r)) {
                        return Err(refuse(
                            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                            format!("replica assignment {replicas:?} names an unknown or repeated broker"),
                        ));
                    }
                }
                assignment.to_vec()
            };
            let id = Uuid::from_u64_pair(s.rng.next_u64(), s.rng.next_u64());
            let partitions = replica_sets
                .into_iter()
                .map(|replicas| {
                    let isr: Vec<i32> = replicas.iter().copied().filter(|r| live.contains(r)).collect();
                    let leader = isr.first().copied().unwrap_or(-1);
                    PartitionState { replicas, leader, leader_epoch: 0, isr, partition_epoch: 0 }
                })
                .collect();
            let topic = TopicState { id, partitions };
            if !validate_only {
                s.topics.insert(name.to_string(), topic.clone());
            }
            topic
        };
        if !validate_only {
            self.changed();
        }
        Ok(topic)
    }

    /// AlterPartition (KIP-497): the leader at `leader_epoch` sets the ISR.
    /// Refused if leadership or the partition epoch moved on, or if a new
    /// member is not alive.
    pub fn alter_isr(
        &self,
        topic: &str,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    ) -> Result<PartitionState, ControllerError> {
        let out = {
            let mut s = self.lock();
            let alive: Vec<i32> = s.brokers.values().filter(|b| b.alive).map(|b| b.id).collect();
            let p = s.partition_mut(topic, partition)?;
            if p.leader != leader || p.leader_epoch != leader_epoch {
                return Err(refuse(ErrorCode::FENCED_LEADER_EPOCH, "leadership changed"));
            }
            if p.partition_epoch != partition_epoch {
                return Err(refuse(ErrorCode::INVALID_UPDATE_VERSION, "partition epoch changed"));
            }
            if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
                return Err(refuse(ErrorCode::INVALID_REQUEST, "ISR must hold the leader and replicas only"));
            }
            if isr.iter().any(|r| !p.isr.contains(r) && !alive.contains(r)) {
                return Err(refuse(ErrorCode::INELIGIBLE_REPLICA, "a new ISR member is not alive"));
            }
            p.isr = isr;
            p.partition_epoch = p.partition_epoch.saturating_add(1);
            p.clone()
        };
        self.changed();
        Ok(out)
    }

    /// Moves leadership to `new_leader`, which must be a live ISR member (a preferred-leader
    /// election / leader move). Bumps the leader epoch.
    pub fn move_leader(&self, topic: &str, partition: i32, new_leader: i32) -> Result<PartitionState, ControllerError> {
        let out = {
            let mut s = self.lock();
            let alive = s.brokers.get(&new_leader).is_some_and(|b| b.alive);
            let p = s.partition_mut(topic, partition)?;
            if !alive || !p.isr.contains(&new_leader) {
                return Err(refuse(ErrorCode::INELIGIBLE_REPLICA, format!("broker {new_leader} is not a live ISR member")));
            }
            p.leader = new_leader;
            p.leader_epoch = p.leader_epoch.saturating_add(1);
            p.partition_epoch = p.partition_epoch.saturating_add(1);
            p.clone()
        };
        self.changed();
        Ok(out)
    }

    /// Reassigns a partition to `replicas`. Replicas that stay keep their ISR
    /// membership; new ones start empty, follow the leader and join the ISR
    /// once caught up. Refused if no current ISR member stays (data would be
    /// lost). If the leader leaves, the first remaining live ISR member leads.
    pub fn reassign(&self, topic: &str, partition: i32, replicas: Vec<i32>) -> Result<PartitionState, ControllerError> {
        let out = {
            let mut s = self.lock();
            let known: Vec<i32> = s.brokers.keys().copied().collect();
            let alive: Vec<i32> = s.brokers.values().filter(|b| b.alive).map(|b| b.id).collect();
            let p = s.partition_mut(topic, partition)?;
            let mut seen = replicas.clone();
            seen.sort_unstable();
            seen.dedup();
            if replicas.is_empty() || seen.len() != replicas.len() || replicas.iter().any(|r| !known.contains(r)) {
                return Err(refuse(ErrorCode::INVALID_REPLICA_ASSIGNMENT, format!("{replicas:?}")));
            }
            let isr: Vec<i32> = p.isr.iter().copied().filter(|r| replicas.contains(r)).collect();
            let Some(&fallback) = isr.iter().find(|r| alive.contains(r)) else {
                return Err(refuse(ErrorCode::INVALID_REPLICA_ASSIGNMENT, "no live ISR member would remain"));
            };
            if !replicas.contains(&p.leader) {
                p.leader = fallback;
                p.leader_epoch = p.leader_epoch.saturating_add(1);
            }
            p.replicas = replicas;
            p.isr = isr;
            p.partition_epoch = p.partition_epoch.saturating_add(1);
            p.clone()
        };
        self.changed();
        Ok(out)
    }

    /// Runs forever: probes every registered broker with ApiVersions over
    /// `transport` and declares brokers dead/alive by what gets through.
    pub async fn run_liveness_probe(&self, transport: Arc<dyn Transport>) {
        let config = self.config();
        let mut last_heard: BTreeMap<i32, tokio::time::Instant> = BTreeMap::new();
        loop {
            let now = tokio::time::Instant::now();
            for b in self.brokers() {
                let reply = tokio::time::timeout(config.probe_interval, probe(transport.as_ref(), &b.host, b.port)).await;
                let heard = last_heard.entry(b.id).or_insert(now);
                if matches!(reply, Ok(true)) {
                    *heard = tokio::time::Instant::now();
                    self.set_alive(b.id, true);
                } else if tokio::time::Instant::now().saturating_duration_since(*heard) >= config.session_timeout {
                    self.set_alive(b.id, false);
                }
            }
            tokio::time::sleep(config.probe_interval).await;
        }
    }
}

/// One liveness probe: connect and negotiate (an ApiVersions round trip).
async fn probe(transport: &dyn Transport, host: &str, port: u16) -> bool {
    let config = rill_client::ConnectionConfig { client_id: "rill-controller".to_string(), ..Default::default() };
    let stats = Arc::new(rill_client::stats::BrokerStats::default());
    rill_client::Connection::connect(transport, host, port, config, stats).await.is_ok()
}

impl ControllerState {
    fn partition_mut(&mut self, topic: &str, partition: i32) -> Result<&mut PartitionState, ControllerError> {
        self.topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
            .ok_or_else(|| refuse(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, format!("{topic}-{partition}")))
    }

    /// Takes `id` out of every ISR it shares with others (it died, or it
    /// restarted and may have lost data), and out of leadership there. When
    /// `id` was the only ISR member and it died, the partition goes offline
    /// keeping its ISR; when it restarted, it stays the (only possible)
    /// leader, in a new leader epoch: its log may have lost what it had
    /// written in the old one, and a reader of that epoch must be able to
    /// tell (KIP-320 checks by epoch), as Kafka elects a restarted broker anew.
    fn fence_replica(&mut self, id: i32, restarted: bool) {
        for topic in self.topics.values_mut() {
            for p in &mut topic.partitions {
                if !p.isr.contains(&id) {
                    continue;
                }
                if p.isr.len() > 1 {
                    p.isr.retain(|r| *r != id);
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                    if p.leader == id {
                        p.leader = -1;
                    }
                } else if p.leader == id {
                    if !restarted {
                        p.leader = -1;
                    }
                    p.leader_epoch = p.leader_epoch.saturating_add(1);
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                }
            }
        }
    }

    /// Elects a leader for every offline partition that has a live ISR member.
    fn elect_offline(&mut self) {
        let alive: Vec<i32> = self.brokers.values().filter(|b| b.alive).map(|b| b.id).collect();
        for topic in self.topics.values_mut() {
            for p in &mut topic.partitions {
                if p.leader >= 0 && alive.contains(&p.leader) {
                    continue;
                }
                let candidate = p.replicas.iter().copied().find(|r| p.isr.contains(r) && alive.contains(r));
                let next = candidate.unwrap_or(-1);
                if next != p.leader {
                    p.leader = next;
                    p.leader_epoch = p.leader_epoch.saturating_add(1);
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Controller {
        let c = Controller::new(ControllerConfig::default());
        for id in 1..=3 {
            c.register_broker(id, "h", 9092);
        }
        c
    }

    #[test]
    fn coordinator_moves_visit_every_live_broker() {
        let c = three();
        let at = |c: &Controller| c.coordinator_for("group-a").map(|b| b.id);
        let first = at(&c).unwrap();
        let mut seen = vec![first];
        for _ in 0..2 {
            c.move_coordinators();
            seen.push(at(&c).unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3], "each move names another broker");
        c.move_coordinators();
        assert_eq!(at(&c), Some(first), "three moves later, back where it was");
        // Only live brokers coordinate.
        c.set_alive(first, false);
        for _ in 0..3 {
            c.move_coordinators();
            assert_ne!(at(&c), Some(first));
        }
    }

    #[test]
    fn create_places_replicas_on_distinct_brokers() {
        let c = three();
        let t = c.create_topic("t", 4, 3, &[], false).unwrap();
        for p in &t.partitions {
            let mut r = p.replicas.clone();
            r.sort_unstable();
            assert_eq!(r, vec![1, 2, 3]);
            assert_eq!(p.leader, p.replicas[0]);
        }
        assert_eq!(c.create_topic("t", 1, 1, &[], false).unwrap_err().code, ErrorCode::TOPIC_ALREADY_EXISTS);
        assert_eq!(c.create_topic("t2", 1, 4, &[], false).unwrap_err().code, ErrorCode::INVALID_REPLICATION_FACTOR);
        assert_eq!(c.create_topic("bad/name", 1, 1, &[], false).unwrap_err().code, ErrorCode::INVALID_TOPIC_EXCEPTION);
        assert_eq!(c.create_topic("t3", 0, 1, &[], false).unwrap_err().code, ErrorCode::INVALID_PARTITIONS);
        // A count or an assignment past the cap is refused before anything
        // is built (i32::MAX replica sets would take the process down),
        // also when only validating.
        for validate_only in [true, false] {
            let e = c.create_topic("huge", i32::MAX, 1, &[], validate_only).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_PARTITIONS);
            let too_many = vec![vec![1]; MAX_PARTITIONS_PER_TOPIC as usize + 1];
            assert_eq!(c.create_topic("huge", -1, -1, &too_many, validate_only).unwrap_err().code, ErrorCode::INVALID_PARTITIONS);
        }
        assert_eq!(c.create_topic("largest", MAX_PARTITIONS_PER_TOPIC, 1, &[], true).unwrap().partitions.len(), 10_000);
    }

    #[test]
    fn a_dead_leader_is_replaced_from_the_isr_with_a_new_epoch() {
        let c = three();
        c.create_topic("t", 1, 3, &[vec![1, 2, 3]], false).unwrap();
        c.set_alive(1, false);
        let p = c.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.isr.clone()), (2, 1, vec![2, 3]));
        // Only ISR members may lead: 1 is back but not in the ISR.
        c.set_alive(2, false);
        c.set_alive(3, false);
        let p = c.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (-1, vec![3]));
        c.set_alive(1, true);
        assert_eq!(c.partition("t", 0).unwrap().leader, -1);
        c.set_alive(3, true);
        assert_eq!(c.partition("t", 0).unwrap().leader, 3);
    }

    #[test]
    fn alter_isr_is_fenced_by_epochs_and_liveness() {
        let c = three();
        c.create_topic("t", 1, 3, &[vec![1, 2, 3]], false).unwrap();
        let p = c.alter_isr("t", 0, 1, 0, 0, vec![1, 2]).unwrap();
        assert_eq!(p.partition_epoch, 1);
        assert_eq!(c.alter_isr("t", 0, 1, 0, 0, vec![1]).unwrap_err().code, ErrorCode::INVALID_UPDATE_VERSION);
        assert_eq!(c.alter_isr("t", 0, 2, 0, 1, vec![2]).unwrap_err().code, ErrorCode::FENCED_LEADER_EPOCH);
        c.set_alive(3, false);
        assert_eq!(c.alter_isr("t", 0, 1, 0, 1, vec![1, 2, 3]).unwrap_err().code, ErrorCode::INELIGIBLE_REPLICA);
        let moved = c.move_leader("t", 0, 2).unwrap();
        assert_eq!((moved.leader, moved.leader_epoch), (2, 1));
        let r = c.reassign("t", 0, vec![3, 1]).unwrap();
        assert_eq!((r.leader, r.isr.clone()), (1, vec![1]));
    }

    #[test]
    fn a_restarted_broker_leaves_shared_isrs() {
        let c = three();
        c.create_topic("t", 1, 3, &[vec![1, 2, 3]], false).unwrap();
        c.register_broker(1, "h", 9092);
        let p = c.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2, 3]));
    }

    /// The only ISR member restarts before anyone marks it dead: it leads
    /// again, but in a new epoch (it may have lost what it wrote in the old
    /// one; readers of that epoch find out by epoch, KIP-320).
    #[test]
    fn a_restarted_sole_leader_leads_in_a_new_epoch() {
        let c = three();
        c.create_topic("t", 1, 1, &[vec![1]], false).unwrap();
        let before = c.partition("t", 0).unwrap();
        c.register_broker(1, "h", 9092);
        let after = c.partition("t", 0).unwrap();
        assert_eq!((after.leader, after.isr.clone()), (1, vec![1]));
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        assert!(after.partition_epoch > before.partition_epoch);
    }
}
