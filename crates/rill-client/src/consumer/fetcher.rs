//! One fetcher task per leader broker. It keeps one fetch in flight to its
//! broker: when an answer comes, the next fetch goes out at once, from the
//! offsets after the answer's complete batches (read from their headers),
//! and only then is the answer decoded and buffered. The broker prepares
//! the next answer while the client decompresses this one; before, it
//! idled for each answer's decoding. The application meanwhile works
//! through what is buffered (prefetch, bounded by the byte budget and
//! `max.partition.fetch.bytes` per partition). The broker handles a
//! connection's requests one at a time, so a second fetch in flight would
//! only queue behind the first.
//!
//! It fetches the partitions whose leader is its broker, that are not
//! paused, backing off or waiting for an offset lookup, and whose buffers
//! are below `max.partition.fetch.bytes`. A request asks for at most what
//! the budget has left (and no more than `max.partition.fetch.bytes` per
//! partition in it), and that much is reserved until its answer is applied.
//! The task ends when its broker leads none of the assigned partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use rill_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use rill_protocol::messages::fetch_response::PartitionData;
use rill_protocol::messages::{FetchRequest, FetchResponse};
use rill_protocol::records::{complete_batches_end, AbortedTransaction};
use rill_protocol::{ApiKey, ErrorCode, Uuid};
use tokio::time::Instant;
use tracing::{debug, info};

use super::decode::{decode_partition, Allowance, DecodeContext, Decoded};
use super::record::{Position, TopicPartition};
use super::session::{FetchParams, FetchSession, SessionRequest};
use super::state::{Phase, ResponseCharge, State};
use super::Shared;
use crate::backoff::Backoff;
use crate::config::consumer::FETCH_RESPONSE_OVERHEAD;
use crate::config::IsolationLevel;
use crate::connection::PendingResponse;
use crate::error::Error;

/// Fetch v13 and later name topics by id.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
/// Fetch sessions need v7+.
const FIRST_SESSION_VERSION: i16 = 7;

/// The partitions of one request, with what is needed to apply its answer.
struct Plan {
    wanted: BTreeMap<TopicPartition, FetchParams>,
    generations: BTreeMap<TopicPartition, u64>,
    /// The request's `max_bytes` (wire bytes).
    max_bytes: i32,
    /// Budget bytes held for the answer until it is applied.
    reserved: usize,
}

enum Next {
    /// This broker leads no assigned partition any more.
    Done,
    /// Nothing to fetch now; look again on a change or at this instant.
    Wait(Option<Instant>),
    Fetch(Plan),
}

/// No batch of a response is started once its records take this many times
/// the budget held for it (see [`Allowance`]): the hold is an estimate, from
/// the expansion seen so far, and a response past it is decoded in part and
/// the rest fetched again, so the slack keeps well-behaved brokers from
/// being cut. No record is taken past the larger of that and the whole
/// budget (`fetch.buffer.max.bytes`), inside a batch too.
const ALLOWANCE_PER_RESERVED_BYTE: usize = 2;

/// Error codes that mean the metadata (leader, epoch, topic id) is stale.
const STALE_METADATA: &[ErrorCode] = &[
    ErrorCode::NOT_LEADER_OR_FOLLOWER,
    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode::LEADER_NOT_AVAILABLE,
    ErrorCode::FENCED_LEADER_EPOCH,
    ErrorCode::KAFKA_STORAGE_ERROR,
    ErrorCode::REPLICA_NOT_AVAILABLE,
    ErrorCode::UNKNOWN_TOPIC_ID,
    ErrorCode::INCONSISTENT_TOPIC_ID,
    ErrorCode::OFFSET_NOT_AVAILABLE,
];

/// Top-level errors after which the session is started afresh.
const SESSION_ERRORS: &[ErrorCode] =
    &[ErrorCode::FETCH_SESSION_ID_NOT_FOUND, ErrorCode::INVALID_FETCH_SESSION_EPOCH, ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR];

