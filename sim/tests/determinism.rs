//! Same seed, same trace: seeds of the single-node workload run twice and
//! their full event traces hash the same; different seeds differ.

use std::time::Duration;

use rill_sim::scenario::{self, Scenario};
use rill_sim::swarm::Mode;

fn short() -> Scenario {
    Scenario::single_node(Mode::Liveness { faults_for: Duration::from_secs(5), recover_within: Duration::from_secs(10) })
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let scenario = short();
    let mut hashes = Vec::new();
    for seed in [3, 4] {
        let first = scenario::run(seed, &scenario);
        let second = scenario::run(seed, &scenario);
        assert!(!first.failed(), "seed {seed}: {:?} {:?}", first.error, first.violations);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed} replayed differently");
        assert_eq!(first.simulated, second.simulated);
        assert_eq!(first.faults, second.faults);
        hashes.push(first.trace_hash);
    }
    assert_ne!(hashes[0], hashes[1], "different seeds gave the same trace");
}
