//! `cargo run -p rill-sim -- --seeds N [--seed S] [--mode liveness|safety]`
//!
//! Runs seeds across all cores (one turmoil simulation per thread), prints
//! the first failing seed with the command that replays it with trace logs,
//! and a summary. Exits non-zero when any seed failed.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use rill_sim::runner::{run_seeds, timed, Summary};
use rill_sim::swarm::Mode;
use rill_sim::workloads::{self, Bug, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Faults stop after a bound; progress must resume.
    Liveness,
    /// Faults never stop; only safety invariants are checked.
    Safety,
}

#[derive(Debug, Parser)]
#[command(name = "rill-sim", about = "Deterministic simulation of a rill cluster under a per-seed fault swarm")]
struct Args {
    /// How many seeds to run (from --seed on, or from 0).
    #[arg(long)]
    seeds: Option<u64>,
    /// The first (or only) seed.
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value = "liveness")]
    mode: ModeArg,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Workload::default())]
    workload: Workload,
    /// Switch on a deliberate broker bug (repeatable); the run should then fail.
    #[arg(long = "bug", value_enum)]
    bugs: Vec<Bug>,
    /// Threads to run seeds on (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let mode = match args.mode {
        ModeArg::Liveness => Mode::liveness(),
        ModeArg::Safety => Mode::Safety,
    };
    let first = args.seed.unwrap_or(0);
    let count = args.seeds.unwrap_or(1);
    let seeds: Vec<u64> = (first..first.saturating_add(count)).collect();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let workload = args.workload;
    let bugs = args.bugs.clone();
    let (reports, wall) = timed(|| run_seeds(&seeds, threads, |seed| workloads::run(workload, seed, mode, &bugs)));
    if seeds.len() == 1 {
        for report in &reports {
            println!("seed {}: swarm [{}], trace hash {:016x}", report.seed, report.swarm, report.trace_hash);
            for v in &report.violations {
                println!("  {v}");
            }
            if let Some(e) = &report.error {
                println!("  error: {e}");
            }
        }
    }
    let mut extra = format!("--workload {}", workload.name());
    for bug in &args.bugs {
        extra.push_str(&format!(" --bug {}", bug.name()));
    }
    let summary = Summary::of(&reports, wall, threads, mode, &extra);
    println!("{summary}");
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
