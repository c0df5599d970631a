//! Runs many seeds, one simulation per thread across all cores, and
//! summarises them: seeds run, simulated seconds (and per wall second),
//! faults injected by kind, violations, and the first failing seed with the
//! one-line command that replays it with trace logs.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::checkers::Violation;
use crate::swarm::{FaultKind, Mode};

/// What one seed's run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedReport {
    pub seed: u64,
    /// Simulated time the run covered.
    pub simulated: Duration,
    /// Faults started, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    pub violations: Vec<Violation>,
    /// The run itself broke (a host failed, the simulation panicked).
    pub error: Option<String>,
    /// Hash of the full event trace (same seed, same hash).
    pub trace_hash: u64,
    /// The swarm the seed drew, for the report.
    pub swarm: String,
    /// Records acknowledged to producers (how much the checkers had to check).
    pub acked: u64,
}

impl SeedReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || !self.violations.is_empty()
    }

    /// The report as lines for another process ([`SeedReport::from_lines`]).
    pub fn to_lines(&self) -> String {
        let one_line = |s: &str| s.replace(['\n', '\r'], " ");
        let mut out = format!(
            "{REPORT_HEADER}\nseed {}\nsimulated_ms {}\ntrace_hash {}\nacked {}\nswarm {}\n",
            self.seed,
            self.simulated.as_millis(),
            self.trace_hash,
            self.acked,
            one_line(&self.swarm)
        );
        for (kind, n) in &self.faults {
            out.push_str(&format!("fault {kind} {n}\n"));
        }
        for v in &self.violations {
            out.push_str(&format!("violation {}\n", one_line(&v.to_string())));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("error {}\n", one_line(e)));
        }
        out
    }

    /// Parses [`SeedReport::to_lines`] output.
    pub fn from_lines(text: &str) -> Result<SeedReport, String> {
        let mut lines = text.lines().skip_while(|l| *l != REPORT_HEADER);
        if lines.next().is_none() {
            return Err("no report in the output".to_string());
        }
        let mut report = SeedReport {
            seed: 0,
            simulated: Duration::ZERO,
            faults: BTreeMap::new(),
            violations: Vec::new(),
            error: None,
            trace_hash: 0,
            swarm: String::new(),
            acked: 0,
        };
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let number = || value.parse::<u64>().map_err(|e| format!("{key} {value:?}: {e}"));
            match key {
                "seed" => report.seed = number()?,
                "simulated_ms" => report.simulated = Duration::from_millis(number()?),
                "trace_hash" => report.trace_hash = number()?,
                "acked" => report.acked = number()?,
                "swarm" => report.swarm = value.to_string(),
                "fault" => {
                    let (kind, n) = value.split_once(' ').ok_or_else(|| format!("fault {value:?}"))?;
                    let kind = FaultKind::ALL.into_iter().find(|k| k.name() == kind).ok_or_else(|| format!("fault kind {kind:?}"))?;
                    report.faults.insert(kind, n.parse().map_err(|e| format!("fault count {n:?}: {e}"))?);
                }
                "violation" => report.violations.push(Violation::from_report(value).ok_or_else(|| format!("violation {value:?}"))?),
                "error" => report.error = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(report)
    }
}

/// The first line of a report another process prints.
pub const REPORT_HEADER: &str = "rill-sim-report v1";

/// Runs one seed in a child process (`exe args... --seed S`, which must print
/// [`SeedReport::to_lines`]). A process per seed: tokio numbers tasks with a
/// process-wide counter and a crashed host's tasks are dropped in an order
/// that depends on those numbers, so in-process runs of a seed can depend on
/// what ran before them in the same process.
pub fn run_in_child(exe: &std::path::Path, args: &[String], seed: u64) -> SeedReport {
    let failed = |error: String| SeedReport {
        seed,
        simulated: Duration::ZERO,
        faults: BTreeMap::new(),
        violations: Vec::new(),
        error: Some(error),
        trace_hash: 0,
        swarm: String::new(),
        acked: 0,
    };
    let output = match std::process::Command::new(exe).args(args).arg("--seed").arg(seed.to_string()).output() {
        Ok(output) => output,
        Err(e) => return failed(format!("could not start {}: {e}", exe.display())),
    };
    match SeedReport::from_lines(&String::from_utf8_lossy(&output.stdout)) {
        Ok(report) => report,
        Err(e) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            failed(format!("seed process ({}) {e}: {}", output.status, tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
        }
    }
}

/// Runs `run` for each seed on `threads` threads; reports come back in seed order.
/// A panicking seed is reported as a failed seed, not a crashed runner.
pub fn run_seeds<F>(seeds: &[u64], threads: usize, run: F) -> Vec<SeedReport>
where
    F: Fn(u64) -> SeedReport + Sync,
{
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(seeds.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                // A fresh thread per seed: tokio and turmoil keep thread-local
                // state (tokio's context RNG) that would otherwise carry from
                // one seed to the next and make a seed's trace depend on the
                // seeds its thread ran before.
                let outcome = std::thread::scope(|seed_scope| seed_scope.spawn(|| catch_unwind(AssertUnwindSafe(|| run(seed)))).join());
                let report = outcome.unwrap_or_else(Err).unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "non-string panic".into());
                    SeedReport {
                        seed,
                        simulated: Duration::ZERO,
                        faults: BTreeMap::new(),
                        violations: Vec::new(),
                        error: Some(format!("panicked: {message}")),
                        trace_hash: 0,
                        swarm: String::new(),
                        acked: 0,
                    }
                });
                if let Ok(mut reports) = reports.lock() {
                    reports.push(report);
                }
            });
        }
    });
    let mut reports = reports.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    reports.sort_by_key(|r| r.seed);
    reports
}

