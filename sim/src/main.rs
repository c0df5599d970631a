//! `cargo run -p rill-sim -- --seeds N [--seed S] [--mode liveness|safety]`
//!
//! Runs seeds across all cores (one turmoil simulation per thread), prints
//! the first failing seed with the command that replays it with trace logs,
//! and a summary. Exits non-zero when any seed failed.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use rill_sim::runner::{run_in_child, run_seeds, timed, SeedReport, Summary};
use rill_sim::swarm::Mode;
use rill_sim::workloads::{self, Bug, Flush, Options, Workload};

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
    /// Partitions of the topic (default: the workload's).
    #[arg(long)]
    partitions: Option<i32>,
    /// The brokers' flush policy (default: the workload's, every append).
    #[arg(long, value_enum)]
    flush: Option<Flush>,
    /// Run every seed twice and fail seeds whose traces differ (determinism check).
    #[arg(long)]
    replay_check: bool,
    /// Expect this violation kind (e.g. lost-write; `run-error` for a run that
    /// failed, such as a hang) in at least one seed: exit success only then
    /// (sensitivity checks with --bug).
    #[arg(long)]
    expect: Option<String>,
    /// Internal: run the one seed in this process and print its report for the parent.
    #[arg(long, hide = true)]
    child: bool,
    /// Threads to run seeds on (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Fails `first` if `again` (the same seed) did not replay its trace.
fn check_replay(mut first: SeedReport, again: &SeedReport) -> SeedReport {
    if first.trace_hash != again.trace_hash {
        let hint = if rill_sim::runner::TOKIO_SEEDED { "" } else { " (built without --cfg tokio_unstable)" };
        first.error =
            first.error.or(Some(format!("not deterministic: trace hash {:016x}, then {:016x}{hint}", first.trace_hash, again.trace_hash)));
    }
    first.simulated += again.simulated;
    first
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_timer(rill_sim::clock::SimTime).with_writer(std::io::stderr).init();

    let mode = match args.mode {
        ModeArg::Liveness => Mode::liveness(),
        ModeArg::Safety => Mode::Safety,
    };
    let first = args.seed.unwrap_or(0);
    let count = args.seeds.unwrap_or(1);
    let seeds: Vec<u64> = (first..first.saturating_add(count)).collect();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let workload = args.workload;
    let bugs = args.bugs.clone();
    let options = Options { bugs: bugs.clone(), partitions: args.partitions, flush: args.flush };
    let replay_check = args.replay_check;
    let mode_name = match args.mode {
        ModeArg::Liveness => "liveness",
        ModeArg::Safety => "safety",
    };
    let mut child_args = vec!["--child".to_string(), "--mode".into(), mode_name.into(), "--workload".into(), workload.name().into()];
    for bug in &bugs {
        child_args.extend(["--bug".to_string(), bug.name().to_string()]);
    }
    if let Some(partitions) = args.partitions {
        child_args.extend(["--partitions".to_string(), partitions.to_string()]);
    }
    if let Some(flush) = args.flush {
        child_args.extend(["--flush".to_string(), flush.name().to_string()]);
    }
    if args.child {
        let report = workloads::run(workload, first, mode, &options);
        print!("{}", report.to_lines());
        return ExitCode::SUCCESS;
    }
    // One process per seed when running several (or replaying): see `run_in_child`.
    let exe = std::env::current_exe().ok().filter(|_| seeds.len() > 1 || replay_check);
    let run_one = |seed: u64| match &exe {
        Some(exe) => run_in_child(exe, &child_args, seed),
        None => workloads::run(workload, seed, mode, &options),
    };
    let (reports, wall) = timed(|| {
        run_seeds(&seeds, threads, |seed| {
            let report = run_one(seed);
            if replay_check {
                let again = run_one(seed);
                return check_replay(report, &again);
            }
            report
        })
    });
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
    if let Some(partitions) = args.partitions {
        extra.push_str(&format!(" --partitions {partitions}"));
    }
    if let Some(flush) = args.flush {
        extra.push_str(&format!(" --flush {}", flush.name()));
    }
    let summary = Summary::of(&reports, wall, threads, mode, &extra);
    println!("{summary}");
    if let Some(kind) = &args.expect {
        // `run-error`: the run itself failed (a hang past the simulation's
        // duration, a panic), as a bug that stops progress makes it.
        let found: Vec<u64> = reports
            .iter()
            .filter(|r| r.violations.iter().any(|v| v.kind() == kind) || (kind == "run-error" && r.error.is_some()))
            .map(|r| r.seed)
            .collect();
        println!("expected {kind}: found in {} of {} seeds {found:?}", found.len(), reports.len());
        return if found.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
