//! The transactional workload: rill-client's transactional `Producer`s
//! against three replicated brokers (the broker model's transaction
//! coordinator, markers written through WriteTxnMarkers), and a
//! `read_committed` `Consumer` reading every partition from the start.
//!
//! Each producer opens transactions of 1-4 records over random partitions
//! (half the time with a pause of 3-10 ms before a send, longer than `linger.ms`),
//! sends an offset to the transaction (the transaction's own number, for the
//! producer's group `txn-offsets-p<id>`: consume-transform-produce without
//! the consuming), then commits two in three and aborts the rest (and aborts
//! when a send failed). A commit or abort whose answer never came leaves the outcome
//! unknown (no `TxnEnd`): the producer is replaced by a new instance with the
//! same `transactional.id` (InitProducerId fences the old one and aborts its
//! open transaction). The history records sends (with their transaction),
//! acknowledgements, transaction ends and every poll; the checkers then
//! require, besides the usual lost-write, duplicate and order invariants,
//! that the read_committed consumer never shows an aborted record and never
//! jumps over a committed one (`checkers::read_committed`, `polls`), and that
//! each group's offset is that of a committed transaction
//! (`checkers::txn_offsets`); in liveness mode, that the consumer read up to
//! the last committed record of every partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rill_broker::controller::ControllerConfig;
use rill_broker::disk::FlushPolicy;
use rill_broker::faults::BugSwitches;
use rill_broker::Controller;
use rill_client::backoff::Rng;
use rill_client::producer::{ConsumerGroupMetadata, OffsetAndMetadata, Producer, ProducerRecord};
use rill_client::{Client, ClientConfig, Consumer, Offset};

use crate::checkers::{self, LivenessBound};
use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::final_log;
use crate::history::{Event, FinalLog, History, Isolation, Polled, RecordId, TopicPartition};
use crate::runner::SeedReport;
use crate::scenario::{client_config_builder, connect};
use crate::schedule::{Scheduler, Topology};
use crate::swarm::{FaultKind, Mode, Swarm};
use crate::workloads::drive::{self, Drive};
use crate::workloads::producer::record;

pub const TOPIC: &str = "txn-events";
const BROKERS: usize = 3;
const PARTITIONS: i32 = 4;
const PRODUCERS: u32 = 2;
/// The read_committed consumer's id in the history.
const CONSUMER: u32 = 0;
/// The group whose offsets producer `id` sends to its transactions.
fn offsets_group(id: u32) -> String {
    format!("txn-offsets-p{id}")
}

/// Steps of turmoil's clock (as the other cluster workloads).
const TICK: Duration = Duration::from_millis(5);
/// How long producers run in safety mode.
const SAFETY_SEND_FOR: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client settings of every host plus `extra` (producer and consumer properties).
fn config(seed: u64, name: &str, extra: &[(&str, &str)]) -> Result<ClientConfig, rill_client::ConfigError> {
    extra.iter().fold(client_config_builder(seed, name, BROKERS), |b, (key, value)| b.property(key, value)).build()
}

