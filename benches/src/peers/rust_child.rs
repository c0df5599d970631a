//! rill's side of the benchmark, run in a child process of the bench
//! binary (`peer-bench child rill ...`) so its CPU is measured alone.
//! librdkafka runs from its own crate, benches/peers/rdkafka-child (kept out
//! of the workspace so no build of rill compiles the C library).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::outcome::RunReport;
use super::workload::{read_payload_file, Workload};

/// Everything a child needs to run one cell.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub bootstrap: String,
    pub topic: String,
    pub payload_file: PathBuf,
    pub workload: Workload,
}

/// How many deliveries rill's child keeps unawaited before it awaits the
/// oldest: far more than are ever in flight, so this never throttles the
/// producer, it only bounds the bench's own bookkeeping.
const PENDING_DELIVERIES: usize = 200_000;

/// rill: send every record, then flush; the timed span ends when the last
/// delivery is acknowledged. Any failed delivery fails the run.
pub async fn rill_produce(spec: &ChildSpec) -> Result<RunReport, String> {
    use rill_client::producer::{Producer, ProducerRecord};
    use rill_client::ClientConfig;

    let payloads = read_payload_file(&spec.payload_file).map_err(|e| format!("reading payloads: {e}"))?;
    if payloads.is_empty() {
        return Err("the payload file is empty".into());
    }
    let properties = spec.workload.producer_properties(&spec.bootstrap);
    let config =
        ClientConfig::from_properties(properties.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| format!("rill config: {e}"))?;
    let producer = Producer::connect(config).await.map_err(|e| format!("rill connect: {e}"))?;
    let mut pending = VecDeque::with_capacity(PENDING_DELIVERIES);
    let mut bytes = 0u64;
    let start = Instant::now();
    for i in 0..spec.workload.records {
        let value = payloads[(i % payloads.len() as u64) as usize].clone();
        bytes += value.len() as u64;
        let delivery = producer.send(ProducerRecord::new(spec.topic.as_str()).value(value)).await.map_err(|e| format!("rill send: {e}"))?;
        pending.push_back(delivery);
        if pending.len() >= PENDING_DELIVERIES {
            if let Some(oldest) = pending.pop_front() {
                oldest.await.map_err(|e| format!("rill delivery: {e}"))?;
            }
        }
    }
    producer.flush().await.map_err(|e| format!("rill flush: {e}"))?;
    for delivery in pending {
        delivery.await.map_err(|e| format!("rill delivery: {e}"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    producer.close(Duration::from_secs(30)).await.map_err(|e| format!("rill close: {e}"))?;
    Ok(RunReport { records: spec.workload.records, bytes, seconds })
}

/// rill: every partition assigned from the beginning, polled until all
/// `records` arrived; timed from client creation, like the other consumers.
pub async fn rill_consume(spec: &ChildSpec) -> Result<RunReport, String> {
    use rill_client::consumer::{Consumer, TopicPartition};
    use rill_client::{Client, ClientConfig};

    let start = Instant::now();
    // Every partition starts at the earliest offset by auto.offset.reset, in
    // one offset lookup, as rdkafka's assignment at Offset::Beginning and
    // franz-go's reset offset do. (A seek per partition waited for each
    // lookup in turn, behind the fetches of the partitions seeked before:
    // about 80 ms of a 400 ms run.)
    let config = ClientConfig::from_properties([("bootstrap.servers", spec.bootstrap.as_str()), ("auto.offset.reset", "earliest")])
        .map_err(|e| format!("rill config: {e}"))?;
    let client = Client::connect(config).await.map_err(|e| format!("rill connect: {e}"))?;
    let metadata = client.metadata(&[spec.topic.as_str()]).await.map_err(|e| format!("rill metadata: {e}"))?;
    let partitions: Vec<TopicPartition> = metadata
        .topics
        .get(spec.topic.as_str())
        .map(|topic| topic.partitions.keys().map(|&p| TopicPartition::new(spec.topic.as_str(), p)).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(format!("rill: topic {} has no partitions", spec.topic));
    }
    let consumer = Consumer::from_client(client).map_err(|e| format!("rill consumer: {e}"))?;
    consumer.assign(&partitions).map_err(|e| format!("rill assign: {e}"))?;
    let (mut got, mut bytes) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < spec.workload.records {
        if Instant::now() > deadline {
            return Err(format!("rill: only {got} of {} records within 10 minutes", spec.workload.records));
        }
        for record in consumer.poll(Duration::from_millis(100)).await.map_err(|e| format!("rill poll: {e}"))? {
            got += 1;
            bytes += record.value.as_ref().map_or(0, |v| v.len() as u64);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    consumer.close(Duration::from_secs(5)).await;
    Ok(RunReport { records: got, bytes, seconds })
}
