//! Workloads: what the simulated clients do, and how one seed runs.

mod drive;
pub mod group;
pub mod producer;
mod schedule_only;
pub mod transactional;

use std::fmt;

use clap::ValueEnum;

use rill_broker::disk::FlushPolicy;
use rill_broker::faults::BugSwitches;
use rill_client::config::AssignmentStrategy;

use crate::runner::SeedReport;
use crate::swarm::Mode;

/// The workloads the runner can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Workload {
    /// Idempotent producers (acks=all) against one broker that crashes, is
    /// partitioned, delayed and answers retriable errors.
    #[default]
    SingleNode,
    /// Idempotent producers (acks=all) against three brokers with replication
    /// factor 3 and min.insync.replicas 2: crashes, partitions, leader moves.
    Replicated,
    /// The fault schedule alone, without a cluster (a dry run of the swarm).
    Schedule,
    /// Transactional producers (commits and aborts) and a read_committed
    /// consumer against three brokers (replication factor 3).
    Transactional,
    /// A 3-member consumer group (range assignor) committing after
    /// processing, idempotent producers, three brokers; member crashes and
    /// coordinator moves among the faults.
    GroupRange,
    /// The consumer-group workload with the roundrobin assignor.
    GroupRoundrobin,
    /// The consumer-group workload with the cooperative-sticky assignor (KIP-429).
    GroupCooperativeSticky,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::SingleNode => "single-node",
            Workload::Replicated => "replicated",
            Workload::Schedule => "schedule",
            Workload::Transactional => "transactional",
            Workload::GroupRange => "group-range",
            Workload::GroupRoundrobin => "group-roundrobin",
            Workload::GroupCooperativeSticky => "group-cooperative-sticky",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A deliberate broker bug to switch on (the checkers must catch it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bug {
    /// acks=all answered before the ISR has the records.
    AcksAllBeforeIsr,
    /// Producer sequence numbers not checked: retries appended again.
    IgnoreSequenceNumbers,
    /// A stale generation's commit that rewinds an offset is accepted.
    AcceptRewindingCommit,
    /// read_committed fetches get no aborted transactions (the aborted index is not served).
    OmitAbortedTransactions,
    /// Not the broker's: group members commit polled offsets before
    /// processing the records (the application bug commit-after-process avoids).
    CommitBeforeProcess,
    /// Not the broker's: group members' consumers ignore log truncation
    /// (KIP-320), so after a leader lost records they had read they fetch on
    /// from their position. Needs a lossy `--flush` to have truncations.
    SkipTruncationDetection,
    /// Not the broker's: the transactional producer's sender drops batches
    /// ready beside partitions still to be added to the transaction (the
    /// bug of 082dc6b); the run hangs (`--expect run-error`).
    DropBatchesBesideAddedPartitions,
}

impl Bug {
    pub fn name(self) -> &'static str {
        match self {
            Bug::AcksAllBeforeIsr => "acks-all-before-isr",
            Bug::IgnoreSequenceNumbers => "ignore-sequence-numbers",
            Bug::AcceptRewindingCommit => "accept-rewinding-commit",
            Bug::OmitAbortedTransactions => "omit-aborted-transactions",
            Bug::CommitBeforeProcess => "commit-before-process",
            Bug::SkipTruncationDetection => "skip-truncation-detection",
            Bug::DropBatchesBesideAddedPartitions => "drop-batches-beside-added-partitions",
        }
    }

    /// The broker's switches with these bugs on.
    pub fn switches(bugs: &[Bug]) -> BugSwitches {
        BugSwitches {
            acks_all_before_isr: bugs.contains(&Bug::AcksAllBeforeIsr),
            ignore_sequence_numbers: bugs.contains(&Bug::IgnoreSequenceNumbers),
            accept_rewinding_commit: bugs.contains(&Bug::AcceptRewindingCommit),
            omit_aborted_transactions: bugs.contains(&Bug::OmitAbortedTransactions),
        }
    }
}

/// What a run changes from a workload's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Broker bugs to switch on.
    pub bugs: Vec<Bug>,
    /// Partitions of the topic instead of the workload's count.
    pub partitions: Option<i32>,
    /// The brokers' flush policy instead of the workload's.
    pub flush: Option<Flush>,
}

/// When brokers make appended data durable (what a crash keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flush {
    /// Every append before it is acknowledged (a crash loses nothing acknowledged).
    EveryAppend,
    /// Never by itself: a crash loses the broker's whole log (Kafka's default
    /// of durability by replication, at its extreme).
    Manual,
    /// Every second: a crash loses up to the last second.
    EverySecond,
}

impl Flush {
    pub fn policy(self) -> FlushPolicy {
        match self {
            Flush::EveryAppend => FlushPolicy::EveryAppend,
            Flush::Manual => FlushPolicy::Manual,
            Flush::EverySecond => FlushPolicy::Interval(std::time::Duration::from_secs(1)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flush::EveryAppend => "every-append",
            Flush::Manual => "manual",
            Flush::EverySecond => "every-second",
        }
    }
}

/// Runs one seed of `workload` with `options`.
pub fn run(workload: Workload, seed: u64, mode: Mode, options: &Options) -> SeedReport {
    let adjust = |mut scenario: crate::scenario::Scenario| {
        scenario.bugs = Bug::switches(&options.bugs);
        if let Some(partitions) = options.partitions {
            scenario.partitions = partitions;
        }
        if let Some(flush) = options.flush {
            scenario.flush = flush.policy();
        }
        scenario
    };
    match workload {
        Workload::SingleNode => crate::scenario::run(seed, &adjust(crate::scenario::Scenario::single_node(mode))),
        Workload::Replicated => crate::scenario::run(seed, &adjust(crate::scenario::Scenario::replicated(mode))),
        Workload::Schedule => schedule_only::run(seed, mode),
        Workload::Transactional => {
            let flush = options.flush.map(Flush::policy);
            let drop_batches = options.bugs.contains(&Bug::DropBatchesBesideAddedPartitions);
            transactional::run(seed, mode, flush, Bug::switches(&options.bugs), drop_batches)
        }
        Workload::GroupRange => group::run(seed, mode, AssignmentStrategy::Range, options),
        Workload::GroupRoundrobin => group::run(seed, mode, AssignmentStrategy::RoundRobin, options),
        Workload::GroupCooperativeSticky => group::run(seed, mode, AssignmentStrategy::CooperativeSticky, options),
    }
}
