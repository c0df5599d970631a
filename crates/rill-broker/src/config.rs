//! Per-broker settings.

use std::time::Duration;

/// Settings of one broker (node). Cluster-wide ones (cluster id,
/// `min.insync.replicas`, topic defaults) are the controller's
/// ([`crate::ControllerConfig`]).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// The host clients and followers connect to (Kafka's advertised listener).
    pub advertised_host: String,
    pub advertised_port: u16,
    /// Seed of the broker's only randomness (fetch session ids).
    pub rng_seed: u64,
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub max_request_bytes: usize,
    /// `auto.create.topics.enable`: Metadata for an unknown topic creates it.
    pub auto_create_topics: bool,
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves the ISR.
    pub replica_lag_time_max: Duration,
    /// How long a follower's fetch waits on the leader (`replica.fetch.wait.max.ms`).
    pub replica_fetch_wait_max: Duration,
    /// Pause after a failed follower fetch (`replica.fetch.backoff.ms`).
    pub replica_fetch_backoff: Duration,
    /// `max.incremental.fetch.session.cache.slots` (KIP-227).
    pub max_fetch_sessions: usize,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub group_min_session_timeout: Duration,
    pub group_max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay: Duration,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout: Duration,
}

impl BrokerConfig {
    /// Kafka's defaults for node `node_id` reachable at `host:port`.
    pub fn new(node_id: i32, host: impl Into<String>, port: u16) -> BrokerConfig {
        BrokerConfig {
            node_id,
            advertised_host: host.into(),
            advertised_port: port,
            rng_seed: 0x0b0c_a11e_u64.wrapping_add(node_id as u64),
            max_request_bytes: rill_protocol::frame::DEFAULT_MAX_FRAME_BYTES,
            auto_create_topics: true,
            replica_lag_time_max: Duration::from_secs(30),
            replica_fetch_wait_max: Duration::from_millis(500),
            replica_fetch_backoff: Duration::from_millis(100),
            max_fetch_sessions: 1000,
            group_min_session_timeout: Duration::from_secs(6),
            group_max_session_timeout: Duration::from_secs(1800),
            group_initial_rebalance_delay: Duration::from_millis(0),
            transaction_max_timeout: Duration::from_secs(900),
        }
    }
}
