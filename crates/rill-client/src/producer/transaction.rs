//! Transactions (KIP-98): the transaction state machine and the coordinator
//! requests: FindCoordinator (TRANSACTION and GROUP keys), InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn.
//!
//! Version caps: AddPartitionsToTxn v3 (v4+ is the broker-to-broker
//! batched form) and EndTxn v4 (v5 belongs to KIP-890's server-side epoch
//! bump, which also needs Produce v12).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use rill_protocol::message::Request;
use rill_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use rill_protocol::messages::txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
use rill_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest, TxnOffsetCommitRequest,
};
use rill_protocol::ErrorCode;
use tokio::time::Instant;
use tracing::debug;

use super::error::ProduceError;
use super::idempotence::ProducerIdentity;
use super::record::TopicPartition;
use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::Error;

/// Where a transactional producer is.
#[derive(Debug, Clone)]
pub(crate) enum TxnPhase {
    /// `init_transactions` not called yet (or it failed).
    Uninitialized,
    /// No transaction open.
    Ready,
    InTransaction,
    /// EndTxn (commit when `commit`) did not complete within `max.block.ms`:
    /// the coordinator may be completing it, so only the same call again
    /// helps (Java's `COMMITTING_TRANSACTION` / `ABORTING_TRANSACTION`).
    Ending {
        commit: bool,
    },
    /// A send or a coordinator call failed: only `abort_transaction` helps.
    Abortable(ProduceError),
    /// Fenced or otherwise unusable: only `close` helps.
    Fatal(ProduceError),
}

impl TxnPhase {
    pub fn describe(&self) -> String {
        match self {
            TxnPhase::Uninitialized => "init_transactions() has not completed".into(),
            TxnPhase::Ready => "no transaction is open (call begin_transaction())".into(),
            TxnPhase::InTransaction => "a transaction is open".into(),
            TxnPhase::Ending { commit: true } => "the commit timed out and may still complete (call commit_transaction() again)".into(),
            TxnPhase::Ending { commit: false } => "the abort timed out and may still complete (call abort_transaction() again)".into(),
            TxnPhase::Abortable(e) => format!("the transaction failed and must be aborted: {e}"),
            TxnPhase::Fatal(e) => format!("the producer is unusable: {e}"),
        }
    }
}

/// The state of a transactional producer.
#[derive(Debug)]
pub(crate) struct TransactionState {
    pub phase: TxnPhase,
    /// Partitions added to the open transaction (AddPartitionsToTxn done).
    pub partitions: BTreeSet<TopicPartition>,
    /// `send_offsets_to_transaction` was called in the open transaction.
    pub offsets_sent: bool,
    /// The last `send_offsets_to_transaction` timed out (still failing
    /// retriably at `max.block.ms`): it may yet have been carried out, so
    /// the transaction commits only after a repeat of it succeeds.
    pub offsets_pending: bool,
}

impl TransactionState {
    pub fn new() -> Self {
        TransactionState { phase: TxnPhase::Uninitialized, partitions: BTreeSet::new(), offsets_sent: false, offsets_pending: false }
    }

    /// The transaction ended (committed or aborted).
    pub fn finish(&mut self) {
        self.phase = TxnPhase::Ready;
        self.partitions.clear();
        self.offsets_sent = false;
        self.offsets_pending = false;
    }

    /// Records a failure of the open transaction (fatal ones stay fatal).
    pub fn fail(&mut self, error: ProduceError) {
        match (&self.phase, error.is_fenced()) {
            (TxnPhase::Fatal(_), _) => {}
            (_, true) => self.phase = TxnPhase::Fatal(error),
            (TxnPhase::InTransaction | TxnPhase::Ending { .. }, false) => self.phase = TxnPhase::Abortable(error),
            _ => {}
        }
    }
}

/// A consumer group's identity for `send_offsets_to_transaction` (KIP-447:
/// with generation and member id the coordinator fences zombie consumers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// -1 when unknown (no fencing by generation).
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group without member information (generation -1).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata { group_id: group_id.into(), generation_id: -1, member_id: String::new(), group_instance_id: None }
    }
}

/// An offset to commit: the next record to consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
}

impl From<i64> for OffsetAndMetadata {
    fn from(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: None }
    }
}

/// FindCoordinator key types.
pub(crate) const GROUP_KEY: i8 = 0;
pub(crate) const TRANSACTION_KEY: i8 = 1;

/// What one coordinator call attempt concluded.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Try again after a backoff (COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, ...).
    Retry(ErrorCode),
    /// Look the coordinator up again first (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE).
    Refind(ErrorCode),
}

