//! The public [`Client`]: bootstrap, connections per broker (reconnecting
//! with exponential backoff and jitter), the metadata cache, the raw request
//! API and a few admin calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rill_protocol::message::Request;
use rill_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use rill_protocol::messages::delete_topics_request::DeleteTopicState;
use rill_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use rill_protocol::messages::metadata_request::MetadataRequestTopic;
use rill_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeClusterResponse, ListOffsetsRequest, MetadataRequest,
};
use rill_protocol::{ErrorCode, Uuid};
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::{Backoff, Rng};
use crate::config::{ClientConfig, ConfigError};
use crate::connection::{Connection, ConnectionConfig};
use crate::error::{Error, Result};
use crate::metadata::{ClusterMetadata, MetadataCache};
use crate::negotiate::ApiVersions;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default.
    pub partitions: i32,
    /// -1: the broker default.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic { name: name.into(), partitions, replication_factor, configs: BTreeMap::new() }
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// The outcome of creating or deleting one topic.
#[derive(Debug, Clone)]
pub struct TopicResult {
    pub name: String,
    pub topic_id: Uuid,
    /// `Ok` or the broker's error for this topic.
    pub result: std::result::Result<(), Error>,
}

/// Which offset [`Client::list_offsets`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the offset the next record will get).
    Latest,
    /// The offset of the record with the largest timestamp (ListOffsets v7+, Kafka 3.0+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// One answer of [`Client::list_offsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    /// -1 when not applicable.
    pub timestamp: i64,
    /// -1 when the broker does not report it.
    pub leader_epoch: i32,
}

/// Per-partition results, keyed by (topic, partition).
pub type PartitionResults<T> = BTreeMap<(String, i32), std::result::Result<T, Error>>;

