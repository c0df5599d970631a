//! The sender task: drains ready batches per partition leader into
//! ProduceRequests (at most `ProducerConfig::request_max_bytes` of batches
//! each, one batch per partition per request), pipelines them on the
//! leader's connection, and handles the answers: delivery, retry after
//! `retry.backoff.ms` (growing to `retry.backoff.max.ms`) with a metadata
//! refresh for stale leaders, failure after `retries` or
//! `delivery.timeout.ms`, and the idempotent
//! producer's sequence bookkeeping and KIP-360 epoch bumps. Each leader has
//! its own lane (a task writing its requests in order), so a slow or
//! unreachable broker delays only its own partitions; a batch refused as
//! too large is split in two and sent again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::message::Request;
use rill_protocol::messages::produce_response::PartitionProduceResponse;
use rill_protocol::messages::{ProduceRequest, ProduceResponse};
use rill_protocol::produce_frame::{ProduceFrame, ProducePartition, ProduceTopic};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::accumulator::Readiness;
use super::batch::{Encoded, Payload, ProducerBatch, Sequenced};
use super::error::ProduceError;
use super::idempotence::{classify, ErrorAction, ProducerIdentity};
use super::record::TopicPartition;
use super::request_limit::CAUTIOUS_REQUEST_MAX_BYTES;
use super::transaction::{self, TxnPhase};
use super::{Inner, State};
use crate::backoff::Backoff;
use crate::config::Acks;
use crate::connection::Connection;
use crate::error::Error;

/// The answer to one ProduceRequest, for the batches it carried.
#[derive(Debug)]
pub(crate) struct Completion {
    broker: String,
    /// The leader the request was planned for.
    leader: i32,
    /// The last completion of its request (a request whose batches were
    /// partly held back completes twice): its slot in
    /// [`State::produce_requests`] is free again.
    ends_request: bool,
    batches: Vec<(TopicPartition, u64)>,
    /// `Ok(None)`: acks=0, written.
    result: Result<Option<ProduceResponse>, Error>,
}

/// One batch planned for its leader: encoded by its lane, outside the
/// producer's lock (compressing under it held up every `send` meanwhile).
#[derive(Debug)]
struct Planned {
    tp: TopicPartition,
    id: u64,
    payload: Payload,
    records: usize,
    /// When `delivery.timeout.ms` runs out for it.
    deadline: Instant,
}

/// One encoded batch on its way to its leader.
#[derive(Debug)]
struct Outbound {
    tp: TopicPartition,
    id: u64,
    bytes: Encoded,
    records: usize,
    /// When `delivery.timeout.ms` runs out for it.
    deadline: Instant,
}

/// What one pass over the accumulator found.
#[derive(Debug, Default)]
struct Plan {
    /// Batches to send, per leader, in partition order.
    by_leader: BTreeMap<i32, Vec<Planned>>,
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
    let mut lanes: BTreeMap<i32, mpsc::UnboundedSender<Vec<Planned>>> = BTreeMap::new();
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
        // The plan's batches are marked in flight: they go to their lanes
        // before anything else is awaited. (Adding partitions first and
        // dropping them left records that never resolved and a commit that
        // waited forever.)
        if inner.client.config().drops_batches_beside_added_partitions() && !plan.add_to_txn.is_empty() {
            // The test-only bug switch: the order before 082dc6b.
            add_to_transaction(&inner, &plan.add_to_txn).await;
            continue;
        }
        let sent_any = !plan.by_leader.is_empty();
        for (leader, batches) in plan.by_leader {
            hand_to_lane(&inner, &mut lanes, leader, batches);
        }
        if !plan.add_to_txn.is_empty() {
            add_to_transaction(&inner, &plan.add_to_txn).await;
            continue;
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

/// Hands `batches` to the task that sends to `leader`, starting it if needed.
/// Each leader has its own task (its lane): connecting to a slow or
/// unreachable broker holds up only the batches that go to it, and one
/// lane writes its requests in order, keeping each partition's batches in
/// sequence order.
fn hand_to_lane(inner: &Arc<Inner>, lanes: &mut BTreeMap<i32, mpsc::UnboundedSender<Vec<Planned>>>, leader: i32, batches: Vec<Planned>) {
    let batches = match lanes.get(&leader) {
        Some(lane) => match lane.send(batches) {
            Ok(()) => return,
            Err(mpsc::error::SendError(batches)) => batches,
        },
        None => batches,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Planned>>();
    let lane_inner = inner.clone();
    let span = tracing::debug_span!("lane", leader);
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            while let Some(batches) = rx.recv().await {
                send_to_leader(&lane_inner, leader, batches).await;
            }
        },
        span,
    ));
    // The receiver lives in the task just started: this send cannot fail.
    let _ = tx.send(batches);
    lanes.insert(leader, tx);
}

