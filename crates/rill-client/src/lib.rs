//! rill's async Kafka client core, on tokio.
//!
//! - [`config`]: [`ClientConfig`] from Java / librdkafka property names or a typed builder;
//! - [`transport`]: the pluggable byte-stream transport (tokio TCP here; TLS
//!   and a simulator's TCP plug in the same way);
//! - [`tls`]: [`TlsTransport`] (rustls) for `security.protocol=SSL` / `SASL_SSL`;
//!   SASL PLAIN and SCRAM-SHA-256/512 run after ApiVersions on SASL listeners;
//! - [`connection`]: one task per broker connection, pipelined requests,
//!   correlation-id checks, in-flight cap, request timeouts, idle close and a
//!   maximum response size enforced before buffering;
//! - [`negotiate`]: ApiVersions negotiation (KIP-511 fallback);
//! - [`metadata`]: the metadata cache (leader epochs, topic ids, brokers joining and leaving);
//! - [`backoff`]: exponential backoff with jitter from a seedable RNG;
//! - [`oauth`]: SASL/OAUTHBEARER token providers (OIDC client credentials,
//!   your own), refresh and KIP-368 re-authentication; [`azure`]: Event Hubs presets;
//! - [`client`]: the [`Client`] handle; [`stats`]: counters per broker;
//! - [`admin`]: partitions, topic listings and descriptions, configs, delete
//!   records, groups and group offsets, routed to controller, leader or coordinator;
//! - [`consumer`]: the [`Consumer`] (fetch sessions, byte budget, read_committed, KIP-320);
//! - [`producer`]: the [`Producer`] (batching, partitioning, idempotence, transactions).
//!
//! ```no_run
//! use std::time::Duration;
//! use rill_client::{Client, ClientConfig, NewTopic, OffsetSpec};
//!
//! # async fn demo() -> Result<(), rill_client::Error> {
//! let config = ClientConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("client.id", "example"),
//! ])?;
//! let client = Client::connect(config).await?;
//! client.create_topics(&[NewTopic::new("events", 3, 1)], Duration::from_secs(30)).await?;
//! let metadata = client.metadata(&["events"]).await?;
//! println!("leader of events-0: {:?}", metadata.leader("events", 0));
//! let offsets = client.list_offsets(&[("events", 0, OffsetSpec::Latest)]).await?;
//! println!("{offsets:?} {:?}", client.stats().total());
//! # Ok(())
//! # }
//! ```
//!
//! Time comes only from `tokio::time` and randomness only from the client's
//! seeded [`backoff::Rng`]; no behaviour depends on hash-map iteration order.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod admin;
pub mod azure;
pub mod backoff;
#[cfg(feature = "fault-injection")]
pub mod bugs;
pub mod client;
pub mod config;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod metadata;
pub mod negotiate;
pub mod oauth;
pub mod producer;
mod sasl;
pub mod stats;
pub mod tls;
pub mod transport;

/// The protocol crate this client speaks (messages, error codes, frames).
pub use rill_protocol as protocol;

pub use admin::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigResourceType, ConfigSource, GroupDescription, GroupListing, GroupMember, GroupOffset,
    ItemResult, NewPartitions, TopicListing,
};
pub use client::{Client, ListedOffset, NewTopic, OffsetSpec, PartitionResults, TopicResult};
pub use config::{Acks, AutoOffsetReset, ClientConfig, ConfigError, ConsumerConfig, IsolationLevel, Secret};
pub use connection::{Connection, ConnectionConfig, MapPool};
pub use consumer::{Consumer, ConsumerRecord, ConsumerStats, Offset, TopicPartition};
pub use error::{Error, KerberosErrorKind, Result};
pub use metadata::{Broker, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use negotiate::ApiVersions;
pub use oauth::{OAuthBearerToken, OAuthBearerTokenProvider, OAuthError, OAuthErrorKind};
pub use producer::{Delivery, ProduceError, Producer, ProducerRecord, RecordMetadata};
pub use stats::StatsSnapshot;
pub use tls::{TlsErrorKind, TlsTransport};
pub use transport::{TcpTransport, Transport};

#[cfg(test)]
mod tests;
