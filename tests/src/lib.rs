//! Real Apache Kafka for rill's end-to-end tests.
//!
//! The harness starts KRaft clusters from jars resolved by
//! `tests/scripts/provision.sh` (Maven Central, no Docker) and exposes one
//! client listener per security setup:
//!
//! | listener         | protocol       | authentication                                   |
//! |------------------|----------------|--------------------------------------------------|
//! | `PLAINTEXT`      | PLAINTEXT      | none                                             |
//! | `SSL`            | SSL            | server certificate only                          |
//! | `MTLS`           | SSL            | `ssl.client.auth=required`                       |
//! | `SASL_PLAINTEXT` | SASL_PLAINTEXT | PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI      |
//! | `SASL_SSL`       | SASL_SSL       | the above plus OAUTHBEARER (JWKS-validated JWTs) |
//!
//! Supporting services live in the test process for as long as the cluster:
//! a certificate authority ([`tls`]), an OAuth 2.0 token endpoint
//! ([`oauth`]), an MIT Kerberos KDC ([`kerberos`]) and one toggleable TCP
//! proxy per client listener ([`proxy`]) so tests can stop and start a
//! listener. Interop runners for Kafka's Java tools, kcat and Python live in
//! [`interop`].
//!
//! Typical use in an integration test:
//!
//! ```no_run
//! use rill_e2e::{KafkaCluster, Listener};
//! let cluster = KafkaCluster::single();
//! let topic = cluster.unique_topic("produce-consume");
//! let bootstrap = cluster.bootstrap(Listener::Plaintext);
//! # let _ = (topic, bootstrap);
//! ```

pub mod error;
pub mod interop;
pub mod kafka;
pub mod kerberos;
pub mod oauth;
pub mod paths;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod secret;
pub mod tls;

pub use error::HarnessError;

/// Prints a harness progress line (start-up times, kills, restarts) straight
/// to stderr. The test harness captures `eprintln!` of passing tests; these
/// lines belong in every CI log, so they bypass that capture.
pub fn announce(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "rill-e2e: {message}");
}
pub use kafka::broker_jvm::BrokerJvm;
pub use kafka::client::{ClientAuth, ClientCert, ClientProperties, ClientSettings, StoreFormat, Trust};
pub use kafka::cluster::{KafkaCluster, Topology};
pub use kafka::listeners::{Listener, SaslMechanism};
pub use secret::Secret;
