//! Background replication work of one broker:
//!
//! - on every controller change (and periodically), apply the controller's
//!   decisions to every local replica and start a follower fetcher for each
//!   partition this broker follows;
//! - periodically shrink the ISRs of partitions it leads;
//! - each follower fetcher sends real Fetch requests (v12, `replica_id`
//!   set) to the partition's leader over the broker's connector, appends
//!   what it gets, and truncates when the leader reports a diverging epoch
//!   (KIP-320): that is how a returning old leader drops the suffix that
//!   was never replicated. One fetcher (and connection) per partition: the
//!   simplest shape; Kafka multiplexes partitions per leader.

use std::sync::Arc;
use std::time::Duration;

use rill_client::{Connection, ConnectionConfig};
use rill_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::ErrorCode;

use crate::broker::{isr_check_interval, Shared};
use crate::disk::TopicPartition;
use crate::log::split_batches;

/// The Fetch version followers use: topic names, diverging epochs (v12).
const REPLICA_FETCH_VERSION: i16 = 12;
/// Bytes a follower asks for per fetch.
const REPLICA_FETCH_MAX_BYTES: i32 = 1024 * 1024;

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut changes = shared.controller.subscribe();
    let tick = isr_check_interval(&shared.config);
    loop {
        reconcile(&shared);
        shared.shrink_isrs();
        let _ = tokio::time::timeout(tick, changes.changed()).await;
    }
}

/// Applies the controller's state to every partition with a replica here.
fn reconcile(shared: &Arc<Shared>) {
    let me = shared.me();
    let topics = shared.controller.topics();
    let mut to_start = Vec::new();
    {
        let mut state = shared.lock();
        for (name, topic) in &topics {
            for (index, p) in topic.partitions.iter().enumerate() {
                if !p.replicas.contains(&me) {
                    continue;
                }
                let tp = (name.clone(), i32::try_from(index).unwrap_or(i32::MAX));
                shared.sync(&mut state, &tp, p);
                if p.leader != me && !state.fetchers.contains(&tp) {
                    state.fetchers.insert(tp.clone());
                    to_start.push(tp);
                }
            }
        }
    }
    for tp in to_start {
        let shared = shared.clone();
        tokio::spawn(async move {
            follow(&shared, &tp).await;
            shared.lock().fetchers.remove(&tp);
        });
    }
}

/// Fetches one partition from its leader until this broker leads it or stops being a replica.
async fn follow(shared: &Arc<Shared>, tp: &TopicPartition) {
    let me = shared.me();
    let backoff = shared.config.replica_fetch_backoff;
    let mut connection: Option<(i32, Connection)> = None;
    loop {
        let Ok(p) = shared.partition_state(tp) else { return };
        if !p.replicas.contains(&me) || p.leader == me {
            return;
        }
        if p.leader < 0 {
            tokio::time::sleep(backoff).await;
            continue;
        }
        {
            let mut state = shared.lock();
            shared.sync(&mut state, tp, &p);
        }
        if connection.as_ref().is_none_or(|(leader, c)| *leader != p.leader || c.is_closed()) {
            connection = None;
            let Some(leader) = shared.controller.broker(p.leader) else {
                tokio::time::sleep(backoff).await;
                continue;
            };
            let config = ConnectionConfig {
                client_id: format!("rill-replica-{me}"),
                request_timeout: shared.config.replica_fetch_wait_max + Duration::from_secs(5),
                ..Default::default()
            };
            let stats = Arc::new(rill_client::stats::BrokerStats::default());
            match Connection::connect(shared.connector.as_ref(), &leader.host, leader.port, config, stats).await {
                Ok(c) => connection = Some((p.leader, c)),
                Err(e) => {
                    tracing::debug!(node = me, ?tp, leader = p.leader, error = %e, "follower cannot reach leader");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let Some((_, conn)) = connection.as_ref() else { continue };
        // The response applies only if the log still ends here and this
        // broker still follows at this epoch when it arrives.
        let fetch_offset = shared.disk.log_end_offset(tp);
        let fetch_epoch = p.leader_epoch;
        let request = FetchRequest {
            replica_id: me,
            max_wait_ms: i32::try_from(shared.config.replica_fetch_wait_max.as_millis()).unwrap_or(i32::MAX),
            min_bytes: 1,
            max_bytes: REPLICA_FETCH_MAX_BYTES,
            topics: vec![FetchTopic {
                topic: tp.0.clone(),
                partitions: vec![FetchPartition {
                    partition: tp.1,
                    current_leader_epoch: fetch_epoch,
                    fetch_offset,
                    last_fetched_epoch: shared.disk.latest_epoch(tp).unwrap_or(-1),
                    log_start_offset: 0,
                    partition_max_bytes: REPLICA_FETCH_MAX_BYTES,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = match conn.send_version(&request, REPLICA_FETCH_VERSION).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = me, ?tp, error = %e, "replica fetch failed");
                connection = None;
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(data) = response.responses.into_iter().flat_map(|t| t.partitions).find(|d| d.partition_index == tp.1) else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if data.error_code != ErrorCode::NONE.0 {
            tracing::debug!(node = me, ?tp, code = data.error_code, "replica fetch refused");
            tokio::time::sleep(backoff).await;
            continue;
        }
        // (-1, -1), the field's default, means "no divergence".
        if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
            truncate_diverged(shared, tp, (fetch_epoch, fetch_offset), data.diverging_epoch.epoch, data.diverging_epoch.end_offset);
            continue;
        }
        let batches = match data.records.as_ref().map(split_batches).transpose() {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(node = me, ?tp, error = %e.message, "leader sent a bad batch");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        if !shared.append_as_follower(tp, fetch_epoch, fetch_offset, batches, data.high_watermark) {
            tracing::debug!(node = me, ?tp, fetch_epoch, fetch_offset, "stale fetch response dropped");
        }
    }
}

/// KIP-320 follower truncation: the leader's log of `epoch` ends at
/// `end_offset`; ours must end no later than that, and no later than our own
/// end of that epoch.
fn truncate_diverged(shared: &Arc<Shared>, tp: &TopicPartition, fetch: (i32, i64), epoch: i32, end_offset: i64) {
    let ours = shared.disk.end_offset_for_epoch(tp, epoch);
    let target = match ours {
        Some(local) if local.epoch == epoch => end_offset.min(local.end_offset),
        Some(local) => local.end_offset.min(end_offset.max(0)),
        None => 0,
    };
    tracing::debug!(node = shared.me(), ?tp, epoch, end_offset, target, "truncating diverged suffix");
    if !shared.truncate_as_follower(tp, fetch.0, fetch.1, target.max(0)) {
        tracing::debug!(node = shared.me(), ?tp, "stale diverging-epoch response dropped");
    }
}
