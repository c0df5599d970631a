//! rill's consumer on the real 3-node cluster (replication factor 3,
//! min.insync.replicas=2): it keeps consuming a numbered sequence, without
//! a gap or a duplicate, while the partition's leader is kill -9'd and
//! restarted and leadership moves back with Kafka's leader-election tool.
//! No manual restart of the consumer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::{Client, ClientConfig, OffsetSpec};
use rill_e2e::{KafkaCluster, Listener};

use crate::common;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn new_consumer(cluster: &KafkaCluster) -> Consumer {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "rill-e2e-chaos-consumer"),
        ("auto.offset.reset", "none"),
        ("fetch.max.wait.ms", "200"),
        ("request.timeout.ms", "10000"),
        ("reconnect.backoff.max.ms", "500"),
        ("max.poll.records", "50"),
    ])
    .expect("config");
    Consumer::from_client(Client::connect(config).await.expect("connect")).expect("consumer")
}

type Consumed = Arc<Mutex<Vec<(i64, String)>>>;

/// Polls until `stop`, collecting (offset, value); any poll error fails the test.
fn spawn_reader(consumer: Arc<Consumer>, stop: Arc<AtomicBool>) -> (Consumed, tokio::task::JoinHandle<()>) {
    let consumed: Consumed = Arc::default();
    let sink = consumed.clone();
    let task = tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let records = consumer.poll(Duration::from_millis(300)).await.expect("poll must never fail: the consumer recovers by itself");
            let mut sink = sink.lock().expect("lock");
            for r in records {
                sink.push((r.offset, String::from_utf8(r.value.expect("value").to_vec()).expect("utf-8")));
            }
        }
    });
    (consumed, task)
}

/// Waits until the reader has at least `n` records.
async fn wait_for_records(consumed: &Consumed, n: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let have = consumed.lock().expect("lock").len();
        if have >= n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: only {have} of {n} records within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a blocking harness call on the blocking pool, so the reader task keeps running.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking harness call")
}