/// Reads a coordinator error code: `Ok(None)` for success, `Ok(Some(..))` to retry, `Err` to stop.
pub(crate) fn coordinator_error<T>(code: ErrorCode) -> Option<Attempt<T>> {
    match code {
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Some(Attempt::Refind(code)),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS | ErrorCode::CONCURRENT_TRANSACTIONS => Some(Attempt::Retry(code)),
        code if code.is_retriable() => Some(Attempt::Retry(code)),
        _ => None,
    }
}

/// The error for a non-retriable coordinator answer: fencing codes are
/// [`ProduceError::Fenced`], the rest fail the transaction.
pub(crate) fn txn_error(transactional_id: &str, what: &str, code: ErrorCode) -> ProduceError {
    match code {
        ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => {
            ProduceError::Fenced { transactional_id: Some(transactional_id.to_string()), code }
        }
        _ => ProduceError::TransactionFailed { reason: format!("{what}: {code}") },
    }
}

/// Sends `request` to `node` at the negotiated version, at most `cap`.
pub(crate) async fn send_capped<R: Request>(client: &Client, node: i32, request: &R, cap: i16) -> Result<R::Response, Error> {
    let connection = client.connection(node).await?;
    let version = connection.version_for(R::API_KEY)?.min(cap);
    match connection.send_version(request, version).await {
        Err(Error::NotSent { .. }) => {
            let connection = client.connection(node).await?;
            connection.send_version(request, version).await
        }
        other => other,
    }
}

/// The coordinator of `key` (a transactional id or a group id).
pub(crate) async fn find_coordinator(client: &Client, key_type: i8, key: &str) -> Result<Attempt<i32>, Error> {
    let node = client.any_node().await?;
    let connection = client.connection(node).await?;
    let version = connection.version_for(FindCoordinatorRequest::API_KEY)?;
    let request = if version >= 4 {
        FindCoordinatorRequest { key_type, coordinator_keys: vec![key.to_string()], ..Default::default() }
    } else {
        FindCoordinatorRequest { key_type, key: key.to_string(), ..Default::default() }
    };
    let response = connection.send_version(&request, version).await?;
    let (code, node_id) = match response.coordinators.first() {
        Some(c) if version >= 4 => (ErrorCode(c.error_code), c.node_id),
        _ => (ErrorCode(response.error_code), response.node_id),
    };
    if code.is_none() {
        return Ok(Attempt::Done(node_id));
    }
    match coordinator_error(code) {
        Some(attempt) => Ok(attempt),
        None => {
            Err(Error::Kafka { broker: connection.broker().to_string(), context: format!("FindCoordinator {key}"), code, message: None })
        }
    }
}

/// Runs `call` against the coordinator of `key` until it is done, retrying
/// with backoff (looking the coordinator up again when it moved) until
/// `deadline` (`max.block.ms` from the application's call).
pub(crate) async fn with_coordinator<T, F, Fut>(
    client: &Client,
    key_type: i8,
    key: &str,
    what: &'static str,
    deadline: Instant,
    call: F,
) -> Result<T, ProduceError>
where
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<Attempt<T>, ProduceError>>,
{
    with_coordinator_while(client, key_type, key, what, || Some(deadline), call).await
}

/// [`with_coordinator`] with a bound read again before every retry:
/// `bound()` gives the instant retrying stops, or `None` once the call is no
/// longer wanted. A retriable failure at the bound is returned as it came
/// (the last error), a non-retriable one at once.
pub(crate) async fn with_coordinator_while<T, B, F, Fut>(
    client: &Client,
    key_type: i8,
    key: &str,
    what: &'static str,
    bound: B,
    mut call: F,
) -> Result<T, ProduceError>
where
    B: Fn() -> Option<Instant>,
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<Attempt<T>, ProduceError>>,
{
    let config = client.config();
    let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
    let mut coordinator: Option<i32> = None;
    loop {
        let attempt: Result<(), ProduceError> = match coordinator {
            None => match find_coordinator(client, key_type, key).await {
                Ok(Attempt::Done(node)) => {
                    coordinator = Some(node);
                    continue;
                }
                Ok(Attempt::Retry(code) | Attempt::Refind(code)) => Err(ProduceError::Client(Error::Kafka {
                    broker: "coordinator".into(),
                    context: format!("FindCoordinator {key}"),
                    code,
                    message: None,
                })),
                Err(e) if e.is_retriable() => Err(ProduceError::Client(e)),
                Err(e) => return Err(ProduceError::Client(e)),
            },
            Some(node) => match call(node).await {
                Ok(Attempt::Done(value)) => return Ok(value),
                Ok(Attempt::Refind(code)) => {
                    coordinator = None;
                    Err(ProduceError::Client(Error::Kafka { broker: format!("node {node}"), context: what.into(), code, message: None }))
                }
                Ok(Attempt::Retry(code)) => {
                    Err(ProduceError::Client(Error::Kafka { broker: format!("node {node}"), context: what.into(), code, message: None }))
                }
                Err(ProduceError::Client(e)) if e.is_retriable() => {
                    coordinator = None;
                    Err(ProduceError::Client(e))
                }
                Err(e) => return Err(e),
            },
        };
        let delay = client.with_rng(|rng| backoff.next_delay(rng));
        // CONCURRENT_TRANSACTIONS clears within milliseconds; Java retries it after 20 ms.
        let delay = delay.min(Duration::from_millis(100));
        if bound().is_none_or(|deadline| Instant::now() + delay > deadline) {
            if let Err(e) = attempt {
                return Err(e);
            }
        }
        if let Err(e) = &attempt {
            debug!(what, error = %e, ?delay, "coordinator call: retrying");
        }
        tokio::time::sleep(delay).await;
    }
}

