//! The transaction coordinator's background work on one broker (KIP-98):
//! for every transactional id this broker coordinates
//! ([`crate::Controller::coordinator_for`], the same broker FindCoordinator
//! names for key type TRANSACTION),
//!
//! - an ongoing transaction older than its `transaction.timeout.ms` is
//!   aborted: the producer epoch is bumped (the producer is fenced, as
//!   Kafka's `abortTimedOutTransactions` does) and the phase becomes
//!   PrepareAbort;
//! - a transaction in PrepareCommit/PrepareAbort gets its markers: real
//!   WriteTxnMarkers requests to each partition's leader (a direct call when
//!   that is this broker), retried until every leader acknowledged (its ISR
//!   has the marker); then the phase completes and, on commit, the offsets
//!   staged by TxnOffsetCommit become the group's committed offsets (the
//!   model's `__consumer_offsets` marker: the store is the durable log).
//!
//! The state is in the cluster-wide durable store, so when the coordinator
//! dies or is cut off, the broker the controller names next finds the
//! Prepare phase and sends the markers again. Each round of marker requests
//! takes a new coordinator epoch; a leader refuses markers older than the
//! last it wrote for the producer, and only the newest round's answers
//! count, so a delayed marker of an earlier round cannot end a later
//! transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_client::{Connection, ConnectionConfig};
use rill_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic, WriteTxnMarkersRequest};
use rill_protocol::messages::WriteTxnMarkersResponse;
use rill_protocol::ErrorCode;
use tokio::time::Instant;

use crate::broker::Shared;
use crate::handlers::write_txn_markers::{self, MARKER_WAIT};
use crate::txn_state::{fenced_code, Transaction};

/// How often the coordinator looks for timed-out transactions and for
/// transactions it took over, when nothing else wakes it.
const SCAN_INTERVAL: Duration = Duration::from_millis(200);
/// Pause between rounds of marker requests that left partitions without a marker.
const MARKER_RETRY: Duration = Duration::from_millis(50);
/// The WriteTxnMarkers version sent.
const MARKERS_VERSION: i16 = 1;

/// Runs the coordinator checks against `transactional_id`'s transaction and
/// `f` on it under the store lock; wakes the marker task when it changed
/// the transaction. Errors: NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE,
/// INVALID_PRODUCER_ID_MAPPING (no such transaction or another producer
/// id), PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before
/// `producer_fenced_since`), or what `f` returns.
pub(crate) fn update_transaction<T>(
    shared: &Shared,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    version: i16,
    producer_fenced_since: i16,
    f: impl FnOnce(&mut Transaction) -> Result<T, ErrorCode>,
) -> Result<T, ErrorCode> {
    if let Some(code) = crate::handlers::not_coordinator(shared, transactional_id) {
        return Err(code);
    }
    let store = shared.controller.coordinator_store();
    let result = {
        let mut state = store.lock();
        let txn = state.transactions.get_mut(transactional_id).ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        let check = txn.check_producer(producer_id, producer_epoch);
        if check.is_error() {
            return Err(fenced_code(check, version, producer_fenced_since));
        }
        let before = txn.clone();
        let result = f(txn);
        let changed = *txn != before;
        (result, changed)
    };
    if result.1 {
        store.bump();
    }
    result.0
}

