//! The fake broker as transaction coordinator (FindCoordinator,
//! AddPartitionsToTxn, EndTxn), and the transactional producer's retry
//! bounds: AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS (the previous
//! transaction still completing on the coordinator) is retried until the
//! waiting batches' `delivery.timeout.ms`, not `max.block.ms`; EndTxn is
//! bounded by `max.block.ms` and may then only be called again; offsets
//! (AddOffsetsToTxn, TxnOffsetCommit) are bounded by `max.block.ms`, and
//! after a timeout the transaction stays open until they are sent again.

use bytes::BytesMut;
use rill_protocol::messages::add_partitions_to_txn_response::{AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult};
use rill_protocol::messages::find_coordinator_response::Coordinator;
use rill_protocol::messages::txn_offset_commit_response::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use rill_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse, RequestHeader, TxnOffsetCommitResponse,
};
use tokio::time::Instant;

use super::*;

/// What the coordinator has seen and how it answers.
#[derive(Debug, Default)]
pub(super) struct TxnCoordinator {
    /// AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS until then.
    concurrent_until: Option<Instant>,
    add_partitions_requests: usize,
    /// Partitions added to the open transaction.
    added: BTreeSet<i32>,
    /// EndTxn results (`true`: commit), in order.
    ended: Vec<bool>,
    /// AddOffsetsToTxn and TxnOffsetCommit are answered
    /// COORDINATOR_LOAD_IN_PROGRESS until then.
    offsets_loading_until: Option<Instant>,
    /// AddOffsetsToTxn added the group to the open transaction.
    group_added: bool,
    /// Offsets of the open transaction: (topic, partition, offset).
    pending_offsets: Vec<(String, i32, i64)>,
    /// Offsets of committed transactions.
    committed_offsets: Vec<(String, i32, i64)>,
}

