//! Same seed, same trace: the runner binary replays a seed in a new process
//! and prints the same trace hash; different seeds differ. (The single-node
//! workload replays even without `--cfg tokio_unstable`; the CI step checks
//! every workload with `--replay-check` in a seeded build.)

use std::process::Command;

fn trace_hash(seed: u64) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_rill-sim"))
        .args(["--workload", "single-node", "--seed", &seed.to_string()])
        .output()
        .expect("run rill-sim");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "seed {seed} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find(|l| l.contains("trace hash")).unwrap_or_else(|| panic!("no trace hash:\n{stdout}"));
    line.rsplit(' ').next().unwrap_or_default().to_string()
}

#[test]
fn the_same_seed_replays_the_same_trace_in_a_new_process() {
    let (a, b) = (trace_hash(3), trace_hash(3));
    assert_eq!(a, b, "seed 3 replayed differently");
    assert_eq!(a.len(), 16, "{a}");
    assert_ne!(a, trace_hash(4), "seeds 3 and 4 gave the same trace");
}
