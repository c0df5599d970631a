//! rill-broker: a Kafka broker model that speaks the real wire protocol
//! (decoded and encoded by rill-protocol) over any byte stream.
//!
//! The same code is the embedded dev broker (`rill dev-broker`, tokio TCP)
//! and the broker of the deterministic simulator (`sim/`, turmoil TCP).
//! Determinism: time only from `tokio::time`, randomness only from seeded
//! RNGs (`BrokerConfig::rng_seed`, `ControllerConfig::rng_seed`), every map
//! a `BTreeMap`. Every byte from a peer goes through checked decoders; no
//! input panics (unwrap/expect/indexing are denied in library code).
//!
//! # Public API (stable: the simulator builds on it)
//!
//! ```text
//! // One controller per cluster, shared by every broker (see controller.rs for why).
//! let controller = Controller::new(ControllerConfig { min_insync_replicas: 2, ..Default::default() });
//! // One disk per broker host; it outlives broker incarnations.
//! let disk = Disk::new(FlushPolicy::Interval(Duration::from_millis(100)));
//! // A broker: config, disk, controller, and a connector for follower fetches
//! // (any rill_client::Transport: TcpTransport, or the simulator's turmoil one).
//! let broker = Broker::new(BrokerConfig::new(1, "broker-1", 9092), disk.clone(), controller.clone(), connector);
//! broker.set_interceptor(Some(hook));            // optional per-request fault hook
//! broker.serve(listener).await?;                 // any `Listener`: accept -> stream
//! broker.serve_connection(stream).await?;        // or one stream at a time
//! // The simulator's liveness probe (on its own host): brokers it cannot reach die.
//! controller.run_liveness_probe(connector).await;
//! // Crash: drop the host's tasks, then
//! disk.crash();                                  // unflushed appends are lost
//! // Restart: a new Broker with the same disk and controller.
//! ```
//!
//! - [`Broker`]: `new`, `single_node`, `start`, `serve`, `serve_connection`,
//!   `set_interceptor`, `set_bugs` (feature `fault-injection`), `config`,
//!   `disk`, `controller`, `high_watermark`.
//! - [`Disk`]: `new(FlushPolicy)`, `open_dir`, `flush`, `crash`,
//!   `log_end_offset`, `batches`, ... ; [`FlushPolicy`].
//! - [`Controller`]: `new`, `register_broker`, `set_alive`,
//!   `run_liveness_probe`, `create_topic`, `move_leader`, `reassign`,
//!   `alter_isr`, `partition`, `topics`, `brokers`, `subscribe`.
//! - [`Listener`] (accept -> stream; implemented for tokio's `TcpListener`)
//!   and [`Connector`] (= `rill_client::Transport`: connect(host, port) -> stream).
//! - [`Interceptor`] / [`Interception`]: inject a retriable error code or a
//!   delay per request. [`BugSwitches`]: `acks_all_before_isr`,
//!   `ignore_sequence_numbers`, `accept_rewinding_commit`,
//!   `omit_aborted_transactions`, settable only with the `fault-injection` feature.
//!
//! # Layout
//! | file | what |
//! |---|---|
//! | `broker.rs` | `Broker`, its shared state and background tasks |
//! | `connection.rs` | one connection: frames in, requests handled in order, responses out |
//! | `handlers/*.rs` | one file per API key, each opening with its versions and behaviour |
//! | `partition.rs` | a replica: role, leader epoch, high watermark, follower progress, append/read |
//! | `replication.rs` | follower fetchers (real Fetch requests), reconciling with the controller, ISR shrink |
//! | `coordinator.rs` | group and transaction coordinator state (cluster-wide, durable) and the classic group state machine |
//! | `controller.rs` | cluster metadata, liveness, clean elections, ISR changes, reassignment |
//! | `disk.rs` | durable storage with a flush policy; crash loses the unflushed suffix |
//! | `log.rs` | stored batches; checks and offset/epoch stamping of incoming batches |
//! | `producer_state.rs` | idempotent producer dedup (KIP-98) |
//! | `txn_state.rs` | a transactional id's transaction: phases, fencing, timeout (KIP-98) |
//! | `txn_coordinator.rs` | transaction timeouts and marker rounds (WriteTxnMarkers to leaders), completion |
//! | `txn_index.rs` | a partition's open and aborted transactions: last stable offset, aborted index |
//! | `fetch_session.rs` | incremental fetch sessions (KIP-227) |
//! | `faults.rs` | the interception hook and the test-only bug switches |
//! | `transport.rs` | `Listener` and `Connector` |
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod broker;
pub mod config;
mod connection;
pub mod controller;
pub mod coordinator;
pub mod disk;
pub mod faults;
mod fetch_session;
mod handlers;
pub mod log;
mod partition;
mod producer_state;
mod replication;
#[cfg(test)]
mod test_support;
pub mod transport;
mod txn_coordinator;
mod txn_index;
pub mod txn_state;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use connection::ConnectionError;
pub use controller::{BrokerRegistration, Controller, ControllerConfig, ControllerError, PartitionState, TopicState};
pub use disk::{Disk, FlushPolicy, TopicPartition};
pub use faults::{BugSwitches, Interception, Interceptor};
pub use transport::{Connector, Listener};