fn spawn_refresh(inner: &Arc<Inner>, refreshing: &Arc<AtomicBool>, topics: Vec<String>) {
    let (inner, refreshing) = (inner.clone(), refreshing.clone());
    tokio::spawn(async move {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        match inner.client.metadata(&names).await {
            // Batches waiting for a leader go at once.
            Ok(_) => inner.wake.notify_one(),
            Err(e) => debug!(error = %e, "metadata refresh for the producer failed"),
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
        if state.bump_needed {
            state.identity
        } else {
            ProducerIdentity::NONE
        }
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
            state.bump_needed = false;
            renumber_after_bump(&mut state);
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

/// After a KIP-360 epoch bump, numbers the partitions that asked for it
/// from 0 under the new epoch, renumbering their queued batches in order:
/// the broker answered for each that it holds nothing of them past the last
/// acknowledged batch, so none of these batches can have been written. Every
/// other partition keeps its batches' original producer id, epoch and
/// sequences until they are resolved, and starts under the new epoch only
/// then (Java's `TransactionManager.bumpIdempotentProducerEpoch` and
/// `maybeUpdateProducerIdAndEpoch`): a batch whose outcome is unknown (its
/// request timed out or its connection was cut after it was written) is
/// never sent again under a new number, which would write it twice.
fn renumber_after_bump(state: &mut State) {
    let identity = state.identity;
    for tp in std::mem::take(&mut state.rewrite) {
        state.sequences.restart(&tp, identity);
        let State { accumulator, sequences, .. } = &mut *state;
        for batch in accumulator.queue_mut(&tp) {
            if batch.sequenced.is_some() {
                let base_sequence = sequences.assign(&tp, identity, batch.record_count());
                batch.resequence(Sequenced { producer_id: identity.producer_id, producer_epoch: identity.producer_epoch, base_sequence });
            }
        }
    }
}

/// A partition whose sequence is in doubt (a sequenced batch failed
/// without an acknowledgement) and has no sequenced batch left to clear it
/// up: if everything handed out was acknowledged it is resolved; if not,
/// the broker may or may not hold the failed batch, so the partition is
/// numbered afresh under a bumped epoch (Java's `maybeResolveSequences`).
fn resolve_sequences(inner: &Inner, state: &mut State) {
    if !inner.idempotent() || inner.transactional() {
        return;
    }
    for tp in state.sequences.unresolved() {
        if state.accumulator.has_sequenced(&tp) {
            continue;
        }
        if state.sequences.all_acked(&tp) {
            state.sequences.resolve(&tp);
        } else {
            debug!(partition = %tp, "sequence in doubt; bumping the epoch");
            state.rewrite.insert(tp);
            state.bump_needed = true;
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

/// Hands a batch its error. In a transaction any failed batch fails the
/// transaction, sent or not: committing would commit the transaction
/// without its records (Java's `TransactionManager.handleFailedBatch`).
/// Outside one, a batch that had a sequence leaves a gap: the idempotent
/// producer must bump its epoch.
fn fail_batch(inner: &Inner, state: &mut State, batch: ProducerBatch, error: ProduceError) {
    debug!(partition = %batch.tp, records = batch.record_count(), error = %error, "batch failed");
    if let Some(txn) = state.txn.as_mut() {
        txn.fail(ProduceError::TransactionFailed { reason: format!("a batch for {} failed: {error}", batch.tp) });
    } else if let (Some(s), true) = (batch.sequenced, inner.idempotent()) {
        // Written or not, nobody knows: the partition's next sequence is in doubt.
        let identity = ProducerIdentity { producer_id: s.producer_id, producer_epoch: s.producer_epoch };
        state.sequences.mark_unresolved(&batch.tp, identity);
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
    resolve_sequences(inner, state);
    let flushing = state.flushing > 0 || state.closing;
    let max_in_flight = inner.client.config().max_in_flight_per_connection.max(1);
    // Idempotent producers send nothing without an id, or while an epoch bump is due.
    let blocked = inner.idempotent() && (!state.identity.is_set() || state.bump_needed || identity_pending);
    let transactional_phase_ok = state.txn.as_ref().is_none_or(|t| matches!(t.phase, TxnPhase::InTransaction));
    let delivery_timeout = inner.config.delivery_timeout;
    let partitions = state.accumulator.partitions();
    if inner.config.adaptive_partitioning {
        update_partition_loads(inner, state, &partitions, now, max_in_flight);
    }
    for tp in partitions {
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
        // max.in.flight.requests.per.connection, as in Java: with that many
        // requests unanswered the leader's batches wait, and go together in
        // the next request once one is answered. Sending each batch as soon
        // as it filled made three times as many requests as franz-go for
        // the same records (sticky partitioning fills one partition at a
        // time), each costing the broker and this client.
        if state.produce_requests.get(&leader).is_some_and(|n| *n >= max_in_flight) {
            continue;
        }
        let identity = state.identity;
        let transactional = inner.transactional();
        // A new batch waits while its partition has a sequence in doubt or
        // batches numbered under an earlier epoch: numbering it now could
        // reuse a sequence the broker already holds, or start the new epoch
        // before the old one's batches are resolved.
        let held = inner.idempotent()
            && (state.sequences.is_unresolved(&tp)
                || state.accumulator.has_sequenced_other_than(&tp, (identity.producer_id, identity.producer_epoch)));
        let State { accumulator, sequences, availability, .. } = &mut *state;
        let Some(batch) = accumulator.next_to_send(&tp) else { continue };
        let sequenced = match (inner.idempotent(), batch.sequenced) {
            (false, _) => None,
            // Sent before: it goes again exactly as it went, whatever the epoch is now.
            (true, Some(s)) => Some(s),
            (true, None) if held => continue,
            (true, None) => Some(Sequenced {
                producer_id: identity.producer_id,
                producer_epoch: identity.producer_epoch,
                base_sequence: sequences.assign(&tp, identity, batch.record_count()),
            }),
        };
        match batch.payload(sequenced, transactional) {
            Ok(payload) => {
                batch.in_flight = true;
                batch.attempts += 1;
                if batch.attempts > 1 {
                    inner.stats.retry();
                }
                availability.drained(leader, now);
                let planned = Planned {
                    tp: tp.clone(),
                    id: batch.id,
                    payload,
                    records: batch.record_count(),
                    deadline: batch.created + delivery_timeout,
                };
                plan.by_leader.entry(leader).or_default().push(planned);
            }
            Err(e) => {
                let id = batch.id;
                if let Some(batch) = state.accumulator.remove(&tp, id) {
                    fail_batch(inner, state, batch, e);
                }
            }
        }
    }
    // A pass's batches for a leader count as one request here; its lane
    // counts the others if they take more (ProducerConfig::request_max_bytes).
    for leader in plan.by_leader.keys() {
        *state.produce_requests.entry(*leader).or_default() += 1;
    }
    // Wake for the next delivery timeout too.
    if let Some(oldest) = state.accumulator.oldest_expirable() {
        plan.next_wake = earliest(plan.next_wake, oldest + delivery_timeout);
    }
    plan
}

/// KIP-794 part 2: tells the partitioner, per topic with queued batches,
/// how many batches wait in each partition whose leader is taking batches
/// (`partitioner.availability.timeout.ms`), so keyless records favour the
/// shorter queues (Java's `RecordAccumulator.partitionReady`).
fn update_partition_loads(inner: &Inner, state: &mut State, queued: &[TopicPartition], now: Instant, max_in_flight: usize) {
    for tp in queued {
        let waiting =
            state.accumulator.unsent_count(tp) > 0 && state.accumulator.readiness(tp, now, false, max_in_flight) == Readiness::Waiting;
        if let (true, Some(leader)) = (waiting, inner.client.cached_leader(&tp.topic, tp.partition)) {
            state.availability.waiting(leader, now);
        }
    }
    let timeout = inner.config.partitioner_availability_timeout;
    let topics: BTreeSet<&str> = queued.iter().map(|tp| tp.topic.as_str()).collect();
    for topic in topics {
        let Some((count, _)) = inner.client.cached_partitions(topic) else { continue };
        let mut queues = Vec::with_capacity(count);
        for partition in 0..i32::try_from(count).unwrap_or(i32::MAX) {
            let Some(leader) = inner.client.cached_leader(topic, partition) else { continue };
            if state.availability.is_available(leader, timeout) {
                queues.push((partition, state.accumulator.unsent_count(&TopicPartition::new(topic, partition))));
            }
        }
        state.partitioner.update_load(topic, &queues, count);
    }
}

/// AddPartitionsToTxn for partitions about to get their first batch of the
/// transaction. It is retried (CONCURRENT_TRANSACTIONS while the previous
/// transaction completes, COORDINATOR_LOAD_IN_PROGRESS, a moved
/// coordinator, ...) for as long as the transaction is open and its queued
/// batches are within `delivery.timeout.ms`: then the oldest batch fails
/// with [`ProduceError::DeliveryTimeout`] and the transaction turns
/// abortable, as in Java, where a pending AddPartitionsToTxn ends only when
/// a batch failure makes the transaction abortable.
async fn add_to_transaction(inner: &Arc<Inner>, partitions: &BTreeSet<TopicPartition>) {
    let Some(id) = inner.config.transactional_id.clone() else { return };
    let identity = inner.lock().identity;
    let bound = || delivery_bound(inner, identity);
    let result = transaction::add_partitions(&inner.client, &id, identity, partitions, bound).await;
    if settle_added(inner, identity, partitions, result) {
        // A retry stops a backoff short of the bound: wait for it, so the
        // next pass expires the batches instead of asking again at once.
        if let Some(at) = delivery_bound(inner, identity) {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// Records what AddPartitionsToTxn concluded; `true` when it ran out of time
/// with a retriable error (the batches waiting for it are to expire).
fn settle_added(
    inner: &Inner,
    identity: ProducerIdentity,
    partitions: &BTreeSet<TopicPartition>,
    result: Result<(), ProduceError>,
) -> bool {
    let mut guard = inner.lock();
    let state = &mut *guard;
    match result {
        Ok(()) => {
            // An abort (or a failure) may have ended the transaction meanwhile: its
            // partitions are not this one's.
            if let (Some(txn), true) = (state.txn.as_mut(), state.identity == identity) {
                if matches!(txn.phase, TxnPhase::InTransaction) {
                    txn.partitions.extend(partitions.iter().cloned());
                }
            }
        }
        Err(ProduceError::Client(e)) if e.is_retriable() => {
            // Out of time (or no longer wanted): the batches waiting for it
            // expire and fail the transaction; say why they waited.
            debug!(error = %e, "AddPartitionsToTxn still failing at the batches' delivery timeout");
            for tp in partitions {
                for batch in state.accumulator.queue_mut(tp) {
                    batch.last_error = Some(ProduceError::Client(e.clone()));
                }
            }
            return true;
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
    false
}

/// When the oldest queued batch reaches its `delivery.timeout.ms`, while the
/// transaction begun under `identity` is still open; `None` once it is not
/// (aborted, failed, producer closed with nothing queued).
fn delivery_bound(inner: &Inner, identity: ProducerIdentity) -> Option<Instant> {
    let state = inner.lock();
    let open = state.fatal.is_none()
        && state.identity == identity
        && state.txn.as_ref().is_some_and(|t| matches!(t.phase, TxnPhase::InTransaction));
    if !open {
        return None;
    }
    state.accumulator.oldest_expirable().map(|created| created + inner.config.delivery_timeout)
}

/// Builds the ProduceRequests for one leader and hands them to its
/// connection in order; their answers come back as [`Completion`]s.
/// Runs in the leader's lane: the connection may take up to
/// `socket.connection.setup.timeout.ms` to open without holding up others.
async fn send_to_leader(inner: &Arc<Inner>, leader: i32, planned: Vec<Planned>) {
    let Some(requests) = finish_batches(inner, leader, planned) else { return };
    let complete = |broker: String, request: &[Outbound], result: Result<Option<ProduceResponse>, Error>| {
        let batches = request.iter().map(|b| (b.tp.clone(), b.id)).collect();
        let _ = inner.completions.send(Completion { broker, leader, ends_request: true, batches, result });
    };
    let connection = match inner.client.connection(leader).await {
        Ok(c) => c,
        Err(e) => {
            for request in requests {
                complete(format!("node {leader}"), &request, Err(e.clone()));
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
    let request_timeout = inner.client.config().request_timeout;
    for request in requests {
        let broker = connection.broker().to_string();
        let version = match &version {
            Ok(v) => *v,
            Err(e) => {
                complete(broker, &request, Err(e.clone()));
                continue;
            }
        };
        // A request waits for an answer no longer than its batches'
        // delivery.timeout.ms allows: a silent broker cannot hold a record
        // past its deadline (it is failed once this request times out).
        let now = Instant::now();
        let latest_deadline = request.iter().map(|b| b.deadline).max().unwrap_or(now);
        if latest_deadline <= now {
            let e = Error::RequestTimeout { broker, api: ProduceRequest::API_KEY, timeout: Duration::ZERO };
            complete(connection.broker().to_string(), &request, Err(e));
            continue;
        }
        let timeout = request_timeout.min(latest_deadline - now);
        let Some(request) = keep_behind_earlier_connections(inner, &connection, leader, request) else { continue };
        let keys: Vec<(TopicPartition, u64)> = request.iter().map(|b| (b.tp.clone(), b.id)).collect();
        let request_bytes: usize = request.iter().map(|b| b.bytes.len()).sum();
        let mut topics: BTreeMap<String, Vec<ProducePartition>> = BTreeMap::new();
        for batch in request {
            inner.stats.batch_sent(batch.bytes.len(), batch.records);
            topics.entry(batch.tp.topic).or_default().push(ProducePartition { index: batch.tp.partition, records: vec![batch.bytes] });
        }
        // The batches go out as they are, not copied into the frame.
        let produce = ProduceFrame {
            transactional_id: inner.config.transactional_id.clone(),
            acks: acks.wire_value(),
            timeout_ms: i32::try_from(request_timeout.as_millis()).unwrap_or(i32::MAX),
            topics: topics.into_iter().map(|(name, partitions)| ProduceTopic { name, partitions }).collect(),
        };
        let connection_id = connection.id();
        match connection.enqueue_produce(&produce, version, acks != Acks::None, timeout).await {
            Ok(pending) => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let result = if acks == Acks::None {
                        pending.written().await.map(|()| None)
                    } else {
                        pending.response::<ProduceResponse>().await.map(Some)
                    };
                    let result = large_request_result(&inner, leader, connection_id, request_bytes, result);
                    let _ = inner.completions.send(Completion { broker, leader, ends_request: true, batches: keys, result });
                });
            }
            Err(e) => {
                let _ = inner.completions.send(Completion { broker, leader, ends_request: true, batches: keys, result: Err(e) });
            }
        }
    }
}

/// Encodes (compresses) the batches of a pass for `leader`, keeps each
/// encoding with its batch, and groups them into requests of at most
/// [`ProducerConfig::request_max_bytes`](crate::config::ProducerConfig::request_max_bytes)
/// (less for a leader that
/// [`LargeRequestGuard`](super::request_limit::LargeRequestGuard) keeps
/// small). A batch that cannot be encoded fails on its own. The pass was
/// counted as one request in [`State::produce_requests`]; the others are
/// counted here. `None`: nothing to send.
fn finish_batches(inner: &Inner, leader: i32, planned: Vec<Planned>) -> Option<Vec<Vec<Outbound>>> {
    let mut encoded = Vec::with_capacity(planned.len());
    let mut failed = Vec::new();
    for Planned { tp, id, payload, records, deadline } in planned {
        match payload.finish() {
            Ok(bytes) => encoded.push(Outbound { tp, id, bytes, records, deadline }),
            Err(e) => failed.push(((tp, id), e)),
        }
    }
    let mut requests: Vec<Vec<Outbound>> = Vec::new();
    {
        let mut state = inner.lock();
        // The guard holds no leader unless the application left the limit to rill.
        let request_max_bytes = state.large_requests.limit(leader, inner.config.request_max_bytes());
        let mut size = 0usize;
        for outbound in encoded {
            if let Some(batch) = state.accumulator.get_mut(&outbound.tp, outbound.id) {
                batch.set_encoded(outbound.bytes.clone());
            }
            let len = outbound.bytes.len();
            match requests.last_mut() {
                Some(current) if size + len <= request_max_bytes => current.push(outbound),
                _ => {
                    requests.push(vec![outbound]);
                    size = 0;
                }
            }
            size += len;
        }
        if requests.len() > 1 {
            *state.produce_requests.entry(leader).or_default() += requests.len() - 1;
        }
    }
    let last_failed = failed.len();
    for (i, (batch, error)) in failed.into_iter().enumerate() {
        // With no request left, the last failure frees the pass's request slot.
        let ends_request = requests.is_empty() && i + 1 == last_failed;
        let broker = format!("node {leader}");
        let _ = inner.completions.send(Completion { broker, leader, ends_request, batches: vec![batch], result: Err(error) });
    }
    (!requests.is_empty()).then_some(requests)
}

/// Notes what a request larger than [`CAUTIOUS_REQUEST_MAX_BYTES`] met,
/// when the application gave no limit
/// ([`LargeRequestGuard`](super::request_limit::LargeRequestGuard)); and
/// when the connection closed with it unanswered, says in the error how
/// large it was and which settings cap it: with a limit given, or a single
/// batch that large, a broker that reads less closes it again on every
/// retry. (With acks=0 nothing is answered: written is not read.)
fn large_request_result(
    inner: &Inner,
    leader: i32,
    connection: u64,
    request_bytes: usize,
    result: Result<Option<ProduceResponse>, Error>,
) -> Result<Option<ProduceResponse>, Error> {
    if request_bytes <= CAUTIOUS_REQUEST_MAX_BYTES {
        return result;
    }
    let guarded = !inner.config.request_limit_given();
    match result {
        Err(Error::ConnectionClosed { broker, reason }) => {
            if guarded && inner.lock().large_requests.closed(leader, connection) {
                warn!(
                    %broker,
                    request_bytes,
                    "two connections in a row closed with a large Produce request unanswered: requests to this broker \
                     are kept to {CAUTIOUS_REQUEST_MAX_BYTES} bytes from now on (max.request.size or \
                     rill.produce.request.max.bytes choose the limit)"
                );
            }
            let reason = format!(
                "{reason}, with a Produce request of {request_bytes} bytes unanswered (a broker closes the connection on a \
                 request larger than it reads, its socket.request.max.bytes; Azure Event Hubs reads 1046528 bytes): if so, \
                 set max.request.size or rill.produce.request.max.bytes below that"
            );
            Err(Error::ConnectionClosed { broker, reason })
        }
        Ok(Some(answer)) => {
            if guarded {
                inner.lock().large_requests.answered(leader);
            }
            Ok(Some(answer))
        }
        other => other,
    }
}

/// Marks the batches of `request` as written to `connection`, except one
/// whose partition still has an earlier batch in flight on another
/// (failed, replaced) connection whose failure has not reached the sender
/// yet: written there or not is unknown, and the broker must not see the
/// later sequence first. Such a batch goes back, unsent, to wait for it
/// (Java's `NetworkClient` fails every request of a dropped connection
/// before another connection carries more). `None`: nothing left to send.
fn keep_behind_earlier_connections(inner: &Inner, connection: &Connection, leader: i32, request: Vec<Outbound>) -> Option<Vec<Outbound>> {
    let id = connection.id();
    let (send, held): (Vec<Outbound>, Vec<Outbound>) = {
        let mut state = inner.lock();
        let (send, held): (Vec<Outbound>, Vec<Outbound>) =
            request.into_iter().partition(|b| !state.accumulator.earlier_in_flight_elsewhere(&b.tp, b.id, id));
        for b in &send {
            if let Some(batch) = state.accumulator.get_mut(&b.tp, b.id) {
                batch.sent_on = Some(id);
            }
        }
        (send, held)
    };
    if !held.is_empty() {
        let broker = connection.broker().to_string();
        debug!(broker = %broker, batches = held.len(), "holding batches behind earlier ones in flight on a closed connection");
        let reason = "an earlier batch of the partition awaits its outcome on another connection".to_string();
        let batches = held.iter().map(|b| (b.tp.clone(), b.id)).collect();
        let result = Err(Error::NotSent { broker: broker.clone(), reason });
        // The request's slot is freed by the completion of what was sent, if anything was.
        let ends_request = send.is_empty();
        let _ = inner.completions.send(Completion { broker, leader, ends_request, batches, result });
    }
    (!send.is_empty()).then_some(send)
}

fn find_partition<'a>(response: &'a ProduceResponse, tp: &TopicPartition) -> Option<&'a PartitionProduceResponse> {
    response.responses.iter().filter(|t| t.name == tp.topic).flat_map(|t| t.partition_responses.iter()).find(|p| p.index == tp.partition)
}

fn handle_completion(inner: &Inner, completion: Completion) {
    let now = Instant::now();
    let mut guard = inner.lock();
    let state = &mut *guard;
    let Completion { broker, leader, ends_request, batches, result } = completion;
    if ends_request {
        if let Some(n) = state.produce_requests.get_mut(&leader) {
            *n = n.saturating_sub(1);
        }
    }
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
    let records = batch.record_count();
    let encoded_bytes = batch.encoded.as_ref().map_or(0, |e| e.len());
    // The first unresolved batch of its partition: the broker's answer
    // speaks for everything after the last acknowledgement. With a sequence
    // in doubt before it (a failed batch), a sequence error for it means
    // the failed batch was not written either.
    let first = !state.accumulator.has_earlier(tp, id);
    let unresolved = state.sequences.is_unresolved(tp);
    let next_expected = match sequenced {
        Some(s) => first && (unresolved || state.sequences.is_next_expected(tp, s.base_sequence)),
        None => true,
    };
    let error = || ProduceError::Broker { topic: tp.topic.clone(), partition: tp.partition, code, message: answer.error_message.clone() };
    if code != ErrorCode::NONE && written_before(state, tp, id) {
        debug!(partition = %tp, error = code.name(), "produce: error for a batch a later acknowledgement proves written");
        delivered(inner, state, tp, id, UNKNOWN_OFFSET, -1);
        return;
    }
    if matches!(code, ErrorCode::MESSAGE_TOO_LARGE | ErrorCode::RECORD_LIST_TOO_LARGE) {
        too_large(inner, state, tp, id, code, records, encoded_bytes, now);
        return;
    }
    let mut action = classify(code, inner.idempotent(), next_expected, inner.transactional());
    if action == ErrorAction::BumpThenFail && unresolved {
        // The gap is the batch that failed before this one, not lost data.
        action = ErrorAction::BumpThenRetry;
    }
    match action {
        ErrorAction::Delivered => delivered(inner, state, tp, id, answer.base_offset, answer.log_append_time_ms),
        ErrorAction::Retry => {
            inner.client.note_error(&tp.topic, code);
            debug!(partition = %tp, error = code.name(), "produce: retriable error");
            retry_or_fail(inner, state, tp, id, error(), true, now);
        }
        ErrorAction::BumpThenRetry => {
            debug!(partition = %tp, error = code.name(), "produce: bumping the epoch, then retrying");
            state.bump_needed = true;
            state.rewrite.insert(tp.clone());
            retry_or_fail(inner, state, tp, id, error(), true, now);
        }
        ErrorAction::BumpThenFail => {
            warn!(partition = %tp, "OUT_OF_ORDER_SEQUENCE_NUMBER for the next expected batch: records were lost; bumping the epoch");
            state.bump_needed = true;
            state.rewrite.insert(tp.clone());
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

/// MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE: the broker wrote nothing of
/// the batch. One of several records is split in two and both halves are
/// sent again in its place (Java's `Sender.completeBatch` /
/// `RecordAccumulator.splitAndReenqueue`); a batch of one record fails with
/// [`ProduceError::MessageTooLarge`].
#[allow(clippy::too_many_arguments)]
fn too_large(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, code: ErrorCode, records: usize, bytes: usize, now: Instant) {
    let Some((index, batch)) = state.accumulator.take(tp, id) else { return };
    let fail = |inner: &Inner, state: &mut State, batch: ProducerBatch| {
        let e = ProduceError::MessageTooLarge { topic: tp.topic.clone(), partition: tp.partition, size_bytes: bytes, code };
        // Refused, not written: the sequences it had are free again only
        // through an epoch bump, which the failed batch's doubt brings about.
        fail_batch(inner, state, batch, e);
    };
    if records < 2 || now >= batch.created + inner.config.delivery_timeout {
        fail(inner, state, batch);
        return;
    }
    let ids = (state.accumulator.take_batch_id(), state.accumulator.take_batch_id());
    match batch.split(ids, inner.transactional()) {
        Ok((first, second)) => {
            debug!(partition = %tp, records, bytes, error = code.name(), "batch too large; split in two");
            inner.stats.split();
            // Put back where the batch was; the halves wait for what is in flight, like a retry.
            state.accumulator.insert_at(tp, index, [first, second]);
        }
        Err(failed) => {
            let (batch, e) = *failed;
            warn!(partition = %tp, error = %e, "could not split a batch refused as too large");
            fail(inner, state, batch);
        }
    }
}

/// The offset reported for records whose batch is known to be written but
/// whose own answer never came (Java's `ProduceResponse.INVALID_OFFSET`).
const UNKNOWN_OFFSET: i64 = -1;

fn delivered(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, base_offset: i64, log_append_time: i64) {
    let Some(batch) = state.accumulator.remove(tp, id) else { return };
    let sequenced = batch.sequenced;
    if let Some(s) = sequenced {
        let identity = ProducerIdentity { producer_id: s.producer_id, producer_epoch: s.producer_epoch };
        state.sequences.acked(tp, identity, s.base_sequence, batch.record_count());
    }
    inner.stats.delivered(batch.record_count());
    batch.complete(base_offset, log_append_time);
    if sequenced.is_some() {
        settle_written(inner, state, tp);
    }
}

/// Whether batch `id` carries a sequence range wholly at or before the last
/// one the broker acknowledged for its partition under the same producer id
/// and epoch: the broker takes a producer's sequences only in order
/// (KIP-98), so it holds this batch although its own answer was lost or
/// says otherwise (OUT_OF_ORDER_SEQUENCE_NUMBER once the batch left the
/// five the broker remembers). Sending it again could never succeed, and
/// sending it under a new number would write it twice.
fn written_before(state: &State, tp: &TopicPartition, id: u64) -> bool {
    let Some(batch) = state.accumulator.get(tp, id) else { return false };
    let Some(s) = batch.sequenced else { return false };
    let identity = ProducerIdentity { producer_id: s.producer_id, producer_epoch: s.producer_epoch };
    state.sequences.is_written(tp, identity, s.base_sequence, batch.record_count())
}

/// Completes the batches of `tp` waiting for a retry (not in flight) that a
/// later acknowledgement proved written; their offsets are unknown
/// ([`UNKNOWN_OFFSET`]). One in flight is settled when its answer comes.
fn settle_written(inner: &Inner, state: &mut State, tp: &TopicPartition) {
    let written: Vec<u64> = state
        .accumulator
        .ids(tp)
        .into_iter()
        .filter(|(_, in_flight)| !in_flight)
        .map(|(id, _)| id)
        .filter(|id| written_before(state, tp, *id))
        .collect();
    for id in written {
        debug!(partition = %tp, "batch proven written by a later acknowledgement; delivered with an unknown offset");
        delivered(inner, state, tp, id, UNKNOWN_OFFSET, -1);
    }
}

/// Schedules a retry after the batch's backoff, or fails it when `retries`
/// or `delivery.timeout.ms` are exhausted (or the error is not retriable).
fn retry_or_fail(inner: &Inner, state: &mut State, tp: &TopicPartition, id: u64, error: ProduceError, retriable: bool, now: Instant) {
    let config = &inner.config;
    if written_before(state, tp, id) {
        debug!(partition = %tp, error = %error, "produce: failure of a batch a later acknowledgement proves written");
        delivered(inner, state, tp, id, UNKNOWN_OFFSET, -1);
        return;
    }
    let Some(batch) = state.accumulator.get_mut(tp, id) else { return };
    batch.in_flight = false;
    batch.sent_on = None;
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
