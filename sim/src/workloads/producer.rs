//! The producer workload on rill-client's real [`Producer`]: idempotent
//! (`enable.idempotence=true`, so its producer id comes from the broker's
//! InitProducerId), `acks=all` unless the scenario says otherwise, over
//! turmoil's TCP through the client's pluggable transport. Every few ticks it
//! hands the producer a few records for one partition and records each send,
//! and each acknowledgement with its partition and offset (or the failure),
//! in the history for the lost-write, duplicate and order checkers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_client::backoff::Rng;
use rill_client::{Acks, Client, ProduceError, Producer, ProducerRecord};

use crate::clock::now_ms;
use crate::history::{Event, History, RecordId, TopicPartition};

/// Record timestamps count from this fixed wall-clock time (a seed replays exactly).
const WALL_CLOCK_START_MS: i64 = 1_700_000_000_000;

/// What one producer does.
#[derive(Debug, Clone)]
pub struct ProducerSpec {
    pub id: u32,
    pub topic: String,
    pub partitions: i32,
    /// Pause between batches of records.
    pub interval: Duration,
    /// No new record is handed to the producer after this simulated time.
    pub stop_sending_ms: u64,
    /// Records still pending at this simulated time are failed (the producer is closed).
    pub give_up_ms: u64,
    /// acks=all (`-1`), 1 or 0.
    pub acks: i16,
}

impl ProducerSpec {
    /// The `acks` setting of the producer.
    pub fn acks(&self) -> Acks {
        match self.acks {
            0 => Acks::None,
            1 => Acks::Leader,
            _ => Acks::All,
        }
    }
}

/// Records into the shared history.
pub fn record(history: &Mutex<History>, event: Event) {
    if let Ok(mut h) = history.lock() {
        h.push(event);
    }
}

/// Runs one producer to completion on `client` (whose configuration carries
/// the producer settings, see [`crate::scenario`]).
pub async fn run(spec: ProducerSpec, client: Client, history: Arc<Mutex<History>>, seed: u64) {
    let producer = match Producer::with_wall_clock(client, WALL_CLOCK_START_MS) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(producer = spec.id, error = %e, "the producer could not start");
            return;
        }
    };
    let mut rng = Rng::new(seed);
    let mut deliveries = Vec::new();
    let mut next_seq = 0u64;
    let mut unusable = false;
    while !unusable && now_ms() < spec.stop_sending_ms {
        let partition = rng.below(usize::try_from(spec.partitions.max(1)).unwrap_or(1)) as i32;
        let count = 1 + rng.below(3) as u64;
        let tp = TopicPartition::new(spec.topic.clone(), partition);
        for seq in next_seq..next_seq + count {
            let id = RecordId::new(spec.id, seq);
            record(&history, Event::Send { at_ms: now_ms(), tp: tp.clone(), id, txn: None });
            let sent = producer.send(ProducerRecord::new(spec.topic.clone()).partition(partition).value(id.to_value())).await;
            match sent {
                Ok(delivery) => {
                    let (history, tp) = (history.clone(), tp.clone());
                    // One task per record: acknowledgements are recorded when they arrive.
                    deliveries.push(tokio::spawn(async move {
                        let event = match delivery.await {
                            Ok(meta) => Event::Ack { at_ms: now_ms(), tp, id, offset: meta.offset },
                            Err(e) => Event::SendFailed { at_ms: now_ms(), tp, id, error: describe(&e) },
                        };
                        record(&history, event);
                    }));
                }
                Err(e) => {
                    record(&history, Event::SendFailed { at_ms: now_ms(), tp: tp.clone(), id, error: describe(&e) });
                    if matches!(e, ProduceError::Fenced { .. } | ProduceError::Closed) {
                        tracing::warn!(producer = spec.id, error = %e, "the producer cannot go on");
                        unusable = true;
                    }
                }
            }
        }
        next_seq += count;
        tokio::time::sleep(spec.interval).await;
    }
    // Deliver what is pending until the run gives up; close fails whatever is left.
    let left = Duration::from_millis(spec.give_up_ms.saturating_sub(now_ms()));
    if let Err(e) = producer.close(left).await {
        tracing::debug!(producer = spec.id, error = %e, "close: records left undelivered");
    }
    for delivery in deliveries {
        let _ = delivery.await;
    }
}

/// One line of an error for the trace.
fn describe(e: &ProduceError) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}
