//! One seed of a cluster workload, end to end: the cluster and clients on
//! turmoil (seeded), the seed's fault swarm carried out tick by tick, a
//! quiet period, the final log read back, and the checkers over the history.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rill_broker::controller::ControllerConfig;
use rill_broker::disk::FlushPolicy;
use rill_broker::faults::BugSwitches;
use rill_broker::Controller;
use rill_client::backoff::Rng;
use rill_client::{Client, ClientConfig};

use crate::checkers::{self, LivenessBound};
use crate::cluster::{broker_host, Cluster, BROKER_PORT};
use crate::final_log;
use crate::history::{Event, FinalLog, History};
use crate::net::TurmoilTransport;
use crate::runner::SeedReport;
use crate::schedule::{Scheduler, Topology};
use crate::swarm::{FaultKind, Mode, Swarm};
use crate::workloads::producer::{self, ProducerSpec};

/// What a seed runs.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub brokers: usize,
    pub partitions: i32,
    pub replication_factor: i16,
    pub min_insync_replicas: usize,
    pub producers: u32,
    /// acks of the producers (-1 = all).
    pub acks: i16,
    pub flush: FlushPolicy,
    pub bugs: BugSwitches,
    /// The fault kinds the swarm may pick from.
    pub faults: Vec<FaultKind>,
    pub mode: Mode,
    /// How long producers send in safety mode (liveness mode sends until the
    /// recovery bound has passed).
    pub safety_send_for: Duration,
}

pub const TOPIC: &str = "events";

/// turmoil advances every host by this much per step: coarse enough to run
/// fast, fine against the 0-100 ms link latencies and 50 ms backoffs.
const TICK: Duration = Duration::from_millis(5);

impl Scenario {
    /// Idempotent producers against one broker (crashes lose unflushed data,
    /// so the broker flushes every append: acks=1 on one node is durable only so).
    pub fn single_node(mode: Mode) -> Scenario {
        Scenario {
            brokers: 1,
            partitions: 4,
            replication_factor: 1,
            min_insync_replicas: 1,
            producers: 2,
            acks: -1,
            flush: FlushPolicy::EveryAppend,
            bugs: BugSwitches::default(),
            // Leader moves and reassignments need replicas; coordinator moves and member crashes need consumers.
            faults: kinds_except(&[FaultKind::LeaderMove, FaultKind::Reassignment, FaultKind::CoordinatorMove, FaultKind::MemberCrash]),
            mode,
            safety_send_for: Duration::from_secs(40),
        }
    }

    /// Three brokers, replication factor 3, min.insync.replicas 2, acks=all,
    /// and Kafka's default durability: nothing is flushed, a crash loses
    /// what only that broker had (durability comes from replication).
    pub fn replicated(mode: Mode) -> Scenario {
        Scenario {
            brokers: 3,
            partitions: 12,
            replication_factor: 3,
            min_insync_replicas: 2,
            producers: 3,
            flush: FlushPolicy::EveryAppend,
            faults: kinds_except(&[FaultKind::CoordinatorMove, FaultKind::MemberCrash]),
            ..Scenario::single_node(mode)
        }
    }

    fn send_until(&self) -> Duration {
        match self.mode {
            Mode::Liveness { faults_for, recover_within } => faults_for + recover_within + Duration::from_secs(5),
            Mode::Safety => self.safety_send_for,
        }
    }
}

/// Every fault kind but `excluded`.
fn kinds_except(excluded: &[FaultKind]) -> Vec<FaultKind> {
    FaultKind::ALL.into_iter().filter(|k| !excluded.contains(k)).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn client_config(seed: u64, name: &str, brokers: usize) -> Result<ClientConfig, rill_client::ConfigError> {
    client_config_builder(seed, name, brokers).build()
}

pub(crate) fn client_config_builder(seed: u64, name: &str, brokers: usize) -> rill_client::config::ClientConfigBuilder {
    ClientConfig::builder()
        .bootstrap_servers((0..brokers).map(|b| format!("{}:{BROKER_PORT}", broker_host(b))))
        .client_id(name)
        .request_timeout(Duration::from_secs(3))
        .connection_setup_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(1))
        .retry_backoff(Duration::from_millis(50), Duration::from_secs(1))
        .metadata_max_age(Duration::from_secs(5))
        .rng_seed(seed)
}

/// A producer's client: idempotent with acks=all (the scenario's acks
/// otherwise, without idempotence, which needs acks=all), a short linger,
/// and a delivery timeout inside the liveness bound: a record stuck while
/// faults are on fails in time, one stuck after they stopped is a violation.
pub(crate) fn producer_config(
    seed: u64,
    name: &str,
    brokers: usize,
    spec: &ProducerSpec,
) -> Result<ClientConfig, rill_client::ConfigError> {
    let acks = spec.acks();
    client_config_builder(seed, name, brokers)
        .acks(acks)
        .enable_idempotence(acks == rill_client::Acks::All)
        .linger(Duration::from_millis(5))
        .delivery_timeout(Duration::from_secs(25))
        .max_block(Duration::from_secs(10))
        .build()
}