/// Whether this build seeds tokio's own RNG (`--cfg tokio_unstable`: turmoil
/// then seeds every host runtime, so `select!` branch order and
/// watch-channel wakeups replay too). Without it a seed may not replay.
pub const TOKIO_SEEDED: bool = cfg!(tokio_unstable);

/// The command that replays one seed with trace logs (with the same build flags).
pub fn replay_command(seed: u64, mode: Mode, extra_args: &str) -> String {
    let mode = match mode {
        Mode::Liveness { .. } => "liveness",
        Mode::Safety => "safety",
    };
    let extra = if extra_args.is_empty() { String::new() } else { format!(" {extra_args}") };
    let flags = if TOKIO_SEEDED { "RUSTFLAGS=\"--cfg tokio_unstable\" " } else { "" };
    format!("{flags}RUST_LOG=trace cargo run -p rill-sim -- --seed {seed} --mode {mode}{extra}")
}

/// The summary of a batch of seeds.
#[derive(Debug, Clone)]
pub struct Summary {
    pub seeds: usize,
    pub failed_seeds: Vec<u64>,
    pub simulated: Duration,
    pub wall: Duration,
    pub threads: usize,
    pub faults: BTreeMap<FaultKind, u64>,
    pub violations: BTreeMap<&'static str, u64>,
    pub errors: u64,
    pub acked: u64,
    /// The lowest failing seed, its first problem and the replay command.
    pub first_failure: Option<(u64, String, String)>,
}

impl Summary {
    pub fn of(reports: &[SeedReport], wall: Duration, threads: usize, mode: Mode, extra_args: &str) -> Self {
        let mut faults = BTreeMap::new();
        let mut violations = BTreeMap::new();
        let mut errors = 0;
        for r in reports {
            for (kind, n) in &r.faults {
                *faults.entry(*kind).or_insert(0) += n;
            }
            for v in &r.violations {
                *violations.entry(v.kind()).or_insert(0) += 1;
            }
            errors += u64::from(r.error.is_some());
        }
        let first_failure = reports.iter().find(|r| r.failed()).map(|r| {
            let what = r.error.clone().or_else(|| r.violations.first().map(ToString::to_string)).unwrap_or_default();
            (r.seed, what, replay_command(r.seed, mode, extra_args))
        });
        Summary {
            seeds: reports.len(),
            failed_seeds: reports.iter().filter(|r| r.failed()).map(|r| r.seed).collect(),
            simulated: reports.iter().map(|r| r.simulated).sum(),
            wall,
            threads,
            faults,
            violations,
            errors,
            acked: reports.iter().map(|r| r.acked).sum(),
            first_failure,
        }
    }

    pub fn passed(&self) -> bool {
        self.failed_seeds.is_empty()
    }

    /// Simulated seconds per wall-clock second, over all threads.
    pub fn speedup(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((seed, what, command)) = &self.first_failure {
            writeln!(f, "first failing seed: {seed}: {what}")?;
            writeln!(f, "replay: {command}")?;
        }
        writeln!(
            f,
            "seeds: {} ({} failed) on {} threads in {:.1} s wall",
            self.seeds,
            self.failed_seeds.len(),
            self.threads,
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "simulated: {:.1} s, {:.1} simulated s per wall s ({:.1} per thread)",
            self.simulated.as_secs_f64(),
            self.speedup(),
            self.speedup() / self.threads.max(1) as f64
        )?;
        writeln!(f, "records acknowledged: {}", self.acked)?;
        if !TOKIO_SEEDED {
            writeln!(
                f,
                "note: built without RUSTFLAGS=\"--cfg tokio_unstable\": tokio's RNG is not seeded, a seed may not replay exactly"
            )?;
        }
        write!(f, "faults:")?;
        if self.faults.is_empty() {
            write!(f, " none")?;
        }
        for (kind, n) in &self.faults {
            write!(f, " {kind}={n}")?;
        }
        writeln!(f)?;
        write!(f, "violations:")?;
        if self.violations.is_empty() && self.errors == 0 {
            write!(f, " none")?;
        }
        for (kind, n) in &self.violations {
            write!(f, " {kind}={n}")?;
        }
        if self.errors > 0 {
            write!(f, " run-errors={}", self.errors)?;
        }
        Ok(())
    }
}

