//! The idempotent producer workload: each producer host gets a producer id
//! (InitProducerId), then sends small batches with per-partition sequence
//! numbers (KIP-98) to the partition leaders with acks=all, retrying a
//! batch with the same sequence until it is acknowledged, and records every
//! send and acknowledgement in the history.
//!
//! This drives rill-client's `Client::send` with hand-built Produce
//! requests; the real `Producer` replaces it once it lands on main.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_client::backoff::{Backoff, Rng};
use rill_client::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use rill_client::protocol::messages::{InitProducerIdRequest, ProduceRequest};
use rill_client::protocol::records::RecordBatchBuilder;
use rill_client::protocol::ErrorCode;
use rill_client::Client;

use crate::clock::now_ms;
use crate::history::{Event, History, RecordId, TopicPartition};

/// What one producer does.
#[derive(Debug, Clone)]
pub struct ProducerSpec {
    pub id: u32,
    pub topic: String,
    pub partitions: i32,
    /// Pause between batches.
    pub interval: Duration,
    /// No new batch starts after this simulated time.
    pub stop_sending_ms: u64,
    /// A batch not acknowledged by this simulated time is given up.
    pub give_up_ms: u64,
    /// acks=all (`-1`) or 1.
    pub acks: i16,
}

/// Records into the shared history.
pub fn record(history: &Mutex<History>, event: Event) {
    if let Ok(mut h) = history.lock() {
        h.push(event);
    }
}

fn lock_rng(rng: &Mutex<Rng>) -> std::sync::MutexGuard<'_, Rng> {
    rng.lock().unwrap_or_else(|p| p.into_inner())
}

/// A producer id and epoch from any broker, retried until `give_up_ms`.
/// A broker without InitProducerId gets ids the workload picks itself
/// (`fallback`, unique per producer incarnation): brokers accept a new
/// producer id starting at sequence 0 (KIP-98), so sequence checks still apply.
async fn init_producer_id(client: &Client, rng: &Mutex<Rng>, give_up_ms: u64, fallback: i64) -> Option<(i64, i16)> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    while now_ms() < give_up_ms {
        let node = client.cached_metadata().brokers.keys().copied().collect::<Vec<_>>();
        let pick = { node.get(lock_rng(rng).below(node.len())).copied() };
        if let Some(node) = pick {
            match client.send(node, &request).await {
                Ok(r) if ErrorCode(r.error_code).is_none() => return Some((r.producer_id, r.producer_epoch)),
                Ok(r) => tracing::debug!(code = %ErrorCode(r.error_code).name(), "InitProducerId failed"),
                Err(rill_client::Error::UnsupportedVersion { .. }) => return Some((fallback, 0)),
                Err(e) => tracing::debug!(error = %e, "InitProducerId failed"),
            }
        }
        let _ = client.metadata(&[]).await;
        let delay = backoff.next_delay(&mut lock_rng(rng));
        tokio::time::sleep(delay).await;
    }
    None
}