/// Answers a coordinator request; `None` for any other request.
pub(super) fn answer(broker: &Broker, header: &RequestHeader, request: &RequestBody) -> Option<BytesMut> {
    let mut coordinator = broker.coordinator.lock().unwrap();
    match request {
        RequestBody::FindCoordinator(req) => {
            let coordinators = req
                .coordinator_keys
                .iter()
                .map(|key| Coordinator { key: key.clone(), node_id: 1, host: "fake".into(), port: 9092, ..Default::default() })
                .collect();
            // v4+ answers per key; before, for the one key.
            let response = if header.request_api_version >= 4 {
                FindCoordinatorResponse { coordinators, ..Default::default() }
            } else {
                FindCoordinatorResponse { node_id: 1, host: "fake".into(), port: 9092, ..Default::default() }
            };
            Some(reply(header, &response))
        }
        RequestBody::AddPartitionsToTxn(req) => {
            coordinator.add_partitions_requests += 1;
            let code = if coordinator.concurrent_until.is_some_and(|until| Instant::now() < until) {
                ErrorCode::CONCURRENT_TRANSACTIONS
            } else {
                ErrorCode::NONE
            };
            let results_by_topic_v3_and_below = req
                .v3_and_below_topics
                .iter()
                .map(|topic| AddPartitionsToTxnTopicResult {
                    name: topic.name.clone(),
                    results_by_partition: topic
                        .partitions
                        .iter()
                        .map(|&partition_index| AddPartitionsToTxnPartitionResult {
                            partition_index,
                            partition_error_code: code.0,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            if code.is_none() {
                coordinator.added.extend(req.v3_and_below_topics.iter().flat_map(|t| t.partitions.iter().copied()));
            }
            Some(reply(header, &AddPartitionsToTxnResponse { results_by_topic_v3_and_below, ..Default::default() }))
        }
        RequestBody::AddOffsetsToTxn(_) => {
            let code = if coordinator.offsets_loading_until.is_some_and(|until| Instant::now() < until) {
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            } else {
                coordinator.group_added = true;
                ErrorCode::NONE
            };
            Some(reply(header, &AddOffsetsToTxnResponse { error_code: code.0, ..Default::default() }))
        }
        RequestBody::TxnOffsetCommit(req) => {
            let code = if coordinator.offsets_loading_until.is_some_and(|until| Instant::now() < until) {
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            } else if !coordinator.group_added {
                // Kafka's group coordinator: the group is not in the transaction.
                ErrorCode::INVALID_TXN_STATE
            } else {
                ErrorCode::NONE
            };
            if code.is_none() {
                for topic in &req.topics {
                    for partition in &topic.partitions {
                        coordinator.pending_offsets.push((topic.name.clone(), partition.partition_index, partition.committed_offset));
                    }
                }
            }
            let topics = req
                .topics
                .iter()
                .map(|topic| TxnOffsetCommitResponseTopic {
                    name: topic.name.clone(),
                    partitions: topic
                        .partitions
                        .iter()
                        .map(|p| TxnOffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: code.0,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            Some(reply(header, &TxnOffsetCommitResponse { topics, ..Default::default() }))
        }
        RequestBody::EndTxn(req) => {
            // A transaction with nothing added cannot end (INVALID_TXN_STATE in Kafka).
            let code = if coordinator.concurrent_until.is_some_and(|until| Instant::now() < until) {
                ErrorCode::CONCURRENT_TRANSACTIONS
            } else if coordinator.added.is_empty() && !coordinator.group_added {
                ErrorCode::INVALID_TXN_STATE
            } else {
                ErrorCode::NONE
            };
            if code.is_none() {
                coordinator.ended.push(req.committed);
                coordinator.added.clear();
                coordinator.group_added = false;
                let offsets = std::mem::take(&mut coordinator.pending_offsets);
                if req.committed {
                    coordinator.committed_offsets.extend(offsets);
                }
            }
            Some(reply(header, &EndTxnResponse { error_code: code.0, ..Default::default() }))
        }
        _ => None,
    }
}

async fn transactional_producer(broker: &Arc<Broker>) -> Producer {
    let producer = producer_with(
        broker,
        &[("transactional.id", "txn-1"), ("max.block.ms", "2000"), ("delivery.timeout.ms", "10000"), ("request.timeout.ms", "5000")],
    )
    .await;
    producer.init_transactions().await.unwrap();
    producer
}

/// Sends records `0..n` to partition 0 in a transaction and commits it; each is delivered.
async fn commit_numbered(producer: &Producer, n: usize) {
    producer.begin_transaction().unwrap();
    let deliveries = futures_collect(producer, n).await;
    producer.commit_transaction().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_transactions_past_max_block_still_commits() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    // The previous transaction completes on the coordinator for 5 s: more
    // than max.block.ms (2 s), less than delivery.timeout.ms (10 s).
    broker.coordinator.lock().unwrap().concurrent_until = Some(Instant::now() + Duration::from_secs(5));
    let start = Instant::now();
    producer.begin_transaction().unwrap();
    let deliveries = futures_collect(&producer, 3).await;
    // commit_transaction waits for the records up to max.block.ms, as
    // Java's does; called again, it goes on, and the records are delivered.
    let mut timeouts = 0;
    while let Err(err) = producer.commit_transaction().await {
        assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
        timeouts += 1;
        assert!(timeouts < 5, "the commit never completed");
    }
    assert!(timeouts >= 2, "each wait was bounded by max.block.ms: {timeouts} timeouts");
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert!(start.elapsed() >= Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(broker.values(0), expected(0..3));
    let coordinator = broker.coordinator.lock().unwrap();
    assert_eq!(coordinator.ended, [true]);
    assert!(coordinator.add_partitions_requests > 10, "retried: {}", coordinator.add_partitions_requests);
}

#[tokio::test(start_paused = true)]
async fn concurrent_transactions_past_delivery_timeout_fails_the_records() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    broker.coordinator.lock().unwrap().concurrent_until = Some(Instant::now() + Duration::from_secs(60));
    let start = Instant::now();
    producer.begin_transaction().unwrap();
    let deliveries = futures_collect(&producer, 3).await;
    for delivery in deliveries {
        let err = delivery.await.unwrap_err();
        assert!(matches!(err, ProduceError::DeliveryTimeout { partition: 0, .. }), "{err}");
        assert!(err.to_string().contains("CONCURRENT_TRANSACTIONS"), "the coordinator's answer is the last error: {err}");
    }
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11), "{waited:?}");
    // The transaction lost its records: it cannot commit, only abort.
    let err = producer.commit_transaction().await.unwrap_err();
    assert!(matches!(err, ProduceError::TransactionFailed { .. }), "{err}");
    producer.abort_transaction().await.unwrap();
    assert!(broker.values(0).is_empty());
    assert!(broker.coordinator.lock().unwrap().ended.is_empty(), "nothing was added: no EndTxn");

    // Once the coordinator is done, the next transaction goes through.
    broker.coordinator.lock().unwrap().concurrent_until = None;
    commit_numbered(&producer, 2).await;
    assert_eq!(broker.values(0), expected(0..2));
    assert_eq!(broker.coordinator.lock().unwrap().ended, [true]);
}

#[tokio::test(start_paused = true)]
async fn a_commit_past_max_block_times_out_and_completes_when_called_again() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    producer.begin_transaction().unwrap();
    let deliveries = futures_collect(&producer, 2).await;
    producer.flush().await.unwrap();
    // The coordinator answers EndTxn CONCURRENT_TRANSACTIONS for 5 s: past max.block.ms (2 s).
    broker.coordinator.lock().unwrap().concurrent_until = Some(Instant::now() + Duration::from_secs(5));
    let start = Instant::now();
    let err = producer.commit_transaction().await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    assert!(start.elapsed() <= Duration::from_secs(2), "{:?}", start.elapsed());
    // The commit may still complete: nothing but the commit again is allowed.
    let err = producer.send(numbered(0, 9)).await.unwrap_err();
    assert!(matches!(err, ProduceError::InvalidState { operation: "send", .. }), "{err}");
    let err = producer.abort_transaction().await.unwrap_err();
    assert!(matches!(err, ProduceError::InvalidState { operation: "abort_transaction", .. }), "{err}");
    let mut timeouts = 1;
    while let Err(err) = producer.commit_transaction().await {
        assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
        timeouts += 1;
        assert!(timeouts < 5, "the commit never completed");
    }
    assert!(timeouts >= 2 && start.elapsed() >= Duration::from_secs(5), "{timeouts} timeouts in {:?}", start.elapsed());
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert_eq!(broker.values(0), expected(0..2));
    assert_eq!(broker.coordinator.lock().unwrap().ended, [true]);
    // The producer goes on with the next transaction.
    commit_numbered(&producer, 1).await;
    assert_eq!(broker.coordinator.lock().unwrap().ended, [true, true]);
}

fn input_offsets() -> (BTreeMap<TopicPartition, OffsetAndMetadata>, ConsumerGroupMetadata) {
    (BTreeMap::from([(TopicPartition::new("in", 0), OffsetAndMetadata::from(42))]), ConsumerGroupMetadata::new("g"))
}

#[tokio::test(start_paused = true)]
async fn offsets_past_max_block_time_out_and_commit_once_sent_again() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    producer.begin_transaction().unwrap();
    let mut deliveries = futures_collect(&producer, 2).await;
    // The group coordinator loads for 5 s: past max.block.ms (2 s).
    broker.coordinator.lock().unwrap().offsets_loading_until = Some(Instant::now() + Duration::from_secs(5));
    let (offsets, group) = input_offsets();
    let start = Instant::now();
    let err = producer.send_offsets_to_transaction(&offsets, &group).await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    assert!(start.elapsed() <= Duration::from_secs(3), "{:?}", start.elapsed());
    // The transaction stays open: records are still accepted, but it does
    // not commit with offsets that may be missing.
    deliveries.push(producer.send(numbered(0, 2)).await.unwrap());
    let err = producer.commit_transaction().await.unwrap_err();
    assert!(matches!(err, ProduceError::InvalidState { operation: "commit_transaction", .. }), "{err}");
    assert!(err.to_string().contains("send_offsets_to_transaction"), "the error says what to do: {err}");
    let mut timeouts = 1;
    while let Err(err) = producer.send_offsets_to_transaction(&offsets, &group).await {
        assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
        timeouts += 1;
        assert!(timeouts < 5, "the offsets were never sent");
    }
    assert!(start.elapsed() >= Duration::from_secs(5), "{:?}", start.elapsed());
    producer.commit_transaction().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert_eq!(broker.values(0), expected(0..3));
    let coordinator = broker.coordinator.lock().unwrap();
    assert_eq!(coordinator.ended, [true]);
    assert_eq!(coordinator.committed_offsets, [("in".to_string(), 0, 42)]);
}

#[tokio::test(start_paused = true)]
async fn offsets_that_timed_out_may_be_aborted_and_the_next_transaction_goes_on() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    producer.begin_transaction().unwrap();
    let _deliveries = futures_collect(&producer, 1).await;
    producer.flush().await.unwrap();
    broker.coordinator.lock().unwrap().offsets_loading_until = Some(Instant::now() + Duration::from_secs(60));
    let (offsets, group) = input_offsets();
    let err = producer.send_offsets_to_transaction(&offsets, &group).await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    producer.abort_transaction().await.unwrap();
    {
        let coordinator = broker.coordinator.lock().unwrap();
        assert_eq!(coordinator.ended, [false]);
        assert!(coordinator.committed_offsets.is_empty());
    }
    broker.coordinator.lock().unwrap().offsets_loading_until = None;
    commit_numbered(&producer, 1).await;
    assert_eq!(broker.coordinator.lock().unwrap().ended, [false, true]);
}

#[tokio::test(start_paused = true)]
async fn a_commit_waiting_for_its_records_past_max_block_times_out_and_completes_when_called_again() {
    // Produce answers are held back until the test releases them.
    let gate = Arc::new(Semaphore::new(0));
    let broker = Arc::new(Broker { gate: Some(gate.clone()), ..Default::default() });
    let producer = transactional_producer(&broker).await;
    producer.begin_transaction().unwrap();
    let deliveries = futures_collect(&producer, 2).await;
    let start = Instant::now();
    let err = producer.commit_transaction().await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3), "bounded by max.block.ms: {waited:?}");
    assert!(broker.coordinator.lock().unwrap().ended.is_empty(), "no EndTxn before the records are delivered");
    gate.add_permits(1000);
    producer.commit_transaction().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert_eq!(broker.values(0), expected(0..2));
    assert_eq!(broker.coordinator.lock().unwrap().ended, [true]);
}