/// Wall-clock time of a closure (the runner's own timing, outside any simulation).
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{RecordId, TopicPartition};

    fn report(seed: u64) -> SeedReport {
        let violations = if seed % 7 == 3 {
            vec![Violation::LostWrite { tp: TopicPartition::new("t", 0), id: RecordId::new(1, seed), acked_offset: 4 }]
        } else {
            vec![]
        };
        if seed == 12 {
            panic!("boom at {seed}");
        }
        SeedReport {
            seed,
            simulated: Duration::from_secs(10),
            faults: [(FaultKind::BrokerCrash, seed % 3)].into_iter().collect(),
            violations,
            error: None,
            trace_hash: seed,
            swarm: String::new(),
            acked: 5,
        }
    }

    #[test]
    fn runs_every_seed_in_order_and_reports_the_first_failure() {
        let seeds: Vec<u64> = (0..20).collect();
        let reports = run_seeds(&seeds, 4, report);
        assert_eq!(reports.iter().map(|r| r.seed).collect::<Vec<_>>(), seeds);
        let summary = Summary::of(&reports, Duration::from_secs(2), 4, Mode::Safety, "");
        assert_eq!(summary.failed_seeds, vec![3, 10, 12, 17]);
        assert_eq!(summary.violations.get("lost-write"), Some(&3));
        assert_eq!(summary.errors, 1);
        let text = summary.to_string();
        assert!(text.starts_with("first failing seed: 3: lost-write: p1-3 acked at t-0@4"), "{text}");
        assert!(text.contains("RUST_LOG=trace cargo run -p rill-sim -- --seed 3 --mode safety\n"), "{text}");
        assert!(text.contains("seeds: 20 (4 failed) on 4 threads"), "{text}");
        // 19 seeds ran 10 simulated seconds each (the panicked one none) in 2 wall seconds.
        assert!(text.contains("simulated: 190.0 s, 95.0 simulated s per wall s"), "{text}");
        assert!(text.contains("faults: broker-crash=19"), "{text}");
        assert!(text.contains("records acknowledged: 95\n"), "{text}");
        assert!(reports[12].error.as_deref().is_some_and(|e| e.contains("boom at 12")));
        assert!(!summary.passed());
    }

    #[test]
    fn reports_survive_the_trip_through_another_process() {
        let mut r = report(3);
        r.error = Some("broke\nbadly".into());
        r.swarm = "partition=0.100".into();
        let back = SeedReport::from_lines(&format!("noise\n{}", r.to_lines())).unwrap();
        assert_eq!(back.seed, 3);
        assert_eq!(back.simulated, r.simulated);
        assert_eq!(back.faults, r.faults);
        assert_eq!(back.trace_hash, r.trace_hash);
        assert_eq!(back.acked, r.acked);
        assert_eq!(back.swarm, r.swarm);
        assert_eq!(back.error.as_deref(), Some("broke badly"));
        assert_eq!(back.violations.len(), 1);
        assert_eq!(back.violations[0].kind(), "lost-write");
        assert_eq!(back.violations[0].to_string(), r.violations[0].to_string());
        assert!(SeedReport::from_lines("nothing").is_err());
        let failed = run_in_child(std::path::Path::new("/nonexistent/rill-sim"), &[], 9);
        assert!(failed.error.as_deref().is_some_and(|e| e.contains("could not start")), "{failed:?}");
    }

    #[test]
    fn a_clean_batch_passes() {
        let reports = run_seeds(&[1, 2], 8, report);
        let summary = Summary::of(&reports, Duration::from_secs(1), 8, Mode::liveness(), "--workload producer");
        assert!(summary.passed());
        assert!(summary.to_string().contains("violations: none"));
        assert!(replay_command(5, Mode::liveness(), "--workload producer")
            .ends_with("RUST_LOG=trace cargo run -p rill-sim -- --seed 5 --mode liveness --workload producer"));
    }
}