/// A client that keeps trying to bootstrap (brokers may be down at first).
pub(crate) async fn connect(config: ClientConfig, name: &str, give_up_ms: u64) -> Option<Client> {
    while crate::clock::now_ms() < give_up_ms {
        match Client::with_transport(config.clone(), Arc::new(TurmoilTransport)).await {
            Ok(client) => return Some(client),
            Err(e) => {
                tracing::debug!(client = name, error = %e, "bootstrap failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    None
}

/// Runs one seed of `scenario`.
pub fn run(seed: u64, scenario: &Scenario) -> SeedReport {
    let mut rng = Rng::new(seed);
    let swarm = Swarm::draw(&mut rng, &scenario.faults);
    let send_until = scenario.send_until();
    let give_up = send_until + Duration::from_secs(15);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(give_up + Duration::from_secs(120))
        .tick_duration(TICK)
        .build();

    let controller = Controller::new(ControllerConfig {
        min_insync_replicas: scenario.min_insync_replicas,
        default_partitions: scenario.partitions,
        default_replication_factor: scenario.replication_factor,
        rng_seed: seed,
        ..ControllerConfig::default()
    });
    let cluster = Cluster::start(&mut sim, controller.clone(), scenario.brokers, scenario.flush, scenario.bugs, seed);

    let history = Arc::new(Mutex::new(History::default()));
    let producers_done = Arc::new(AtomicUsize::new(0));
    let brokers = scenario.brokers;
    let mut clients = Vec::new();
    for id in 0..scenario.producers {
        let name = format!("producer{id}");
        clients.push(name.clone());
        let spec = ProducerSpec {
            id,
            topic: TOPIC.to_string(),
            partitions: scenario.partitions,
            interval: Duration::from_millis(100),
            stop_sending_ms: send_until.as_millis() as u64,
            give_up_ms: give_up.as_millis() as u64,
            acks: scenario.acks,
        };
        let (history, done) = (history.clone(), producers_done.clone());
        let client_seed = seed ^ (0x9000 + u64::from(id));
        let config = producer_config(client_seed, &name, brokers, &spec);
        sim.client(name.clone().as_str(), async move {
            // Let the cluster come up and the topic be created first.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let config = match config {
                Ok(config) => config,
                Err(e) => {
                    tracing::error!(producer = %name, error = %e, "bad producer configuration");
                    done.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
            };
            if let Some(client) = connect(config, &name, spec.give_up_ms).await {
                producer::run(spec, client, history, client_seed).await;
            }
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }

    // The final-log reader waits until the run has quiesced.
    let quiesced = Arc::new(AtomicBool::new(false));
    let final_log: Arc<Mutex<Option<Result<FinalLog, String>>>> = Arc::new(Mutex::new(None));
    {
        let (quiesced, final_log) = (quiesced.clone(), final_log.clone());
        let partitions = scenario.partitions;
        let read_until = (give_up + Duration::from_secs(100)).as_millis() as u64;
        sim.client("reader", async move {
            while !quiesced.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Time for restarted brokers to rejoin and leaders to settle.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let config = client_config(seed ^ 0x7ead, "reader", brokers);
            let client = match config {
                Ok(config) => connect(config, "reader", read_until).await,
                Err(_) => None,
            };
            let result = match client {
                Some(client) => final_log::read(&client, TOPIC, partitions, read_until).await,
                None => Err("the reader could not bootstrap".to_string()),
            };
            *lock(&final_log) = Some(result);
            Ok(())
        });
    }

    let topology =
        Topology { brokers: cluster.hosts.clone(), clients, partitions: usize::try_from(scenario.partitions).unwrap_or(0), members: 0 };
    let mut scheduler = Scheduler::new(swarm.clone(), scenario.mode, topology, rng);
    let mut topic_created = false;
    let mut next_tick = Duration::ZERO;
    let mut producers_finished_at = None;
    let mut error = None;
    loop {
        let finished = match sim.step() {
            Ok(finished) => finished,
            Err(e) => {
                error = Some(format!("simulation failed: {e}"));
                break;
            }
        };
        let now = sim.elapsed();
        if !topic_created && controller.brokers().len() == scenario.brokers {
            if let Err(e) = controller.create_topic(TOPIC, scenario.partitions, scenario.replication_factor, &[], false) {
                error = Some(format!("creating {TOPIC}: {}", e.message));
                break;
            }
            topic_created = true;
        }
        if producers_finished_at.is_none() && producers_done.load(Ordering::SeqCst) == scenario.producers as usize {
            producers_finished_at = Some(now);
            scheduler.stop();
        }
        if topic_created && now >= next_tick {
            let at_ms = now.as_millis() as u64;
            for action in scheduler.actions(now) {
                let detail = cluster.apply(&mut sim, TOPIC, &action);
                lock(&history).push(Event::Fault { at_ms, kind: action.kind(), detail });
            }
            next_tick = now + scheduler.tick;
        }
        if producers_finished_at.is_some() && scheduler.quiet() {
            quiesced.store(true, Ordering::SeqCst);
        }
        if finished {
            break;
        }
    }

    let history = std::mem::take(&mut *lock(&history));
    let mut violations = Vec::new();
    match lock(&final_log).take() {
        Some(Ok(log)) => {
            let bound = match scenario.mode {
                Mode::Liveness { faults_for, recover_within } => Some(LivenessBound {
                    faults_stopped_ms: faults_for.as_millis() as u64,
                    recover_within_ms: recover_within.as_millis() as u64,
                    run_ended_ms: send_until.as_millis() as u64,
                }),
                Mode::Safety => None,
            };
            violations = checkers::check(&history, &log, bound);
            // A liveness run in which nothing was acknowledged checked nothing: fail it.
            // (In safety mode a swarm may legitimately keep the cluster down throughout.)
            let liveness = matches!(scenario.mode, Mode::Liveness { .. });
            if liveness && !history.events.iter().any(|e| matches!(e, Event::Ack { .. })) {
                error = error.or(Some("no record was acknowledged in the whole run".to_string()));
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
