//! librdkafka (through the `rdkafka` crate) running one benchmark cell.
//!
//! `rdkafka-child --mode produce --bootstrap B --topic T --payload-file F
//! --records N --compression none|lz4 --linger-ms L --batch-bytes S`, or
//! `--mode consume --bootstrap B --topic T --records N`, prints one JSON
//! line `{"records":N,"bytes":B,"seconds":S}`, like every client of
//! peer-bench. Producing: a `BaseProducer` polled inline, waiting on a full
//! local queue the way librdkafka's own examples do. Consuming: a
//! `BaseConsumer` assigned every partition from the earliest offset, timed
//! from its creation to the last record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

struct Counting {
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("missing {name}"))
}

fn report(records: u64, bytes: u64, seconds: f64) -> String {
    serde_json::json!({"records": records, "bytes": bytes, "seconds": seconds}).to_string()
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, "--mode").as_deref() {
        Ok("consume") => consume(&args),
        _ => produce(&args),
    }
}

fn consume(args: &[String]) -> Result<String, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;

    let records: u64 = arg(args, "--records")?.parse().map_err(|e| format!("--records: {e}"))?;
    let topic = arg(args, "--topic")?;
    // Timed from consumer creation, like franz-go (which fetches from
    // NewClient on); partitions are assigned directly, no group, as rill's
    // manual assignment and franz-go's direct consumption.
    let start = Instant::now();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", arg(args, "--bootstrap")?)
        .set("group.id", format!("rdkafka-bench-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("rdkafka: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(30))
        .map_err(|e| format!("rdkafka metadata: {e}"))?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment
                .add_partition_offset(&topic, p.id(), rdkafka::Offset::Beginning)
                .map_err(|e| format!("rdkafka assignment: {e}"))?;
        }
    }
    consumer.assign(&assignment).map_err(|e| format!("rdkafka assign: {e}"))?;
    let (mut got, mut bytes) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < records {
        if Instant::now() > deadline {
            return Err(format!("rdkafka: only {got} of {records} records within 10 minutes"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                got += 1;
                bytes += message.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(e)) => return Err(format!("rdkafka poll: {e}")),
            None => {}
        }
    }
    Ok(report(got, bytes, start.elapsed().as_secs_f64()))
}

fn produce(args: &[String]) -> Result<String, String> {
    let args = args.to_vec();
    let records: u64 = arg(&args, "--records")?.parse().map_err(|e| format!("--records: {e}"))?;
    let text = std::fs::read(arg(&args, "--payload-file")?).map_err(|e| format!("payload file: {e}"))?;
    let payloads: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    if payloads.is_empty() {
        return Err("the payload file is empty".into());
    }
    let topic = arg(&args, "--topic")?;
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", arg(&args, "--bootstrap")?)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", arg(&args, "--compression")?)
        .set("linger.ms", arg(&args, "--linger-ms")?)
        .set("batch.size", arg(&args, "--batch-bytes")?);
    let producer: BaseProducer<Counting> =
        config.create_with_context(Counting { failed: AtomicU64::new(0) }).map_err(|e| format!("rdkafka: {e}"))?;
    let mut bytes = 0u64;
    let start = Instant::now();
    for i in 0..records {
        let value = payloads[(i % payloads.len() as u64) as usize];
        bytes += value.len() as u64;
        let mut record = BaseRecord::<(), [u8]>::to(&topic).payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(format!("rdkafka send: {e}")),
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(600)).map_err(|e| format!("rdkafka flush: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("rdkafka: {failed} deliveries failed"));
    }
    Ok(report(records, bytes, seconds))
}

fn main() {
    match run() {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("rdkafka-child: {e}");
            std::process::exit(1);
        }
    }
}
