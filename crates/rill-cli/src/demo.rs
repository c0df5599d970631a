//! `rill demo`: the main job on the embedded default. It starts the dev
//! broker in this process, produces a numbered, keyed sequence with rill's
//! idempotent producer (lz4, headers), reads the whole topic back with rill's
//! consumer, and checks what a user of a Kafka pipeline relies on: every
//! record arrived exactly once, records of one key kept their order, and each
//! record came back with the partition and offset its delivery reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rill_broker::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};
use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::producer::{Producer, ProducerRecord};
use rill_client::{Client, ClientConfig, NewTopic};

/// Keys cycle through this many values, so several keys share a partition
/// and per-key order is a real check.
const KEYS: u64 = 16;
const TOPIC: &str = "rill-demo";

/// What the demo saw; a `Err` from [`run`] means a check failed.
#[derive(Debug)]
pub struct DemoSummary {
    pub records: u64,
    pub partitions: i32,
    pub per_partition: BTreeMap<i32, u64>,
    pub produce_seconds: f64,
    pub consume_seconds: f64,
    pub batches_sent: u64,
    pub batch_bytes_total: u64,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "produced {} records to {TOPIC} ({} partitions) in {:.2} s: {} batches, {} bytes on the wire (lz4)",
            self.records, self.partitions, self.produce_seconds, self.batches_sent, self.batch_bytes_total
        )?;
        writeln!(f, "consumed {} records in {:.2} s; per partition: {:?}", self.records, self.consume_seconds, self.per_partition)?;
        write!(f, "checked: every record exactly once, per-key order kept, offsets as delivered")
    }
}

fn value_of(n: u64) -> String {
    format!("{{\"n\":{n},\"sensor\":\"s-{}\",\"reading\":{}}}", n % KEYS, (n * 7919) % 1000)
}

/// Runs the demo against an embedded broker on a free loopback port.
pub async fn run(records: u64, partitions: i32) -> Result<DemoSummary, String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let broker = Broker::single_node(
        BrokerConfig::new(1, "127.0.0.1".to_string(), port),
        Disk::new(FlushPolicy::Manual),
        ControllerConfig { default_partitions: partitions, ..Default::default() },
    );
    let server = tokio::spawn({
        let broker = broker.clone();
        async move { broker.serve(listener).await }
    });
    let result = produce_and_check(&format!("127.0.0.1:{port}"), records, partitions).await;
    server.abort();
    result
}

async fn produce_and_check(bootstrap: &str, records: u64, partitions: i32) -> Result<DemoSummary, String> {
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("client.id", "rill-demo"),
        ("compression.type", "lz4"),
        ("linger.ms", "5"),
    ])
    .map_err(|e| format!("client config: {e}"))?;
    let client = Client::connect(config).await.map_err(|e| format!("connecting to the embedded broker: {e}"))?;
    for result in client
        .create_topics(&[NewTopic::new(TOPIC, partitions, 1)], Duration::from_secs(10))
        .await
        .map_err(|e| format!("creating {TOPIC}: {e}"))?
    {
        result.result.map_err(|e| format!("creating {TOPIC}: {e}"))?;
    }

    // Produce: idempotent (the default), keyed, with a header.
    let producer = Producer::new(client.clone()).await.map_err(|e| format!("producer: {e}"))?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(records as usize);
    for n in 0..records {
        let record = ProducerRecord::new(TOPIC).key(format!("sensor-{}", n % KEYS)).value(value_of(n)).header("n", n.to_string());
        deliveries.push(producer.send(record).await.map_err(|e| format!("send {n}: {e}"))?);
    }
    producer.flush().await.map_err(|e| format!("flush: {e}"))?;
    // Where each record was reported delivered: (partition, offset) -> n.
    let mut delivered = BTreeMap::new();
    for (n, delivery) in deliveries.into_iter().enumerate() {
        let meta = delivery.await.map_err(|e| format!("delivery of {n}: {e}"))?;
        if delivered.insert((meta.partition, meta.offset), n as u64).is_some() {
            return Err(format!("two records were reported at {}:{}", meta.partition, meta.offset));
        }
    }
    let produce_seconds = started.elapsed().as_secs_f64();
    let stats = producer.stats();
    producer.close(Duration::from_secs(10)).await.map_err(|e| format!("producer close: {e}"))?;

    // Consume everything back from the beginning.
    let started = Instant::now();
    let consumer = Consumer::from_client(client).map_err(|e| format!("consumer: {e}"))?;
    let assignment: Vec<TopicPartition> = (0..partitions).map(|p| TopicPartition::new(TOPIC, p)).collect();
    consumer.assign(&assignment).map_err(|e| format!("assign: {e}"))?;
    for tp in &assignment {
        consumer.seek(tp, Offset::Beginning).await.map_err(|e| format!("seek: {e}"))?;
    }
    let mut seen = vec![false; records as usize];
    let mut last_per_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_partition: BTreeMap<i32, u64> = BTreeMap::new();
    let mut consumed = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumed < records {
        if Instant::now() > deadline {
            return Err(format!("only {consumed} of {records} records came back within 60 s"));
        }
        for record in consumer.poll(Duration::from_millis(200)).await.map_err(|e| format!("poll: {e}"))? {
            let value = record.value.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let n: u64 = value
                .split("\"n\":")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| format!("record {}:{} is not a demo record: {value}", record.partition, record.offset))?;
            if value != value_of(n) {
                return Err(format!("record {n} came back altered: {value}"));
            }
            match seen.get_mut(n as usize) {
                Some(flag) if !*flag => *flag = true,
                Some(_) => return Err(format!("record {n} came back twice")),
                None => return Err(format!("record {n} was never produced")),
            }
            if delivered.get(&(record.partition, record.offset)) != Some(&n) {
                return Err(format!("record {n} is at {}:{}, not where its delivery said", record.partition, record.offset));
            }
            let key = record.key.as_deref().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            if let Some(previous) = last_per_key.insert(key.clone(), n) {
                if previous > n {
                    return Err(format!("key {key}: record {n} came after {previous}"));
                }
            }
            *per_partition.entry(record.partition).or_default() += 1;
            consumed += 1;
        }
    }
    consumer.close(Duration::from_secs(5)).await;
    Ok(DemoSummary {
        records,
        partitions,
        per_partition,
        produce_seconds,
        consume_seconds: started.elapsed().as_secs_f64(),
        batches_sent: stats.batches_sent,
        batch_bytes_total: stats.batch_bytes_total,
    })
}
