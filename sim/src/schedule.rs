//! The fault schedule: turns a seed's [`Swarm`] into concrete fault actions
//! over simulated time. Pure (no turmoil): the wiring asks it what to do at
//! each scheduling tick and carries the actions out, so the schedule itself
//! is unit-tested and replays exactly from the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_client::backoff::Rng;

use crate::swarm::{FaultKind, Mode, Swarm};

/// The hosts and objects faults can hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Broker host names (turmoil hosts).
    pub brokers: Vec<String>,
    /// Client host names (producers, consumers).
    pub clients: Vec<String>,
    /// How many partitions leadership moves can pick from.
    pub partitions: usize,
    /// How many group members can crash.
    pub members: usize,
}

/// A retriable error a broker can be told to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InjectedError {
    NotLeaderOrFollower,
    RequestTimedOut,
    CoordinatorLoadInProgress,
    NotEnoughReplicas,
}

impl InjectedError {
    pub const ALL: [InjectedError; 4] = [
        InjectedError::NotLeaderOrFollower,
        InjectedError::RequestTimedOut,
        InjectedError::CoordinatorLoadInProgress,
        InjectedError::NotEnoughReplicas,
    ];
}

/// One thing the wiring must do now.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    CrashBroker {
        broker: String,
    },
    RestartBroker {
        broker: String,
    },
    Partition {
        a: String,
        b: String,
    },
    Heal {
        a: String,
        b: String,
    },
    PartitionOneWay {
        from: String,
        to: String,
    },
    HealOneWay {
        from: String,
        to: String,
    },
    /// Hold the link's messages (delivered on [`FaultAction::ResetLatency`]).
    SetLatency {
        a: String,
        b: String,
        latency: Duration,
    },
    ResetLatency {
        a: String,
        b: String,
    },
    /// Cut the client's open connections to the broker (healed by a [`FaultAction::Heal`]).
    BreakConnections {
        client: String,
        broker: String,
    },
    /// Move leadership of partition number `partition` (in the workload's order).
    MoveLeader {
        partition: usize,
    },
    MoveCoordinator,
    CrashMember {
        member: usize,
    },
    RestartMember {
        member: usize,
    },
    /// Reassign partition number `partition` to its replicas but the one at
    /// `drop` (modulo their number).
    ShrinkReplicas {
        partition: usize,
        drop: usize,
    },
    /// Reassign partition number `partition` to every broker again.
    RestoreReplicas {
        partition: usize,
    },
    /// The broker answers its next `count` requests with `error`.
    InjectError {
        broker: String,
        error: InjectedError,
        count: u32,
    },
}

impl FaultAction {
    /// The kind of fault this action starts, `None` for the actions that end one.
    pub fn starts(&self) -> Option<FaultKind> {
        Some(match self {
            FaultAction::CrashBroker { .. } => FaultKind::BrokerCrash,
            FaultAction::Partition { .. } => FaultKind::Partition,
            FaultAction::PartitionOneWay { .. } => FaultKind::OneWayPartition,
            FaultAction::SetLatency { .. } => FaultKind::LatencySpike,
            FaultAction::BreakConnections { .. } => FaultKind::ConnectionBreak,
            FaultAction::MoveLeader { .. } => FaultKind::LeaderMove,
            FaultAction::MoveCoordinator => FaultKind::CoordinatorMove,
            FaultAction::CrashMember { .. } => FaultKind::MemberCrash,
            FaultAction::InjectError { .. } => FaultKind::RetriableError,
            FaultAction::ShrinkReplicas { .. } => FaultKind::Reassignment,
            FaultAction::RestoreReplicas { .. }
            | FaultAction::RestartBroker { .. }
            | FaultAction::Heal { .. }
            | FaultAction::HealOneWay { .. }
            | FaultAction::ResetLatency { .. }
            | FaultAction::RestartMember { .. } => return None,
        })
    }

    /// The kind of fault this action belongs to (starting or ending it).
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::RestartBroker { .. } => FaultKind::BrokerCrash,
            FaultAction::Heal { .. } => FaultKind::Partition,
            FaultAction::HealOneWay { .. } => FaultKind::OneWayPartition,
            FaultAction::ResetLatency { .. } => FaultKind::LatencySpike,
            FaultAction::RestartMember { .. } => FaultKind::MemberCrash,
            FaultAction::RestoreReplicas { .. } => FaultKind::Reassignment,
            other => other.starts().unwrap_or(FaultKind::BrokerCrash),
        }
    }
}