/// The broker's coordinator loop (started with the broker; ends with it).
pub(crate) async fn run(shared: Arc<Shared>) {
    let store = shared.controller.coordinator_store().clone();
    let mut store_changes = store.subscribe();
    let mut controller_changes = shared.controller.subscribe();
    let sending: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    loop {
        let now = Instant::now();
        let mut wake = now + SCAN_INTERVAL;
        let candidates: Vec<(String, bool, Option<Instant>)> = {
            let state = store.lock();
            state
                .transactions
                .iter()
                .filter(|(_, t)| t.is_pending() || t.deadline().is_some())
                .map(|(id, t)| (id.clone(), t.is_pending(), t.deadline()))
                .collect()
        };
        for (id, pending, deadline) in candidates {
            if crate::handlers::not_coordinator(&shared, &id).is_some() {
                continue;
            }
            if let Some(deadline) = deadline {
                if now >= deadline {
                    abort_timed_out(&shared, &id, now);
                } else {
                    wake = wake.min(deadline);
                }
            }
            let pending = pending || store.lock().transactions.get(&id).is_some_and(Transaction::is_pending);
            let start = pending && lock(&sending).insert(id.clone());
            if start {
                let shared = shared.clone();
                let sending = sending.clone();
                tokio::spawn(async move {
                    send_markers(&shared, &id).await;
                    lock(&sending).remove(&id);
                    shared.controller.coordinator_store().bump();
                });
            }
        }
        tokio::select! {
            _ = store_changes.changed() => {}
            _ = controller_changes.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn abort_timed_out(shared: &Shared, id: &str, now: Instant) {
    let store = shared.controller.coordinator_store();
    let fenced = {
        let mut state = store.lock();
        match state.transactions.get_mut(id) {
            Some(t) if t.timed_out(now) => {
                t.fence();
                Some(t.producer_epoch)
            }
            _ => None,
        }
    };
    if let Some(epoch) = fenced {
        tracing::debug!(node = shared.me(), transactional_id = id, epoch, "transaction timed out: aborting");
        store.bump();
    }
}

/// One round: what to write and where.
struct Round {
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    partitions: BTreeSet<(String, i32)>,
}

/// Writes the markers of `id`'s Prepare phase until every partition has
/// one, then completes the transaction. Stops when the phase is over or
/// this broker no longer coordinates `id`.
async fn send_markers(shared: &Shared, id: &str) {
    let store = shared.controller.coordinator_store();
    let mut connections: BTreeMap<i32, Connection> = BTreeMap::new();
    loop {
        if crate::handlers::not_coordinator(shared, id).is_some() {
            return;
        }
        let round = {
            let mut state = store.lock();
            let Some(t) = state.transactions.get_mut(id).filter(|t| t.is_pending()) else { return };
            t.coordinator_epoch = t.coordinator_epoch.saturating_add(1);
            Round {
                producer_id: t.producer_id,
                producer_epoch: t.producer_epoch,
                commit: t.phase == crate::txn_state::TxnPhase::PrepareCommit,
                coordinator_epoch: t.coordinator_epoch,
                partitions: t.partitions.clone(),
            }
        };
        let done = write_round(shared, &round, &mut connections).await;
        let completed = {
            let mut state = store.lock();
            let state = &mut *state;
            match state.transactions.get_mut(id) {
                // Only the newest round's answers count.
                Some(t) if t.is_pending() && t.coordinator_epoch == round.coordinator_epoch => {
                    t.partitions.retain(|tp| !done.contains(tp));
                    if t.partitions.is_empty() {
                        let completed = t.complete();
                        if let Some(c) = &completed {
                            for (group, offsets) in &c.offsets {
                                state.group_mut(group).offsets.extend(offsets.clone());
                            }
                        }
                        completed
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(c) = completed {
            tracing::debug!(node = shared.me(), transactional_id = id, committed = c.committed, "transaction completed");
            store.bump();
            return;
        }
        tokio::time::sleep(MARKER_RETRY).await;
    }
}

/// Sends one round of markers, grouped by leader; returns the partitions
/// that have theirs (or never will need one: deleted, or a newer producer
/// epoch already written there).
async fn write_round(shared: &Shared, round: &Round, connections: &mut BTreeMap<i32, Connection>) -> BTreeSet<(String, i32)> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    let mut done = BTreeSet::new();
    for (topic, partition) in &round.partitions {
        match shared.controller.partition(topic, *partition) {
            None => {
                done.insert((topic.clone(), *partition));
            }
            Some(p) if p.leader >= 0 => by_leader.entry(p.leader).or_default().entry(topic.clone()).or_default().push(*partition),
            Some(_) => {} // offline: next round
        }
    }
    for (leader, topics) in by_leader {
        let request = WriteTxnMarkersRequest {
            markers: vec![WritableTxnMarker {
                producer_id: round.producer_id,
                producer_epoch: round.producer_epoch,
                transaction_result: round.commit,
                coordinator_epoch: round.coordinator_epoch,
                topics: topics
                    .into_iter()
                    .map(|(name, partition_indexes)| WritableTxnMarkerTopic { name, partition_indexes, ..Default::default() })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = if leader == shared.me() {
            Some(write_txn_markers::handle(shared, request).await)
        } else {
            send(shared, leader, &request, connections).await
        };
        for marker in response.map(|r| r.markers).unwrap_or_default() {
            for topic in marker.topics {
                for p in topic.partitions {
                    let code = ErrorCode(p.error_code);
                    // A newer epoch of the producer was written there: this marker is moot.
                    if matches!(code, ErrorCode::NONE | ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) {
                        done.insert((topic.name.clone(), p.partition_index));
                    } else {
                        tracing::debug!(node = shared.me(), topic = %topic.name, partition = p.partition_index, %code, "marker not written yet");
                    }
                }
            }
        }
    }
    done
}

/// Sends WriteTxnMarkers to another broker over the broker's connector;
/// `None` when it could not be reached (the next round tries again).
async fn send(
    shared: &Shared,
    leader: i32,
    request: &WriteTxnMarkersRequest,
    connections: &mut BTreeMap<i32, Connection>,
) -> Option<WriteTxnMarkersResponse> {
    if connections.get(&leader).is_none_or(Connection::is_closed) {
        connections.remove(&leader);
        let broker = shared.controller.broker(leader)?;
        let config = ConnectionConfig {
            client_id: format!("rill-txn-coordinator-{}", shared.me()),
            request_timeout: MARKER_WAIT + Duration::from_secs(5),
            ..Default::default()
        };
        let stats = Arc::new(rill_client::stats::BrokerStats::default());
        match Connection::connect(shared.connector.as_ref(), &broker.host, broker.port, config, stats).await {
            Ok(c) => {
                connections.insert(leader, c);
            }
            Err(e) => {
                tracing::debug!(node = shared.me(), leader, error = %e, "transaction coordinator cannot reach a leader");
                return None;
            }
        }
    }
    let connection = connections.get(&leader)?;
    match connection.send_version(request, MARKERS_VERSION).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::debug!(node = shared.me(), leader, error = %e, "WriteTxnMarkers failed");
            connections.remove(&leader);
            None
        }
    }
}
