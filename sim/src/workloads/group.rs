//! The consumer-group workload: a group of three rill `GroupConsumer`s
//! (one assignor per run: range, roundrobin or cooperative-sticky) reading
//! a 6-partition topic that idempotent producers write, on three
//! replicated brokers, under the fault swarm including member crashes
//! (the member's host crashes and later restarts with a new member) and
//! coordinator moves.
//!
//! Each member commits after processing: poll, record the poll (with the
//! member's generation), process every record (an event each), then commit
//! the offsets after the processed records. The commits in the history are
//! the group coordinator's own: the coordinator store's committed offsets,
//! sampled after every simulation step (a client only learns of a commit
//! when its answer arrives, which a latency spike can delay past a later
//! commit of another member). The checkers then require: no poll-skip and
//! no non-monotonic poll within a generation, committed offsets never
//! decrease, every committed offset was processed first, besides lost
//! writes, duplicates and producer order; in liveness mode, every
//! partition consumed to its end within the bound after faults stop.
//!
//! The deliberate bug `commit-before-process` makes members commit the
//! polled offsets before processing the records (the application bug the
//! commit-after-process rule is about).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rill_broker::controller::ControllerConfig;
use rill_broker::disk::FlushPolicy;
use rill_broker::Controller;
use rill_client::backoff::Rng;
use rill_client::config::AssignmentStrategy;
use rill_client::consumer::group::Subscription;
use rill_client::{ClientConfig, Consumer};

use crate::checkers::{self, LivenessBound};
use crate::clock::now_ms;
use crate::cluster::{member_host, Cluster};
use crate::final_log;
use crate::history::{Event, History, Isolation, Polled, RecordId, TopicPartition};
use crate::runner::SeedReport;
use crate::scenario::{client_config_builder, connect, producer_config};
use crate::schedule::{Scheduler, Topology};
use crate::swarm::{FaultKind, Mode, Swarm};
use crate::workloads::drive::{self, Drive};
use crate::workloads::producer::{self, record, ProducerSpec};
use crate::workloads::{Bug, Options};

pub const TOPIC: &str = "group-events";
pub const GROUP: &str = "sim-group";
const BROKERS: usize = 3;
const PARTITIONS: i32 = 6;
const PRODUCERS: u32 = 2;
const MEMBERS: usize = 3;
/// The consumer named in commit events: commits are read from the
/// coordinator, which does not say which member made them.
pub const COORDINATOR: u32 = u32::MAX;
/// Steps of turmoil's clock (as the other cluster workloads).
const TICK: Duration = Duration::from_millis(5);
/// How long producers send in safety mode; members read 20 s longer.
const SAFETY_SEND_FOR: Duration = Duration::from_secs(30);