/// Connection state of one broker address.
#[derive(Debug)]
struct Slot {
    connection: Option<Connection>,
    backoff: Backoff,
    next_attempt: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    connection_config: ConnectionConfig,
    transport: Arc<dyn Transport>,
    stats: Stats,
    rng: Mutex<Rng>,
    metadata: Mutex<MetadataCache>,
    /// Bumped after every merge of a Metadata response into `metadata`: a
    /// value read before looking something up tells whether that answer may
    /// have changed since ([`Client::metadata_updates`]).
    metadata_updates: AtomicU64,
    /// One slot per `host:port`; each behind its own async lock so that a
    /// slow connect to one broker does not hold up the others.
    slots: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl std::fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Kafka client: cheap to clone, all clones share connections and metadata.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects over TCP and bootstraps (fetches cluster metadata).
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let transport = crate::transport::for_config(&config)?;
        Client::with_transport(config, transport).await
    }

    /// Connects over `transport` (TLS, a simulator's TCP, ...) and bootstraps.
    pub async fn with_transport(config: ClientConfig, transport: Arc<dyn Transport>) -> Result<Client> {
        config.validate()?;
        let seed = config.rng_seed.unwrap_or_else(Rng::os_seed);
        let client = Client {
            inner: Arc::new(Inner {
                connection_config: ConnectionConfig::from(&config),
                config,
                transport,
                stats: Stats::default(),
                rng: Mutex::new(Rng::new(seed)),
                metadata: Mutex::new(MetadataCache::new()),
                metadata_updates: AtomicU64::new(0),
                slots: Mutex::new(BTreeMap::new()),
            }),
        };
        client.bootstrap().await?;
        spawn_periodic_refresh(Arc::downgrade(&client.inner), client.inner.config.metadata_max_age);
        Ok(client)
    }

    /// The idle memory maps this client keeps for large responses.
    pub fn response_maps(&self) -> &crate::connection::MapPool {
        &self.inner.connection_config.response_maps
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Counters per broker.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The counters registry (producers add theirs to it).
    pub(crate) fn stats_registry(&self) -> &Stats {
        &self.inner.stats
    }

    /// The cached metadata, without a request.
    pub fn cached_metadata(&self) -> ClusterMetadata {
        lock(&self.inner.metadata).snapshot()
    }

    /// The leader of a partition from the cache, without a request; `None`
    /// when unknown, leaderless, or when the topic's metadata is marked stale.
    pub fn cached_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let cache = lock(&self.inner.metadata);
        if cache.needs_refresh(topic) {
            return None;
        }
        cache.current().partition(topic, partition)?.leader
    }

    /// A topic's partition count and the partitions that have a leader, from
    /// the cache; `None` when the topic is not cached.
    /// How many Metadata responses the cache has taken in. Read it before a
    /// lookup; while it is unchanged, the lookup's answer still holds (the
    /// producer keeps its topic's partitions by it, without the cache's lock).
    pub(crate) fn metadata_updates(&self) -> u64 {
        self.inner.metadata_updates.load(Ordering::Acquire)
    }

    pub fn cached_partitions(&self, topic: &str) -> Option<(usize, Arc<[i32]>)> {
        lock(&self.inner.metadata).partitions(topic)
    }

    /// Runs `f` with the client's seeded RNG (the only randomness of the client).
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut Rng) -> T) -> T {
        f(&mut lock(&self.inner.rng))
    }

    /// Tries the bootstrap servers in a (seeded) random order until one answers a Metadata request.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn bootstrap(&self) -> Result<()> {
        let mut servers = self.inner.config.bootstrap_servers.clone();
        lock(&self.inner.rng).shuffle(&mut servers);
        let mut last = None;
        for server in &servers {
            match self.fetch_metadata_from(server, Some(&[])).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    debug!(broker = %server, error = %e, "bootstrap server failed");
                    last = Some(Box::new(e));
                }
            }
        }
        Err(Error::NoBrokerReachable { tried: servers, last })
    }

    /// Fetches metadata for `topics` (all topics when `None`) and merges it into the cache.
    async fn fetch_metadata_from(&self, address: &str, topics: Option<&[&str]>) -> Result<()> {
        let connection = self.connection_to(address).await?;
        let request = MetadataRequest {
            topics: topics
                .map(|t| t.iter().map(|name| MetadataRequestTopic { name: Some(name.to_string()), ..Default::default() }).collect()),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let response = connection.send(&request).await?;
        let change = lock(&self.inner.metadata).update(&response, Instant::now());
        self.inner.metadata_updates.fetch_add(1, Ordering::Release);
        debug!(broker = %address, topics = change.topics_updated.len(), "metadata refreshed");
        Ok(())
    }

    /// Addresses to ask for metadata: known brokers in node id order, then
    /// the bootstrap servers.
    fn metadata_candidates(&self) -> Vec<String> {
        let mut candidates: Vec<String> = lock(&self.inner.metadata).current().brokers.values().map(|b| b.address()).collect();
        for server in &self.inner.config.bootstrap_servers {
            if !candidates.contains(server) {
                candidates.push(server.clone());
            }
        }
        // Prefer a broker we are already connected to.
        let slots = lock(&self.inner.slots);
        candidates.sort_by_key(|address| {
            let connected =
                slots.get(address).and_then(|slot| slot.try_lock().ok().map(|s| s.connection.as_ref().is_some_and(|c| !c.is_closed())));
            !connected.unwrap_or(false)
        });
        candidates
    }

    /// Refreshes the metadata of `topics` (only brokers and cluster info when
    /// empty) and returns the updated snapshot. Topics with retriable errors
    /// (e.g. LEADER_NOT_AVAILABLE just after creation) are asked again after
    /// `retry.backoff.ms`, until `request.timeout.ms` has passed.
    pub async fn metadata(&self, topics: &[&str]) -> Result<ClusterMetadata> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut backoff = Backoff::new(self.inner.config.retry_backoff, self.inner.config.retry_backoff_max);
        loop {
            self.refresh_metadata(Some(topics)).await?;
            let snapshot = self.cached_metadata();
            let retry = {
                let cache = lock(&self.inner.metadata);
                topics
                    .iter()
                    .any(|t| cache.needs_refresh(t) && snapshot.topic(t).is_some_and(|m| m.error != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
            };
            if !retry {
                return Ok(snapshot);
            }
            let delay = backoff.next_delay(&mut lock(&self.inner.rng));
            if Instant::now() + delay >= deadline {
                return Ok(snapshot);
            }
            debug!(?delay, "metadata has retriable errors; asking again");
            tokio::time::sleep(delay).await;
        }
    }

    /// Asks one broker after the other until one answers. The brokers the
    /// last metadata listed are tried for at most `request.timeout.ms` (a
    /// broker listing hundreds of unreachable ones would otherwise keep the
    /// caller waiting a connection setup timeout for each), the bootstrap
    /// servers, which the application gave, always.
    #[tracing::instrument(level = "debug", skip_all, fields(topics = ?topics))]
    pub(crate) async fn refresh_metadata(&self, topics: Option<&[&str]>) -> Result<()> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut tried = Vec::new();
        let mut last = None;
        for address in self.metadata_candidates() {
            if !tried.is_empty() && Instant::now() >= deadline && !self.inner.config.bootstrap_servers.contains(&address) {
                continue;
            }
            match self.fetch_metadata_from(&address, topics).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() => {
                    self.inner.stats.broker(&address).retry();
                    last = Some(Box::new(e));
                }
                Err(e) => return Err(e),
            }
            tried.push(address);
        }
        Err(Error::NoBrokerReachable { tried, last })
    }

    /// Records an error a broker returned for `topic`: codes such as
    /// NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION mark its metadata
    /// stale, and [`leader_for`](Self::leader_for) refreshes before answering.
    pub fn note_error(&self, topic: &str, code: ErrorCode) -> bool {
        lock(&self.inner.metadata).note_error(topic, code)
    }

    /// The leader's node id of a partition, refreshing stale or missing metadata first.
    pub async fn leader_for(&self, topic: &str, partition: i32) -> Result<i32> {
        let needs = {
            let cache = lock(&self.inner.metadata);
            cache.needs_refresh(topic) || cache.is_expired(Instant::now(), self.inner.config.metadata_max_age)
        };
        let snapshot = if needs { self.metadata(&[topic]).await? } else { self.cached_metadata() };
        let not_available = |code| Error::PartitionUnavailable { topic: topic.to_string(), partition, code };
        let Some(t) = snapshot.topic(topic) else {
            return Err(not_available(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        };
        match t.partitions.get(&partition) {
            Some(p) => p.leader.ok_or_else(|| not_available(ErrorCode::LEADER_NOT_AVAILABLE)),
            None => Err(not_available(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)),
        }
    }

    /// The address of a node, from the metadata.
    pub(crate) fn address_of(&self, node_id: i32) -> Result<String> {
        lock(&self.inner.metadata).current().brokers.get(&node_id).map(|b| b.address()).ok_or(Error::UnknownBroker { node_id })
    }

    /// An open connection to `address`: the existing one, or a new one once
    /// the reconnect backoff allows.
    pub async fn connection_to(&self, address: &str) -> Result<Connection> {
        let slot = {
            let mut slots = lock(&self.inner.slots);
            slots
                .entry(address.to_string())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Slot {
                        connection: None,
                        backoff: Backoff::new(self.inner.config.reconnect_backoff, self.inner.config.reconnect_backoff_max),
                        next_attempt: None,
                    }))
                })
                .clone()
        };
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.connection.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        if let Some(at) = slot.next_attempt {
            if at > Instant::now() {
                debug!(broker = %address, wait = ?at.saturating_duration_since(Instant::now()), "reconnect backoff");
                tokio::time::sleep_until(at).await;
            }
        }
        let (host, port) = crate::config::properties::parse_host_port(address).map_err(|expected| {
            Error::Config(ConfigError::InvalidValue { key: "broker address".to_string(), value: Some(address.to_string()), expected })
        })?;
        let stats = self.inner.stats.broker(address);
        match Connection::connect(&*self.inner.transport, &host, port, self.inner.connection_config.clone(), stats).await {
            Ok(connection) => {
                slot.backoff.reset();
                slot.next_attempt = None;
                slot.connection = Some(connection.clone());
                Ok(connection)
            }
            Err(e) => {
                let delay = slot.backoff.next_delay(&mut lock(&self.inner.rng));
                slot.next_attempt = Some(Instant::now() + delay);
                slot.connection = None;
                debug!(broker = %address, error = %e, ?delay, "connection failed; backing off");
                Err(e)
            }
        }
    }

    /// The connection to node `node_id`.
    pub async fn connection(&self, node_id: i32) -> Result<Connection> {
        let address = match self.address_of(node_id) {
            Ok(a) => a,
            Err(_) => {
                self.refresh_metadata(Some(&[])).await?;
                self.address_of(node_id)?
            }
        };
        self.connection_to(&address).await
    }

    /// Sends any request to node `node_id` at the highest version both sides
    /// support, and returns the response.
    ///
    /// A request that never left the client because its connection had
    /// just closed (e.g. for idleness) is sent once more on a new connection.
    pub async fn send<R: Request>(&self, node_id: i32, request: &R) -> Result<R::Response> {
        match self.connection(node_id).await?.send(request).await {
            Err(Error::NotSent { broker, reason }) => {
                debug!(broker = %broker, reason = %reason, "request not sent; retrying on a new connection");
                self.inner.stats.broker(&broker).retry();
                self.connection(node_id).await?.send(request).await
            }
            other => other,
        }
    }

    /// The versions negotiated with node `node_id`.
    pub async fn api_versions(&self, node_id: i32) -> Result<ApiVersions> {
        let connection = self.connection(node_id).await?;
        connection.api_versions().cloned().ok_or(Error::Closed)
    }

    /// Any broker (the first known one by node id), refreshing metadata if none is known.
    pub(crate) async fn any_node(&self) -> Result<i32> {
        if let Some(id) = lock(&self.inner.metadata).current().brokers.keys().next() {
            return Ok(*id);
        }
        self.refresh_metadata(Some(&[])).await?;
        lock(&self.inner.metadata)
            .current()
            .brokers
            .keys()
            .next()
            .copied()
            .ok_or(Error::NoBrokerReachable { tried: self.inner.config.bootstrap_servers.clone(), last: None })
    }

    /// The controller (for admin requests), or any broker when unknown.
    pub(crate) async fn controller(&self) -> Result<i32> {
        if let Some(id) = lock(&self.inner.metadata).current().controller_id {
            return Ok(id);
        }
        self.any_node().await
    }

    /// The next delay of `backoff`, drawn from the client's seeded RNG.
    pub(crate) fn backoff_delay(&self, backoff: &mut Backoff) -> Duration {
        backoff.next_delay(&mut lock(&self.inner.rng))
    }

    /// Refreshes the metadata of those of `topics` that are stale or not cached.
    pub(crate) async fn refresh_stale_topics(&self, topics: &[&str]) -> Result<()> {
        let stale: Vec<&str> = {
            let cache = lock(&self.inner.metadata);
            topics.iter().copied().filter(|t| cache.needs_refresh(t)).collect()
        };
        if stale.is_empty() {
            return Ok(());
        }
        self.refresh_metadata(Some(&stale)).await
    }

    /// Counts a retry against `broker` in the stats.
    pub(crate) fn stats_retry(&self, broker: &str) {
        self.inner.stats.broker(broker).retry();
    }

    /// DescribeCluster (Kafka 2.8+).
    pub async fn describe_cluster(&self) -> Result<DescribeClusterResponse> {
        let node = self.any_node().await?;
        let connection = self.connection(node).await?;
        let response = connection.send(&DescribeClusterRequest::default()).await?;
        let code = ErrorCode(response.error_code);
        if code.is_error() {
            return Err(Error::Kafka {
                broker: connection.broker().to_string(),
                context: "DescribeCluster".to_string(),
                code,
                message: response.error_message.clone(),
            });
        }
        Ok(response)
    }

    /// Creates topics; one result per topic, in request order. Retries once
    /// on NOT_CONTROLLER after refreshing metadata.
    #[tracing::instrument(level = "debug", skip_all, fields(topics = topics.len()))]
    pub async fn create_topics(&self, topics: &[NewTopic], timeout: Duration) -> Result<Vec<TopicResult>> {
        let request = CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|t| CreatableTopic {
                    name: t.name.clone(),
                    num_partitions: t.partitions,
                    replication_factor: t.replication_factor,
                    configs: t
                        .configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig { name: k.clone(), value: Some(v.clone()), ..Default::default() })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            ..Default::default()
        };
        for attempt in 0..2 {
            let node = self.controller().await?;
            let connection = self.connection(node).await?;
            let response = connection.send(&request).await?;
            if attempt == 0 && response.topics.iter().any(|t| ErrorCode(t.error_code) == ErrorCode::NOT_CONTROLLER) {
                self.refresh_metadata(Some(&[])).await?;
                continue;
            }
            let broker = connection.broker().to_string();
            let results = response
                .topics
                .into_iter()
                .map(|t| TopicResult {
                    result: topic_result(&broker, "CreateTopics", &t.name, t.error_code, t.error_message),
                    name: t.name,
                    topic_id: t.topic_id,
                })
                .collect();
            return Ok(results);
        }
        Err(Error::Kafka { broker: "controller".into(), context: "CreateTopics".into(), code: ErrorCode::NOT_CONTROLLER, message: None })
    }

    /// Looks up offsets on each partition's leader (one request per leader).
    /// A partition listed twice is asked once, with the last spec given.
    /// Partitions answered with a stale-metadata error (NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH, ...) mark their topic
    /// stale; the metadata is refreshed and they are asked again, up to three
    /// times, `retry.backoff.ms` apart (growing exponentially).
    pub async fn list_offsets(&self, partitions: &[(&str, i32, OffsetSpec)]) -> Result<PartitionResults<ListedOffset>> {
        self.list_offsets_isolated(partitions, 0).await
    }

    /// [`list_offsets`](Self::list_offsets) with an `isolation_level`
    /// (ListOffsets v2+): 1 (read_committed) answers `Latest` with the last
    /// stable offset instead of the high watermark.
    #[tracing::instrument(level = "debug", skip_all, fields(partitions = partitions.len()))]
    pub async fn list_offsets_isolated(
        &self,
        partitions: &[(&str, i32, OffsetSpec)],
        isolation_level: i8,
    ) -> Result<PartitionResults<ListedOffset>> {
        const ATTEMPTS: u32 = 3;
        let mut results: PartitionResults<ListedOffset> = BTreeMap::new();
        // A partition may appear once per request (Kafka answers INVALID_REQUEST
        // otherwise): for duplicates the last spec wins, as in the result map.
        let unique: BTreeMap<(String, i32), OffsetSpec> = partitions.iter().map(|(t, p, s)| ((t.to_string(), *p), *s)).collect();
        let mut remaining: Vec<(String, i32, OffsetSpec)> = unique.into_iter().map(|((t, p), s)| (t, p, s)).collect();
        let mut backoff = Backoff::new(self.inner.config.retry_backoff, self.inner.config.retry_backoff_max);
        for attempt in 1..=ATTEMPTS {
            let last_attempt = attempt == ATTEMPTS;
            let stale: Vec<&str> = {
                let cache = lock(&self.inner.metadata);
                let mut names: Vec<&str> = remaining.iter().map(|(t, _, _)| t.as_str()).filter(|t| cache.needs_refresh(t)).collect();
                names.dedup();
                names
            };
            if !stale.is_empty() {
                self.refresh_metadata(Some(&stale)).await?;
            }
            // Group by leader, in node id order.
            let snapshot = self.cached_metadata();
            let mut by_leader: BTreeMap<i32, Vec<(String, i32, OffsetSpec, i32)>> = BTreeMap::new();
            let mut retry = Vec::new();
            for (topic, partition, spec) in remaining.drain(..) {
                let found = snapshot.partition(&topic, partition);
                match found.and_then(|p| p.leader.map(|leader| (leader, p.leader_epoch))) {
                    Some((leader, epoch)) => {
                        by_leader.entry(leader).or_default().push((topic, partition, spec, epoch));
                    }
                    None => {
                        let code = if found.is_some() { ErrorCode::LEADER_NOT_AVAILABLE } else { ErrorCode::UNKNOWN_TOPIC_OR_PARTITION };
                        if last_attempt {
                            let e = Error::PartitionUnavailable { topic: topic.clone(), partition, code };
                            results.insert((topic, partition), Err(e));
                        } else {
                            self.note_error(&topic, code);
                            retry.push((topic, partition, spec));
                        }
                    }
                }
            }
            for (leader, wanted) in by_leader {
                let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                for (topic, partition, spec, epoch) in &wanted {
                    topics.entry(topic.as_str()).or_default().push(ListOffsetsPartition {
                        partition_index: *partition,
                        current_leader_epoch: *epoch,
                        timestamp: spec.wire_timestamp(),
                        max_num_offsets: 1,
                        ..Default::default()
                    });
                }
                let request = ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level,
                    topics: topics
                        .into_iter()
                        .map(|(name, partitions)| ListOffsetsTopic { name: name.to_string(), partitions, ..Default::default() })
                        .collect(),
                    timeout_ms: i32::try_from(self.inner.config.request_timeout.as_millis()).unwrap_or(i32::MAX),
                    ..Default::default()
                };
                let response = match self.send(leader, &request).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() && !last_attempt => {
                        for (topic, partition, spec, _) in wanted {
                            lock(&self.inner.metadata).note_error(&topic, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                            retry.push((topic, partition, spec));
                        }
                        continue;
                    }
                    Err(e) => {
                        for (topic, partition, _, _) in wanted {
                            results.insert((topic, partition), Err(e.clone()));
                        }
                        continue;
                    }
                };
                let broker = self.address_of(leader).unwrap_or_else(|_| format!("node {leader}"));
                for (topic, partition, spec, _) in wanted {
                    let answer = response
                        .topics
                        .iter()
                        .filter(|t| t.name == topic)
                        .flat_map(|t| t.partitions.iter())
                        .find(|p| p.partition_index == partition);
                    let Some(answer) = answer else {
                        let e = Error::Kafka {
                            broker: broker.clone(),
                            context: format!("ListOffsets {topic}-{partition}: partition missing from the response"),
                            code: ErrorCode::UNKNOWN_SERVER_ERROR,
                            message: None,
                        };
                        results.insert((topic, partition), Err(e));
                        continue;
                    };
                    let code = ErrorCode(answer.error_code);
                    if code.is_none() {
                        // v0 answers in `old_style_offsets`.
                        let offset = if answer.old_style_offsets.is_empty() {
                            answer.offset
                        } else {
                            answer.old_style_offsets.first().copied().unwrap_or(-1)
                        };
                        let listed = ListedOffset { offset, timestamp: answer.timestamp, leader_epoch: answer.leader_epoch };
                        results.insert((topic, partition), Ok(listed));
                    } else if self.note_error(&topic, code) && !last_attempt {
                        self.inner.stats.broker(&broker).retry();
                        debug!(topic = %topic, partition, error = code.name(), "ListOffsets: stale metadata; will retry");
                        retry.push((topic, partition, spec));
                    } else {
                        let e = Error::Kafka {
                            broker: broker.clone(),
                            context: format!("ListOffsets {topic}-{partition}"),
                            code,
                            message: None,
                        };
                        results.insert((topic, partition), Err(e));
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            remaining = retry;
            let delay = backoff.next_delay(&mut lock(&self.inner.rng));
            tokio::time::sleep(delay).await;
        }
        Ok(results)
    }

    /// Deletes topics by name; one result per topic.
    #[tracing::instrument(level = "debug", skip(self, timeout))]
    pub async fn delete_topics(&self, names: &[&str], timeout: Duration) -> Result<Vec<TopicResult>> {
        let node = self.controller().await?;
        let connection = self.connection(node).await?;
        let version = connection.version_for(DeleteTopicsRequest::API_KEY)?;
        let request = DeleteTopicsRequest {
            // v0-v5 carry names in `topic_names`, v6+ in `topics`.
            topics: if version >= 6 {
                names.iter().map(|n| DeleteTopicState { name: Some(n.to_string()), ..Default::default() }).collect()
            } else {
                Vec::new()
            },
            topic_names: if version >= 6 { Vec::new() } else { names.iter().map(|n| n.to_string()).collect() },
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            ..Default::default()
        };
        let response = connection.send_version(&request, version).await?;
        let broker = connection.broker().to_string();
        let results = response
            .responses
            .into_iter()
            .map(|t| {
                let name = t.name.unwrap_or_default();
                TopicResult {
                    result: topic_result(&broker, "DeleteTopics", &name, t.error_code, t.error_message),
                    name,
                    topic_id: t.topic_id,
                }
            })
            .collect();
        for name in names {
            lock(&self.inner.metadata).note_error(name, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        }
        Ok(results)
    }
}

fn topic_result(broker: &str, api: &str, topic: &str, code: i16, message: Option<String>) -> std::result::Result<(), Error> {
    let code = ErrorCode(code);
    if code.is_none() {
        Ok(())
    } else {
        Err(Error::Kafka { broker: broker.to_string(), context: format!("{api} {topic}"), code, message })
    }
}

/// Refreshes the metadata of known topics every `metadata.max.age.ms`, for
/// as long as the client lives.
fn spawn_periodic_refresh(inner: Weak<Inner>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(inner) = inner.upgrade() else { return };
            let client = Client { inner };
            let topics = lock(&client.inner.metadata).topic_names();
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            if let Err(e) = client.refresh_metadata(Some(&names)).await {
                debug!(error = %e, "periodic metadata refresh failed");
            }
        }
    });
}
