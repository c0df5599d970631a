//! The sender task: drains ready batches per partition leader into
//! ProduceRequests (at most `max.request.size` each, one batch per partition
//! per request), pipelines them on the leader's connection, and handles the
//! answers: delivery, retry after `retry.backoff.ms` (growing to
//! `retry.backoff.max.ms`) with a metadata refresh for stale leaders,
//! failure after `retries` or `delivery.timeout.ms`, and the idempotent
//! producer's sequence bookkeeping and KIP-360 epoch bumps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::message::Request;
use rill_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use rill_protocol::messages::produce_response::PartitionProduceResponse;
use rill_protocol::messages::{ProduceRequest, ProduceResponse};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::accumulator::Readiness;
use super::batch::{ProducerBatch, Sequenced};
use super::error::ProduceError;
use super::idempotence::{classify, ErrorAction, ProducerIdentity};
use super::record::TopicPartition;
use super::transaction::{self, TxnPhase};
use super::{Inner, State};
use crate::backoff::Backoff;
use crate::config::Acks;
use crate::error::Error;

/// The answer to one ProduceRequest, for the batches it carried.
#[derive(Debug)]
pub(crate) struct Completion {
    broker: String,
    batches: Vec<(TopicPartition, u64)>,
    /// `Ok(None)`: acks=0, written.
    result: Result<Option<ProduceResponse>, Error>,
}