/// Decides, tick by tick, which faults start and when they heal.
#[derive(Debug)]
pub struct Scheduler {
    swarm: Swarm,
    mode: Mode,
    topology: Topology,
    rng: Rng,
    /// How often faults may start.
    pub tick: Duration,
    /// Active faults: the action that ends each, by the time it is due.
    /// A BTreeMap keyed by (due, sequence) keeps the order deterministic.
    pending_heals: BTreeMap<(Duration, u64), FaultAction>,
    next_id: u64,
    stopped: bool,
    started: BTreeMap<FaultKind, u64>,
}

impl Scheduler {
    pub fn new(swarm: Swarm, mode: Mode, topology: Topology, rng: Rng) -> Self {
        Scheduler {
            swarm,
            mode,
            topology,
            rng,
            tick: Duration::from_millis(100),
            pending_heals: BTreeMap::new(),
            next_id: 0,
            stopped: false,
            started: BTreeMap::new(),
        }
    }

    pub fn swarm(&self) -> &Swarm {
        &self.swarm
    }

    /// Faults started so far, by kind.
    pub fn started(&self) -> &BTreeMap<FaultKind, u64> {
        &self.started
    }

    /// Whether faults have stopped for good (liveness mode past its bound)
    /// and every active one has healed.
    pub fn quiet(&self) -> bool {
        self.stopped && self.pending_heals.is_empty()
    }

    /// Stops faults now: the next [`actions`](Self::actions) heals every active one.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// The actions due at simulated time `now` (called once per [`tick`](Self::tick)).
    pub fn actions(&mut self, now: Duration) -> Vec<FaultAction> {
        let mut out = Vec::new();
        let stop_at = self.mode.faults_stop_at();
        if !self.stopped && stop_at.is_some_and(|stop| now >= stop) {
            self.stopped = true;
        }
        // Heals that are due; all of them once faults have stopped.
        let due: Vec<(Duration, u64)> = self.pending_heals.keys().filter(|(at, _)| self.stopped || *at <= now).copied().collect();
        for key in due {
            if let Some(action) = self.pending_heals.remove(&key) {
                out.push(action);
            }
        }
        if self.stopped {
            return out;
        }
        let kinds: Vec<(FaultKind, f64)> = self.swarm.rates.iter().map(|(k, r)| (*k, *r)).collect();
        for (kind, rate) in kinds {
            if self.rng.next_f64() >= rate {
                continue;
            }
            if let Some(action) = self.start(kind, now) {
                *self.started.entry(kind).or_insert(0) += 1;
                out.push(action);
            }
        }
        out
    }

