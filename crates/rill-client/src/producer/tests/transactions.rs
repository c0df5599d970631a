//! The fake broker as transaction coordinator (FindCoordinator,
//! AddPartitionsToTxn, EndTxn), and the transactional producer's retry
//! bounds: AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS (the previous
//! transaction still completing on the coordinator) is retried until the
//! waiting batches' `delivery.timeout.ms`, not `max.block.ms`; EndTxn is
//! bounded by `max.block.ms` and may then only be called again.

use bytes::BytesMut;
use rill_protocol::messages::add_partitions_to_txn_response::{AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult};
use rill_protocol::messages::find_coordinator_response::Coordinator;
use rill_protocol::messages::{AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse, RequestHeader};
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
        RequestBody::EndTxn(req) => {
            // A transaction with nothing added cannot end (INVALID_TXN_STATE in Kafka).
            let code = if coordinator.concurrent_until.is_some_and(|until| Instant::now() < until) {
                ErrorCode::CONCURRENT_TRANSACTIONS
            } else if coordinator.added.is_empty() {
                ErrorCode::INVALID_TXN_STATE
            } else {
                ErrorCode::NONE
            };
            if code.is_none() {
                coordinator.ended.push(req.committed);
                coordinator.added.clear();
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
    commit_numbered(&producer, 3).await;
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
