//! The fault swarm (TigerBeetle VOPR style): each seed enables a random
//! subset of fault kinds, each with its own random rate, so that across
//! seeds some runs hammer one fault and others mix several at low rates.
//! A fixed mix would hide bugs that only show when one fault dominates.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rill_client::backoff::Rng;

/// Every kind of fault the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A broker crashes (losing what it had not flushed) and restarts later.
    BrokerCrash,
    /// Two hosts cannot reach each other, both ways.
    Partition,
    /// Messages from one host to another are dropped, the other way works.
    OneWayPartition,
    /// A link's latency jumps for a while.
    LatencySpike,
    /// A client's connections to a broker are cut (a brief partition).
    ConnectionBreak,
    /// A partition's leadership moves to another replica (reassignment).
    LeaderMove,
    /// The group coordinator moves to another broker.
    CoordinatorMove,
    /// A consumer-group member crashes and comes back.
    MemberCrash,
    /// A broker answers with a retriable error (NOT_LEADER_OR_FOLLOWER,
    /// REQUEST_TIMED_OUT, COORDINATOR_LOAD_IN_PROGRESS, ...).
    RetriableError,
    /// A partition is reassigned to all its replicas but one (leadership
    /// moves if the leader is the one dropped), and back to all of them
    /// later: the returning replica catches up from the log it kept.
    Reassignment,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::BrokerCrash,
        FaultKind::Partition,
        FaultKind::OneWayPartition,
        FaultKind::LatencySpike,
        FaultKind::ConnectionBreak,
        FaultKind::LeaderMove,
        FaultKind::CoordinatorMove,
        FaultKind::MemberCrash,
        FaultKind::RetriableError,
        FaultKind::Reassignment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::BrokerCrash => "broker-crash",
            FaultKind::Partition => "partition",
            FaultKind::OneWayPartition => "one-way-partition",
            FaultKind::LatencySpike => "latency-spike",
            FaultKind::ConnectionBreak => "connection-break",
            FaultKind::LeaderMove => "leader-move",
            FaultKind::CoordinatorMove => "coordinator-move",
            FaultKind::MemberCrash => "member-crash",
            FaultKind::RetriableError => "retriable-error",
            FaultKind::Reassignment => "reassignment",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether faults stop so that progress must resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Faults stop after `faults_for`; afterwards every workload must make
    /// progress (and consumers catch up) within `recover_within`.
    Liveness { faults_for: Duration, recover_within: Duration },
    /// Faults never stop; only safety invariants are checked.
    Safety,
}

impl Mode {
    pub fn liveness() -> Self {
        Mode::Liveness { faults_for: Duration::from_secs(20), recover_within: Duration::from_secs(30) }
    }

    /// When faults stop, if they do.
    pub fn faults_stop_at(&self) -> Option<Duration> {
        match self {
            Mode::Liveness { faults_for, .. } => Some(*faults_for),
            Mode::Safety => None,
        }
    }
}

/// The fault mix of one seed: the enabled kinds and, per kind, the chance
/// per scheduling tick that a new fault of that kind starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Swarm {
    pub rates: BTreeMap<FaultKind, f64>,
}

impl Swarm {
    /// Draws a mix from `rng`, restricted to the kinds the workload supports
    /// (`available`). Each kind is on with probability 1/2; at least one is on
    /// whenever any is available. Rates are log-uniform in [1/200, 1/5] per tick,
    /// so a seed sees anywhere from rare to constant faults of a kind.
    pub fn draw(rng: &mut Rng, available: &[FaultKind]) -> Self {
        let mut rates = BTreeMap::new();
        for kind in FaultKind::ALL {
            // Draw for every kind so that the mix of one kind does not depend
            // on which others a workload supports.
            let on = rng.next_u64() & 1 == 1;
            let rate = (1.0 / 200.0) * 40f64.powf(rng.next_f64());
            if on && available.contains(&kind) {
                rates.insert(kind, rate);
            }
        }
        if rates.is_empty() && !available.is_empty() {
            let kind = available.get(rng.below(available.len())).copied();
            if let Some(kind) = kind {
                rates.insert(kind, 1.0 / 20.0);
            }
        }
        Swarm { rates }
    }

    /// A swarm with exactly these kinds at these rates (for tests and replays).
    pub fn fixed(rates: impl IntoIterator<Item = (FaultKind, f64)>) -> Self {
        Swarm { rates: rates.into_iter().collect() }
    }

    pub fn rate(&self, kind: FaultKind) -> f64 {
        self.rates.get(&kind).copied().unwrap_or(0.0)
    }
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rates.is_empty() {
            return f.write_str("no faults");
        }
        for (i, (kind, rate)) in self.rates.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{kind}={rate:.3}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_swarm_and_seeds_differ() {
        let draw = |seed| Swarm::draw(&mut Rng::new(seed), &FaultKind::ALL);
        assert_eq!(draw(5), draw(5));
        let distinct: std::collections::BTreeSet<String> = (0..50).map(|s| draw(s).to_string()).collect();
        assert!(distinct.len() > 40, "{distinct:?}");
    }

    #[test]
    fn only_available_kinds_are_enabled_and_at_least_one() {
        let available = [FaultKind::BrokerCrash, FaultKind::Partition];
        let mut counts = BTreeMap::new();
        for seed in 0..200 {
            let swarm = Swarm::draw(&mut Rng::new(seed), &available);
            assert!(!swarm.rates.is_empty());
            for (kind, rate) in &swarm.rates {
                assert!(available.contains(kind), "{kind}");
                assert!((1.0 / 200.0..=1.0 / 5.0 + 1e-9).contains(rate), "{rate}");
                *counts.entry(*kind).or_insert(0) += 1;
            }
        }
        // Both kinds show up across seeds, neither in all of them.
        assert!(counts.values().all(|&n| n > 50 && n < 200), "{counts:?}");
        assert!(Swarm::draw(&mut Rng::new(1), &[]).rates.is_empty());
    }
}