/// InitProducerId: a new producer id (or, with `current` set, the same id
/// with the next epoch: KIP-360, InitProducerId v3+). Transactional
/// producers ask their transaction coordinator, which fences older
/// instances of the same transactional id; idempotent ones ask any broker.
pub(crate) async fn init_producer_id(
    client: &Client,
    transactional_id: Option<&str>,
    transaction_timeout: Duration,
    current: ProducerIdentity,
    deadline: Instant,
) -> Result<ProducerIdentity, ProduceError> {
    let timeout_ms = i32::try_from(transaction_timeout.as_millis()).unwrap_or(i32::MAX);
    let call = |node: i32| async move {
        let connection = client.connection(node).await?;
        let version = connection.version_for(InitProducerIdRequest::API_KEY)?;
        // Before v3 the broker cannot bump an epoch: ask for a new id instead.
        let bump = if version >= 3 { current } else { ProducerIdentity::NONE };
        let request = InitProducerIdRequest {
            transactional_id: transactional_id.map(str::to_string),
            transaction_timeout_ms: timeout_ms,
            producer_id: bump.producer_id,
            producer_epoch: bump.producer_epoch,
            ..Default::default()
        };
        let response = connection.send_version(&request, version).await?;
        let code = ErrorCode(response.error_code);
        if code.is_none() {
            return Ok(Attempt::Done(ProducerIdentity { producer_id: response.producer_id, producer_epoch: response.producer_epoch }));
        }
        match coordinator_error(code) {
            Some(attempt) => Ok(attempt),
            None => Err(match transactional_id {
                Some(id) => txn_error(id, "InitProducerId", code),
                None => ProduceError::Client(Error::Kafka {
                    broker: connection.broker().to_string(),
                    context: "InitProducerId".into(),
                    code,
                    message: None,
                }),
            }),
        }
    };
    match transactional_id {
        Some(id) => with_coordinator(client, TRANSACTION_KEY, id, "InitProducerId", deadline, call).await,
        None => {
            // Any broker will do: retry on the first known one.
            let config = client.config();
            let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
            loop {
                let result = match client.any_node().await {
                    Ok(node) => call(node).await,
                    Err(e) => Err(ProduceError::Client(e)),
                };
                let error = match result {
                    Ok(Attempt::Done(identity)) => return Ok(identity),
                    Ok(Attempt::Retry(code) | Attempt::Refind(code)) => {
                        ProduceError::Client(Error::Kafka { broker: "any".into(), context: "InitProducerId".into(), code, message: None })
                    }
                    Err(ProduceError::Client(e)) if e.is_retriable() => ProduceError::Client(e),
                    Err(e) => return Err(e),
                };
                let delay = client.with_rng(|rng| backoff.next_delay(rng));
                if Instant::now() + delay > deadline {
                    return Err(error);
                }
                debug!(error = %error, ?delay, "InitProducerId: retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// AddPartitionsToTxn (v3 and below), retried while `bound` gives an
/// instant in the future. No application call waits on it: the partitions'
/// batches do, so their `delivery.timeout.ms` bounds it, not `max.block.ms`
/// (Java's `TransactionManager` retries it, CONCURRENT_TRANSACTIONS
/// included, until a batch fails and the transaction turns abortable).
pub(crate) async fn add_partitions(
    client: &Client,
    transactional_id: &str,
    identity: ProducerIdentity,
    partitions: &BTreeSet<TopicPartition>,
    bound: impl Fn() -> Option<Instant>,
) -> Result<(), ProduceError> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    let request = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: transactional_id.to_string(),
        v3_and_below_producer_id: identity.producer_id,
        v3_and_below_producer_epoch: identity.producer_epoch,
        v3_and_below_topics: topics
            .into_iter()
            .map(|(name, partitions)| AddPartitionsToTxnTopic { name: name.to_string(), partitions, ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let request = &request;
    with_coordinator_while(client, TRANSACTION_KEY, transactional_id, "AddPartitionsToTxn", bound, |node| async move {
        let response = send_capped(client, node, request, 3).await?;
        // The first error that is not OPERATION_NOT_ATTEMPTED (set on the
        // partitions skipped because another one failed) decides.
        let mut worst = ErrorCode::NONE;
        for topic in &response.results_by_topic_v3_and_below {
            for p in &topic.results_by_partition {
                let code = ErrorCode(p.partition_error_code);
                if code.is_error() && (worst.is_none() || worst == ErrorCode::OPERATION_NOT_ATTEMPTED) {
                    worst = code;
                }
            }
        }
        if worst.is_none() {
            return Ok(Attempt::Done(()));
        }
        coordinator_error(worst).ok_or_else(|| txn_error(transactional_id, "AddPartitionsToTxn", worst))
    })
    .await
}

/// AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator.
pub(crate) async fn send_offsets(
    client: &Client,
    transactional_id: &str,
    identity: ProducerIdentity,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    group: &ConsumerGroupMetadata,
    deadline: Instant,
) -> Result<(), ProduceError> {
    let add = AddOffsetsToTxnRequest {
        transactional_id: transactional_id.to_string(),
        producer_id: identity.producer_id,
        producer_epoch: identity.producer_epoch,
        group_id: group.group_id.clone(),
        ..Default::default()
    };
    let add = &add;
    with_coordinator(client, TRANSACTION_KEY, transactional_id, "AddOffsetsToTxn", deadline, |node| async move {
        let response = send_capped(client, node, add, 4).await?;
        let code = ErrorCode(response.error_code);
        if code.is_none() {
            return Ok(Attempt::Done(()));
        }
        coordinator_error(code).ok_or_else(|| txn_error(transactional_id, "AddOffsetsToTxn", code))
    })
    .await?;

    let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        topics.entry(tp.topic.as_str()).or_default().push(TxnOffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: offset.offset,
            committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
            committed_metadata: offset.metadata.clone(),
            ..Default::default()
        });
    }
    let commit = TxnOffsetCommitRequest {
        transactional_id: transactional_id.to_string(),
        group_id: group.group_id.clone(),
        producer_id: identity.producer_id,
        producer_epoch: identity.producer_epoch,
        generation_id: group.generation_id,
        member_id: group.member_id.clone(),
        group_instance_id: group.group_instance_id.clone(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| TxnOffsetCommitRequestTopic { name: name.to_string(), partitions, ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let commit = &commit;
    with_coordinator(client, GROUP_KEY, &group.group_id, "TxnOffsetCommit", deadline, |node| async move {
        let response = send_capped(client, node, commit, 4).await?;
        let code = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| ErrorCode(p.error_code))
            .find(|c| c.is_error())
            .unwrap_or(ErrorCode::NONE);
        if code.is_none() {
            return Ok(Attempt::Done(()));
        }
        coordinator_error(code).ok_or_else(|| txn_error(transactional_id, "TxnOffsetCommit", code))
    })
    .await
}

/// EndTxn (commit or abort), v4 at most.
pub(crate) async fn end_txn(
    client: &Client,
    transactional_id: &str,
    identity: ProducerIdentity,
    committed: bool,
    deadline: Instant,
) -> Result<(), ProduceError> {
    let request = EndTxnRequest {
        transactional_id: transactional_id.to_string(),
        producer_id: identity.producer_id,
        producer_epoch: identity.producer_epoch,
        committed,
        ..Default::default()
    };
    let request = &request;
    with_coordinator(client, TRANSACTION_KEY, transactional_id, "EndTxn", deadline, |node| async move {
        let response = send_capped(client, node, request, 4).await?;
        let code = ErrorCode(response.error_code);
        if code.is_none() {
            return Ok(Attempt::Done(()));
        }
        coordinator_error(code).ok_or_else(|| txn_error(transactional_id, "EndTxn", code))
    })
    .await
}
