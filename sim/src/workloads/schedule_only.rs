//! A dry run of the fault swarm: the schedule a seed would inject into a
//! 3-broker cluster with one producer, recorded as a history, without a
//! cluster to inject it into. Shows what the swarm does per seed.

use std::time::Duration;

use rill_client::backoff::Rng;

use crate::checkers;
use crate::history::{Event, FinalLog, History};
use crate::runner::SeedReport;
use crate::schedule::{Scheduler, Topology};
use crate::swarm::{FaultKind, Mode, Swarm};

const RUN_FOR: Duration = Duration::from_secs(60);

pub fn run(seed: u64, mode: Mode) -> SeedReport {
    let mut rng = Rng::new(seed);
    let swarm = Swarm::draw(&mut rng, &FaultKind::ALL);
    let topology =
        Topology { brokers: (0..3).map(|b| format!("broker{b}")).collect(), clients: vec!["producer0".into()], partitions: 4, members: 0 };
    let mut scheduler = Scheduler::new(swarm.clone(), mode, topology, rng);
    let mut history = History::default();
    let mut now = Duration::ZERO;
    while now < RUN_FOR {
        for action in scheduler.actions(now) {
            history.push(Event::Fault { at_ms: now.as_millis() as u64, kind: action.kind(), detail: format!("{action:?}") });
        }
        now += scheduler.tick;
    }
    SeedReport {
        seed,
        simulated: RUN_FOR,
        faults: scheduler.started().clone(),
        violations: checkers::check(&history, &FinalLog::default(), None),
        error: None,
        trace_hash: history.trace_hash(),
        swarm: swarm.to_string(),
        acked: 0,
    }
}