/// Runs one producer to completion.
pub async fn run(spec: ProducerSpec, client: Client, history: Arc<Mutex<History>>, seed: u64) {
    let rng = Mutex::new(Rng::new(seed));
    let fallback_id = |incarnation: i64| 1_000_000 + i64::from(spec.id) * 1_000 + incarnation;
    let mut incarnation = 0;
    let Some(mut producer) = init_producer_id(&client, &rng, spec.give_up_ms, fallback_id(incarnation)).await else {
        return;
    };
    let mut sequences: BTreeMap<i32, i32> = BTreeMap::new();
    let mut next_seq = 0u64;
    while now_ms() < spec.stop_sending_ms {
        let (partition, count) = {
            let mut rng = lock_rng(&rng);
            (rng.below(spec.partitions.max(1) as usize) as i32, 1 + rng.below(3) as u64)
        };
        let tp = TopicPartition::new(spec.topic.clone(), partition);
        let ids: Vec<RecordId> = (next_seq..next_seq + count).map(|s| RecordId::new(spec.id, s)).collect();
        next_seq += count;
        for id in &ids {
            record(&history, Event::Send { at_ms: now_ms(), tp: tp.clone(), id: *id, txn: None });
        }
        let base_sequence = sequences.get(&partition).copied().unwrap_or(0);
        match send_batch(&spec, &client, &rng, &tp, &ids, producer, base_sequence).await {
            Outcome::Acked(base_offset) => {
                let at_ms = now_ms();
                for (i, id) in ids.iter().enumerate() {
                    let offset = base_offset + i as i64;
                    record(&history, Event::Ack { at_ms, tp: tp.clone(), id: *id, offset });
                }
                sequences.insert(partition, base_sequence.wrapping_add(ids.len() as i32));
            }
            Outcome::Failed { error, reset } => {
                let at_ms = now_ms();
                for id in &ids {
                    record(&history, Event::SendFailed { at_ms, tp: tp.clone(), id: *id, error: error.clone() });
                }
                if reset {
                    // The sequence state is unknown now: start over with a new producer id
                    // (what the Java producer does after a fatal idempotence error).
                    incarnation += 1;
                    let fallback = fallback_id(incarnation);
                    let Some(fresh) = init_producer_id(&client, &rng, spec.give_up_ms, fallback).await else { return };
                    producer = fresh;
                    sequences.clear();
                } else {
                    // Given up for time: whether it landed is unknown.
                    return;
                }
            }
        }
        tokio::time::sleep(spec.interval).await;
    }
}

enum Outcome {
    Acked(i64),
    /// `reset`: the producer must get a new id before sending again.
    Failed { error: String, reset: bool },
}

async fn send_batch(
    spec: &ProducerSpec,
    client: &Client,
    rng: &Mutex<Rng>,
    tp: &TopicPartition,
    ids: &[RecordId],
    (producer_id, producer_epoch): (i64, i16),
    base_sequence: i32,
) -> Outcome {
    let mut builder = RecordBatchBuilder::new(0).producer(producer_id, producer_epoch, base_sequence);
    for id in ids {
        if let Err(e) = builder.append(0, None, Some(&id.to_value()), &[]) {
            return Outcome::Failed { error: format!("encode: {e}"), reset: false };
        }
    }
    let records = match builder.finish() {
        Ok(b) => b.freeze(),
        Err(e) => return Outcome::Failed { error: format!("encode: {e}"), reset: false },
    };
    let request = ProduceRequest {
        transactional_id: None,
        acks: spec.acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: tp.topic.clone(),
            partition_data: vec![PartitionProduceData { index: tp.partition, records: Some(records), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        if now_ms() >= spec.give_up_ms {
            return Outcome::Failed { error: "gave up: the run ended".into(), reset: false };
        }
        let result = match client.leader_for(&tp.topic, tp.partition).await {
            Ok(leader) => client.send(leader, &request).await,
            Err(e) => Err(e),
        };
        let code = match result {
            Ok(response) => {
                let partition = response
                    .responses
                    .iter()
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index == tp.partition);
                match partition {
                    Some(p) if ErrorCode(p.error_code).is_none() => return Outcome::Acked(p.base_offset),
                    Some(p) => ErrorCode(p.error_code),
                    None => ErrorCode::UNKNOWN_SERVER_ERROR,
                }
            }
            Err(e) if e.is_retriable() => {
                tracing::debug!(%tp, error = %e, "produce failed; retrying");
                let delay = backoff.next_delay(&mut lock_rng(rng));
                tokio::time::sleep(delay).await;
                continue;
            }
            Err(e) => return Outcome::Failed { error: e.to_string(), reset: false },
        };
        if code.is_retriable() {
            client.note_error(&tp.topic, code);
            tracing::debug!(%tp, code = code.name(), "produce error; retrying");
            let delay = backoff.next_delay(&mut lock_rng(rng));
            tokio::time::sleep(delay).await;
            continue;
        }
        // OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, DUPLICATE_SEQUENCE_NUMBER, ...:
        // the record's fate is unknown to this producer.
        return Outcome::Failed { error: code.name().to_string(), reset: true };
    }
}
