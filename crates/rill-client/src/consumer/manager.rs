//! The consumer's background task: it looks up leaders (refreshing the
//! metadata after errors), runs offset lookups for resets (ListOffsets),
//! checks positions against new leaders (OffsetForLeaderEpoch, KIP-320)
//! and keeps one fetcher task per leader running.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use rill_protocol::messages::OffsetForLeaderEpochRequest;
use rill_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;
use tracing::{debug, info};

use super::record::{Position, TopicPartition};
use super::state::{Phase, ResetTarget};
use super::Shared;
use crate::client::OffsetSpec;
use crate::error::{Error, Result};

/// The longest the manager sleeps without a change (a safety net: every
/// change that needs it wakes it at once).
const IDLE_TICK: Duration = Duration::from_secs(1);

/// OffsetForLeaderEpoch v3 is the first a consumer may send (replica id -1).
const FIRST_CONSUMER_EPOCH_VERSION: i16 = 3;

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut changes = shared.changed.subscribe();
    loop {
        changes.borrow_and_update();
        if shared.lock().closed {
            break;
        }
        refresh_leaders(&shared).await;
        run_resets(&shared).await;
        run_validations(&shared).await;
        let wake = ensure_fetchers(&shared);
        let sleep = tokio::time::sleep_until(wake.unwrap_or_else(|| Instant::now() + IDLE_TICK));
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = sleep => {}
        }
    }
    let fetchers: Vec<_> = std::mem::take(&mut shared.lock().fetchers).into_values().collect();
    for fetcher in fetchers {
        let _ = fetcher.await;
    }
}

fn due(retry_at: Option<Instant>, now: Instant) -> bool {
    retry_at.is_none_or(|at| at <= now)
}

/// Partitions without a known leader get one from the (refreshed) metadata;
/// a leader epoch that went up marks the position for validation.
async fn refresh_leaders(shared: &Shared) {
    let now = Instant::now();
    let topics: BTreeSet<String> = shared
        .lock()
        .partitions
        .iter()
        .filter(|(_, p)| p.leader.is_none() && due(p.retry_at, now))
        .map(|(tp, _)| tp.topic.clone())
        .collect();
    if topics.is_empty() {
        return;
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let refreshed = shared.client.metadata(&names).await;
    if let Err(e) = &refreshed {
        debug!(error = %e, "metadata refresh for the consumer failed");
    }
    let snapshot = shared.client.cached_metadata();
    let retry_at = Instant::now() + shared.client.config().retry_backoff;
    let mut state = shared.lock();
    for (tp, p) in state.partitions.iter_mut() {
        if !topics.contains(&tp.topic) {
            continue;
        }
        let known = snapshot.topic(&tp.topic);
        let partition = known.and_then(|t| t.partitions.get(&tp.partition));
        match partition.and_then(|m| m.leader.map(|leader| (leader, m.leader_epoch))) {
            Some((leader, epoch)) if refreshed.is_ok() => {
                if let Some(t) = known {
                    p.topic_id = t.id;
                }
                if epoch > p.leader_epoch {
                    // KIP-320: a new leader epoch; what was fetched under the
                    // old one is checked against the new leader's log.
                    if p.leader_epoch >= 0 && p.fetch.leader_epoch.is_some() {
                        p.needs_validation = true;
                    }
                    p.leader_epoch = epoch;
                }
                p.leader = Some(leader);
                p.retry_at = None;
            }
            _ => {
                debug!(partition = %tp, "no leader known yet");
                p.retry_at = Some(retry_at);
                // Retried all the same, but the application hears of it.
                match &refreshed {
                    Err(e) if e.is_auth_failure() && p.error.is_none() => p.error = Some(e.clone()),
                    _ => {}
                }
            }
        }
    }
}

/// The offsets a reset asks for, looked up with ListOffsets on the leaders.
pub(crate) async fn lookup(
    shared: &Shared,
    targets: &[(TopicPartition, ResetTarget)],
) -> Result<BTreeMap<TopicPartition, Result<Position>>> {
    let specs: Vec<(&str, i32, OffsetSpec)> = targets
        .iter()
        .map(|(tp, target)| {
            let spec = match target {
                ResetTarget::Earliest => OffsetSpec::Earliest,
                ResetTarget::Latest => OffsetSpec::Latest,
                ResetTarget::Timestamp(ms) => OffsetSpec::Timestamp(*ms),
            };
            (tp.topic.as_str(), tp.partition, spec)
        })
        .collect();
    let isolation = shared.config.isolation_level.wire_value();
    let mut results = shared.client.list_offsets_isolated(&specs, isolation).await?;
    let mut out = BTreeMap::new();
    let mut ends = Vec::new();
    for (tp, target) in targets {
        let key = (tp.topic.clone(), tp.partition);
        match results.remove(&key) {
            // No record at or after the time: the end, as the Java client does.
            Some(Ok(listed)) if listed.offset < 0 && matches!(target, ResetTarget::Timestamp(_)) => ends.push(tp.clone()),
            Some(Ok(listed)) => {
                // No leader epoch: a position's epoch is that of the record
                // before it, and ListOffsets names the epoch at the offset
                // (or, for an empty log, the leader's current one). Sent as
                // the last fetched epoch, a newer epoch than the log has up
                // to the offset makes the leader answer with a diverging
                // epoch and no records. Java's consumer resets positions
                // without an epoch too, so they skip validation.
                out.insert(tp.clone(), Ok(Position::new(listed.offset, None)));
            }
            Some(Err(e)) => {
                out.insert(tp.clone(), Err(e));
            }
            None => {
                out.insert(tp.clone(), Err(Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition }));
            }
        }
    }
    if !ends.is_empty() {
        let targets: Vec<_> = ends.into_iter().map(|tp| (tp, ResetTarget::Latest)).collect();
        out.extend(Box::pin(lookup(shared, &targets)).await?);
    }
    Ok(out)
}