#[tokio::test]
async fn consumes_a_sequence_without_gaps_or_duplicates_through_leader_kills_and_moves() {
    let _serial = common::three_nodes_alone().await;
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("consume-chaos");
    cluster.create_topic(&topic, 1, 3).expect("create topic");
    let initial = cluster.wait_for_partition(&topic, 0, TIMEOUT, "full ISR", |state| state.isr.len() == 3).expect("topic fully replicated");
    eprintln!("initial: {initial:?}");

    // A producer writes n0, n1, ... with acks=all; failed sends (while a
    // leader is down) are skipped, acknowledged ones recorded with their offsets.
    let producing = Arc::new(AtomicBool::new(true));
    let acked: Arc<Mutex<BTreeMap<i64, String>>> = Arc::default();
    let producer = {
        let (producing, acked, topic) = (producing.clone(), acked.clone(), topic.clone());
        std::thread::spawn(move || {
            let mut failures = 0;
            for n in 0u64.. {
                if !producing.load(Ordering::SeqCst) {
                    break;
                }
                let value = format!("n{n}");
                match cluster.produce_acks_all(&topic, &value) {
                    Ok(Ok(offset)) => {
                        acked.lock().expect("lock").insert(offset as i64, value);
                    }
                    Ok(Err(_)) | Err(_) => {
                        failures += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            failures
        })
    };

    let tp = TopicPartition::new(&topic, 0);
    let consumer = Arc::new(new_consumer(cluster).await);
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    consumer.seek(&tp, Offset::Beginning).await.expect("seek to beginning");
    let stop = Arc::new(AtomicBool::new(false));
    let (consumed, reader) = spawn_reader(consumer.clone(), stop.clone());
    wait_for_records(&consumed, 50, "before any fault").await;

    // 1. kill -9 the leader; a new one is elected among the other two.
    let old_leader = initial.leader.expect("a leader");
    blocking(move || cluster.kill(old_leader)).await;
    let (t, old) = (topic.clone(), old_leader);
    let after_kill = blocking(move || cluster.wait_for_partition(&t, 0, TIMEOUT, "a new leader", |s| s.leader.is_some_and(|l| l != old)))
        .await
        .expect("new leader after kill");
    eprintln!("after kill -9 of node {old_leader}: {after_kill:?}");
    let seen = consumed.lock().expect("lock").len();
    wait_for_records(&consumed, seen + 100, "on the new leader after the kill").await;

    // 2. Restart it; it catches up and rejoins the ISR.
    blocking(move || cluster.restart(old_leader)).await.expect("restart node");
    let t = topic.clone();
    blocking(move || cluster.wait_for_partition(&t, 0, TIMEOUT, "full ISR again", |s| s.isr.len() == 3)).await.expect("ISR back to 3");
    let seen = consumed.lock().expect("lock").len();
    wait_for_records(&consumed, seen + 50, "after the restart").await;

    // 3. Move leadership back to the preferred replica with Kafka's tool.
    let preferred = initial.replicas[0];
    let t = topic.clone();
    blocking(move || cluster.elect_preferred_leader(&t, 0)).await.expect("preferred leader election");
    let t = topic.clone();
    let moved = blocking(move || cluster.wait_for_partition(&t, 0, TIMEOUT, "preferred replica leads", |s| s.leader == Some(preferred)))
        .await
        .expect("leadership moved");
    eprintln!("after the preferred leader election: {moved:?}");
    let seen = consumed.lock().expect("lock").len();
    wait_for_records(&consumed, seen + 100, "after leadership moved").await;

    // Stop producing; the consumer reads up to the end of the log.
    producing.store(false, Ordering::SeqCst);
    let failures = blocking(move || producer.join().expect("producer thread")).await;
    let check = Client::connect(
        ClientConfig::from_properties([("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str())]).expect("config"),
    )
    .await
    .expect("connect");
    let end = check.list_offsets(&[(&topic, 0, OffsetSpec::Latest)]).await.expect("end offset")[&(topic.clone(), 0)]
        .as_ref()
        .expect("end offset")
        .offset;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while consumer.position(&tp).unwrap_or(0) < end {
        assert!(tokio::time::Instant::now() < deadline, "position {:?} never reached the end {end}", consumer.position(&tp));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    reader.await.expect("reader");

    let consumed = consumed.lock().expect("lock").clone();
    let acked = acked.lock().expect("lock").clone();
    let stats = consumer.stats();
    eprintln!(
        "consumed {} records up to offset {end}; {} acknowledged sends, {failures} failed; {:?}",
        consumed.len(),
        acked.len(),
        stats.counters
    );
    // No gap, no duplicate: offsets 0, 1, 2, ... exactly once.
    let offsets: Vec<i64> = consumed.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, (0..end).collect::<Vec<_>>(), "offsets must run 0..{end} exactly once");
    // Every acknowledged record was read, with its value, at its offset.
    for (offset, value) in &acked {
        assert_eq!(consumed.get(*offset as usize).map(|(_, v)| v), Some(value), "acknowledged record at offset {offset}");
    }
    assert!(acked.len() > 300, "too few records went through the faults to mean anything: {}", acked.len());
    // And what was read is the log: a fresh consumer reads the same.
    let fresh = new_consumer(cluster).await;
    fresh.assign(std::slice::from_ref(&tp)).expect("assign");
    fresh.seek(&tp, Offset::Beginning).await.expect("seek");
    let mut again = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while (again.len() as i64) < end {
        assert!(tokio::time::Instant::now() < deadline, "a fresh consumer read only {} of {end}", again.len());
        for r in fresh.poll(Duration::from_secs(2)).await.expect("poll") {
            again.push((r.offset, String::from_utf8(r.value.expect("value").to_vec()).expect("utf-8")));
        }
    }
    assert_eq!(again, consumed, "the log read afresh differs from what was consumed through the faults");
    assert!(stats.counters.fetch_failures + stats.counters.session_errors > 0, "the faults never reached the consumer: {stats:?}");
    // KIP-320: each new leader epoch had the position checked with
    // OffsetForLeaderEpoch, and a clean election never looks like a truncation.
    assert!(stats.counters.validations >= 1, "{stats:?}");
    assert_eq!(stats.counters.truncations, 0, "{stats:?}");
}
