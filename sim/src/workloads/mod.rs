//! Workloads: what the simulated clients do, and how one seed runs.

mod schedule_only;

use std::fmt;

use clap::ValueEnum;

use crate::runner::SeedReport;
use crate::swarm::Mode;

/// The workloads the runner can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Workload {
    /// The fault schedule alone, without a cluster (a dry run of the swarm).
    #[default]
    Schedule,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Schedule => "schedule",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs one seed of `workload`.
pub fn run(workload: Workload, seed: u64, mode: Mode) -> SeedReport {
    match workload {
        Workload::Schedule => schedule_only::run(seed, mode),
    }
}