/// A pass of the sender that finds a batch ready for a partition already in
/// the transaction and another for a partition still to be added sends the
/// first as well as adding the second. (The sender once marked the first
/// batch in flight, then went to AddPartitionsToTxn and dropped it: its
/// records never resolved and the commit waited forever, as a CI run against
/// real Kafka did.)
#[tokio::test(start_paused = true)]
async fn a_batch_ready_beside_a_partition_still_to_be_added_is_sent() {
    let broker = Arc::new(Broker::default());
    let producer = transactional_producer(&broker).await;
    producer.begin_transaction().unwrap();
    // Partition 0 joins the transaction with its first record.
    producer.send(numbered(0, 0)).await.unwrap().await.unwrap();
    // Then one record for it and one for partition 1, ready in the same pass.
    let second = producer.send(numbered(0, 1)).await.unwrap();
    let other = producer.send(numbered(1, 0)).await.unwrap();
    let deadline = Duration::from_secs(60);
    tokio::time::timeout(deadline, other).await.expect("partition 1's record resolves").unwrap();
    tokio::time::timeout(deadline, second).await.expect("partition 0's second record resolves").unwrap();
    producer.commit_transaction().await.unwrap();
    assert_eq!(broker.values(0), expected(0..2));
    assert_eq!(broker.values(1), expected(0..1));
    assert_eq!(broker.coordinator.lock().unwrap().ended, [true]);
}