/// What one pass over the accumulator found.
#[derive(Debug, Default)]
struct Plan {
    /// Batches to send, per leader, in partition order.
    by_leader: BTreeMap<i32, Vec<(TopicPartition, u64, bytes::Bytes, usize)>>,
    /// Topics whose leaders are unknown or stale.
    refresh: BTreeSet<String>,
    /// Partitions to add to the open transaction first.
    add_to_txn: BTreeSet<TopicPartition>,
    next_wake: Option<Instant>,
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

pub(crate) async fn run(inner: Arc<Inner>, mut completions: mpsc::UnboundedReceiver<Completion>) {
    let refreshing = Arc::new(AtomicBool::new(false));
    let mut identity_retry_at: Option<Instant> = None;
    let mut identity_backoff = Backoff::new(inner.client.config().retry_backoff, inner.client.config().retry_backoff_max);
    loop {
        while let Ok(c) = completions.try_recv() {
            handle_completion(&inner, c);
        }
        let now = Instant::now();
        expire(&inner, now);
        {
            let state = inner.lock();
            if state.closing && state.accumulator.is_empty() {
                debug!("sender: closed and nothing pending; stopping");
                return;
            }
        }
        if identity_retry_at.is_none_or(|at| at <= now) {
            match ensure_identity(&inner).await {
                Ok(()) => identity_retry_at = None,
                Err(e) => {
                    let delay = inner.client.with_rng(|rng| identity_backoff.next_delay(rng));
                    debug!(error = %e, ?delay, "InitProducerId failed; retrying");
                    identity_retry_at = Some(Instant::now() + delay);
                }
            }
        }
        let plan = plan(&inner, Instant::now(), identity_retry_at.is_some());
        if !plan.refresh.is_empty() && !refreshing.swap(true, Ordering::SeqCst) {
            spawn_refresh(&inner, &refreshing, plan.refresh.iter().cloned().collect());
        }
        if !plan.add_to_txn.is_empty() {
            add_to_transaction(&inner, &plan.add_to_txn).await;
            continue;
        }
        let sent_any = !plan.by_leader.is_empty();
        for (leader, batches) in plan.by_leader {
            send_to_leader(&inner, leader, batches).await;
        }
        if sent_any {
            continue;
        }
        let wake_at = [plan.next_wake, identity_retry_at].into_iter().flatten().min();
        let sleep = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            c = completions.recv() => {
                if let Some(c) = c {
                    handle_completion(&inner, c);
                }
            }
            _ = inner.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

fn spawn_refresh(inner: &Arc<Inner>, refreshing: &Arc<AtomicBool>, topics: Vec<String>) {
    let (inner, refreshing) = (inner.clone(), refreshing.clone());
    tokio::spawn(async move {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = inner.client.metadata(&names).await {
            debug!(error = %e, "metadata refresh for the producer failed");
        }
        // Let a refresh that found nothing new not spin: wait a backoff step.
        tokio::time::sleep(inner.client.config().retry_backoff).await;
        refreshing.store(false, Ordering::SeqCst);
        inner.wake.notify_one();
    });
}

/// Idempotent (non-transactional) producers get their id lazily, and bump
/// the epoch (KIP-360) once nothing is in flight.
async fn ensure_identity(inner: &Arc<Inner>) -> Result<(), ProduceError> {
    if !inner.idempotent() || inner.transactional() {
        return Ok(());
    }
    let current = {
        let state = inner.lock();
        if state.fatal.is_some() || state.accumulator.is_empty() && !state.bump_needed {
            return Ok(());
        }
        if state.identity.is_set() && !state.bump_needed {
            return Ok(());
        }
        if state.bump_needed && state.accumulator.in_flight_count() > 0 {
            return Ok(());
        }
        if state.bump_needed { state.identity } else { ProducerIdentity::NONE }
    };
    let deadline = Instant::now() + inner.client.config().request_timeout;
    let result = transaction::init_producer_id(&inner.client, None, inner.config.transaction_timeout, current, deadline).await;
    let mut state = inner.lock();
    match result {
        Ok(identity) => {
            if current.is_set() {
                inner.stats.epoch_bump();
            }
            debug!(producer_id = identity.producer_id, epoch = identity.producer_epoch, bump = current.is_set(), "producer id");
            state.identity = identity;
            state.sequences.reset();
            state.bump_needed = false;
            Ok(())
        }
        Err(ProduceError::Client(e)) if e.is_retriable() => Err(ProduceError::Client(e)),
        Err(e) => {
            warn!(error = %e, "InitProducerId refused; the producer cannot go on");
            state.fatal = Some(e.clone());
            Err(e)
        }
    }
}

/// Fails batches (not in flight) whose `delivery.timeout.ms` has passed,
/// and everything queued once the producer or its transaction failed.
fn expire(inner: &Inner, now: Instant) {
    let timeout = inner.config.delivery_timeout;
    let mut guard = inner.lock();
    let state = &mut *guard;
    let doomed = state.fatal.clone().or_else(|| match state.txn.as_ref().map(|t| &t.phase) {
        Some(TxnPhase::Abortable(e) | TxnPhase::Fatal(e)) => Some(e.clone()),
        _ => None,
    });
    let expired = state.accumulator.remove_where(|b| doomed.is_some() || now >= b.created + timeout);
    if expired.is_empty() {
        return;
    }
    for batch in expired {
        let error = doomed.clone().unwrap_or_else(|| ProduceError::DeliveryTimeout {
            topic: batch.tp.topic.clone(),
            partition: batch.tp.partition,
            timeout,
            last_error: batch.last_error.clone().map(Box::new),
        });
        fail_batch(inner, state, batch, error);
    }
    drop(guard);
    inner.progress.notify_waiters();
}

/// Hands a batch its error; a batch that had a sequence leaves a gap: the
/// idempotent producer must bump its epoch, the transaction must abort.
fn fail_batch(inner: &Inner, state: &mut State, batch: ProducerBatch, error: ProduceError) {
    debug!(partition = %batch.tp, records = batch.record_count(), error = %error, "batch failed");
    if batch.sequenced.is_some() {
        if let Some(txn) = state.txn.as_mut() {
            txn.fail(ProduceError::TransactionFailed { reason: format!("a batch for {} failed: {error}", batch.tp) });
        } else if inner.idempotent() {
            state.bump_needed = true;
        }
    }
    if let (Some(txn), true) = (state.txn.as_mut(), error.is_fenced()) {
        txn.fail(error.clone());
    }
    inner.stats.failed(batch.record_count());
    batch.fail(error);
}

fn plan(inner: &Inner, now: Instant, identity_pending: bool) -> Plan {
    let mut plan = Plan::default();
    let mut guard = inner.lock();
    let state = &mut *guard;
    let flushing = state.flushing > 0 || state.closing;
    let max_in_flight = inner.client.config().max_in_flight_per_connection.max(1);
    // Idempotent producers send nothing without an id, or while an epoch bump is due.
    let blocked = inner.idempotent() && (!state.identity.is_set() || state.bump_needed || identity_pending);
    let transactional_phase_ok = state.txn.as_ref().is_none_or(|t| matches!(t.phase, TxnPhase::InTransaction));
    for tp in state.accumulator.partitions() {
        match state.accumulator.readiness(&tp, now, flushing, max_in_flight) {
            Readiness::Waiting => continue,
            Readiness::At(at) => {
                plan.next_wake = earliest(plan.next_wake, at);
                continue;
            }
            Readiness::Ready => {}
        }
        if blocked || !transactional_phase_ok {
            continue;
        }
        if state.txn.as_ref().is_some_and(|t| !t.partitions.contains(&tp)) {
            plan.add_to_txn.insert(tp);
            continue;
        }
        let Some(leader) = inner.client.cached_leader(&tp.topic, tp.partition) else {
            plan.refresh.insert(tp.topic.clone());
            continue;
        };
        let identity = state.identity;
        let transactional = inner.transactional();
        let Some(batch) = state.accumulator.next_to_send(&tp) else { continue };
        let sequenced = if inner.idempotent() {
            Some(match batch.sequenced {
                Some(s) if s.producer_id == identity.producer_id && s.producer_epoch == identity.producer_epoch => s,
                _ => Sequenced {
                    producer_id: identity.producer_id,
                    producer_epoch: identity.producer_epoch,
                    base_sequence: state.sequences.assign(&tp, batch.record_count()),
                },
            })
        } else {
            None
        };
        match batch.encode(sequenced, transactional) {
            Ok(bytes) => {
                batch.in_flight = true;
                batch.attempts += 1;
                if batch.attempts > 1 {
                    inner.stats.retry();
                }
                plan.by_leader.entry(leader).or_default().push((tp.clone(), batch.id, bytes, batch.record_count()));
            }
            Err(e) => {
                let id = batch.id;
                if let Some(batch) = state.accumulator.remove(&tp, id) {
                    fail_batch(inner, state, batch, e);
                }
            }
        }
    }
    // Wake for the next delivery timeout too.
    let timeout = inner.config.delivery_timeout;
    if let Some(oldest) = state.accumulator.batches_mut().filter(|b| !b.in_flight).map(|b| b.created).min() {
        plan.next_wake = earliest(plan.next_wake, oldest + timeout);
    }
    plan
}

/// AddPartitionsToTxn for partitions about to get their first batch of the transaction.
async fn add_to_transaction(inner: &Arc<Inner>, partitions: &BTreeSet<TopicPartition>) {
    let Some(id) = inner.config.transactional_id.clone() else { return };
    let identity = inner.lock().identity;
    let deadline = Instant::now() + inner.config.max_block;
    let result = transaction::add_partitions(&inner.client, &id, identity, partitions, deadline).await;
    let mut state = inner.lock();
    match result {
        Ok(()) => {
            if let Some(txn) = state.txn.as_mut() {
                txn.partitions.extend(partitions.iter().cloned());
            }
        }
        Err(e) => {
            warn!(error = %e, "AddPartitionsToTxn failed");
            if e.is_fenced() {
                state.fatal = Some(e.clone());
            }
            if let Some(txn) = state.txn.as_mut() {
                txn.fail(e);
            }
        }
    }
}

/// Builds the ProduceRequests for one leader and hands them to its
/// connection in order; their answers come back as [`Completion`]s.
async fn send_to_leader(inner: &Arc<Inner>, leader: i32, batches: Vec<(TopicPartition, u64, bytes::Bytes, usize)>) {
    let mut requests: Vec<Vec<(TopicPartition, u64, bytes::Bytes, usize)>> = Vec::new();
    let mut size = 0usize;
    for batch in batches {
        let len = batch.2.len();
        match requests.last_mut() {
            Some(current) if size + len <= inner.config.max_request_size => current.push(batch),
            _ => {
                requests.push(vec![batch]);
                size = 0;
            }
        }
        size += len;
    }
    let connection = match inner.client.connection(leader).await {
        Ok(c) => c,
        Err(e) => {
            for request in requests {
                let batches = request.into_iter().map(|(tp, id, _, _)| (tp, id)).collect();
                handle_completion(inner, Completion { broker: format!("node {leader}"), batches, result: Err(e.clone()) });
            }
            return;
        }
    };
    let acks = inner.config.acks;
    let version = connection.version_for(ProduceRequest::API_KEY).and_then(|v| {
        // Magic-2 batches need Produce v3+.
        if v >= 3 {
            Ok(v)
        } else {
            Err(Error::UnsupportedVersion {
                broker: connection.broker().to_string(),
                api: ProduceRequest::API_KEY,
                ours: Some(VersionRange::new(3, 11)),
                theirs: Some(VersionRange::new(0, v)),
            })
        }
    });
    for request in requests {
        let keys: Vec<(TopicPartition, u64)> = request.iter().map(|(tp, id, _, _)| (tp.clone(), *id)).collect();
        let version = match &version {
            Ok(v) => *v,
            Err(e) => {
                handle_completion(inner, Completion { broker: connection.broker().to_string(), batches: keys, result: Err(e.clone()) });
                continue;
            }
        };
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        for (tp, _, bytes, records) in request {
            inner.stats.batch_sent(bytes.len(), records);
            topics.entry(tp.topic).or_default().push(PartitionProduceData {
                index: tp.partition,
                records: Some(bytes),
                ..Default::default()
            });
        }
        let produce = ProduceRequest {
            transactional_id: inner.config.transactional_id.clone(),
            acks: acks.wire_value(),
            timeout_ms: i32::try_from(inner.client.config().request_timeout.as_millis()).unwrap_or(i32::MAX),
            topic_data: topics
                .into_iter()
                .map(|(name, partition_data)| TopicProduceData { name, partition_data, ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let broker = connection.broker().to_string();
        match connection.enqueue(&produce, version, acks != Acks::None).await {
            Ok(pending) => {
                let completions = inner.completions.clone();
                tokio::spawn(async move {
                    let result = if acks == Acks::None {
                        pending.written().await.map(|()| None)
                    } else {
                        pending.response::<ProduceResponse>().await.map(Some)
                    };
                    let _ = completions.send(Completion { broker, batches: keys, result });
                });
            }
            Err(e) => handle_completion(inner, Completion { broker, batches: keys, result: Err(e) }),
        }
    }
}

fn find_partition<'a>(response: &'a ProduceResponse, tp: &TopicPartition) -> Option<&'a PartitionProduceResponse> {
    response
        .responses
        .iter()
        .filter(|t| t.name == tp.topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == tp.partition)
}

fn handle_completion(inner: &Inner, completion: Completion) {
    let now = Instant::now();
    let mut guard = inner.lock();
    let state = &mut *guard;
    let Completion { broker, batches, result } = completion;
    for (tp, id) in batches {
        if state.accumulator.get_mut(&tp, id).is_none() {
            // Failed meanwhile (close with a timeout, abort).
            continue;
        }
        match &result {
            Ok(None) => delivered(inner, state, &tp, id, -1, -1),
            Ok(Some(response)) => {
                let Some(answer) = find_partition(response, &tp) else {
                    let error = Error::Kafka {
                        broker: broker.clone(),
                        context: format!("Produce {tp}: partition missing from the response"),
                        code: ErrorCode::UNKNOWN_SERVER_ERROR,
                        message: None,
                    };
                    retry_or_fail(inner, state, &tp, id, ProduceError::Client(error), true, now);
                    continue;
                };
                on_partition_answer(inner, state, &tp, id, answer, now);
            }
            Err(e) => {
                let retriable = e.is_retriable();
                if retriable {
                    // The leader may have moved or died: look again before the retry.
                    inner.client.note_error(&tp.topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                }
                retry_or_fail(inner, state, &tp, id, ProduceError::Client(e.clone()), retriable, now);
            }
        }
    }
    drop(guard);
    inner.progress.notify_waiters();
    inner.wake.notify_one();
}

fn on_partition_answer(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, answer: &PartitionProduceResponse, now: Instant) {
    let code = ErrorCode(answer.error_code);
    let Some(batch) = state.accumulator.get_mut(tp, id) else { return };
    let sequenced = batch.sequenced;
    let next_expected = match sequenced {
        Some(s) => !state.accumulator.has_earlier(tp, id) && state.sequences.is_next_expected(tp, s.base_sequence),
        None => true,
    };
    let error = || ProduceError::Broker {
        topic: tp.topic.clone(),
        partition: tp.partition,
        code,
        message: answer.error_message.clone(),
    };
    match classify(code, inner.idempotent(), next_expected, inner.transactional()) {
        ErrorAction::Delivered => delivered(inner, state, tp, id, answer.base_offset, answer.log_append_time_ms),
        ErrorAction::Retry => {
            inner.client.note_error(&tp.topic, code);
            debug!(partition = %tp, error = code.name(), "produce: retriable error");
            retry_or_fail(inner, state, tp, id, error(), true, now);
        }
        ErrorAction::BumpThenRetry => {
            debug!(partition = %tp, error = code.name(), "produce: bumping the epoch, then retrying");
            state.bump_needed = true;
            retry_or_fail(inner, state, tp, id, error(), true, now);
        }
        ErrorAction::BumpThenFail => {
            warn!(partition = %tp, "OUT_OF_ORDER_SEQUENCE_NUMBER for the next expected batch: records were lost; bumping the epoch");
            state.bump_needed = true;
            if let Some(batch) = state.accumulator.remove(tp, id) {
                let e = ProduceError::OutOfOrderSequence { topic: tp.topic.clone(), partition: tp.partition };
                fail_batch(inner, state, batch, e);
            }
        }
        ErrorAction::Fenced => {
            let e = ProduceError::Fenced { transactional_id: inner.config.transactional_id.clone(), code };
            warn!(partition = %tp, error = %e, "producer fenced");
            state.fatal = Some(e.clone());
            if let Some(batch) = state.accumulator.remove(tp, id) {
                fail_batch(inner, state, batch, e);
            }
        }
        ErrorAction::Fail => {
            if let Some(batch) = state.accumulator.remove(tp, id) {
                fail_batch(inner, state, batch, error());
            }
        }
    }
}

fn delivered(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, base_offset: i64, log_append_time: i64) {
    let Some(batch) = state.accumulator.remove(tp, id) else { return };
    if let Some(s) = batch.sequenced {
        state.sequences.acked(tp, s.base_sequence, batch.record_count());
    }
    inner.stats.delivered(batch.record_count());
    batch.complete(base_offset, log_append_time);
}

/// Schedules a retry after the batch's backoff, or fails it when `retries`
/// or `delivery.timeout.ms` are exhausted (or the error is not retriable).
fn retry_or_fail(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, error: ProduceError, retriable: bool, now: Instant) {
    let config = &inner.config;
    let Some(batch) = state.accumulator.get_mut(tp, id) else { return };
    batch.in_flight = false;
    let timed_out = now >= batch.created + config.delivery_timeout;
    if retriable && !timed_out && batch.attempts <= config.retries {
        let (base, max) = (inner.client.config().retry_backoff, inner.client.config().retry_backoff_max);
        let backoff = batch.backoff.get_or_insert_with(|| Backoff::new(base, max));
        let delay = inner.client.with_rng(|rng| backoff.next_delay(rng));
        batch.retry_at = Some(now + delay.min(Duration::from_secs(3600)));
        batch.last_error = Some(error);
        return;
    }
    let Some(batch) = state.accumulator.remove(tp, id) else { return };
    let error = if timed_out {
        ProduceError::DeliveryTimeout {
            topic: tp.topic.clone(),
            partition: tp.partition,
            timeout: config.delivery_timeout,
            last_error: Some(Box::new(error)),
        }
    } else {
        error
    };
    fail_batch(inner, state, batch, error);
}