/// A member's settings: the group, the assignor, manual commits, and
/// timeouts short enough for crashes to be noticed within the liveness bound.
fn member_config(
    seed: u64,
    index: usize,
    assignor: AssignmentStrategy,
    skip_truncation_detection: bool,
) -> Result<ClientConfig, rill_client::ConfigError> {
    let settings = [
        ("group.id", GROUP),
        ("partition.assignment.strategy", assignor.protocol_name()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("max.poll.interval.ms", "20000"),
    ];
    let name = member_host(index);
    let mut config = settings.iter().fold(client_config_builder(seed, &name, BROKERS), |b, (key, value)| b.property(key, value)).build()?;
    config.bugs.skip_truncation_detection = skip_truncation_detection;
    Ok(config)
}

/// The members' deliberate bugs (the sensitivity checks).
#[derive(Debug, Clone, Copy)]
struct MemberBugs {
    commit_first: bool,
    skip_truncation_detection: bool,
}

/// One member instance: joins, then polls, processes and commits until
/// `stop_ms`, then leaves the group.
async fn member(index: usize, seed: u64, assignor: AssignmentStrategy, history: Arc<Mutex<History>>, stop_ms: u64, bugs: MemberBugs) {
    let MemberBugs { commit_first, skip_truncation_detection } = bugs;
    let Ok(config) = member_config(seed, index, assignor, skip_truncation_detection) else {
        return;
    };
    let Some(client) = connect(config, &member_host(index), stop_ms).await else {
        return;
    };
    let Ok(group) = Consumer::from_client(client).and_then(|c| c.subscribe(Subscription::topics([TOPIC]))) else {
        return;
    };
    let consumer = u32::try_from(index).unwrap_or(u32::MAX);
    while now_ms() < stop_ms {
        let records = match group.poll(Duration::from_millis(200)).await {
            Ok(records) => records,
            Err(e) => {
                tracing::debug!(member = index, error = %e, "poll failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        let generation = group.member().generation().0;
        let at_ms = now_ms();
        let mut polled: BTreeMap<TopicPartition, Vec<Polled>> = BTreeMap::new();
        for r in &records {
            if let Some(id) = r.value.as_deref().and_then(RecordId::from_value) {
                polled.entry(r.topic_partition()).or_default().push(Polled { offset: r.offset, id });
            }
        }
        let next: BTreeMap<TopicPartition, i64> =
            polled.iter().filter_map(|(tp, rs)| rs.iter().map(|r| r.offset + 1).max().map(|o| (tp.clone(), o))).collect();
        for (tp, records) in &polled {
            record(
                &history,
                Event::Poll {
                    at_ms,
                    consumer,
                    generation,
                    isolation: Isolation::ReadUncommitted,
                    tp: tp.clone(),
                    records: records.clone(),
                },
            );
        }
        if commit_first {
            if let Err(e) = group.commit(&next).await {
                tracing::debug!(member = index, error = %e, "commit failed");
            }
        }
        for (tp, records) in &polled {
            for r in records {
                record(&history, Event::Processed { at_ms: now_ms(), consumer, generation, tp: tp.clone(), offset: r.offset });
            }
        }
        if !commit_first {
            if let Err(e) = group.commit(&next).await {
                tracing::debug!(member = index, error = %e, "commit failed");
            }
        }
    }
    if let Err(e) = group.close(Duration::from_secs(2)).await {
        tracing::debug!(member = index, error = %e, "leaving the group failed");
    }
}

/// The coordinator's committed offsets of the group, for the history.
struct CommitSampler {
    controller: Controller,
    last: BTreeMap<(String, i32), i64>,
}

impl CommitSampler {
    /// Commit events for every offset that changed since the last sample.
    fn sample(&mut self, at_ms: u64) -> Vec<Event> {
        let store = self.controller.coordinator_store();
        let committed = store.committed(GROUP);
        let generation = store.lock().groups.get(GROUP).map_or(-1, |g| g.generation);
        let mut out = Vec::new();
        for ((topic, partition), c) in committed {
            if self.last.get(&(topic.clone(), partition)) != Some(&c.offset) {
                out.push(Event::Commit {
                    at_ms,
                    consumer: COORDINATOR,
                    generation,
                    tp: TopicPartition::new(topic.as_str(), partition),
                    offset: c.offset,
                });
                self.last.insert((topic, partition), c.offset);
            }
        }
        out
    }
}

/// Runs one seed of the group workload with `assignor`.
pub fn run(seed: u64, mode: Mode, assignor: AssignmentStrategy, options: &Options) -> SeedReport {
    let mut rng = Rng::new(seed);
    let swarm = Swarm::draw(&mut rng, &FaultKind::ALL);
    // Liveness: producers stop when faults do, so that members can be
    // required to have consumed every partition to its end by the bound.
    let (send_until, members_until) = match mode {
        Mode::Liveness { faults_for, recover_within } => (faults_for, faults_for + recover_within + Duration::from_secs(5)),
        Mode::Safety => (SAFETY_SEND_FOR, SAFETY_SEND_FOR + Duration::from_secs(20)),
    };
    let give_up = send_until + Duration::from_secs(15);
    let end = members_until.max(give_up);
    // `--partitions 12` is the performance workload (3 brokers, 12 partitions, producers, a 3-member group).
    let partitions = options.partitions.unwrap_or(PARTITIONS);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(end + Duration::from_secs(120))
        .tick_duration(TICK)
        .build();
    let controller = Controller::new(ControllerConfig {
        min_insync_replicas: 2,
        default_partitions: partitions,
        default_replication_factor: 3,
        rng_seed: seed,
        ..ControllerConfig::default()
    });
    let flush = options.flush.map_or(FlushPolicy::EveryAppend, |f| f.policy());
    let cluster = Cluster::start(&mut sim, controller.clone(), BROKERS, flush, Bug::switches(&options.bugs), seed);

    let history = Arc::new(Mutex::new(History::default()));
    let producers_done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for id in 0..PRODUCERS {
        let name = format!("producer{id}");
        clients.push(name.clone());
        let spec = ProducerSpec {
            id,
            topic: TOPIC.to_string(),
            partitions,
            interval: Duration::from_millis(100),
            stop_sending_ms: send_until.as_millis() as u64,
            give_up_ms: give_up.as_millis() as u64,
            acks: -1,
        };
        let (history, done) = (history.clone(), producers_done.clone());
        let client_seed = seed ^ (0x6000 + u64::from(id));
        let config = producer_config(client_seed, &name, BROKERS, &spec);
        sim.client(name.clone().as_str(), async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(client) = match config {
                Ok(config) => connect(config, &name, spec.give_up_ms).await,
                Err(_) => None,
            } {
                producer::run(spec, client, history, client_seed).await;
            }
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    let bugs = MemberBugs {
        commit_first: options.bugs.contains(&Bug::CommitBeforeProcess),
        skip_truncation_detection: options.bugs.contains(&Bug::SkipTruncationDetection),
    };
    let members_stop_ms = members_until.as_millis() as u64;
    for index in 0..MEMBERS {
        let host = member_host(index);
        clients.push(host.clone());
        let history = history.clone();
        let instances = Arc::new(AtomicUsize::new(0));
        sim.host(host.as_str(), move || {
            let history = history.clone();
            // A restarted member is a new instance with its own client seed.
            let instance = instances.fetch_add(1, Ordering::SeqCst) as u64;
            let member_seed = seed ^ (0x3000 + 0x100 * index as u64 + instance);
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                member(index, member_seed, assignor, history, members_stop_ms, bugs).await;
                // The host stays up (idle) once the member left.
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }
    let quiesced = Arc::new(AtomicBool::new(false));
    let read_until = (end + Duration::from_secs(100)).as_millis() as u64;
    let reader_config = client_config_builder(seed ^ 0x7ead, "reader", BROKERS).build();
    let final_log = drive::spawn_reader(&mut sim, quiesced.clone(), reader_config, read_until, move |client| async move {
        final_log::read(&client, TOPIC, partitions, read_until).await
    });

    let topology = Topology { brokers: cluster.hosts.clone(), clients, partitions: partitions as usize, members: MEMBERS };
    let mut scheduler = Scheduler::new(swarm.clone(), mode, topology, rng);
    let drive = Drive {
        controller: &controller,
        cluster: &cluster,
        topic: TOPIC,
        partitions,
        replication_factor: 3,
        history: &history,
        quiesced: &quiesced,
    };
    let mut sampler = CommitSampler { controller: controller.clone(), last: BTreeMap::new() };
    let stop_faults = |now: Duration| now >= members_until && producers_done.load(Ordering::SeqCst) == PRODUCERS as usize;
    let each_step = |now: Duration| {
        for event in sampler.sample(now.as_millis() as u64) {
            record(&history, event);
        }
    };
    let mut error = drive::drive(&mut sim, &mut scheduler, &drive, stop_faults, each_step);

    let history = std::mem::take(&mut *history.lock().unwrap_or_else(|p| p.into_inner()));
    let mut violations = Vec::new();
    match final_log.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(Ok(log)) => {
            let bound = match mode {
                Mode::Liveness { faults_for, recover_within } => Some(LivenessBound {
                    faults_stopped_ms: faults_for.as_millis() as u64,
                    recover_within_ms: recover_within.as_millis() as u64,
                    run_ended_ms: members_stop_ms,
                }),
                Mode::Safety => None,
            };
            violations = checkers::check(&history, &log, bound);
            let processed = history.events.iter().any(|e| matches!(e, Event::Processed { .. }));
            if matches!(mode, Mode::Liveness { .. }) && !processed {
                error = error.or(Some("no record was processed in the whole run".to_string()));
            }
        }
        Some(Err(e)) => error = error.or(Some(e)),
        None => error = error.or(Some("the final log was never read".to_string())),
    }
    SeedReport {
        seed,
        simulated: sim.elapsed(),
        faults: scheduler.started().clone(),
        violations,
        error,
        trace_hash: history.trace_hash(),
        swarm: swarm.to_string(),
        acked: history.events.iter().filter(|e| matches!(e, Event::Ack { .. })).count() as u64,
    }
}