async fn run_resets(shared: &Shared) {
    let now = Instant::now();
    let targets: Vec<(TopicPartition, ResetTarget, u64)> = shared
        .lock()
        .partitions
        .iter()
        .filter_map(|(tp, p)| match p.phase {
            Phase::Resetting(target) if due(p.retry_at, now) => Some((tp.clone(), target, p.generation)),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let asked: Vec<_> = targets.iter().map(|(tp, target, _)| (tp.clone(), *target)).collect();
    let results = lookup(shared, &asked).await;
    let retry_at = Instant::now() + shared.client.config().retry_backoff;
    let mut state = shared.lock();
    for (tp, target, generation) in targets {
        let result = match &results {
            Ok(map) => map.get(&tp).cloned().unwrap_or(Err(Error::Closed)),
            Err(e) => Err(e.clone()),
        };
        let super::state::State { partitions, budget, counters, .. } = &mut *state;
        let Some(p) = partitions.get_mut(&tp) else { continue };
        if p.generation != generation {
            continue;
        }
        match result {
            Ok(position) => {
                info!(partition = %tp, offset = position.offset, target = ?target, "offset reset");
                counters.offset_resets += 1;
                let freed = p.seek_to(position, true);
                budget.release(freed);
            }
            Err(e) => {
                debug!(partition = %tp, error = %e, "offset lookup failed; will retry");
                p.retry_at = Some(retry_at);
                if !e.is_retriable() && !matches!(e, Error::Closed) {
                    p.error = Some(e);
                }
            }
        }
    }
    drop(state);
    shared.notify();
}

/// KIP-320: positions fetched under an older leader epoch are checked with
/// OffsetForLeaderEpoch on the current leader: the end offset of our last
/// fetched epoch on the leader below our fetch offset means the log was
/// truncated.
async fn run_validations(shared: &Shared) {
    let now = Instant::now();
    // (leader, partition, current epoch, position, generation)
    let mut todo: BTreeMap<i32, Vec<(TopicPartition, i32, Position, u64)>> = BTreeMap::new();
    let detects = shared.client.config().detects_truncation();
    {
        let mut state = shared.lock();
        for (tp, p) in state.partitions.iter_mut() {
            if !p.needs_validation || p.phase != Phase::Fetching || !due(p.retry_at, now) {
                continue;
            }
            if !detects {
                p.needs_validation = false;
                continue;
            }
            match (p.leader, p.fetch.leader_epoch) {
                (Some(leader), Some(_)) => {
                    todo.entry(leader).or_default().push((tp.clone(), p.leader_epoch, p.fetch, p.generation));
                }
                (_, None) => p.needs_validation = false,
                (None, _) => {}
            }
        }
    }
    for (leader, partitions) in todo {
        let answers = validate_on(shared, leader, &partitions).await;
        let retry_at = Instant::now() + shared.client.config().retry_backoff;
        let policy = shared.config.auto_offset_reset;
        let mut state = shared.lock();
        let super::state::State { partitions: states, budget, counters, .. } = &mut *state;
        for (tp, _, position, generation) in &partitions {
            let Some(p) = states.get_mut(tp) else { continue };
            if p.generation != *generation || p.fetch != *position {
                continue;
            }
            match answers.as_ref().map(|a| a.get(tp).copied()) {
                Ok(Some(Ok((epoch, end_offset)))) => {
                    counters.validations += 1;
                    if epoch < 0 || end_offset < 0 {
                        counters.truncations += 1;
                        let freed = p.truncated(tp, None, policy);
                        budget.release(freed);
                    } else if end_offset < position.offset {
                        counters.truncations += 1;
                        let freed = p.truncated(tp, Some(Position::new(end_offset, Some(epoch))), policy);
                        budget.release(freed);
                    } else {
                        debug!(partition = %tp, offset = position.offset, "position valid under the new leader epoch");
                        p.needs_validation = false;
                    }
                }
                Ok(Some(Err(code))) => {
                    debug!(partition = %tp, error = code.name(), "OffsetForLeaderEpoch failed; will retry");
                    if code != ErrorCode::UNKNOWN_LEADER_EPOCH {
                        shared.client.note_error(&tp.topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                        p.leader = None;
                    }
                    p.retry_at = Some(retry_at);
                }
                Ok(None) | Err(_) => {
                    p.leader = None;
                    shared.client.note_error(&tp.topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                    p.retry_at = Some(retry_at);
                }
            }
        }
        drop(state);
        shared.notify();
    }
}

type EpochAnswers = BTreeMap<TopicPartition, std::result::Result<(i32, i64), ErrorCode>>;

async fn validate_on(shared: &Shared, leader: i32, partitions: &[(TopicPartition, i32, Position, u64)]) -> Result<EpochAnswers> {
    let connection = shared.client.connection(leader).await?;
    let version = connection.version_for(ApiKey::OFFSET_FOR_LEADER_EPOCH)?;
    if version < FIRST_CONSUMER_EPOCH_VERSION {
        // Too old a broker to ask as a consumer: nothing to check against.
        return Ok(partitions.iter().map(|(tp, _, position, _)| (tp.clone(), Ok((i32::MAX, position.offset)))).collect());
    }
    let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for (tp, current, position, _) in partitions {
        topics.entry(tp.topic.as_str()).or_default().push(OffsetForLeaderPartition {
            partition: tp.partition,
            current_leader_epoch: *current,
            leader_epoch: position.leader_epoch.unwrap_or(-1),
            ..Default::default()
        });
    }
    let request = OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| OffsetForLeaderTopic { topic: topic.to_string(), partitions, ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let response = connection.send_version(&request, version).await?;
    let mut out = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions {
            let code = ErrorCode(p.error_code);
            let answer = if code.is_none() { Ok((p.leader_epoch, p.end_offset)) } else { Err(code) };
            out.insert(TopicPartition::new(topic.topic.as_str(), p.partition), answer);
        }
    }
    Ok(out)
}

/// Starts a fetcher for every leader of a fetching partition that has none
/// running; returns when the manager should look again (the earliest retry).
fn ensure_fetchers(shared: &Arc<Shared>) -> Option<Instant> {
    let mut state = shared.lock();
    if state.closed {
        return None;
    }
    let leaders: BTreeSet<i32> = state.partitions.values().filter_map(|p| p.leader).collect();
    state.fetchers.retain(|_, handle| !handle.is_finished());
    for leader in leaders {
        state.fetchers.entry(leader).or_insert_with(|| {
            debug!(node = leader, "starting a fetcher");
            tokio::spawn(super::fetcher::run(shared.clone(), leader))
        });
    }
    state
        .partitions
        .values()
        .filter(|p| p.leader.is_none() || matches!(p.phase, Phase::Resetting(_)) || p.needs_validation)
        .filter_map(|p| p.retry_at)
        .min()
}