/// One transactional producer host: instances of the producer, one after
/// another, each running transactions until one ends with an unknown outcome.
async fn produce(id: u32, seed: u64, history: Arc<Mutex<History>>, stop_ms: u64, give_up_ms: u64, drop_batches: bool) {
    let mut rng = Rng::new(seed);
    let transactional_id = format!("txn-producer-{id}");
    let settings = [
        ("transactional.id", transactional_id.as_str()),
        // As the other workloads' producers: a record stuck while faults are
        // on fails in time, one stuck after they stopped is a violation; an
        // open transaction outlives that before the coordinator aborts it.
        // rill's AddPartitionsToTxn retries (CONCURRENT_TRANSACTIONS while the
        // previous transaction's markers are written) are bounded by
        // max.block.ms, Java's by the batch's delivery timeout: the same here.
        ("transaction.timeout.ms", "40000"),
        ("delivery.timeout.ms", "25000"),
        ("max.block.ms", "25000"),
        ("linger.ms", "5"),
    ];
    let Ok(mut config) = config(seed, &format!("producer{id}"), &settings) else {
        return;
    };
    config.bugs.drop_batches_beside_added_partitions = drop_batches;
    let mut seq = 0u64;
    let mut txn = 0u64;
    while now_ms() < stop_ms {
        let Some(client) = connect(config.clone(), "producer", give_up_ms).await else {
            return;
        };
        let Ok(producer) = Producer::with_wall_clock(client, 1_700_000_000_000) else {
            return;
        };
        if let Err(e) = producer.init_transactions().await {
            tracing::debug!(producer = id, error = %e, "init_transactions failed; a new instance tries again");
            let _ = producer.close(Duration::from_secs(1)).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        while now_ms() < stop_ms {
            if producer.begin_transaction().is_err() {
                break;
            }
            txn += 1;
            let count = 1 + rng.below(4) as u64;
            let mut deliveries = Vec::new();
            let mut failed = false;
            for i in 0..count {
                if i > 0 && rng.below(2) == 0 {
                    // Sends spread over more than linger.ms: the transaction's
                    // partitions become ready in different sender passes, one
                    // already added while another is still to be added (the
                    // path of a sender that dropped the ready batches and hung
                    // the commit, which the workload without these pauses did
                    // not find).
                    tokio::time::sleep(Duration::from_millis(3 + rng.below(8) as u64)).await;
                }
                let partition = rng.below(PARTITIONS as usize) as i32;
                let tp = TopicPartition::new(TOPIC, partition);
                let rid = RecordId::new(id, seq);
                seq += 1;
                record(&history, Event::Send { at_ms: now_ms(), tp: tp.clone(), id: rid, txn: Some(txn) });
                match producer.send(ProducerRecord::new(TOPIC).partition(partition).value(rid.to_value())).await {
                    Ok(d) => deliveries.push((tp, rid, d)),
                    Err(e) => {
                        record(&history, Event::SendFailed { at_ms: now_ms(), tp, id: rid, error: e.to_string() });
                        failed = true;
                    }
                }
            }
            for (tp, rid, delivery) in deliveries {
                match delivery.await {
                    Ok(m) => record(&history, Event::Ack { at_ms: now_ms(), tp, id: rid, offset: m.offset }),
                    Err(e) => {
                        record(&history, Event::SendFailed { at_ms: now_ms(), tp, id: rid, error: e.to_string() });
                        failed = true;
                    }
                }
            }
            if !failed {
                // The transaction's number as the group's next offset of partition 0.
                let offset = i64::try_from(txn).unwrap_or(i64::MAX);
                let offsets = BTreeMap::from([(TopicPartition::new(TOPIC, 0), OffsetAndMetadata::from(offset))]);
                let group = ConsumerGroupMetadata::new(offsets_group(id));
                if let Err(e) = producer.send_offsets_to_transaction(&offsets, &group).await {
                    tracing::debug!(producer = id, txn, error = %e, "send_offsets_to_transaction failed; aborting");
                    failed = true;
                }
            }
            let commit = !failed && rng.below(3) != 0;
            let ended = if commit { producer.commit_transaction().await } else { producer.abort_transaction().await };
            match ended {
                Ok(()) => record(&history, Event::TxnEnd { at_ms: now_ms(), producer: id, txn, committed: commit }),
                Err(e) => {
                    // The outcome is unknown: a new instance fences this one.
                    tracing::debug!(producer = id, txn, commit, error = %e, "transaction end failed");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = producer.close(Duration::from_secs(1)).await;
    }
}

/// The read_committed consumer: every partition from the start, polling until `stop_ms`.
async fn consume(seed: u64, history: Arc<Mutex<History>>, stop_ms: u64) {
    let settings = [("isolation.level", "read_committed"), ("auto.offset.reset", "earliest")];
    let Ok(config) = config(seed, "consumer", &settings) else {
        return;
    };
    let Some(client) = connect(config, "consumer", stop_ms).await else {
        return;
    };
    let Ok(consumer) = Consumer::from_client(client) else {
        return;
    };
    let tps: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(TOPIC, p)).collect();
    if consumer.assign(&tps).is_err() {
        return;
    }
    for tp in &tps {
        while now_ms() < stop_ms {
            match consumer.seek(tp, Offset::At(0)).await {
                Ok(()) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    while now_ms() < stop_ms {
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "poll failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let at_ms = now_ms();
        let mut by_partition: std::collections::BTreeMap<i32, Vec<Polled>> = Default::default();
        for r in &records {
            let id = r.value.as_deref().and_then(RecordId::from_value);
            if let Some(id) = id {
                by_partition.entry(r.partition).or_default().push(Polled { offset: r.offset, id });
            }
        }
        for (partition, records) in by_partition {
            let tp = TopicPartition::new(TOPIC, partition);
            record(&history, Event::Poll { at_ms, consumer: CONSUMER, generation: 0, isolation: Isolation::ReadCommitted, tp, records });
        }
    }
    consumer.close(Duration::from_secs(1)).await;
}

/// What the reader reads back after the run quiesced.
struct FinalState {
    log: FinalLog,
    /// Per producer, its group's committed offset of partition 0.
    offsets: BTreeMap<u32, Option<i64>>,
}

/// Every producer's group offset (OffsetFetch, retried until `give_up_ms`).
async fn read_group_offsets(client: &Client, give_up_ms: u64) -> Result<BTreeMap<u32, Option<i64>>, String> {
    let mut out = BTreeMap::new();
    for id in 0..PRODUCERS {
        let group = offsets_group(id);
        loop {
            // A partition error (a transaction still pending) is retried like a request error.
            let read = client
                .list_group_offsets(&group, Some(&[(TOPIC, 0)]))
                .await
                .and_then(|results| results.get(&(TOPIC.to_string(), 0)).cloned().transpose().map(|o| o.map(|o| o.offset)));
            match read {
                Ok(offset) => {
                    out.insert(id, offset);
                    break;
                }
                Err(e) if now_ms() >= give_up_ms => return Err(format!("reading the offsets of {group}: {e}")),
                Err(e) => {
                    tracing::debug!(group, error = %e, "OffsetFetch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    Ok(out)
}

/// Runs one seed of the transactional workload.
/// `drop_batches`: the producers' sender bug switch
/// (`ClientBugs::drop_batches_beside_added_partitions`).
pub fn run(seed: u64, mode: Mode, flush: Option<FlushPolicy>, bugs: BugSwitches, drop_batches: bool) -> SeedReport {
    let mut rng = Rng::new(seed);
    // Member crashes need a group; coordinator moves move the transaction coordinator.
    let kinds: Vec<FaultKind> = FaultKind::ALL.into_iter().filter(|k| *k != FaultKind::MemberCrash).collect();
    let swarm = Swarm::draw(&mut rng, &kinds);
    let send_until = match mode {
        Mode::Liveness { faults_for, recover_within } => faults_for + recover_within + Duration::from_secs(5),
        Mode::Safety => SAFETY_SEND_FOR,
    };
    let give_up = send_until + Duration::from_secs(15);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(give_up + Duration::from_secs(120))
        .tick_duration(TICK)
        .build();
    let controller = Controller::new(ControllerConfig {
        min_insync_replicas: 2,
        default_partitions: PARTITIONS,
        default_replication_factor: 3,
        rng_seed: seed,
        ..ControllerConfig::default()
    });
    let cluster = Cluster::start(&mut sim, controller.clone(), BROKERS, flush.unwrap_or(FlushPolicy::EveryAppend), bugs, seed);

    let history = Arc::new(Mutex::new(History::default()));
    let producers_done = Arc::new(AtomicUsize::new(0));
    let stop_ms = send_until.as_millis() as u64;
    let give_up_ms = give_up.as_millis() as u64;
    let mut clients = Vec::new();
    for id in 0..PRODUCERS {
        let name = format!("producer{id}");
        clients.push(name.clone());
        let (history, done) = (history.clone(), producers_done.clone());
        let client_seed = seed ^ (0x7000 + u64::from(id));
        sim.client(name.as_str(), async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            produce(id, client_seed, history, stop_ms, give_up_ms, drop_batches).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    {
        clients.push("consumer".to_string());
        let history = history.clone();
        // The consumer reads on past the producers, to the end of what committed.
        let consume_until = give_up_ms;
        sim.client("consumer", async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            consume(seed ^ 0xc0, history, consume_until).await;
            Ok(())
        });
    }
    let quiesced = Arc::new(AtomicBool::new(false));
    let read_until = (give_up + Duration::from_secs(100)).as_millis() as u64;
    let final_log =
        drive::spawn_reader(&mut sim, quiesced.clone(), config(seed ^ 0x7ead, "reader", &[]), read_until, move |client| async move {
            let log = final_log::read(&client, TOPIC, PARTITIONS, read_until).await?;
            let offsets = read_group_offsets(&client, read_until).await?;
            Ok(FinalState { log, offsets })
        });

    let topology = Topology { brokers: cluster.hosts.clone(), clients, partitions: PARTITIONS as usize, members: 0 };
    let mut scheduler = Scheduler::new(swarm.clone(), mode, topology, rng);
    let drive = Drive {
        controller: &controller,
        cluster: &cluster,
        topic: TOPIC,
        partitions: PARTITIONS,
        replication_factor: 3,
        history: &history,
        quiesced: &quiesced,
    };
    let producers_finished = |_| producers_done.load(Ordering::SeqCst) == PRODUCERS as usize;
    let mut error = drive::drive(&mut sim, &mut scheduler, &drive, producers_finished, |_| {});

    let history = std::mem::take(&mut *lock(&history));
    let mut violations = Vec::new();
    match lock(&final_log).take() {
        Some(Ok(FinalState { log, offsets })) => {
            let bound = match mode {
                Mode::Liveness { faults_for, recover_within } => Some(LivenessBound {
                    faults_stopped_ms: faults_for.as_millis() as u64,
                    recover_within_ms: recover_within.as_millis() as u64,
                    run_ended_ms: stop_ms,
                }),
                Mode::Safety => None,
            };
            violations = checkers::check(&history, &log, None);
            violations.extend(checkers::txn_offsets(&history, &offsets));
            if let Some(bound) = bound {
                // Producer progress as every workload checks it; the reader's
                // progress is its own: caught up with every committed record.
                let sends = History { events: history.events.iter().filter(|e| !matches!(e, Event::Poll { .. })).cloned().collect() };
                violations.extend(checkers::liveness(&sends, &log, bound));
                violations.extend(checkers::read_committed_caught_up(&history, &log));
            }
            let committed = history.events.iter().any(|e| matches!(e, Event::TxnEnd { committed: true, .. }));
            if matches!(mode, Mode::Liveness { .. }) && !committed {
                error = error.or(Some("no transaction committed in the whole run".to_string()));
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
