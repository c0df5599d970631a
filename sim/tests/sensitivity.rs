//! The checkers can fail: with a deliberate broker bug switched on, the
//! simulator reports the violation the bug causes within a stated number of
//! seeds (issue 7). The same seeds without bugs pass in the CI step
//! (`scripts/test`, where runs are exactly reproducible); here, in a build
//! without `--cfg tokio_unstable`, tokio's own RNG is not seeded, so the
//! seed counts leave a wide margin (each bug shows in most seeds).

use rill_sim::runner::{run_seeds, SeedReport};
use rill_sim::swarm::Mode;
use rill_sim::workloads::{self, Bug, Options, Workload};

fn run(workload: Workload, bugs: &[Bug], seeds: u64) -> Vec<SeedReport> {
    let seeds: Vec<u64> = (0..seeds).collect();
    let options = Options { bugs: bugs.to_vec(), ..Options::default() };
    run_seeds(&seeds, 2, |seed| workloads::run(workload, seed, Mode::liveness(), &options))
}

fn found(reports: &[SeedReport], kind: &str) -> Vec<u64> {
    reports.iter().filter(|r| r.violations.iter().any(|v| v.kind() == kind)).map(|r| r.seed).collect()
}

fn summary(reports: &[SeedReport]) -> String {
    reports.iter().map(|r| format!("seed {}: {:?} {:?}", r.seed, r.error, r.violations.first())).collect::<Vec<_>>().join("\n")
}

/// acks=all answered before the ISR has the records: a leader crash or move
/// then loses acknowledged records. Found within 10 seeds (in 17 of 40 seeds
/// of a seeded build).
#[test]
fn acks_all_before_isr_is_found_as_a_lost_write() {
    let reports = run(Workload::Replicated, &[Bug::AcksAllBeforeIsr], 10);
    assert!(!found(&reports, "lost-write").is_empty(), "no lost write found:\n{}", summary(&reports));
}

/// Sequence numbers ignored: a retried batch whose first attempt landed is
/// appended again. Found within 4 seeds, on one node and on three.
#[test]
fn ignored_sequence_numbers_are_found_as_duplicates() {
    for workload in [Workload::SingleNode, Workload::Replicated] {
        let reports = run(workload, &[Bug::IgnoreSequenceNumbers], 4);
        assert!(!found(&reports, "duplicate").is_empty(), "{workload}: no duplicate found:\n{}", summary(&reports));
    }
}
