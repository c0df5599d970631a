//! The idempotent producer on the 3-node cluster (replication factor 3,
//! `min.insync.replicas=2`, acks=all) keeps sending a numbered sequence
//! while the leader of a partition is killed with `kill -9` and restarted,
//! and while leadership moves by reassignment. Afterwards every partition
//! holds each number exactly once, in order, and every record reported
//! delivered is there at the offset it was reported at.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rill_client::producer::{Producer, ProducerRecord, RecordMetadata};
use rill_client::{Client, ClientConfig};
use rill_e2e::interop::kcat;
use rill_e2e::{KafkaCluster, Listener};

use crate::common;

const TIMEOUT: Duration = Duration::from_secs(120);
const PARTITIONS: u32 = 2;

fn kcat_read(cluster: &KafkaCluster, topic: &str, count: usize) -> Vec<(u32, i64, u64)> {
    let settings = cluster.valid_settings(Listener::Plaintext);
    kcat::consume_formatted(cluster, &settings, topic, count, "%p|%o|%s\n", &[])
        .expect("kcat")
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking harness call")
}

#[tokio::test]
async fn numbered_sequence_survives_kill_restart_and_reassignment_exactly_once_in_order() {
    let _serial = common::three_nodes_alone().await;
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("producer-failover");
    cluster.create_topic(&topic, PARTITIONS, 3).expect("create topic");
    for p in 0..PARTITIONS {
        cluster.wait_for_partition(&topic, p, TIMEOUT, "full ISR", |s| s.isr.len() == 3).expect("full ISR");
    }
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str()),
        ("client.id", "rill-e2e-failover"),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("request.timeout.ms", "10000"),
        ("delivery.timeout.ms", "300000"),
        ("retry.backoff.ms", "50"),
        ("reconnect.backoff.max.ms", "500"),
    ])
    .expect("config");
    let producer = Producer::new(Client::connect(config).await.expect("connect")).await.expect("producer");

    // The sender (on this runtime's thread; the harness's blocking calls run
    // on the blocking pool): numbers 0, 1, 2, ... alternating over the partitions, paced
    // so that the sequence spans the disruptions.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (producer, stop, topic) = (producer.clone(), stop.clone(), topic.clone());
        tokio::spawn(async move {
            let mut deliveries = Vec::new();
            let mut n: u64 = 0;
            while !stop.load(Ordering::SeqCst) {
                let record = ProducerRecord::new(&topic).partition((n % PARTITIONS as u64) as i32).value(n.to_string());
                deliveries.push((n, producer.send(record).await.expect("send")));
                n += 1;
                if n.is_multiple_of(20) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            deliveries
        })
    };

    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = topic.clone();
    let before = blocking(move || KafkaCluster::three_nodes().describe_topic(&t).expect("describe")).await;
    let victim = before.iter().find(|s| s.partition == 0).and_then(|s| s.leader).expect("a leader of partition 0");
    blocking(move || KafkaCluster::three_nodes().kill(victim)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    blocking(move || KafkaCluster::three_nodes().restart(victim).expect("restart")).await;
    let t = topic.clone();
    blocking(move || {
        for p in 0..PARTITIONS {
            KafkaCluster::three_nodes().wait_for_partition(&t, p, TIMEOUT, "ISR back to 3", |s| s.isr.len() == 3).expect("ISR");
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Move leadership of partition 1 by reassignment (rotate the replica order).
    let t = topic.clone();
    blocking(move || {
        let cluster = KafkaCluster::three_nodes();
        let state = cluster.describe_topic(&t).expect("describe").into_iter().find(|s| s.partition == 1).expect("p1");
        let leader = state.leader.expect("leader");
        let mut target = state.replicas.clone();
        target.retain(|r| *r != leader);
        target.push(leader);
        cluster.reassign(&t, 1, &target).expect("reassign");
        cluster.elect_preferred_leader(&t, 1).expect("elect");
        cluster.wait_for_partition(&t, 1, TIMEOUT, "new leader", |s| s.leader == Some(target[0])).expect("moved");
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let deliveries = sender.await.expect("sender task");
    producer.flush().await.expect("flush");

    let mut delivered: BTreeMap<u64, RecordMetadata> = BTreeMap::new();
    let mut failed = Vec::new();
    for (n, d) in deliveries {
        match d.await {
            Ok(m) => {
                delivered.insert(n, m);
            }
            Err(e) => failed.push((n, e.to_string())),
        }
    }
    let total = delivered.len() + failed.len();
    let stats = producer.stats();
    producer.close(Duration::from_secs(30)).await.expect("close");
    assert!(total > 1000, "the sequence spans the disruptions: {total} records");
    assert!(failed.is_empty(), "acks=all with min.insync.replicas=2 keeps accepting; failed: {:?}", &failed[..failed.len().min(5)]);
    assert!(stats.retries > 0, "the disruptions made the producer retry: {stats:?}");

    let log = kcat_read(cluster, &topic, total + 10);
    let mut per_partition: BTreeMap<u32, Vec<(i64, u64)>> = BTreeMap::new();
    for (p, offset, n) in log {
        per_partition.entry(p).or_default().push((offset, n));
    }
    for p in 0..PARTITIONS {
        let entries = per_partition.remove(&p).unwrap_or_default();
        let numbers: Vec<u64> = entries.iter().map(|(_, n)| *n).collect();
        let expected: Vec<u64> = delivered.keys().copied().filter(|n| n % PARTITIONS as u64 == p as u64).collect();
        // Each number once, in order, and nothing else.
        assert_eq!(numbers.len(), expected.len(), "partition {p}: {} records in the log, {} delivered", numbers.len(), expected.len());
        let first_difference = numbers.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "partition {p}: log and delivered sequence differ at position {first_difference:?}");
        for (offset, n) in entries {
            assert_eq!(delivered[&n].offset, offset, "record {n} was reported at offset {}, is at {offset}", delivered[&n].offset);
        }
    }
    eprintln!("producer failover: {total} records, stats {stats:?}");
}