pub(crate) async fn run(shared: Arc<Shared>, node: i32) {
    let mut changes = shared.changed.subscribe();
    let mut session = FetchSession::new();
    let mut session_uses_ids: Option<bool> = None;
    let client_config = shared.client.config();
    let mut backoff = Backoff::new(client_config.retry_backoff, client_config.retry_backoff_max);
    // The fetch sent before the last answer was decoded.
    let mut next: Option<Sent> = None;
    loop {
        let sent = match next.take() {
            Some(sent) => sent,
            None => {
                changes.borrow_and_update();
                match plan(&shared, node, None) {
                    Next::Done => break,
                    Next::Wait(until) => {
                        let sleep = async {
                            match until {
                                Some(at) => tokio::time::sleep_until(at).await,
                                None => std::future::pending().await,
                            }
                        };
                        tokio::select! {
                            changed = changes.changed() => if changed.is_err() { break },
                            _ = sleep => {}
                        }
                        continue;
                    }
                    Next::Fetch(plan) => send(&shared, node, plan, &mut session, &mut session_uses_ids).await,
                }
            }
        };
        let (fetched, outcome) = match sent {
            Ok(in_flight) => receive(in_flight, &mut session).await,
            Err((plan, e)) => (plan, Err(e)),
        };
        let failed = match outcome {
            Ok(Received::Answer { request, response, uses_ids, broker }) => {
                let read_committed = shared.config.isolation_level == IsolationLevel::ReadCommitted;
                let ahead = look_ahead(&fetched, &response, uses_ids, read_committed);
                if !shared.lock().closed {
                    // Nothing to fetch yet (Wait): the loop plans again once the answer is applied.
                    if let Next::Fetch(following) = plan(&shared, node, Some(&ahead)) {
                        next = Some(send(&shared, node, following, &mut session, &mut session_uses_ids).await);
                    }
                }
                apply(&shared, node, &broker, &fetched, &request, response, uses_ids);
                release(&shared, fetched.reserved);
                false
            }
            Ok(Received::SessionError(code)) => {
                debug!(node, error = code.name(), "fetch session error; the next fetch is full");
                release(&shared, fetched.reserved);
                shared.lock().counters.session_errors += 1;
                session.reset();
                false
            }
            Err(e) => {
                release(&shared, fetched.reserved);
                let mut state = shared.lock();
                state.counters.fetch_failures += 1;
                session.reset();
                debug!(node, error = %e, "fetch failed; refreshing leaders");
                // The broker may be gone: look the leaders up again.
                for tp in fetched.wanted.keys() {
                    shared.client.note_error(&tp.topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                    if let Some(p) = state.partitions.get_mut(tp) {
                        if p.leader == Some(node) {
                            p.leader = None;
                        }
                        // Retried all the same, but the application hears of it.
                        if e.is_auth_failure() && p.error.is_none() {
                            p.error = Some(e.clone());
                        }
                    }
                }
                true
            }
        };
        shared.notify();
        if failed {
            let delay = backoff.next_delay(&mut shared.rng());
            tokio::time::sleep(delay).await;
        } else {
            backoff.reset();
        }
        if shared.lock().closed {
            break;
        }
    }
    if let Some(sent) = next {
        let plan = match sent {
            Ok(in_flight) => in_flight.plan,
            Err((plan, _)) => plan,
        };
        release(&shared, plan.reserved);
    }
    shared.notify();
    debug!(node, "fetcher stopped");
}

/// Gives back budget held for a fetch.
fn release(shared: &Shared, reserved: usize) {
    let mut state = shared.lock();
    state.budget.reserved = state.budget.reserved.saturating_sub(reserved);
}

/// What an answer not yet decoded says about the fetch after it, per
/// partition: where it starts (after the answer's complete batches), or
/// that the partition sits it out (its answer carries an error, a
/// diverging epoch or batches only a full decode can read: applying the
/// answer settles it first).
#[derive(Debug, Default)]
struct Ahead {
    from: BTreeMap<TopicPartition, FetchFrom>,
    skip: BTreeSet<TopicPartition>,
}

/// Where a partition's next fetch starts while the answer in hand is decoded.
#[derive(Debug, Clone, Copy)]
struct FetchFrom {
    /// The partition's generation and fetch offset the answer was fetched
    /// at: a seek, reset or move since then leaves the fetch where it is.
    generation: u64,
    fetched_at: i64,
    /// After the answer's last complete batch, with that batch's leader epoch.
    next: Position,
    /// The log's end in the answer (the last stable offset under read_committed).
    log_end: i64,
}

/// Reads where each partition's complete batches end (headers only).
fn look_ahead(plan: &Plan, response: &FetchResponse, uses_ids: bool, read_committed: bool) -> Ahead {
    let mut ahead = Ahead::default();
    let names: BTreeMap<Uuid, &str> = plan.wanted.iter().map(|(tp, p)| (p.topic_id, tp.topic.as_str())).collect();
    for topic in &response.responses {
        let name = if uses_ids { names.get(&topic.topic_id).copied() } else { Some(topic.topic.as_str()) };
        let Some(name) = name else { continue };
        for data in &topic.partitions {
            let tp = TopicPartition::new(name, data.partition_index);
            let (Some(params), Some(generation)) = (plan.wanted.get(&tp), plan.generations.get(&tp)) else { continue };
            let records = data.records.as_ref().filter(|r| !r.is_empty());
            if data.error_code != 0 || data.diverging_epoch.epoch >= 0 {
                ahead.skip.insert(tp);
                continue;
            }
            let Some(records) = records else { continue };
            match complete_batches_end(records) {
                Ok(Some(end)) if end.next_offset > params.fetch_offset => {
                    let next = Position::new(end.next_offset, super::decode::epoch(end.partition_leader_epoch));
                    let log_end = log_end(read_committed, data.high_watermark, data.last_stable_offset);
                    ahead.from.insert(tp, FetchFrom { generation: *generation, fetched_at: params.fetch_offset, next, log_end });
                }
                Ok(_) => {}
                Err(()) => {
                    ahead.skip.insert(tp);
                }
            }
        }
    }
    ahead
}

/// Where a partition's log ends for this consumer: the last stable offset
/// under read_committed (when the broker gave one), else the high watermark.
fn log_end(read_committed: bool, high_watermark: i64, last_stable_offset: i64) -> i64 {
    if read_committed && last_stable_offset >= 0 {
        last_stable_offset
    } else {
        high_watermark
    }
}

/// Chooses the partitions to fetch from `node` now and reserves budget.
/// With `ahead`, for the fetch sent before the answer in hand is applied:
/// from past that answer, and only if the budget does not make it smaller
/// than it would be otherwise (a broker answers a fetch with at least one
/// batch, KIP-74, whatever its `max_bytes`: two squeezed fetches could
/// each overshoot the budget by one).
fn plan(shared: &Shared, node: i32, ahead: Option<&Ahead>) -> Next {
    let config = &shared.config;
    let now = Instant::now();
    let mut state = shared.lock();
    if state.closed {
        return Next::Done;
    }
    // The test-only bug switch makes the consumer fetch as before KIP-320:
    // no epoch of its position for the leader to check it against.
    let detects_truncation = shared.client.config().detects_truncation();
    let mut leads_any = false;
    let mut wake: Option<Instant> = None;
    let mut wanted = BTreeMap::new();
    let mut generations = BTreeMap::new();
    let partition_max = usize::try_from(config.max_partition_fetch_bytes).unwrap_or(usize::MAX);
    let read_committed = config.isolation_level == IsolationLevel::ReadCommitted;
    // Partitions left out until the application makes room in their buffers.
    let mut room_awaited = false;
    // Every partition asked for is at the end of its log, as last seen.
    let mut all_caught_up = true;
    for (tp, p) in &state.partitions {
        if p.leader != Some(node) {
            continue;
        }
        leads_any = true;
        if p.phase != Phase::Fetching || p.needs_validation || p.paused {
            continue;
        }
        if p.buffered_bytes >= partition_max {
            room_awaited = true;
            continue;
        }
        if let Some(at) = p.retry_at.filter(|at| *at > now) {
            wake = Some(wake.map_or(at, |w| w.min(at)));
            continue;
        }
        if ahead.is_some_and(|a| a.skip.contains(tp)) {
            continue;
        }
        // Past the answer being decoded, if nothing moved the partition since it was fetched.
        let (from, log_end) = match ahead.and_then(|a| a.from.get(tp)) {
            Some(f) if f.generation == p.generation && f.fetched_at == p.fetch.offset => {
                (Position::new(f.next.offset, f.next.leader_epoch.or(p.fetch.leader_epoch)), f.log_end)
            }
            _ => (p.fetch, log_end(read_committed, p.high_watermark, p.last_stable_offset)),
        };
        all_caught_up &= log_end >= 0 && from.offset >= log_end;
        wanted.insert(
            tp.clone(),
            FetchParams {
                topic_id: p.topic_id,
                fetch_offset: from.offset,
                current_leader_epoch: p.leader_epoch,
                last_fetched_epoch: from.leader_epoch.filter(|_| detects_truncation).unwrap_or(-1),
                max_bytes: config.max_partition_fetch_bytes,
            },
        );
        generations.insert(tp.clone(), p.generation);
    }
    if !leads_any {
        return Next::Done;
    }
    // The idle maps the client keeps for large responses count as responses:
    // the next frame is read into one of them or beside them.
    state.budget.responses = state.responses_live.load(Ordering::Acquire) + shared.client.response_maps().idle_bytes();
    if wanted.is_empty() || state.budget.available() == 0 {
        return Next::Wait(wake);
    }
    // A fetch of partitions with nothing new is held by the broker for
    // fetch.max.wait.ms, and the partitions waiting for buffer room could
    // not be fetched until it is answered: wait for the application instead
    // and fetch them all together. (Consuming the end of a backlog stalled
    // for 500 ms per answer, once the partitions still holding records were
    // the ones with full buffers.)
    if room_awaited && all_caught_up {
        return Next::Wait(wake);
    }
    let frame_room = shared.client.config().max_response_bytes.saturating_sub(FETCH_RESPONSE_OVERHEAD).max(1);
    // No answer holds more than `max.partition.fetch.bytes` per partition
    // asked for: reserving more would leave nothing for the next fetch,
    // which goes out while this one's answer is decoded.
    let partitions_max = partition_max.saturating_mul(wanted.len());
    let cap = usize::try_from(config.fetch_max_bytes).unwrap_or(usize::MAX).min(frame_room).min(partitions_max);
    let (max_bytes, reserved) = state.budget.fetch_size(cap);
    if ahead.is_some() && max_bytes < cap {
        return Next::Wait(None);
    }
    state.budget.reserved = state.budget.reserved.saturating_add(reserved);
    Next::Fetch(Plan { wanted, generations, max_bytes: i32::try_from(max_bytes).unwrap_or(i32::MAX), reserved })
}

/// A fetch handed to its connection, its answer to come.
struct InFlightFetch {
    plan: Plan,
    request: SessionRequest,
    uses_ids: bool,
    broker: String,
    pending: PendingResponse,
}

/// A fetch sent, or its plan and why it could not be.
type Sent = Result<InFlightFetch, (Plan, Error)>;

enum Received {
    Answer { request: SessionRequest, response: FetchResponse, uses_ids: bool, broker: String },
    SessionError(ErrorCode),
}

/// Builds the request for `plan` in `session` and hands it to the connection.
async fn send(shared: &Shared, node: i32, plan: Plan, session: &mut FetchSession, session_uses_ids: &mut Option<bool>) -> Sent {
    let config = &shared.config;
    let connection = match shared.client.connection(node).await {
        Ok(c) => c,
        Err(e) => return Err((plan, e)),
    };
    let mut version = match connection.version_for(ApiKey::FETCH) {
        Ok(v) => v,
        Err(e) => return Err((plan, e)),
    };
    if version >= FIRST_TOPIC_ID_VERSION && plan.wanted.values().any(|p| p.topic_id == Uuid::ZERO) {
        version = FIRST_TOPIC_ID_VERSION - 1;
    }
    let uses_ids = version >= FIRST_TOPIC_ID_VERSION;
    if *session_uses_ids != Some(uses_ids) {
        // Names and ids cannot be mixed in one session.
        session.reset();
        *session_uses_ids = Some(uses_ids);
    }
    session.set_supported(version >= FIRST_SESSION_VERSION);
    let request = session.build(&plan.wanted);
    let fetch = to_fetch_request(config, &request, plan.max_bytes, uses_ids);
    match connection.enqueue(&fetch, version, true).await {
        Ok(pending) => Ok(InFlightFetch { plan, request, uses_ids, broker: connection.broker().to_string(), pending }),
        Err(e) => Err((plan, e)),
    }
}

/// Waits for the answer to `fetch`; the session takes it in before the next fetch is built.
async fn receive(fetch: InFlightFetch, session: &mut FetchSession) -> (Plan, Result<Received, Error>) {
    let InFlightFetch { plan, request, uses_ids, broker, pending } = fetch;
    let response = match pending.response::<FetchResponse>().await {
        Ok(r) => r,
        Err(e) => return (plan, Err(e)),
    };
    let code = ErrorCode(response.error_code);
    if SESSION_ERRORS.contains(&code) {
        return (plan, Ok(Received::SessionError(code)));
    }
    if code.is_error() {
        return (plan, Err(Error::Kafka { broker, context: "Fetch".into(), code, message: None }));
    }
    session.accepted(&request, plan.wanted.clone(), response.session_id);
    (plan, Ok(Received::Answer { request, response, uses_ids, broker }))
}

fn to_fetch_request(config: &crate::config::ConsumerConfig, request: &SessionRequest, max_bytes: i32, uses_ids: bool) -> FetchRequest {
    let mut topics: BTreeMap<(&str, Uuid), Vec<FetchPartition>> = BTreeMap::new();
    for (tp, p) in &request.send {
        topics.entry((tp.topic.as_str(), p.topic_id)).or_default().push(FetchPartition {
            partition: tp.partition,
            current_leader_epoch: p.current_leader_epoch,
            fetch_offset: p.fetch_offset,
            last_fetched_epoch: p.last_fetched_epoch,
            log_start_offset: -1,
            partition_max_bytes: p.max_bytes,
            ..Default::default()
        });
    }
    let mut forgotten: BTreeMap<(&str, Uuid), Vec<i32>> = BTreeMap::new();
    for (tp, id) in &request.forget {
        forgotten.entry((tp.topic.as_str(), *id)).or_default().push(tp.partition);
    }
    let id = |id: Uuid| if uses_ids { id } else { Uuid::ZERO };
    let name = |n: &str| if uses_ids { String::new() } else { n.to_string() };
    FetchRequest {
        replica_id: -1,
        max_wait_ms: i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
        min_bytes: config.fetch_min_bytes,
        max_bytes,
        isolation_level: config.isolation_level.wire_value(),
        session_id: request.session_id,
        session_epoch: request.epoch,
        topics: topics
            .into_iter()
            .map(|((topic, topic_id), partitions)| FetchTopic {
                topic: name(topic),
                topic_id: id(topic_id),
                partitions,
                ..Default::default()
            })
            .collect(),
        forgotten_topics_data: forgotten
            .into_iter()
            .map(|((topic, topic_id), partitions)| ForgottenTopic {
                topic: name(topic),
                topic_id: id(topic_id),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// One partition's answer, decoded outside the lock.
struct PartitionAnswer {
    tp: TopicPartition,
    data: PartitionData,
    decoded: Option<Decoded>,
    charge: Arc<ResponseCharge>,
}

fn apply(shared: &Shared, node: i32, broker: &str, plan: &Plan, request: &SessionRequest, response: FetchResponse, uses_ids: bool) {
    let config = &shared.config;
    let read_committed = config.isolation_level == IsolationLevel::ReadCommitted;
    let options = &shared.decode_options;
    let names: BTreeMap<Uuid, &str> = plan.wanted.iter().map(|(tp, p)| (p.topic_id, tp.topic.as_str())).collect();
    let (topics, live): (BTreeMap<&str, std::sync::Arc<str>>, _) = {
        let state = shared.lock();
        let topics = plan.wanted.keys().filter_map(|tp| Some((tp.topic.as_str(), state.partitions.get(tp)?.topic.clone()))).collect();
        (topics, state.responses_live.clone())
    };
    let response_bytes: usize =
        response.responses.iter().flat_map(|t| t.partitions.iter()).filter_map(|p| p.records.as_ref()).map(Bytes::len).sum();
    // Uncompressed records are zero-copy slices of the response: it stays
    // whole in memory until the last of them is gone, so it is charged as a
    // whole until no partition buffers a record of it (PartitionState::responses).
    let charge = ResponseCharge::new(live, response_bytes, shared.changed.clone());
    // Decode first, without the lock, as far as the allowance goes.
    let batch_limit = plan.reserved.saturating_mul(ALLOWANCE_PER_RESERVED_BYTE);
    let mut allowance = Allowance::new(batch_limit, batch_limit.max(config.fetch_buffer_max_bytes));
    let mut answers = Vec::new();
    for topic in response.responses {
        let name = if uses_ids { names.get(&topic.topic_id).copied().map(str::to_string) } else { Some(topic.topic) };
        let Some(name) = name else { continue };
        for data in topic.partitions {
            let tp = TopicPartition::new(name.as_str(), data.partition_index);
            let Some(params) = plan.wanted.get(&tp) else { continue };
            let decoded = match (&data.records, topics.get(tp.topic.as_str())) {
                (Some(records), Some(topic)) if data.error_code == 0 && !records.is_empty() => {
                    let aborted: Option<Vec<AbortedTransaction>> = read_committed.then(|| {
                        data.aborted_transactions
                            .iter()
                            .flatten()
                            .map(|a| AbortedTransaction { producer_id: a.producer_id, first_offset: a.first_offset })
                            .collect()
                    });
                    let cx = DecodeContext {
                        partition: tp.partition,
                        fetch_offset: params.fetch_offset,
                        aborted: aborted.as_deref(),
                        options,
                        chunks: &shared.chunks,
                    };
                    Some(decode_partition(topic, records, &cx, &mut allowance))
                }
                _ => None,
            };
            answers.push(PartitionAnswer { tp, data, decoded, charge: charge.clone() });
        }
    }
    let now = Instant::now();
    let retry_at = now + shared.client.config().retry_backoff;
    // What was decoded: a cut response says nothing of the bytes left.
    let wire: usize = answers.iter().filter_map(|a| a.decoded.as_ref()).map(|d| d.wire_bytes).sum();
    let retained: usize = answers.iter().filter_map(|a| a.decoded.as_ref()).map(|d| d.retained_bytes).sum();
    let cut = answers.iter().any(|a| a.decoded.as_ref().is_some_and(|d| d.cut));
    if cut {
        debug!(node, reserved = plan.reserved, retained, "fetch response decoded in part: its records outgrew the budget held for it");
    }
    let mut state = shared.lock();
    state.counters.cut_responses += u64::from(cut);
    state.budget.observe(wire, retained);
    state.counters.fetch_requests += 1;
    if request.is_full() {
        state.counters.full_fetches += 1;
    }
    for answer in answers {
        apply_partition(shared, &mut state, node, broker, plan, answer, retry_at);
    }
}

fn apply_partition(shared: &Shared, state: &mut State, node: i32, broker: &str, plan: &Plan, answer: PartitionAnswer, retry_at: Instant) {
    let PartitionAnswer { tp, data, decoded, charge } = answer;
    let policy = shared.config.auto_offset_reset;
    let (Some(params), Some(generation)) = (plan.wanted.get(&tp), plan.generations.get(&tp)) else { return };
    let State { partitions, budget, counters, .. } = state;
    let Some(p) = partitions.get_mut(&tp) else { return };
    // A seek, reset or move since the request, or an answer before it that
    // did not decode as far as its headers promised (the request went out
    // from past it): this answer is stale.
    if p.generation != *generation || p.fetch.offset != params.fetch_offset || p.phase != Phase::Fetching {
        return;
    }
    let code = ErrorCode(data.error_code);
    if code.is_none() {
        p.high_watermark = data.high_watermark;
        if data.last_stable_offset >= 0 {
            p.last_stable_offset = data.last_stable_offset;
        }
        if data.log_start_offset >= 0 {
            p.log_start_offset = data.log_start_offset;
        }
        // KIP-320 (Fetch v12+): the leader says our last fetched epoch ends
        // before the fetch offset: the log was truncated under us.
        let diverging = &data.diverging_epoch;
        let detects = shared.client.config().detects_truncation();
        if detects && diverging.epoch >= 0 && diverging.end_offset >= 0 && diverging.end_offset < p.fetch.offset {
            let divergent = Position::new(diverging.end_offset, Some(diverging.epoch));
            counters.truncations += 1;
            let freed = p.truncated(&tp, Some(divergent), policy);
            budget.release(freed);
            return;
        }
        // The leader's newest epoch up to our last fetched one is older than
        // it but ends at or past the fetch offset: no truncation, yet our
        // epoch is not in the leader's log. Take the leader's: asking again
        // with ours would get the same answer, and no records, forever.
        if diverging.epoch >= 0 && diverging.end_offset >= p.fetch.offset && p.fetch.leader_epoch.is_some_and(|e| e > diverging.epoch) {
            debug!(partition = %tp, offset = p.fetch.offset, epoch = diverging.epoch, "position takes the leader's epoch");
            p.fetch = Position::new(p.fetch.offset, Some(diverging.epoch));
            return;
        }
        let Some(decoded) = decoded else { return };
        let bytes = decoded.retained_bytes;
        if let Some(last) = decoded.last() {
            p.responses.push_back((last.offset, charge));
        }
        for chunk in decoded.chunks {
            p.buffer.push_chunk(chunk, &shared.chunks);
        }
        p.buffered_bytes += bytes;
        budget.charge(bytes);
        if decoded.next_offset > p.fetch.offset {
            p.fetch = Position::new(decoded.next_offset, decoded.last_epoch.or(p.fetch.leader_epoch));
        }
        if let Some(source) = decoded.error {
            // Records before the bad batch are kept; the partition stops at it.
            p.error = Some(Error::Decode { broker: broker.to_string(), source });
            p.retry_at = Some(retry_at);
        }
        return;
    }
    if code == ErrorCode::OFFSET_OUT_OF_RANGE {
        info!(partition = %tp, offset = p.fetch.offset, policy = policy.name(), "fetch offset out of range");
        let error = Error::OffsetOutOfRange { topic: tp.topic.clone(), partition: tp.partition, offset: p.fetch.offset };
        let freed = p.reset_per_policy(policy, &tp, Some(error));
        budget.release(freed);
        return;
    }
    p.retry_at = Some(retry_at);
    if STALE_METADATA.contains(&code) {
        debug!(partition = %tp, node, error = code.name(), "stale leader; refreshing metadata");
        shared.client.note_error(&tp.topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
        p.leader = None;
    } else if code == ErrorCode::UNKNOWN_LEADER_EPOCH {
        // Our metadata is ahead of this broker: it will catch up.
        debug!(partition = %tp, node, "broker behind our leader epoch; retrying");
    } else if !code.is_retriable() {
        p.error = Some(Error::Kafka {
            broker: broker.to_string(),
            context: format!("Fetch {tp} at offset {}", p.fetch.offset),
            code,
            message: None,
        });
    }
}