    fn pick<'a>(&mut self, names: &'a [String]) -> Option<&'a String> {
        names.get(self.rng.below(names.len()))
    }

    /// A fault duration, log-uniform between `min` and `max`.
    fn duration(&mut self, min: Duration, max: Duration) -> Duration {
        let ratio = max.as_secs_f64() / min.as_secs_f64().max(1e-3);
        Duration::from_secs_f64(min.as_secs_f64() * ratio.powf(self.rng.next_f64()))
    }

    fn heal_at(&mut self, at: Duration, action: FaultAction) {
        self.next_id += 1;
        self.pending_heals.insert((at, self.next_id), action);
    }

    fn is_healing(&self, pred: impl Fn(&FaultAction) -> bool) -> bool {
        self.pending_heals.values().any(pred)
    }

    /// Two distinct hosts among brokers and clients, at least one a broker.
    fn pair(&mut self) -> Option<(String, String)> {
        let brokers = self.topology.brokers.clone();
        let a = self.pick(&brokers)?.clone();
        let mut others: Vec<String> = brokers.iter().chain(self.topology.clients.iter()).filter(|h| **h != a).cloned().collect();
        others.sort();
        let b = self.pick(&others)?.clone();
        Some(if self.rng.next_u64() & 1 == 1 { (a, b) } else { (b, a) })
    }

    fn start(&mut self, kind: FaultKind, now: Duration) -> Option<FaultAction> {
        let topology = self.topology.clone();
        match kind {
            FaultKind::BrokerCrash => {
                // Keep a majority of brokers up: with every broker down no
                // invariant is exercised, only waiting.
                let down = self.pending_heals.values().filter(|a| matches!(a, FaultAction::RestartBroker { .. })).count();
                if (down + 1) * 2 > topology.brokers.len() && topology.brokers.len() > 1 {
                    return None;
                }
                let broker = self.pick(&topology.brokers)?.clone();
                if self.is_healing(|a| matches!(a, FaultAction::RestartBroker { broker: b } if *b == broker)) {
                    return None;
                }
                let d = self.duration(Duration::from_millis(200), Duration::from_secs(10));
                self.heal_at(now + d, FaultAction::RestartBroker { broker: broker.clone() });
                Some(FaultAction::CrashBroker { broker })
            }
            FaultKind::Partition => {
                let (a, b) = self.pair()?;
                let d = self.duration(Duration::from_millis(100), Duration::from_secs(15));
                self.heal_at(now + d, FaultAction::Heal { a: a.clone(), b: b.clone() });
                Some(FaultAction::Partition { a, b })
            }
            FaultKind::OneWayPartition => {
                let (from, to) = self.pair()?;
                let d = self.duration(Duration::from_millis(100), Duration::from_secs(15));
                self.heal_at(now + d, FaultAction::HealOneWay { from: from.clone(), to: to.clone() });
                Some(FaultAction::PartitionOneWay { from, to })
            }
            FaultKind::LatencySpike => {
                let (a, b) = self.pair()?;
                // Messages on the link are held for `latency`, then delivered.
                let latency = self.duration(Duration::from_millis(20), Duration::from_secs(5));
                self.heal_at(now + latency, FaultAction::ResetLatency { a: a.clone(), b: b.clone() });
                Some(FaultAction::SetLatency { a, b, latency })
            }
            FaultKind::ConnectionBreak => {
                let client = self.pick(&topology.clients)?.clone();
                let broker = self.pick(&topology.brokers)?.clone();
                // turmoil has no reset: a short partition drops the segments in
                // flight, which stalls the open streams until the client's
                // request timeout closes them.
                self.heal_at(now + Duration::from_millis(300), FaultAction::Heal { a: client.clone(), b: broker.clone() });
                Some(FaultAction::BreakConnections { client, broker })
            }
            FaultKind::LeaderMove => {
                if topology.partitions == 0 || topology.brokers.len() < 2 {
                    return None;
                }
                Some(FaultAction::MoveLeader { partition: self.rng.below(topology.partitions) })
            }
            FaultKind::CoordinatorMove => (topology.brokers.len() > 1).then_some(FaultAction::MoveCoordinator),
            FaultKind::MemberCrash => {
                if topology.members == 0 {
                    return None;
                }
                let member = self.rng.below(topology.members);
                if self.is_healing(|a| matches!(a, FaultAction::RestartMember { member: m } if *m == member)) {
                    return None;
                }
                let d = self.duration(Duration::from_millis(200), Duration::from_secs(20));
                self.heal_at(now + d, FaultAction::RestartMember { member });
                Some(FaultAction::CrashMember { member })
            }
            FaultKind::Reassignment => {
                if topology.partitions == 0 || topology.brokers.len() < 2 {
                    return None;
                }
                let partition = self.rng.below(topology.partitions);
                if self.is_healing(|a| matches!(a, FaultAction::RestoreReplicas { partition: p } if *p == partition)) {
                    return None;
                }
                let drop = self.rng.below(topology.brokers.len());
                let d = self.duration(Duration::from_millis(200), Duration::from_secs(10));
                self.heal_at(now + d, FaultAction::RestoreReplicas { partition });
                Some(FaultAction::ShrinkReplicas { partition, drop })
            }
            FaultKind::RetriableError => {
                let broker = self.pick(&topology.brokers)?.clone();
                let error = InjectedError::ALL.get(self.rng.below(InjectedError::ALL.len())).copied()?;
                let count = 1 + self.rng.below(5) as u32;
                Some(FaultAction::InjectError { broker, error, count })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology { brokers: vec!["b0".into(), "b1".into(), "b2".into()], clients: vec!["producer0".into()], partitions: 4, members: 0 }
    }

    fn run(seed: u64, mode: Mode, secs: u64) -> Vec<(Duration, FaultAction)> {
        let mut rng = Rng::new(seed);
        let swarm = Swarm::draw(&mut rng, &FaultKind::ALL);
        let mut s = Scheduler::new(swarm, mode, topology(), rng);
        let mut out = Vec::new();
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(secs) {
            for a in s.actions(now) {
                out.push((now, a));
            }
            now += s.tick;
        }
        out
    }

    #[test]
    fn same_seed_same_schedule() {
        assert_eq!(run(9, Mode::Safety, 60), run(9, Mode::Safety, 60));
        assert_ne!(run(9, Mode::Safety, 60), run(10, Mode::Safety, 60));
    }

    #[test]
    fn liveness_mode_heals_everything_and_stops_at_the_bound() {
        let mode = Mode::Liveness { faults_for: Duration::from_secs(10), recover_within: Duration::from_secs(5) };
        for seed in 0..50 {
            let actions = run(seed, mode, 60);
            assert!(actions.iter().all(|(at, a)| *at <= Duration::from_secs(10) || a.starts().is_none()), "seed {seed}");
            // Every crash has its restart, every partition its heal.
            let count = |f: fn(&FaultAction) -> bool| actions.iter().filter(|(_, a)| f(a)).count();
            assert_eq!(count(|a| matches!(a, FaultAction::CrashBroker { .. })), count(|a| matches!(a, FaultAction::RestartBroker { .. })));
            assert_eq!(
                count(|a| matches!(a, FaultAction::Partition { .. } | FaultAction::BreakConnections { .. })),
                count(|a| matches!(a, FaultAction::Heal { .. }))
            );
            assert_eq!(count(|a| matches!(a, FaultAction::SetLatency { .. })), count(|a| matches!(a, FaultAction::ResetLatency { .. })));
            assert_eq!(
                count(|a| matches!(a, FaultAction::ShrinkReplicas { .. })),
                count(|a| matches!(a, FaultAction::RestoreReplicas { .. }))
            );
            assert!(actions.iter().all(|(at, _)| *at <= Duration::from_secs(10)), "seed {seed}: heals at the bound");
        }
    }

    #[test]
    fn never_crashes_a_majority_of_brokers() {
        let swarm = Swarm::fixed([(FaultKind::BrokerCrash, 1.0)]);
        let mut s = Scheduler::new(swarm, Mode::Safety, topology(), Rng::new(1));
        let mut down = std::collections::BTreeSet::new();
        let mut now = Duration::ZERO;
        let mut crashes = 0;
        while now < Duration::from_secs(120) {
            for a in s.actions(now) {
                match a {
                    FaultAction::CrashBroker { broker } => {
                        assert!(down.insert(broker));
                        crashes += 1;
                    }
                    FaultAction::RestartBroker { broker } => assert!(down.remove(&broker)),
                    other => panic!("{other:?}"),
                }
                assert!(down.len() <= 1);
            }
            now += s.tick;
        }
        assert!(crashes > 5, "{crashes}");
        assert_eq!(s.started().get(&FaultKind::BrokerCrash), Some(&crashes));
    }

    #[test]
    fn a_partition_is_shrunk_once_at_a_time_and_always_restored() {
        let swarm = Swarm::fixed([(FaultKind::Reassignment, 1.0)]);
        let mut s = Scheduler::new(swarm, Mode::Safety, topology(), Rng::new(3));
        let mut shrunk = std::collections::BTreeSet::new();
        let mut shrinks = 0;
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(60) {
            for a in s.actions(now) {
                match a {
                    FaultAction::ShrinkReplicas { partition, drop } => {
                        assert!(shrunk.insert(partition), "partition {partition} shrunk twice");
                        assert!(partition < 4 && drop < 3, "{partition} {drop}");
                        shrinks += 1;
                    }
                    FaultAction::RestoreReplicas { partition } => assert!(shrunk.remove(&partition), "{partition} not shrunk"),
                    other => panic!("{other:?}"),
                }
            }
            now += s.tick;
        }
        assert!(shrinks > 10, "{shrinks}");
        s.stop();
        for a in s.actions(now) {
            if let FaultAction::RestoreReplicas { partition } = a {
                shrunk.remove(&partition);
            }
        }
        assert!(shrunk.is_empty() && s.quiet(), "left shrunk: {shrunk:?}");
    }
}
